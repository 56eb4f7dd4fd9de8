/*
 * symbolize.c - names return addresses and lists the executable mappings of
 * this process (symbolize.h), with elfutils' libdwfl.
 *
 * A lookup goes: module of the address -> ELF symbol (.symtab or .dynsym)
 * for the real function and its entry -> DWARF, when present, for the
 * source line and the chain of functions inlined at the address. Anything
 * missing degrades the answer (no file, then no name) but never fails it.
 */
#include "symbolize.h"
#include "spinlock.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "profile_table.h"

/* A string this symbolizer made (hex names, build ids, paths). */
struct sp_str {
    struct sp_str *next;
    char s[];
};

/* An answer already given (see sp_memo_find). */
struct sp_memo {
    uintptr_t pc;           /* 0: free */
    struct sp_symbol *sym;  /* malloc'd, only its nframes frames */
};

struct sp_symbolizer {
    Dwfl *dwfl;               /* NULL when libdwfl could not start */
    struct sp_mapping *maps;  /* executable mappings, ascending start */
    size_t nmaps;
    struct sp_str *strs;      /* every string handed out, freed at close */
    struct sp_memo *memo;     /* open addressing on pc; memo_cap entries, a power of 2 */
    size_t memo_cap, memo_used;
};

/* ---- Owned strings ------------------------------------------------------ */

/* A copy of the first len bytes of s owned by the symbolizer, or NULL. */
static const char *sp_str_dup(struct sp_symbolizer *s, const char *src, size_t len)
{
    struct sp_str *node = malloc(sizeof(*node) + len + 1);

    if (node == NULL)
        return NULL;
    memcpy(node->s, src, len);
    node->s[len] = '\0';
    node->next = s->strs;
    s->strs = node;
    return node->s;
}

/* bits as lowercase hex, owned by the symbolizer, or NULL. */
static const char *sp_str_hex(struct sp_symbolizer *s, const unsigned char *bits, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char buf[2 * 64 + 1];

    if (n > 64)
        n = 64; /* real build ids are 8..20 bytes */
    for (size_t i = 0; i < n; i++) {
        buf[2 * i] = digits[bits[i] >> 4];
        buf[2 * i + 1] = digits[bits[i] & 15];
    }
    return sp_str_dup(s, buf, 2 * n);
}

/* ---- libdwfl session ---------------------------------------------------- */

/*
 * Separate debug information: by build id under /usr/lib/debug (where
 * Debian's -dbgsym packages put it); a file's own sections are used when
 * that finds nothing. The standard search (debuglink paths, then
 * debuginfod) only when the user set DEBUGINFOD_URLS: merely asking it
 * makes libdw dlopen libdebuginfod, which loads libcurl and some thirty
 * libraries (Kerberos, TLS, LDAP...) into the program at its exit, the
 * largest part of a short program's cost under `syncprof run`.
 */
static int sp_find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
                             Dwarf_Addr base, const char *file_name,
                             const char *debuglink_file, GElf_Word debuglink_crc,
                             char **debuginfo_file_name)
{
    const char *urls = getenv("DEBUGINFOD_URLS");
    if (urls && *urls)
        return dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name,
                                            debuglink_file, debuglink_crc, debuginfo_file_name);
    return dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file_name,
                                        debuglink_file, debuglink_crc, debuginfo_file_name);
}

static const Dwfl_Callbacks sp_dwfl_callbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = sp_find_debuginfo,
};

/* A Dwfl reporting every module mapped in this process, or NULL. A partial
 * report (a module that failed to open) is kept: its other modules still
 * resolve. */
static Dwfl *sp_dwfl_open(void)
{
    Dwfl *dwfl = dwfl_begin(&sp_dwfl_callbacks);

    if (dwfl == NULL)
        return NULL;
    dwfl_report_begin(dwfl);
    int err = dwfl_linux_proc_report(dwfl, (pid_t)syscall(SYS_gettid)); /* see SP_PROC_MAPS */
    if (dwfl_report_end(dwfl, NULL, NULL) != 0 || err < 0) {
        dwfl_end(dwfl);
        return NULL;
    }
    return dwfl;
}

/* ---- Mappings ----------------------------------------------------------- */

/* The module covering addr, or NULL. dwfl_addrmodule alone may answer
 * with a module merely near addr (seen for [vsyscall], above every module). */
static Dwfl_Module *sp_module_at(struct sp_symbolizer *s, uintptr_t addr)
{
    Dwfl_Module *mod = s->dwfl ? dwfl_addrmodule(s->dwfl, addr) : NULL;
    Dwarf_Addr low, high;

    if (mod == NULL || dwfl_module_info(mod, NULL, &low, &high, NULL, NULL, NULL, NULL) == NULL ||
        addr < low || addr >= high)
        return NULL;
    return mod;
}

/* The build id of the module at addr in hex, "" when there is none, or NULL
 * when out of memory. */
static const char *sp_build_id(struct sp_symbolizer *s, uintptr_t addr)
{
    Dwfl_Module *mod = sp_module_at(s, addr);
    const unsigned char *bits;
    GElf_Addr vaddr, bias;

    if (mod == NULL)
        return "";
    /* The build id is only read once the ELF is open (libdwfl.h). */
    (void)dwfl_module_getelf(mod, &bias);
    int n = dwfl_module_build_id(mod, &bits, &vaddr);
    return n > 0 ? sp_str_hex(s, bits, (size_t)n) : "";
}

/* Parses one /proc/self/maps line into m (path and build id still unset).
 * Returns false for lines that are not an executable, named mapping. Like
 * Go's runtime/pprof, anonymous executable memory is skipped: it has no file
 * to symbolize against. */
static bool sp_parse_maps_line(char *line, struct sp_mapping *m, char **path)
{
    char perms[8];
    unsigned long long start, limit, offset;
    int pos = 0;

    if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %n", &start, &limit, perms,
               &offset, &pos) < 4 || pos == 0 || strlen(perms) < 3 || perms[2] != 'x')
        return false;
    char *p = line + pos;
    size_t len = strcspn(p, "\n");
    static const char deleted[] = " (deleted)";
    if (len >= sizeof(deleted) - 1 &&
        memcmp(p + len - (sizeof(deleted) - 1), deleted, sizeof(deleted) - 1) == 0)
        len -= sizeof(deleted) - 1; /* the path the file had, as Go reports it */
    if (len == 0)
        return false;
    p[len] = '\0';
    *m = (struct sp_mapping){ .start = (uintptr_t)start, .limit = (uintptr_t)limit,
                              .file_offset = offset };
    *path = p;
    return true;
}

/* Appends m to s->maps with its path. Returns 0 or ENOMEM. */
static int sp_add_mapping(struct sp_symbolizer *s, size_t *cap, struct sp_mapping m,
                          const char *path)
{
    if (s->nmaps == *cap) {
        size_t ncap = *cap ? *cap * 2 : 32;
        struct sp_mapping *maps = realloc(s->maps, ncap * sizeof(*maps));
        if (maps == NULL)
            return ENOMEM;
        s->maps = maps;
        *cap = ncap;
    }
    m.path = sp_str_dup(s, path, strlen(path));
    m.build_id = NULL;
    if (m.path == NULL)
        return ENOMEM;
    s->maps[s->nmaps++] = m;
    return 0;
}

/*
 * The calling thread's view of the address space. Not /proc/self/maps:
 * that is the thread group leader's, which reads empty once the main
 * thread has ended with pthread_exit() while other threads (the ones
 * writing the profiles) still run.
 */
#define SP_PROC_MAPS "/proc/thread-self/maps"

/* Reads the executable mappings. An unreadable /proc leaves none: the
 * profile is still written, only without mappings. Returns 0 or ENOMEM. */
static int sp_load_mappings(struct sp_symbolizer *s)
{
    FILE *f = fopen(SP_PROC_MAPS, "re");
    char *line = NULL, *path;
    size_t linecap = 0, cap = 0;
    struct sp_mapping m;
    int err = 0;

    if (f == NULL)
        return 0;
    while (err == 0 && getline(&line, &linecap, f) > 0)
        if (sp_parse_maps_line(line, &m, &path))
            err = sp_add_mapping(s, &cap, m, path);
    free(line);
    fclose(f);
    return err;
}

/* The index of the mapping holding addr, or -1. */
static int sp_find_mapping(const struct sp_symbolizer *s, uintptr_t addr)
{
    size_t lo = 0, hi = s->nmaps;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (addr < s->maps[mid].start)
            hi = mid;
        else if (addr >= s->maps[mid].limit)
            lo = mid + 1;
        else
            return (int)mid;
    }
    return -1;
}

/* ---- Open / close ------------------------------------------------------- */

int sp_symbolizer_open(struct sp_symbolizer **out)
{
    struct sp_symbolizer *s = calloc(1, sizeof(*s));

    *out = NULL;
    if (s == NULL)
        return ENOMEM;
    s->dwfl = sp_dwfl_open();
    if (sp_load_mappings(s) != 0) {
        sp_symbolizer_close(s);
        return ENOMEM;
    }
    *out = s;
    return 0;
}

void sp_symbolizer_close(struct sp_symbolizer *s)
{
    if (s == NULL)
        return;
    if (s->dwfl != NULL)
        dwfl_end(s->dwfl);
    while (s->strs != NULL) {
        struct sp_str *next = s->strs->next;
        free(s->strs);
        s->strs = next;
    }
    for (size_t i = 0; i < s->memo_cap; i++)
        free(s->memo[i].sym);
    free(s->memo);
    free(s->maps);
    free(s);
}

size_t sp_symbolizer_mapping_count(const struct sp_symbolizer *s)
{
    return s ? s->nmaps : 0;
}

const struct sp_mapping *sp_symbolizer_mapping(const struct sp_symbolizer *s, size_t i)
{
    return i < s->nmaps ? &s->maps[i] : NULL;
}

const char *sp_symbolizer_build_id(struct sp_symbolizer *s, size_t i)
{
    if (i >= s->nmaps)
        return "";
    if (s->maps[i].build_id == NULL)
        s->maps[i].build_id = sp_build_id(s, s->maps[i].start);
    return s->maps[i].build_id;
}

/* ---- DWARF: source lines and inlined functions -------------------------- */

/* The string value of attribute at of die, following abstract origins and
 * specifications (an inlined instance has its name only there), or NULL. */
static const char *sp_die_string(Dwarf_Die *die, unsigned int at)
{
    Dwarf_Attribute attr;

    return dwarf_formstring(dwarf_attr_integrate(die, at, &attr));
}

/* The DIE that holds a function's names: an inlined or out-of-line
 * instance refers to its abstract instance, which may refer to the
 * declaration inside its class. */
static void sp_die_origin(Dwarf_Die *die, Dwarf_Die *out)
{
    Dwarf_Attribute attr;
    *out = *die;
    for (int depth = 0; depth < 8; depth++) {
        Dwarf_Die next;
        if ((dwarf_attr(out, DW_AT_abstract_origin, &attr) == NULL &&
             dwarf_attr(out, DW_AT_specification, &attr) == NULL) ||
            dwarf_formref_die(&attr, &next) == NULL)
            return;
        *out = next;
    }
}

/*
 * A C++ function without a linkage name (GCC omits it for some inlined
 * members): its source name qualified by the namespaces and classes that
 * enclose its declaration ("leveldb::SkipList<...>::FindGreaterOrEqual"
 * rather than "FindGreaterOrEqual"), so that inlined frames read as the
 * ELF symbols around them do once demangled. NULL if nothing encloses it.
 */
static const char *sp_qualified_name(struct sp_symbolizer *s, Dwarf_Die *die, const char *name)
{
    Dwarf_Die origin, *scopes = NULL;
    sp_die_origin(die, &origin);
    int n = dwarf_getscopes_die(&origin, &scopes);
    char buf[512];
    size_t len = 0;
    buf[0] = '\0';
    for (int i = n - 1; i >= 1; i--) { /* outermost first; scopes[0] is the function */
        int tag = dwarf_tag(&scopes[i]);
        if (tag != DW_TAG_namespace && tag != DW_TAG_class_type &&
            tag != DW_TAG_structure_type && tag != DW_TAG_union_type &&
            tag != DW_TAG_subprogram)
            continue;
        const char *part = dwarf_diename(&scopes[i]);
        if (!part) /* an unnamed namespace, or a lambda's closure type */
            part = tag == DW_TAG_namespace ? "(anonymous namespace)" : "{lambda}";
        int w = snprintf(buf + len, sizeof buf - len, "%s::", part);
        if (w < 0 || (size_t)w >= sizeof buf - len) {
            free(scopes);
            return NULL;
        }
        len += (size_t)w;
    }
    free(scopes);
    if (len == 0 || len + strlen(name) + 1 > sizeof buf)
        return NULL;
    strcat(buf, name);
    return sp_str_dup(s, buf, strlen(buf));
}

/* A function DIE's name: the linkage name when there is one (what .symtab
 * says for C++), else the source name, qualified for C++ members. */
static const char *sp_die_name(struct sp_symbolizer *s, Dwarf_Die *die)
{
    const char *name = sp_die_string(die, DW_AT_linkage_name);

    if (name == NULL)
        name = sp_die_string(die, DW_AT_MIPS_linkage_name);
    if (name == NULL) {
        name = sp_die_string(die, DW_AT_name);
        const char *q = name ? sp_qualified_name(s, die, name) : NULL;
        if (q)
            name = q;
    }
    return name != NULL ? name : "??";
}

/* file made absolute against cu's compilation directory, as Go and
 * binutils' addr2line print it (a relative name comes from compiling
 * "../x.c"). Left as given when the directory is itself relative, as in
 * distributions' builds with -fdebug-prefix-map. */
static const char *sp_abs_file(struct sp_symbolizer *s, Dwarf_Die *cu, const char *file)
{
    Dwarf_Attribute attr;
    const char *dir;
    char *joined;

    if (file == NULL || file[0] == '/' || cu == NULL ||
        (dir = dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &attr))) == NULL ||
        dir[0] != '/' || asprintf(&joined, "%s/%s", dir, file) < 0)
        return file;
    const char *owned = sp_str_dup(s, joined, strlen(joined));
    free(joined);
    return owned != NULL ? owned : file;
}

/* Where the inlined instance die was called from: its DW_AT_call_file
 * (resolved in cu's file table) and DW_AT_call_line. */
static void sp_call_site(struct sp_symbolizer *s, Dwarf_Die *cu, Dwarf_Die *die,
                         const char **file, int *line)
{
    Dwarf_Attribute attr;
    Dwarf_Word idx, lineno;
    Dwarf_Files *files;
    size_t nfiles;

    *file = NULL;
    *line = 0;
    if (dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &attr), &idx) == 0 &&
        dwarf_getsrcfiles(cu, &files, &nfiles) == 0 && idx < nfiles)
        *file = sp_abs_file(s, cu, dwarf_filesrc(files, idx, NULL, NULL));
    if (dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &attr), &lineno) == 0)
        *line = (int)lineno;
}

/* Stores one frame; past SP_MAX_INLINE the last slot is reused, so the
 * outermost (real) function always ends up last. */
static void sp_push_frame(struct sp_symbol *out, const char *fn, const char *file, int line)
{
    int i = out->nframes < SP_MAX_INLINE ? out->nframes++ : SP_MAX_INLINE - 1;

    out->frames[i] = (struct sp_frame){ .function = fn, .file = file, .line = line };
}

/* The file and line of addr from the module's line table. */
static void sp_line_of(struct sp_symbolizer *s, Dwfl_Module *mod, Dwarf_Addr addr,
                       const char **file, int *line)
{
    Dwfl_Line *l = dwfl_module_getsrc(mod, addr);

    *line = 0;
    *file = NULL;
    if (l != NULL)
        *file = sp_abs_file(s, dwfl_linecu(l), dwfl_lineinfo(l, NULL, line, NULL, NULL, NULL));
}

/*
 * Fills out->frames from the DIE nesting at addr: the innermost function
 * takes the line-table position; each inlined instance gives its caller the
 * call site. The nesting is read with dwarf_getscopes_die, since
 * dwarf_getscopes continues an inlined instance with the scopes of its
 * abstract definition, not with its callers. Sets out->entry from the
 * real function's DIE. Returns false without DWARF.
 */
static bool sp_dwarf_frames(struct sp_symbolizer *s, Dwfl_Module *mod, Dwarf_Addr addr,
                            struct sp_symbol *out)
{
    Dwarf_Addr bias;
    Dwarf_Die *cu = dwfl_module_addrdie(mod, addr, &bias);
    Dwarf_Die *scopes = NULL, inner;
    const char *file;
    int line, n;

    if (cu == NULL || dwarf_getscopes(cu, addr - bias, &scopes) <= 0) {
        free(scopes);
        return false;
    }
    inner = scopes[0];
    free(scopes);
    scopes = NULL;
    n = dwarf_getscopes_die(&inner, &scopes);
    sp_line_of(s, mod, addr, &file, &line);
    for (int i = 0; i < n; i++) {
        int tag = dwarf_tag(&scopes[i]);
        if (tag != DW_TAG_subprogram && tag != DW_TAG_inlined_subroutine)
            continue;
        sp_push_frame(out, sp_die_name(s, &scopes[i]), file, line);
        if (tag == DW_TAG_subprogram) {
            Dwarf_Addr entry;
            if (dwarf_entrypc(&scopes[i], &entry) == 0)
                out->entry = entry + bias;
            break;
        }
        sp_call_site(s, cu, &scopes[i], &file, &line);
    }
    free(scopes);
    return out->nframes > 0;
}

/* ---- Lookup ------------------------------------------------------------- */

/* The symbol name without its version: since binutils 2.35, .symtab spells
 * versioned symbols "__libc_start_main@@GLIBC_2.34", which no other tool
 * shows. Keeps the full name if the copy cannot be made. */
static const char *sp_unversioned(struct sp_symbolizer *s, const char *name)
{
    const char *at = strchr(name, '@');
    const char *copy = at != NULL && at > name ? sp_str_dup(s, name, (size_t)(at - name)) : NULL;

    return copy != NULL ? copy : name;
}

/*
 * The C and C++ runtime (libc, the dynamic loader, libstdc++, libgcc_s,
 * libm) and this library itself when it is a shared object of its own
 * (the interposer, libsyncprof.so): named from their ELF symbol tables
 * only. Their frames are the plumbing of a wait (start_thread, the futex
 * call under pthread_cond_wait) or the wrapper a sample ends in, which
 * sp_wrapped_names names; the runtime's debug information, where installed
 * (libc6-dbg comes with valgrind), is compressed, and reading it, or this
 * library's, cost more than everything else a short program's profiles
 * need at exit. The program's own code and its other libraries keep
 * file:line and inlined frames (compiled in, this library is part of the
 * program's module and keeps them too).
 */
static bool sp_runtime_module(Dwfl_Module *mod)
{
    static const char *const runtime[] = { "libc.so", "ld-linux", "libstdc++.so", "libgcc_s.so",
                                           "libm.so", "libpthread.so" };
    Dwarf_Addr start, end;
    const char *name = dwfl_module_info(mod, NULL, &start, &end, NULL, NULL, NULL, NULL);
    uintptr_t self = (uintptr_t)&sp_runtime_module, program = getauxval(AT_PHDR);
    if (self >= start && self < end && !(program >= start && program < end))
        return true; /* this library, not compiled into the program */
    const char *base = name ? strrchr(name, '/') : NULL;
    base = base ? base + 1 : name;
    for (size_t i = 0; base && i < sizeof runtime / sizeof runtime[0]; i++)
        if (strncmp(base, runtime[i], strlen(runtime[i])) == 0)
            return true;
    return false;
}

/* Names out->addr from the ELF symbol tables and DWARF. The ELF symbol
 * names the real function (and gives its entry) when there is one: it is
 * the linker's name, e.g. foo.constprop.0 for a clone. Returns false when
 * neither knows the address. */
static bool sp_resolve(struct sp_symbolizer *s, struct sp_symbol *out)
{
    Dwfl_Module *mod = sp_module_at(s, out->addr);
    GElf_Off off;
    GElf_Sym sym;
    const char *name;

    if (mod == NULL)
        return false;
    name = dwfl_module_addrinfo(mod, out->addr, &off, &sym, NULL, NULL, NULL);
    if (name != NULL)
        name = sp_unversioned(s, name);
    out->nframes = 0;
    bool runtime = sp_runtime_module(mod);
    if ((runtime || !sp_dwarf_frames(s, mod, out->addr, out)) && name != NULL) {
        const char *file = NULL;
        int line = 0;
        if (!runtime)
            sp_line_of(s, mod, out->addr, &file, &line);
        sp_push_frame(out, name, file, line);
    }
    if (out->nframes == 0)
        return false;
    if (name != NULL) {
        out->frames[out->nframes - 1].function = name;
        out->entry = out->addr - off;
    }
    return true;
}

/* Names out->addr by its hex value, as pprof shows unknown frames. */
static int sp_name_hex(struct sp_symbolizer *s, struct sp_symbol *out)
{
    char buf[2 + 2 * sizeof(uintptr_t) + 1];
    int len = snprintf(buf, sizeof(buf), "0x%" PRIxPTR, out->addr);
    const char *name = sp_str_dup(s, buf, (size_t)len);

    out->nframes = 1;
    out->known = false;
    out->frames[0] = (struct sp_frame){ .function = name ? name : "?" };
    return name ? 0 : ENOMEM;
}

/*
 * The name of the wrapped call, as the program wrote it: a wrapper is named
 * by its pthread (or semaphore) function in every profile, whichever way
 * it was reached (compiled in with <syncprof/pthread.h>, by name, the
 * whole-program library, or `syncprof run`, whose interposer symbol
 * already has that name), as Go names sync.(*Mutex).Unlock. Profiles taken
 * the different ways then merge, and go tool pprof -diff_base cancels
 * their leaves. The one table of that mapping; the channel functions keep
 * their own names.
 */
static const char *const sp_wrapped_names[][2] = {
    { "syncprof_mutex_lock", "pthread_mutex_lock" },
    { "syncprof_mutex_trylock", "pthread_mutex_trylock" },
    { "syncprof_mutex_timedlock", "pthread_mutex_timedlock" },
    { "syncprof_mutex_clocklock", "pthread_mutex_clocklock" },
    { "syncprof_mutex_unlock", "pthread_mutex_unlock" },
    { "syncprof_mutex_destroy", "pthread_mutex_destroy" },
    { "syncprof_rwlock_rdlock", "pthread_rwlock_rdlock" },
    { "syncprof_rwlock_wrlock", "pthread_rwlock_wrlock" },
    { "syncprof_rwlock_tryrdlock", "pthread_rwlock_tryrdlock" },
    { "syncprof_rwlock_trywrlock", "pthread_rwlock_trywrlock" },
    { "syncprof_rwlock_timedrdlock", "pthread_rwlock_timedrdlock" },
    { "syncprof_rwlock_timedwrlock", "pthread_rwlock_timedwrlock" },
    { "syncprof_rwlock_unlock", "pthread_rwlock_unlock" },
    { "syncprof_rwlock_destroy", "pthread_rwlock_destroy" },
    { "syncprof_cond_wait", "pthread_cond_wait" },
    { "syncprof_cond_timedwait", "pthread_cond_timedwait" },
    { "syncprof_cond_clockwait", "pthread_cond_clockwait" },
    { "syncprof_cond_signal", "pthread_cond_signal" },
    { "syncprof_cond_broadcast", "pthread_cond_broadcast" },
    { "syncprof_join", "pthread_join" },
    { "syncprof_barrier_wait", "pthread_barrier_wait" },
    { "syncprof_sem_wait", "sem_wait" },
    { "syncprof_sem_timedwait", "sem_timedwait" },
};

/* The pthread name of a wrapper, or NULL if name is not a wrapper's. */
static const char *sp_wrapped_name(const char *name)
{
    if (name == NULL || strncmp(name, "syncprof_", 9) != 0)
        return NULL;
    for (size_t i = 0; i < sizeof sp_wrapped_names / sizeof sp_wrapped_names[0]; i++)
        if (strcmp(name, sp_wrapped_names[i][0]) == 0)
            return sp_wrapped_names[i][1];
    return NULL;
}

/*
 * Drops the inlined frames of <syncprof/pthread.h>'s fast paths (the
 * wrappers' inline twins, syncprof_inline_* in older headers): they are
 * library internals, and a sample's stack is the wrapper, then the
 * program's own function. The real (outermost) function is always kept.
 * Then names every wrapper frame by its pthread name (sp_wrapped_names).
 */
static void sp_drop_header_inlines(struct sp_symbol *out)
{
    static const char prefix[] = "syncprof_inline_";
    int kept = 0;
    for (int i = 0; i < out->nframes; i++) {
        bool last = i == out->nframes - 1;
        const char *fn = out->frames[i].function;
        if (!last && (strncmp(fn, prefix, sizeof prefix - 1) == 0 || sp_wrapped_name(fn)))
            continue;
        out->frames[kept++] = out->frames[i];
    }
    out->nframes = kept;
    for (int i = 0; i < out->nframes; i++) {
        const char *pthread_name = sp_wrapped_name(out->frames[i].function);
        if (pthread_name)
            out->frames[i].function = pthread_name;
    }
}

/* ---- Answers already given ------------------------------------------------ */

/*
 * The writes at exit (each profile, the lock table, the summary) name
 * mostly the same return addresses, and a lookup (the module's symbol
 * table, then the DWARF scopes of the calls inlined there) costs far more
 * than a probe, so each answer is remembered, by pc, for as long as the
 * symbolizer stays open. At most SP_MEMO_MAX answers; beyond that lookups
 * are made again.
 */
#define SP_MEMO_MAX (1u << 17)

static struct sp_memo *sp_memo_slot(struct sp_memo *memo, size_t cap, uintptr_t pc)
{
    size_t i = (size_t)((pc * 0x9e3779b97f4a7c15ULL) >> 20) & (cap - 1);
    while (memo[i].pc != 0 && memo[i].pc != pc)
        i = (i + 1) & (cap - 1);
    return &memo[i];
}

static const struct sp_symbol *sp_memo_find(const struct sp_symbolizer *s, uintptr_t pc)
{
    if (s->memo_used == 0)
        return NULL;
    const struct sp_memo *m = sp_memo_slot(s->memo, s->memo_cap, pc);
    return m->pc == pc ? m->sym : NULL;
}

/* Doubles the table (from 256 entries); false when it cannot grow. */
static bool sp_memo_grow(struct sp_symbolizer *s)
{
    size_t cap = s->memo_cap ? 2 * s->memo_cap : 256;
    if (cap > 2 * SP_MEMO_MAX)
        return false;
    struct sp_memo *memo = calloc(cap, sizeof *memo);
    if (!memo)
        return false;
    for (size_t i = 0; i < s->memo_cap; i++)
        if (s->memo[i].pc != 0)
            *sp_memo_slot(memo, cap, s->memo[i].pc) = s->memo[i];
    free(s->memo);
    s->memo = memo;
    s->memo_cap = cap;
    return true;
}

static void sp_memo_put(struct sp_symbolizer *s, uintptr_t pc, const struct sp_symbol *sym)
{
    if (pc == 0 || ((s->memo_used + 1) * 2 > s->memo_cap && !sp_memo_grow(s)))
        return;
    size_t size = offsetof(struct sp_symbol, frames) + (size_t)sym->nframes * sizeof sym->frames[0];
    struct sp_symbol *copy = malloc(size);
    if (!copy)
        return;
    memcpy(copy, sym, size);
    struct sp_memo *m = sp_memo_slot(s->memo, s->memo_cap, pc);
    m->pc = pc;
    m->sym = copy;
    s->memo_used++;
}

static int sp_lookup(struct sp_symbolizer *s, uintptr_t pc, struct sp_symbol *out);

int sp_symbolize(struct sp_symbolizer *s, uintptr_t pc, struct sp_symbol *out)
{
    const struct sp_symbol *known = sp_memo_find(s, pc);
    if (known) {
        *out = (struct sp_symbol){ .nframes = 0 };
        memcpy(out, known,
               offsetof(struct sp_symbol, frames) + (size_t)known->nframes * sizeof out->frames[0]);
        return 0;
    }
    int r = sp_lookup(s, pc, out);
    if (r == 0)
        sp_memo_put(s, pc, out);
    return r;
}

static int sp_lookup(struct sp_symbolizer *s, uintptr_t pc, struct sp_symbol *out)
{
    /* pc is a return address: the call is the instruction before it. */
    uintptr_t addr = pc > 0 ? pc - 1 : 0;

    *out = (struct sp_symbol){ .addr = addr, .entry = addr, .mapping = -1 };
    if (pc == SP_PC_LOST) {
        out->known = true;
        out->nframes = 1;
        out->frames[0] = (struct sp_frame){ .function = SP_LOST_SAMPLES_NAME };
        return 0;
    }
    out->mapping = sp_find_mapping(s, addr);
    if (s->dwfl != NULL && pc > 0 && sp_resolve(s, out)) {
        out->known = true;
        sp_drop_header_inlines(out);
        return 0;
    }
    return sp_name_hex(s, out);
}

/* ---- The shared symbolizer ---------------------------------------------- */

/*
 * sym_lock is a spinlock, not a pthread lock (see spinlock.h); it is held
 * while the cached symbolizer is in use. The symbolizer stays open, with
 * its memory, for good.
 */
static sp_spinlock sym_lock = SP_SPINLOCK_INIT;
static struct sp_symbolizer *cached_sym; /* under sym_lock */
static uint64_t cached_maps;             /* under sym_lock: hash of the executable mappings */

/* A hash of the executable lines of /proc/self/maps, 0 if unreadable. */
static uint64_t sp_executable_maps_hash(void)
{
    FILE *f = fopen(SP_PROC_MAPS, "re");
    if (!f)
        return 0;
    uint64_t h = 1469598103934665603ULL;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *perms = strchr(line, ' ');
        if (!perms || perms[3] != 'x')
            continue;
        for (const char *p = line; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    }
    fclose(f);
    return h;
}

struct sp_symbolizer *sp_symbolizer_acquire(void)
{
    uint64_t maps = sp_executable_maps_hash();
    sp_spin_lock(&sym_lock);
    if (cached_sym && (maps == 0 || maps != cached_maps)) {
        sp_symbolizer_close(cached_sym);
        cached_sym = NULL;
    }
    if (!cached_sym && sp_symbolizer_open(&cached_sym) != 0)
        cached_sym = NULL;
    cached_maps = maps;
    if (!cached_sym)
        sp_spin_unlock(&sym_lock);
    return cached_sym;
}

void sp_symbolizer_release(void)
{
    sp_spin_unlock(&sym_lock);
}

/* In a child of fork, a writer of another thread may have held the lock:
 * release it and forget that symbolizer (its state may be mid-use; it is
 * leaked, not closed). */
static void sp_symbolizer_forget_in_child(void)
{
    cached_sym = NULL;
    sp_spin_unlock(&sym_lock);
}

__attribute__((constructor)) static void sp_symbolizer_register_fork_handler(void)
{
    pthread_atfork(NULL, NULL, sp_symbolizer_forget_in_child);
}
