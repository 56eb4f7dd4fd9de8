/*
 * chan_namespace.h - the link names of what one file of chan/ defines for
 * another: each gets the prefix sp_chan_, as jemalloc's private_namespace.h
 * prefixes its internal functions, so that a program linked with the
 * static library may have its own settle() or handoff(). The code keeps
 * the short names. Included first by chan_internal.h.
 */
#ifndef SP_CHAN_NAMESPACE_H
#define SP_CHAN_NAMESPACE_H

/* bias.c */
#define bias_take sp_chan_bias_take
#define bias_lock_out sp_chan_bias_lock_out
#define bias_needs_fence sp_chan_bias_needs_fence
#define membarrier_all sp_chan_membarrier_all
#define next_thread_id sp_chan_next_thread_id
#define my_thread_id sp_chan_my_thread_id
/* queue.c */
#define enqueue_locked sp_chan_enqueue_locked
#define unlink_locked sp_chan_unlink_locked
#define claim_first_locked sp_chan_claim_first_locked
#define finish_locked sp_chan_finish_locked
#define settle_locked sp_chan_settle_locked
#define settle sp_chan_settle
/* slot.c */
#define handoff sp_chan_handoff
#define slot_complete_locked sp_chan_slot_complete_locked
#define slot_close_locked sp_chan_slot_close_locked
/* locked.c */
#define ring_locked sp_chan_ring_locked
#define try_send_locked sp_chan_try_send_locked
#define try_recv_locked sp_chan_try_recv_locked
/* wait.c */
#define sleep_until_done sp_chan_sleep_until_done
#define slot_sleep sp_chan_slot_sleep
#define wait_spins sp_chan_wait_spins
#define ring_spins sp_chan_ring_spins
#define slot_spins sp_chan_slot_spins
#define wake_spins sp_chan_wake_spins
#define woke_partner sp_chan_woke_partner
/* select.c */
#define select_run sp_chan_select_run

#endif /* SP_CHAN_NAMESPACE_H */
