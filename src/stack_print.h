/*
 * stack_print.h - how a text report prints a stack and a lock: the
 * printers thread dumps, hang reports and lock-order reports share, so a
 * frame or a lock reads the same in all of them.
 */
#ifndef SP_STACK_PRINT_H
#define SP_STACK_PRINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "format_common.h"

/*
 * Prints the stack pcs[0..n) one frame a line ("    #i  0xADDR fn+0xOFF
 * file:line", inlined functions on lines of their own) with the symbols of
 * tab. from_wrapper drops the leading frames of the library's internal sp_
 * functions, so the stack starts in the wrapper.
 */
void sp_print_stack(FILE *f, const struct sp_pctab *tab, const uintptr_t *pcs, int n,
                    bool from_wrapper);

/* Prints object's address, then its name in quotes when it has one, else
 * its birth site in parentheses when it is a lock that has one
 * (lock_identity.h, named with s; s NULL: the site in hex). */
void sp_print_object(FILE *f, struct sp_symbolizer *s, const void *object);

/* Builds tab for the stacks stacks[i][0..nframes[i]) with the symbolizer s.
 * 0 or ENOMEM. */
int sp_stacks_symbolize(struct sp_pctab *tab, struct sp_symbolizer *s,
                        const uintptr_t *const *stacks, const int *nframes, size_t n);

#endif /* SP_STACK_PRINT_H */
