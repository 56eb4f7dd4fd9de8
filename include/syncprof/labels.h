/*
 * labels.h - thread-local sample labels, as Go's pprof.Labels: while a
 * thread has labels pushed, the mutex and block samples it records carry
 * them as pprof sample labels, and samples with different label sets are
 * kept apart, so `go tool pprof -tagfocus=key=value` filters by them.
 * (Part of the API <syncprof/syncprof.h> brings in; <syncprof/http.h>
 * includes it too: labels matter most to the live profiles served there.)
 *
 * Which samples carry which labels: the block profile's sample belongs to
 * the thread that waited, so it carries the waiter's labels; the mutex
 * profile's sample belongs to the thread that unlocked, so it carries the
 * unlocker's labels (Go does the same with goroutine labels). A sample on
 * an object named with syncprof_set_name also carries "lock" = the name;
 * that label replaces a pushed "lock" label for that sample. Unnamed
 * objects and unlabelled threads add no label, so they do not make the
 * profiles bigger.
 *
 * Limits: 16 labels pushed per thread; keys and values are copied and cut
 * at 63 bytes (at a UTF-8 character boundary). When the same key is pushed
 * twice, the innermost value is the one samples carry. At most 4096
 * distinct label sets are kept per process; samples with a new set beyond
 * that carry the single label syncprof=too_many_label_sets instead, so
 * totals stay honest.
 *
 * Cost: a push or pop copies two short strings into thread-local storage;
 * nothing is allocated. Recording a sample with labels looks its set up in
 * a table under a spinlock (never a pthread lock, never malloc).
 */
#ifndef SYNCPROF_LABELS_H
#define SYNCPROF_LABELS_H

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Pushes the label key=value onto the calling thread's label stack.
 * EINVAL for a NULL or empty key or a NULL value (an empty value is fine),
 * ENOSPC when 16 labels are already pushed.
 */
int syncprof_labels_push(const char *key, const char *value);

/* Pops the label pushed last by the calling thread. EINVAL when none is. */
int syncprof_labels_pop(void);

#ifdef __cplusplus
}
#endif

#endif /* SYNCPROF_LABELS_H */
