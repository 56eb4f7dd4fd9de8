/*
 * cli_main.c - the `syncprof` command: dispatch, help, and `syncprof run`,
 * which profiles an unmodified program by starting it with
 * libsyncprof-preload.so in LD_PRELOAD and the settings in SYNCPROF_*
 * variables (see docs/unmodified-programs.md).
 *
 * `run` forks, execs the program and waits: the command's exit status is
 * the program's, or 128 + n when signal n killed it, as shells report.
 * Signals sent to syncprof itself with kill(2) (TERM, INT, QUIT, HUP, USR1,
 * USR2, ALRM) are passed on to the program; those a terminal sends already
 * reach the program through its process group and are not sent twice. If
 * syncprof dies, the program gets SIGTERM (PR_SET_PDEATHSIG).
 *
 * Defaults of a profiling run, and why:
 *   --mutex-fraction 5    every contended unlock costs a few hundred ns to
 *                         account; one in 5 also pays a stack capture
 *                         (about 1-2 us). Even a short run collects
 *                         hundreds of samples, and a lock-bound program
 *                         stays within the 1.25x budget (measured in
 *                         docs/performance.md). Go's own
 *                         recommendation for production is similar (a
 *                         small N). 1 gives exact counts.
 *   --block-rate 10000    one sample per 10 us spent blocked on average
 *                         (waits longer than 10 us always): short waits
 *                         are sampled and scaled up (Go's bias
 *                         correction), long ones are exact.
 *   --hold-rate (off)     the hold profile sends every lock and unlock
 *                         through the wrappers, so it is asked for; 10us
 *                         times about one hold per 10 us of a thread.
 *   --out .               the directory the program is started in.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "env.h"
#include "signal_names.h"

#define PRELOAD_NAME "libsyncprof-preload.so"
#ifndef SYNCPROF_BIN_TO_LIB
#define SYNCPROF_BIN_TO_LIB "../lib"
#endif

#define DEFAULT_MUTEX_FRACTION "5"
#define DEFAULT_BLOCK_RATE "10000"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: syncprof run [options] [--] PROGRAM [ARGS...]\n"
        "       syncprof report FILE [--top N] [--depth N] [--folded] [--text] [--ignore-wait K]\n"
        "       syncprof report --trace FILE [--top N] [--convoy N]\n"
        "       syncprof report --by-lock locks.PID.csv [--top N] [--csv]\n"
        "       syncprof --help | --version\n"
        "\n"
        "syncprof run profiles an unmodified program: its pthread mutexes, rwlocks,\n"
        "condition variables, joins, barriers and semaphores, as Go's mutex and block\n"
        "profiles. At exit it writes mutex.<pid>.pb.gz and block.<pid>.pb.gz and prints\n"
        "the heaviest stacks on stderr; kill -USR2 <pid> writes them while it runs.\n"
        "Child processes are profiled too, each into its own files.\n"
        "\n"
        "run options:\n"
        "  --mutex-fraction N  keep 1 in N contention events (0: mutex profile off)  [" DEFAULT_MUTEX_FRACTION "]\n"
        "  --block-rate NS     one block sample per NS blocked; 10us, 1ms also work\n"
        "                      (0: block profile off)                               [" DEFAULT_BLOCK_RATE "]\n"
        "  --hold-rate NS      hold profile (how long locks are held): one timed hold\n"
        "                      per NS of each thread's time; 10us is cheap    [off]\n"
        "  --out DIR           where the profiles go (created if missing)           [.]\n"
        "  --hang-timeout S    report threads blocked longer than S seconds, and deadlocks\n"
        "  --dump-signal SIG   dump every thread's stack on signal SIG (QUIT, USR1, 3...)\n"
        "  --lock-order        report lock-order inversions (potential deadlocks)\n"
        "  --write-signal SIG  the signal that writes the profiles so far (0: none) [USR2]\n"
        "  --quiet             no summary on stderr at exit\n"
        "  --trace FILE        also write an execution trace of every wait and contended\n"
        "                      hold into FILE (Perfetto format: ui.perfetto.dev, or\n"
        "                      syncprof report --trace FILE)\n"
        "  --trace-min NS      leave out of the trace waits shorter than NS; 10us, 1ms\n"
        "                      also work                                              [0]\n"
        "The exit status is the program's (128+N if signal N killed it); 127 if it\n"
        "cannot be started. SYNCPROF_PRELOAD_LIB overrides where the library is found.\n"
        "\n"
        "report options:\n"
        "  --top N     the N heaviest stacks (0: all)                               [10]\n"
        "  --depth N   frames shown per stack (0: all)                              [8]\n"
        "  --folded    folded stacks (root;...;leaf weight) for flamegraph.pl,\n"
        "              speedscope and inferno\n"
        "  --text      every stack in full, with addresses and file:line\n"
        "  --ignore-wait KIND[,KIND]  drop block samples of these wait kinds\n"
        "              (mutex, rwlock_read, rwlock_write, cond, cond_timed, sem,\n"
        "              sem_timed, join, barrier, chan_send, chan_recv, select)\n"
        "  --trace     FILE is an execution trace (syncprof run --trace, SYNCPROF_TRACE,\n"
        "              /debug/pprof/trace): its longest waits with the holder and the\n"
        "              waker, each task's latency, and the lock convoys\n"
        "  --convoy N  with --trace: a convoy is more than N threads queued on a lock [2]\n"
        "A block profile with wait kinds is shown as lock waits and event waits.\n"
        "FILE is a mutex, block or goroutine profile written by syncprof or by Go:\n"
        "pprof protobuf (gzipped or not) or debug=1 text.\n");
}

static int bad_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "syncprof: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see syncprof --help)\n");
    return 2;
}

/* One line for a signal option that names a fault signal, unusable for
 * USE. (KILL and STOP get the usage error they always had.) */
static int refused_signal(const char *option, const char *arg, int sig, const char *use)
{
    char why[128];
    fprintf(stderr, "syncprof: %s %s: %s\n", option, arg,
            sp_signal_refused_text(sig, use, why, sizeof why));
    return 2;
}

/* ---- Option values ------------------------------------------------------- */

static bool parse_count(const char *s, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > max)
        return false;
    *out = v;
    return true;
}

/* "10000", "10000ns", "10us", "1ms", "2s" -> ns. */
static bool parse_duration_ns(const char *s, long long *out)
{
    static const struct { const char *suffix; long long scale; } units[] = {
        { "", 1 }, { "ns", 1 }, { "us", 1000 }, { "ms", 1000000 }, { "s", 1000000000 },
    };
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || v < 0)
        return false;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(end, units[i].suffix) == 0) {
            if (v > LLONG_MAX / units[i].scale)
                return false;
            *out = v * units[i].scale;
            return true;
        }
    return false;
}

/* An existing directory, or one this creates with its parents (mode 0755,
 * as the library creates SYNCPROF_OUT); made absolute. */
static bool prepare_out_dir(const char *dir, char *abs, size_t len)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        int e = errno == ENOENT ? sp_mkdir_p(dir, 0755) : errno;
        if (e != 0) {
            fprintf(stderr, "syncprof: cannot create --out directory %s: %s\n", dir, strerror(e));
            return false;
        }
    } else if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "syncprof: --out %s is not a directory\n", dir);
        return false;
    }
    char *real = realpath(dir, NULL);
    if (!real || strlen(real) >= len) {
        fprintf(stderr, "syncprof: cannot resolve --out directory %s\n", dir);
        free(real);
        return false;
    }
    strcpy(abs, real);
    free(real);
    return true;
}

/* ---- Finding the library -------------------------------------------------- */

/* The preload library: $SYNCPROF_PRELOAD_LIB, or next to this executable
 * (the build tree), or in the library directory of the installation. */
static bool find_preload(char *out, size_t len)
{
    /* secure_getenv: a setuid or setgid syncprof loads no library its caller names. */
    const char *env = secure_getenv("SYNCPROF_PRELOAD_LIB");
    if (env && *env) {
        if (env[0] != '/' || access(env, R_OK) != 0) {
            fprintf(stderr, "syncprof: SYNCPROF_PRELOAD_LIB=%s: not a readable absolute path\n", env);
            return false;
        }
        snprintf(out, len, "%s", env);
        return true;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        fprintf(stderr, "syncprof: cannot find my own executable: %s\n", strerror(errno));
        return false;
    }
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    *slash = '\0';
    const char *candidates[] = { "", "/" SYNCPROF_BIN_TO_LIB };
    for (size_t i = 0; i < 2; i++) {
        char path[PATH_MAX * 2];
        snprintf(path, sizeof path, "%s%s/" PRELOAD_NAME, exe, candidates[i]);
        char *real = realpath(path, NULL);
        if (real && access(real, R_OK) == 0 && strlen(real) < len) {
            strcpy(out, real);
            free(real);
            return true;
        }
        free(real);
    }
    fprintf(stderr, "syncprof: cannot find " PRELOAD_NAME " in %s or %s/" SYNCPROF_BIN_TO_LIB
            " (set SYNCPROF_PRELOAD_LIB)\n", exe, exe);
    return false;
}

/* ---- Running the program -------------------------------------------------- */

static volatile sig_atomic_t child_pid;

/* Passes on a signal sent to us with kill(2); a terminal's signals already
 * went to the program's process group. */
static void forward(int sig, siginfo_t *info, void *ctx)
{
    (void)ctx;
    if (child_pid > 0 && info->si_code <= 0)
        kill(child_pid, sig);
}

static const int forwarded[] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGALRM };

static int run_child(char **argv)
{
    struct sigaction sa, old[sizeof forwarded / sizeof forwarded[0]];
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = forward;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
        sigaction(forwarded[i], &sa, &old[i]);

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "syncprof: fork: %s\n", strerror(errno));
        return 127;
    }
    if (pid == 0) {
        for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
            sigaction(forwarded[i], &old[i], NULL);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(128 + SIGTERM);
        execvp(argv[0], argv);
        int e = errno;
        fprintf(stderr, "syncprof: cannot run %s: %s\n", argv[0], strerror(e));
        _exit(e == ENOENT ? 127 : 126);
    }
    child_pid = pid;
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "syncprof: waitpid: %s\n", strerror(errno));
            return 127;
        }
    }
    child_pid = 0;
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

/* path, made absolute against the current directory (the program may
 * change its own); false when empty or too long. */
static bool absolute_path(const char *path, char *buf, size_t size)
{
    char cwd[PATH_MAX];
    if (!*path)
        return false;
    if (path[0] == '/')
        return snprintf(buf, size, "%s", path) < (int)size;
    if (!getcwd(cwd, sizeof cwd))
        return false;
    return snprintf(buf, size, "%s/%s", cwd, path) < (int)size;
}

static bool set(const char *name, const char *value)
{
    if (setenv(name, value, 1) != 0) {
        fprintf(stderr, "syncprof: setenv %s: %s\n", name, strerror(errno));
        return false;
    }
    return true;
}

int sp_cli_run(int argc, char **argv)
{
    enum { MUTEX = 1000, BLOCK, HOLDRATE, OUT, HANG, DUMP, LOCKORDER, WRITESIG, QUIET, TRACE, TRACEMIN,
           HELP };
    static const struct option opts[] = {
        { "mutex-fraction", required_argument, NULL, MUTEX },
        { "block-rate", required_argument, NULL, BLOCK },
        { "hold-rate", required_argument, NULL, HOLDRATE },
        { "out", required_argument, NULL, OUT },
        { "hang-timeout", required_argument, NULL, HANG },
        { "dump-signal", required_argument, NULL, DUMP },
        { "lock-order", no_argument, NULL, LOCKORDER },
        { "write-signal", required_argument, NULL, WRITESIG },
        { "quiet", no_argument, NULL, QUIET },
        { "trace", required_argument, NULL, TRACE },
        { "trace-min", required_argument, NULL, TRACEMIN },
        { "help", no_argument, NULL, HELP },
        { NULL, 0, NULL, 0 },
    };
    char fraction[32] = DEFAULT_MUTEX_FRACTION, rate[32] = DEFAULT_BLOCK_RATE;
    char out[PATH_MAX] = "", hang[64] = "", dump[16] = "", wsig[16] = "", hold[32] = "";
    char trace[PATH_MAX] = "", trace_min[32] = "";
    bool lock_order = false, quiet = false;
    long long v;
    double d;
    char *end;
    int c, sig, refused;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        switch (c) {
        case MUTEX:
            if (!parse_count(optarg, INT_MAX, &v))
                return bad_usage("--mutex-fraction wants an integer >= 0, not \"%s\"", optarg);
            snprintf(fraction, sizeof fraction, "%lld", v);
            break;
        case BLOCK:
            if (!parse_duration_ns(optarg, &v))
                return bad_usage("--block-rate wants nanoseconds (10000, 10us, 1ms), not \"%s\"",
                                 optarg);
            snprintf(rate, sizeof rate, "%lld", v);
            break;
        case HOLDRATE:
            if (!parse_duration_ns(optarg, &v))
                return bad_usage("--hold-rate wants nanoseconds (10000, 10us, 1ms), not \"%s\"",
                                 optarg);
            snprintf(hold, sizeof hold, "%lld", v);
            break;
        case OUT:
            if (!prepare_out_dir(optarg, out, sizeof out))
                return 2;
            break;
        case HANG:
            errno = 0;
            d = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(d > 0) || !isfinite(d))
                return bad_usage("--hang-timeout wants seconds > 0, not \"%s\"", optarg);
            snprintf(hang, sizeof hang, "%s", optarg);
            break;
        case DUMP:
            sig = sp_signal_parse(optarg, &refused);
            if (sig == -2 && refused != SIGKILL && refused != SIGSTOP)
                return refused_signal("--dump-signal", optarg, refused, "dumps");
            if (sig <= 0)
                return bad_usage("--dump-signal wants a signal name or number, not \"%s\"", optarg);
            snprintf(dump, sizeof dump, "%d", sig);
            break;
        case LOCKORDER:
            lock_order = true;
            break;
        case WRITESIG:
            sig = sp_signal_parse(optarg, &refused);
            if (sig == -2 && refused != SIGKILL && refused != SIGSTOP)
                return refused_signal("--write-signal", optarg, refused, "writing profiles");
            if (sig < 0)
                return bad_usage("--write-signal wants a signal name or number, or 0, not \"%s\"",
                                 optarg);
            snprintf(wsig, sizeof wsig, "%d", sig);
            break;
        case QUIET:
            quiet = true;
            break;
        case TRACE:
            if (!absolute_path(optarg, trace, sizeof trace))
                return bad_usage("--trace wants a file name, not \"%s\"", optarg);
            break;
        case TRACEMIN:
            if (!parse_duration_ns(optarg, &v))
                return bad_usage("--trace-min wants nanoseconds (10000, 10us, 1ms), not \"%s\"",
                                 optarg);
            snprintf(trace_min, sizeof trace_min, "%lld", v);
            break;
        case HELP:
        case 'h':
            usage(stdout);
            return 0;
        case ':':
            return bad_usage("option %s needs a value", argv[optind - 1]);
        default:
            return bad_usage("unknown run option \"%s\"", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return bad_usage("%s", "run: no program given");

    char lib[PATH_MAX];
    if (!find_preload(lib, sizeof lib))
        return 127;
    const char *old = getenv("LD_PRELOAD");
    char *preload;
    if (asprintf(&preload, "%s%s%s", lib, old && *old ? ":" : "", old && *old ? old : "") < 0)
        return 127;
    bool ok = set("LD_PRELOAD", preload) && set("SYNCPROF_MUTEX_FRACTION", fraction) &&
              set("SYNCPROF_BLOCK_RATE", rate) && (!out[0] || set("SYNCPROF_OUT", out)) &&
              (!hold[0] || set("SYNCPROF_HOLD_RATE", hold)) &&
              (!hang[0] || set("SYNCPROF_HANG_TIMEOUT", hang)) &&
              (!dump[0] || set("SYNCPROF_DUMP_SIGNAL", dump)) &&
              (!lock_order || set("SYNCPROF_LOCK_ORDER", "1")) &&
              (!wsig[0] || set("SYNCPROF_WRITE_SIGNAL", wsig)) &&
              (!quiet || set("SYNCPROF_SUMMARY", "0")) &&
              (!trace[0] || set("SYNCPROF_TRACE", trace)) &&
              (!trace_min[0] || set("SYNCPROF_TRACE_MIN", trace_min));
    free(preload);
    if (!ok)
        return 127;
    return run_child(argv + optind);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "run") == 0)
        return sp_cli_run(argc - 1, argv + 1);
    if (strcmp(cmd, "report") == 0)
        return sp_cli_report(argc - 1, argv + 1);
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("syncprof %s\n", SYNCPROF_VERSION);
        return 0;
    }
    return bad_usage("unknown command \"%s\" (run or report)", cmd);
}
