/*
 * format_common.h - what the pprof and text writers share: the order
 * records are written in, the symbols of a view's distinct addresses, the
 * rounding of fractional counts, and writing a whole buffer to an fd.
 *
 * Write time only: everything here may call malloc and libdwfl. None of it
 * keeps state between calls, so concurrent writers are independent.
 */
#ifndef SP_FORMAT_COMMON_H
#define SP_FORMAT_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format.h"
#include "symbolize.h"

/*
 * Writes all len bytes of buf to fd, resuming after partial writes and
 * EINTR. Returns 0, or the errno of the write that failed (EBADF for a
 * closed fd; EIO if the fd accepts no bytes at all).
 */
int sp_write_all(int fd, const void *buf, size_t len);

/* A record's count as the integer both formats print: rounded to nearest,
 * 0 for negative or NaN, saturated at INT64_MAX. Cannot fail. */
int64_t sp_count_round(double count);

/*
 * The view's records heaviest first: by delay, then count, then stack
 * (shorter, then lower addresses), so equal profiles print identically.
 * *out is a malloc'd array of v->n pointers into v->recs (NULL when n is 0);
 * the caller frees it. Returns 0 or ENOMEM.
 */
int sp_records_sorted(const struct sp_profile_view *v, const struct sp_record ***out);

/* The symbol of one distinct return address of a view. */
struct sp_pcinfo {
    uintptr_t pc;                 /* the return address as recorded */
    uintptr_t addr;               /* pc - 1: the call instruction, the address named */
    uintptr_t entry;              /* entry of the real function; addr when unknown */
    int mapping;                  /* sp_symbolizer_mapping index, or -1 */
    bool known;                   /* false: frames[0].function is addr in hex */
    int nframes;                  /* >= 1, innermost inlined function first */
    const struct sp_frame *frames;
};

/* Every distinct pc of a view, sorted by pc, each symbolized once. */
struct sp_pctab {
    struct sp_pcinfo *pcs;
    size_t n;
    struct sp_frame *frames; /* storage behind pcs[i].frames */
    size_t nframes;          /* total frames over all pcs */
};

/*
 * Fills t with the distinct pcs of v's stacks, named by s. Strings point
 * into s: close s only after t is done with. Returns 0, or ENOMEM with t
 * empty (safe to free).
 */
int sp_pctab_build(struct sp_pctab *t, const struct sp_profile_view *v,
                   struct sp_symbolizer *s);

/* The entry of pc, or NULL if pc is not in any stack of the view. */
const struct sp_pcinfo *sp_pctab_find(const struct sp_pctab *t, uintptr_t pc);

/* Frees t's storage and empties it; an empty or zeroed t is fine. */
void sp_pctab_free(struct sp_pctab *t);

#endif /* SP_FORMAT_COMMON_H */
