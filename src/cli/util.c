/*
 * util.c — helpers shared by the subcommands (see cli.h): error printing, enum name
 * lists, read reports, the progress printer, the GPU check, JSON output and
 * all-or-nothing output files.
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_fail(const cf_error *err) {
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
const char *const cli_optimizer_names[] = {"plain", "adam", NULL};
const char *const cli_precision_names[] = {"fp32", "fp16", NULL};

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
const char *const *cli_reg_names(void) {
    static const char *names[16];
    NAME_LIST(cf_reg_name, cf_reg, names);
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

void cli_print_read(const char *what, const char *path, const cf_read_report *rep) {
    if (rep->format == CF_FORMAT_MM)
        fprintf(stderr, "%s %s: Matrix Market", what, path);
    else
        fprintf(stderr, "%s %s: delimited (%s)%s", what, path, delimiter_name(rep->delimiter),
                rep->header ? ", header skipped" : "");
    fprintf(stderr, ", %lld ratings, %lld duplicates removed (last kept), %lld bad lines skipped\n",
            (long long)rep->ratings, (long long)rep->duplicates, (long long)rep->skipped);
    if (rep->skipped > 0 && rep->first_bad[0]) fprintf(stderr, "  first skipped line: %s\n", rep->first_bad);
}

int cli_progress(const cf_iter_info *it, void *user) {
    FILE *f = user ? (FILE *)user : stderr;
    if (it->iter == 1)
        fprintf(f, "%5s  %10s  %10s  %14s  %8s  %10s\n", "iter", "train_rmse", "test_rmse", "objective", "seconds",
                "ratings/s");
    char test[32];
    if (isnan(it->test_rmse))
        snprintf(test, sizeof test, "-");
    else
        snprintf(test, sizeof test, "%.6f", it->test_rmse);
    fprintf(f, "%5d  %10.6f  %10s  %14.6e  %8.3f  %10.3e\n", (int)it->iter, it->train_rmse, test, it->objective,
            it->seconds, it->ratings_per_sec);
    fflush(f);
    return 0;
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

int cli_check_writable(const char *path, const char *flag) {
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (access(dir, W_OK | X_OK) != 0)
        return cli_failf("%s %s: cannot write in the directory '%s': %s", flag, path, dir, strerror(errno));
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return cli_failf("%s %s: is a directory", flag, path);
    return CLI_EXIT_OK;
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
