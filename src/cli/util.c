/*
 * util.c — helpers shared by the subcommands (see cli.h): error printing, enum name
 * lists, read reports, the progress printer, the GPU check, JSON output,
 * all-or-nothing output files and the progress bar of the ratings reads.
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_fail(const cf_error *err) {
    if (err && err->status == CF_ERR_INTERRUPTED && err->msg[0]) {
        fprintf(stderr, "cufactor: %s\n", err->msg);
        return CLI_EXIT_INTERRUPTED;
    }
    fprintf(stderr, "cufactor: error: %s\n", err && err->msg[0] ? err->msg : "unknown failure");
    return CLI_EXIT_ERROR;
}

int cli_failf(const char *fmt, ...) {
    fprintf(stderr, "cufactor: error: ");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_EXIT_ERROR;
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------------ enum names */

const char *const cli_format_names[] = {"auto", "delim", "mm", NULL};
const char *const cli_lr_schedule_names[] = {"const", "invscale", NULL};
const char *const cli_schedule_names[] = {"shuffle", "blocks", "hogwild", NULL};
const char *const cli_optimizer_names[] = {"plain", "adam", "auto", NULL};
const char *const cli_precision_names[] = {"fp32", "fp16", "fp64", NULL};
const char *const cli_als_solver_names[] = {"cusolver", "fused", NULL};
const char *const cli_als_gram_names[] = {"simt", "tc", NULL};
const char *const cli_split_names[] = {"random", "user", "time", "user-time", NULL};

/* Fills names[] from a library name function until it answers "?" (unknown value). */
#define NAME_LIST(fn, type, names)                                          \
    do {                                                                    \
        if (!names[0]) {                                                    \
            int k_ = 0;                                                     \
            for (; k_ < (int)(sizeof names / sizeof *names) - 1; k_++) {    \
                const char *s_ = fn((type)k_);                              \
                if (!s_ || strcmp(s_, "?") == 0) break;                     \
                names[k_] = s_;                                             \
            }                                                               \
            names[k_] = NULL;                                               \
        }                                                                   \
        return names;                                                       \
    } while (0)

const char *const *cli_algo_names(void) {
    static const char *names[16];
    NAME_LIST(cf_algo_name, cf_algo, names);
}
const char *const *cli_bias_reg_names(void) {
    static const char *names[16];
    NAME_LIST(cf_reg_name, cf_reg, names);
}
const char *const *cli_reg_names(void) { /* --reg's: the same but "same" */
    static const char *names[CF_REG_SAME + 1];
    if (!names[0])
        for (int k = 0; k < CF_REG_SAME; k++) names[k] = cf_reg_name((cf_reg)k);
    return names;
}
const char *const *cli_device_names(void) {
    static const char *names[16];
    NAME_LIST(cf_device_name, cf_device, names);
}

/* ------------------------------------------------------------------ reports */

static const char *delimiter_name(const char *d) {
    if (strcmp(d, "\t") == 0) return "tab";
    if (strcmp(d, ",") == 0) return "comma";
    if (strcmp(d, " ") == 0) return "space";
    if (strcmp(d, "::") == 0) return "'::'";
    return d[0] ? d : "?";
}

const char *cli_utc_text(int64_t t, char buf[40]) {
    buf[0] = 0;
    struct tm tm;
    const time_t x = (time_t)t;
    if (t >= 100000000 && t < 4102444800LL && gmtime_r(&x, &tm)) strftime(buf, 40, " (%Y-%m-%d %H:%M:%S UTC)", &tm);
    return buf;
}

const char *cli_read_format(const cf_read_report *rep, char *buf, size_t cap) {
    const char *gz = rep->compressed ? "gzip: " : "";
    if (rep->format == CF_FORMAT_BINARY) snprintf(buf, cap, "%sbinary dataset", gz);
    else if (rep->format == CF_FORMAT_MM) snprintf(buf, cap, "%sMatrix Market", gz);
    else
        snprintf(buf, cap, "%sdelimited (%s)%s", gz, delimiter_name(rep->delimiter),
                 rep->header ? ", header skipped" : "");
    return buf;
}

void cli_print_read(const char *what, const char *path, const cf_read_report *rep) {
    char fmt[64];
    fprintf(stderr, "%s %s: %s", what, path, cli_read_format(rep, fmt, sizeof fmt));
    fprintf(stderr, ", %lld ratings, %lld duplicates removed (last kept), %lld bad lines skipped\n",
            (long long)rep->ratings, (long long)rep->duplicates, (long long)rep->skipped);
    if (rep->skipped > 0 && rep->first_bad[0]) fprintf(stderr, "  first skipped line: %s\n", rep->first_bad);
}

int cli_progress(const cf_iter_info *it, void *user) {
    return cli_progress_named(it, user ? (FILE *)user : stderr, "test_rmse");
}

int cli_progress_named(const cf_iter_info *it, FILE *f, const char *held) {
    static int header_shown; /* one training per process; a resumed run starts past iter 1 */
    if (it->iter == 1 || !header_shown)
        fprintf(f, "%5s  %10s  %10s  %14s  %8s  %10s\n", "iter", "train_rmse", held, "objective", "seconds",
                "ratings/s");
    char test[32];
    if (isnan(it->test_rmse))
        snprintf(test, sizeof test, "-");
    else
        snprintf(test, sizeof test, "%.6f", it->test_rmse);
    fprintf(f, "%5d  %10.6f  %10s  %14.6e  %8.3f  %10.3e\n", (int)it->iter, it->train_rmse, test, it->objective,
            it->seconds, it->ratings_per_sec);
    header_shown = 1;
    fflush(f);
    return 0;
}

static int gpu_warm_main(void *arg) {
    cli_gpu_warm *w = arg;
    (void)cf_gpu_warm_up(w->gpu_id);
    w->seconds = cli_now() - w->t0;
    return 0;
}

void cli_gpu_warm_start(cli_gpu_warm *w, cf_device dev, int gpu_id) {
    memset(w, 0, sizeof *w);
    if (dev == CF_DEVICE_CPU) return;
    w->gpu_id = gpu_id;
    w->t0 = cli_now();
    w->started = thrd_create(&w->thread, gpu_warm_main, w) == thrd_success;
}

void cli_gpu_warm_wait(cli_gpu_warm *w) {
    if (!w->started || w->joined) return;
    thrd_join(w->thread, NULL);
    w->joined = 1;
}

int cli_device_notice(cf_device dev, FILE *f, const char *indent) {
    char why[256] = "";
    if (dev != CF_DEVICE_AUTO || cf_gpu_available(why, sizeof why)) return 0;
    /* the same words as the library's cf_train_report.notice */
    fprintf(f, "%snotice: no usable GPU (%s): using the CPU\n", indent, why);
    return 1;
}

int cli_check_device(cf_device dev) {
    if (dev != CF_DEVICE_GPU) return CLI_EXIT_OK;
    char why[256] = "";
    if (cf_gpu_available(why, sizeof why)) return CLI_EXIT_OK;
    return cli_failf("--device gpu: no usable GPU: %s", why[0] ? why : "unknown reason");
}

int cli_check_binary_output(const char *path, const char *flag, const char *what) {
    const size_t n = strlen(path);
    if (n >= 3 && strcmp(path + n - 3, ".gz") == 0)
        return cli_failf("%s %s: %s is written uncompressed (it loads at memory speed), and the name's .gz would "
                         "say it was gzip: name it without .gz",
                         flag, path, what);
    return cli_check_writable(path, flag);
}

int cli_check_writable(const char *path, const char *flag) {
    /* the target first: a non-regular file is the reason, whatever its directory allows */
    struct stat st, lst;
    char *real = NULL; /* a symbolic link's final target: the file is written next to it */
    if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode)) {
        if (stat(path, &st) != 0 || !(real = realpath(path, NULL)))
            return cli_failf("%s %s: a symbolic link whose target cannot be used (%s): refusing to write through it",
                             flag, path, strerror(errno));
    }
    if (stat(path, &st) == 0) {
        int bad = S_ISDIR(st.st_mode) ? 1 : !S_ISREG(st.st_mode) ? 2 : 0;
        if (bad) {
            free(real);
            return bad == 1 ? cli_failf("%s %s: is a directory", flag, path)
                            : cli_failf("%s %s: is not a regular file (%s): refusing to replace it", flag, path,
                                        cli_file_kind(st.st_mode));
        }
    }
    const char *target = real ? real : path;
    const char *slash = strrchr(target, '/');
    char dir[4096];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == target)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - target), target);
    free(real);
    /* the reason from the call that fails: stat says "Not a directory" or "No such file
     * or directory" where access() alone would answer EACCES for a path through a file */
    if (stat(dir, &st) != 0)
        return cli_failf("%s %s: cannot write in the directory '%s': %s", flag, path, dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return cli_failf("%s %s: cannot write in the directory '%s': %s", flag, path, dir, strerror(ENOTDIR));
    if (access(dir, W_OK | X_OK) != 0)
        return cli_failf("%s %s: cannot write in the directory '%s': %s", flag, path, dir, strerror(errno));
    return CLI_EXIT_OK;
}

const char *cli_file_kind(unsigned mode) {
    switch (mode & S_IFMT) {
    case S_IFREG: return "a regular file";
    case S_IFDIR: return "a directory";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    case S_IFIFO: return "a FIFO";
    case S_IFSOCK: return "a socket";
    case S_IFLNK: return "a symbolic link";
    }
    return "not a regular file";
}

int cli_same_file(const char *a, const char *b) {
    if (strcmp(a, b) == 0) return 1;
    struct stat sa, sb;
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    /* one does not exist yet: compare the canonical directories and the base names */
    const char *ba = strrchr(a, '/'), *bb = strrchr(b, '/');
    const char *na = ba ? ba + 1 : a, *nb = bb ? bb + 1 : b;
    if (strcmp(na, nb) != 0) return 0;
    char da[4096], db[4096];
    snprintf(da, sizeof da, "%.*s", ba ? (int)(ba - a) + 1 : 1, ba ? a : ".");
    snprintf(db, sizeof db, "%.*s", bb ? (int)(bb - b) + 1 : 1, bb ? b : ".");
    char *ra = realpath(da, NULL), *rb = realpath(db, NULL);
    int same = ra && rb && strcmp(ra, rb) == 0;
    free(ra), free(rb);
    return same;
}

/* ------------------------------------------------------------------ JSON */

void json_string(FILE *f, const char *s) {
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

void json_number(FILE *f, double x) {
    if (!isfinite(x)) {
        fputs("null", f);
        return;
    }
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) break;
    }
    fputs(buf, f);
}

void json_key(FILE *f, int *first, const char *key) {
    if (!*first) fputc(',', f);
    *first = 0;
    json_string(f, key);
    fputc(':', f);
}

/* ------------------------------------------------------------------ output files */

static void set_err(cf_error *err, cf_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void set_err(cf_error *err, cf_status st, const char *fmt, ...) {
    if (!err) return;
    err->status = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

int cli_out_open(cli_out *o, const char *path, cf_error *err) {
    memset(o, 0, sizeof *o);
    if (path) return cf_output_open(path, &o->file, &o->f, err) == CF_OK ? 0 : -1;
    o->f = tmpfile();
    if (!o->f) {
        set_err(err, CF_ERR_IO, "cannot create a temporary file for the output: %s", strerror(errno));
        return -1;
    }
    return 0;
}

void cli_out_abort(cli_out *o) {
    if (o->file)
        cf_output_abort(&o->file);
    else if (o->f)
        fclose(o->f);
    memset(o, 0, sizeof *o);
}

int cli_out_commit(cli_out *o, cf_error *err) {
    if (!o->file) {
        /* stdout: copy the buffered output */
        int ok = fflush(o->f) == 0 && !ferror(o->f) && fseek(o->f, 0, SEEK_SET) == 0;
        char buf[1 << 16];
        size_t n;
        while (ok && (n = fread(buf, 1, sizeof buf, o->f)) > 0) ok = fwrite(buf, 1, n, stdout) == n;
        ok = ok && !ferror(o->f) && fflush(stdout) == 0;
        fclose(o->f);
        o->f = NULL;
        if (!ok) set_err(err, CF_ERR_IO, "writing the output to stdout failed: %s", strerror(errno));
        return ok ? 0 : -1;
    }
    int rc = cf_output_commit(&o->file, err) == CF_OK ? 0 : -1;
    memset(o, 0, sizeof *o);
    return rc;
}

/* ------------------------------------------------------------------ phase line */

void cli_phase_line_init(cli_phase_line *l, int quiet) {
    l->draw = !quiet && isatty(STDERR_FILENO);
    l->shown = 0;
}

void cli_phase_show(cli_phase_line *l, const char *fmt, ...) {
    if (!l->draw) return;
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (w < 0) return;
    if ((size_t)w >= sizeof line) w = (int)sizeof line - 1;
    fprintf(stderr, "\r%s%*s", line, l->shown > w ? l->shown - w : 0, "");
    fflush(stderr);
    l->shown = w > l->shown ? w : l->shown;
}

void cli_phase_clear(cli_phase_line *l) {
    if (!l->shown) return;
    fprintf(stderr, "\r%*s\r", l->shown, "");
    fflush(stderr);
    l->shown = 0;
}

int cli_phase_progress(const char *phase, int64_t done, int64_t total, void *user) {
    cli_phase_line *l = user;
    if (done < total) cli_phase_show(l, "train: %s ...", phase);
    else cli_phase_clear(l);
    return 0;
}

/* ------------------------------------------------------------------ load progress bar */

/* State of one read: its bar (the user of its cf_read_progress_fn) and the stop flag. */
typedef struct load_bar {
    const char *name;            /* the file's base name */
    int draw;                    /* 1: draw the bar (stderr is a terminal, not quiet) */
    int cols;                    /* terminal width */
    double t0, last_draw, read_end; /* t0: the start of the phase shown */
    const char *verb;            /* "reading", or "decompressing" (a gzip file, first) */
    int64_t bytes, bytes_total;  /* phase "reading" or "decompressing" */
    int64_t dedup, dedup_total;  /* phase "deduplicating" (dedup_total < 0: not started) */
    int shown;                   /* characters of the line now on screen (0: none) */
    const volatile sig_atomic_t *stop; /* set by SIGINT / SIGTERM (interrupt.c) */
    int hook;                    /* test hook of this read (TEST_HOOK_*), done at its first call */
    int64_t waited;              /* bytes received when a blocked open/read was interrupted; -1: never */
} load_bar;

#define BAR_MIN_REDRAW 0.1 /* seconds between redraws: at most 10 a second */

/* A test-only hook that makes the interrupt of a read deterministic (tests/test_cli_interrupt.c):
 * CUFACTOR_TEST_READ_HOOK=raise[@PATH] raises SIGINT at the read's first progress call,
 * =wait[@PATH] writes "cufactor: test hook: waiting for a signal" to stderr there and
 * waits (up to 60 s) for SIGINT / SIGTERM from outside. With @PATH only the read of
 * PATH (as given on the command line) is hooked. Unset: nothing. */
enum { TEST_HOOK_NONE, TEST_HOOK_RAISE, TEST_HOOK_WAIT };

static int test_hook_of(const char *path) {
    const char *h = getenv("CUFACTOR_TEST_READ_HOOK");
    if (!h || !*h) return TEST_HOOK_NONE;
    const char *at = strchr(h, '@');
    size_t n = at ? (size_t)(at - h) : strlen(h);
    if (at && strcmp(at + 1, path) != 0) return TEST_HOOK_NONE;
    if (n == 5 && strncmp(h, "raise", 5) == 0) return TEST_HOOK_RAISE;
    if (n == 4 && strncmp(h, "wait", 4) == 0) return TEST_HOOK_WAIT;
    return TEST_HOOK_NONE;
}

static void test_hook_run(load_bar *b) {
    int hook = b->hook;
    b->hook = TEST_HOOK_NONE;
    if (hook == TEST_HOOK_RAISE) {
        raise(SIGINT);
    } else if (hook == TEST_HOOK_WAIT) {
        fprintf(stderr, "cufactor: test hook: waiting for a signal\n");
        fflush(stderr);
        struct timespec ms = {0, 1000000};
        for (int i = 0; i < 60000 && !*b->stop; i++) nanosleep(&ms, NULL);
    }
}

static int bar_percent(int64_t done, int64_t total) {
    return total > 0 ? (int)(100.0 * (double)done / (double)total) : 100;
}

/* Redraws the line: "reading NAME  37%  73.8 / 199.4 MB  172.3 MB/s" (MB = 10^6 bytes),
 * then during the duplicate removal "..., removing duplicates  45%"; for a gzip file
 * first "decompressing NAME ..." over its compressed bytes. The name is cut at its start
 * to fit the terminal; a line shorter than the last is padded over it. */
static void bar_draw(load_bar *b, double now) {
    char tail[160];
    size_t n = 0;
    double secs = (b->read_end > 0 ? b->read_end : now) - b->t0;
    n += (size_t)snprintf(tail, sizeof tail, "%3d%%  %.1f / %.1f MB", bar_percent(b->bytes, b->bytes_total),
                          (double)b->bytes / 1e6, (double)b->bytes_total / 1e6);
    if (secs > 0 && b->bytes > 0 && n < sizeof tail)
        n += (size_t)snprintf(tail + n, sizeof tail - n, "  %.1f MB/s", (double)b->bytes / 1e6 / secs);
    if (b->dedup_total >= 0 && n < sizeof tail)
        snprintf(tail + n, sizeof tail - n, ", removing duplicates %3d%%", bar_percent(b->dedup, b->dedup_total));
    int room = b->cols - 3 - (int)strlen(b->verb) - (int)strlen(tail); /* for the name */
    int len = (int)strlen(b->name);
    char line[512];
    int w;
    if (room >= len)
        w = snprintf(line, sizeof line, "%s %s %s", b->verb, b->name, tail);
    else if (room >= 8)
        w = snprintf(line, sizeof line, "%s ...%s %s", b->verb, b->name + len - (room - 3), tail);
    else
        w = snprintf(line, sizeof line, "%s %s", b->verb, tail);
    if (w < 0) return;
    if ((size_t)w >= sizeof line) w = (int)sizeof line - 1;
    fprintf(stderr, "\r%s%*s", line, b->shown > w ? b->shown - w : 0, "");
    fflush(stderr);
    b->shown = w > b->shown ? w : b->shown;
    b->last_draw = now;
}

/* cf_read_progress_fn of every CLI read: records the phase's position, redraws the bar
 * (when drawn) at most every BAR_MIN_REDRAW seconds and at the end of the reading
 * phase, and cancels the read once SIGINT / SIGTERM has set the stop flag. */
static int read_progress(const char *phase, int64_t done, int64_t total, void *user) {
    load_bar *b = user;
    if (strcmp(phase, "waiting") == 0) { /* a blocking open/read was interrupted */
        b->waited = done;
        return *b->stop != 0;
    }
    if (b->hook) test_hook_run(b);
    int end_of_reading = 0;
    if (strcmp(phase, "reading") == 0 || strcmp(phase, "decompressing") == 0) {
        if (strcmp(phase, b->verb) != 0) b->verb = phase, b->t0 = cli_now(), b->read_end = 0; /* the next phase */
        b->bytes = done, b->bytes_total = total;
        end_of_reading = done == total;
    } else {
        b->dedup = done, b->dedup_total = total;
    }
    if (b->draw) {
        double now = cli_now();
        if (end_of_reading) b->read_end = now;
        if (end_of_reading || b->shown == 0 || now - b->last_draw >= BAR_MIN_REDRAW) bar_draw(b, now);
    }
    return *b->stop != 0;
}

/* Reads `path` into ds (NULL: a new dataset in *out) with the bar and the interrupt
 * handlers of the read. */
static cf_status read_with_bar(cf_dataset *ds, const char *path, const cf_read_options *ropt, int quiet,
                               cf_dataset **out, cf_read_report *rep, cf_error *err) {
    const char *slash = strrchr(path, '/');
    load_bar b = {.name = slash && slash[1] ? slash + 1 : path, .cols = 80, .t0 = cli_now(), .verb = "reading",
                 .dedup_total = -1, .waited = -1};
    b.draw = !quiet && isatty(STDERR_FILENO);
    struct winsize ws;
    if (b.draw && ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) b.cols = ws.ws_col;
    b.hook = test_hook_of(path);
    cf_read_options o;
    if (ropt)
        o = *ropt;
    else
        cf_read_options_default(&o);
    o.progress = read_progress, o.progress_user = &b;
    /* no notice from the handler: the read stops within one progress step; no SA_RESTART,
     * so that a signal also ends an open() or read() blocked on a FIFO or pipe */
    b.stop = cli_interrupt_install_io(NULL);
    cf_status st = ds ? cf_dataset_read_test(ds, path, &o, rep, err) : cf_dataset_read(path, &o, out, rep, err);
    cli_interrupt_restore();
    int stopped = *b.stop != 0; /* also after the last progress call: the signal is not lost */
    if (b.shown && st == CF_OK && !stopped)
        fprintf(stderr, "\r%*s\r", b.shown, ""); /* the summary line takes its place */
    else if (b.shown)
        fputc('\n', stderr); /* keeps where it stopped above the message */
    fflush(stderr);
    if (stopped && (st == CF_OK || st == CF_ERR_INTERRUPTED)) {
        if (st == CF_OK && !ds) cf_dataset_destroy(out);
        st = CF_ERR_INTERRUPTED;
        if (err) {
            err->status = st;
            if (b.waited >= 0 && b.bytes_total == 0)
                snprintf(err->msg, sizeof err->msg, "interrupted while waiting for input from %s (%lld bytes received)",
                         path, (long long)b.waited);
            else if (b.dedup_total >= 0)
                snprintf(err->msg, sizeof err->msg, "interrupted while reading %s (removing duplicates)", path);
            else
                snprintf(err->msg, sizeof err->msg, "interrupted while %s %s (at byte %lld of %lld)", b.verb, path,
                         (long long)b.bytes, (long long)b.bytes_total);
        }
    }
    return st;
}

cf_status cli_dataset_read(const char *path, const cf_read_options *ropt, int quiet, cf_dataset **out,
                           cf_read_report *rep, cf_error *err) {
    return read_with_bar(NULL, path, ropt, quiet, out, rep, err);
}

cf_status cli_dataset_read_test(cf_dataset *ds, const char *path, const cf_read_options *ropt, int quiet,
                                cf_read_report *rep, cf_error *err) {
    return read_with_bar(ds, path, ropt, quiet, NULL, rep, err);
}

/* ------------------------------------------------------------------ line input */

/* One line of `in` without its '\n' into *buf (*cap bytes, grown), keeping at most max + 1
 * bytes: the rest of a longer line is read and dropped, *raw counts it all, *len what was
 * kept. 0 at the end of the input, 1 with a line, -1 out of memory. NULs kept as bytes. */
static int read_line(FILE *in, char **buf, size_t *cap, size_t max, size_t *len, size_t *raw) {
    size_t n = 0, all = 0;
    int c, any = 0;
    while ((c = getc_unlocked(in)) != EOF) { /* one thread reads `in` */
        any = 1;
        if (c == '\n') break;
        all++;
        if (n <= max) {
            if (n + 1 >= *cap) {
                size_t nc = *cap ? *cap * 2 : 256;
                char *b = realloc(*buf, nc);
                if (!b) return -1;
                *buf = b, *cap = nc;
            }
            (*buf)[n++] = (char)c;
        }
    }
    if (!any) return 0;
    if (!*buf && !(*buf = malloc(*cap = 1))) return -1;
    (*buf)[n] = 0;
    *len = n, *raw = all;
    return 1;
}

int cli_lines_next(cli_lines *l, cf_line_fields *lf) {
    size_t len = 0, raw = 0;
    int got;
    while ((got = read_line(l->in, &l->buf, &l->cap, l->max_line, &len, &raw)) > 0) {
        l->lineno++;
        char *s = l->buf, why[200];
        if (l->lineno == 1 && len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) s += 3, len -= 3, raw -= 3; /* UTF-8 BOM */
        int k;
        if (raw > l->max_line) { /* only max_line + 1 bytes were kept */
            snprintf(why, sizeof why, "line longer than max_line (%zu bytes, this one %zu)", l->max_line, raw);
            k = -1;
        } else {
            k = cf_line_split(s, len, l->max_line, &l->delim, lf, why, sizeof why);
        }
        if (k < 0) {
            char shown[CF_SHOW_CAP];
            cli_failf("%s:%lld: %s: %s", l->path, l->lineno, why, cf_text_show(shown, sizeof shown, s, len));
            return -1;
        }
        if (k > 0) return 1;
    }
    if (got < 0) return cli_failf("%s:%lld: out of memory reading the line", l->path, l->lineno + 1), -1;
    if (ferror(l->in)) return cli_failf("%s: read error: %s", l->path, strerror(errno)), -1;
    return 0;
}
