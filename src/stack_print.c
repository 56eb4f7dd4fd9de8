/*
 * stack_print.c - the printers of stack_print.h: a stack one frame a line,
 * symbolized once per distinct pc, and a lock's address with its name,
 * in the form every text report (thread dumps, hang and lock-order
 * reports) shares.
 *
 * No state of its own: any thread, never a signal handler (symbolizing
 * and stdio allocate).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "lock_identity.h"
#include "object_names.h"
#include "stack_print.h"
#include "symbolize.h"

void sp_print_object(FILE *f, struct sp_symbolizer *s, const void *object)
{
    char name[SP_NAME_MAX], token[SP_LOCK_TOKEN_MAX];
    fprintf(f, "%p", object);
    if (sp_object_name(object, name))
        fprintf(f, " \"%s\"", name);
    else if (sp_lock_token(object, 0, token) && sp_lock_site_text(s, token, name, sizeof name))
        fprintf(f, " (%s)", name);
}

/* Is pc in one of the library's internal sp_ functions? */
static bool is_internal_frame(const struct sp_pcinfo *pc)
{
    return pc && pc->known && strncmp(pc->frames[pc->nframes - 1].function, "sp_", 3) == 0;
}

void sp_print_stack(FILE *f, const struct sp_pctab *tab, const uintptr_t *pcs, int n,
                    bool from_wrapper)
{
    int first = 0;
    while (from_wrapper && first < n && is_internal_frame(sp_pctab_find(tab, pcs[first])))
        first++;
    int k = 0;
    for (int i = first; i < n; i++) {
        const struct sp_pcinfo *pc = sp_pctab_find(tab, pcs[i]);
        if (!pc || !pc->known) {
            fprintf(f, "    #%-2d 0x%" PRIxPTR " ?\n", k++, pcs[i] - 1);
            continue;
        }
        for (int j = 0; j < pc->nframes; j++) {
            const struct sp_frame *fr = &pc->frames[j];
            fprintf(f, "    #%-2d 0x%" PRIxPTR " %s", k++, pc->addr, fr->function);
            if (j + 1 < pc->nframes)
                fprintf(f, " (inlined)");
            else
                fprintf(f, "+0x%" PRIxPTR, pc->addr - pc->entry);
            if (fr->file)
                fprintf(f, " %s:%d", fr->file, fr->line);
            fprintf(f, "\n");
        }
    }
    if (n >= SP_MAX_FRAMES)
        fprintf(f, "    ...more frames not shown\n");
}

int sp_stacks_symbolize(struct sp_pctab *tab, struct sp_symbolizer *s,
                        const uintptr_t *const *stacks, const int *nframes, size_t n)
{
    struct sp_record *recs = calloc(n ? n : 1, sizeof *recs);
    if (!recs)
        return ENOMEM;
    for (size_t i = 0; i < n; i++) {
        recs[i].count = 1;
        recs[i].nframes = nframes[i];
        recs[i].pcs = stacks[i];
    }
    struct sp_profile_view v = { .recs = recs, .n = n, .count_only = true };
    int r = sp_pctab_build(tab, &v, s);
    free(recs);
    return r;
}
