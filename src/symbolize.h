/*
 * symbolize.h - naming the return addresses of a profile: function, offset,
 * source file and line (with the functions inlined at that point), and the
 * executable mappings of the process with their GNU build ids.
 *
 * Built on elfutils' libdwfl, which reads .symtab as well as .dynsym (so
 * static functions and static executables resolve) and DWARF when present,
 * including separate debug files under /usr/lib/debug.
 *
 * Lifetime: open one symbolizer per profile write and close it afterwards;
 * it sees the modules loaded at open time, so a long-lived one would miss
 * libraries dlopen'ed later. Every string it hands out stays valid until
 * sp_symbolizer_close.
 *
 * Thread safety: none inside one symbolizer (libdwfl has none); separate
 * symbolizers may be used by separate threads. Cost: opening reads
 * /proc/self/maps and the ELF headers of the mapped files; each lookup
 * loads the symbol table and DWARF of its module on first use. Calls malloc:
 * for write time only, never on a recording path nor in a signal handler.
 */
#ifndef SP_SYMBOLIZE_H
#define SP_SYMBOLIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sp_symbolizer;

/* One executable mapping of /proc/self/maps, as pprof's Mapping wants it. */
struct sp_mapping {
    uintptr_t start;      /* first address */
    uintptr_t limit;      /* one past the last address */
    uint64_t file_offset; /* offset in path of start */
    const char *path;     /* file name ("[vdso]" and such included) */
    const char *build_id; /* NULL until sp_symbolizer_build_id reads it */
};

/* One function at an address, innermost (most inlined) first. */
struct sp_frame {
    const char *function; /* never NULL; unmangled only if the binary is */
    const char *file;     /* NULL when unknown */
    int line;             /* 0 when unknown */
};

/* The deepest inline chain kept per address; deeper chains lose their
 * middle frames, never the innermost nor the real function. */
#define SP_MAX_INLINE 16

/* What one return address names. */
struct sp_symbol {
    uintptr_t addr;          /* address looked up: the return address - 1 */
    uintptr_t entry;         /* entry of the real (outermost) function; addr when unknown */
    int mapping;             /* index for sp_symbolizer_mapping, or -1 */
    bool known;              /* false: frames[0].function is addr in hex ("0x4011d6") */
    int nframes;             /* 1..SP_MAX_INLINE; > 1 when calls were inlined here */
    struct sp_frame frames[SP_MAX_INLINE]; /* [nframes - 1] is the real function */
};

/*
 * A symbolizer for the current process. Returns 0 with *out set, or ENOMEM.
 * When libdwfl cannot report the process (no /proc, say), it still succeeds:
 * every address then names itself in hex and no mapping is listed.
 */
int sp_symbolizer_open(struct sp_symbolizer **out);

/* Frees the symbolizer and every string it handed out. NULL is a no-op. */
void sp_symbolizer_close(struct sp_symbolizer *s);

/*
 * The process's shared symbolizer, with its lock held, or NULL (no lock
 * held) when none can be opened; every writer (profiles, dumps, reports)
 * uses it, and gives it back with sp_symbolizer_release once done with the
 * strings it handed out. Opening one costs 100-150 ms where debug
 * information is installed (libdw decompresses it), so it is kept between
 * writes and re-opened only when the executable mappings of the process
 * changed. Concurrent writers take turns.
 */
struct sp_symbolizer *sp_symbolizer_acquire(void);
void sp_symbolizer_release(void);

/*
 * Names the return address pc (see profile_table.h: pc - 1 is looked up;
 * SP_PC_LOST names SP_LOST_SAMPLES_NAME, with no mapping nor file). An
 * address that cannot be resolved is named by its hex value with known
 * false. Returns 0, or ENOMEM (then *out is left unknown, as if unresolved).
 * Each answer is remembered for the symbolizer's life, so naming an
 * address again costs a hash probe.
 */
int sp_symbolize(struct sp_symbolizer *s, uintptr_t pc, struct sp_symbol *out);

/* The executable mappings, in address order; indexes are 0..count-1. */
size_t sp_symbolizer_mapping_count(const struct sp_symbolizer *s);
const struct sp_mapping *sp_symbolizer_mapping(const struct sp_symbolizer *s, size_t i);

/*
 * Mapping i's GNU build id in lowercase hex, "" when it has none, NULL when
 * out of memory. Read on first request: it opens the mapping's file, which
 * a profile pays only for the mappings its samples use (a process maps a
 * dozen libraries; opening each cost every process a few milliseconds at
 * exit).
 */
const char *sp_symbolizer_build_id(struct sp_symbolizer *s, size_t i);

#endif /* SP_SYMBOLIZE_H */
