/*
 * api_config.c — cf_config by the CLI's option names (cufactor.h, "arrays"), so that a
 * binding sets fields by name instead of mirroring the struct's layout. Values parse as
 * the CLI parses them: integers and doubles in full (no trailing text), choices through
 * the library's *_parse functions and the CLI's names.
 */
#include "common.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cf_config *cf_config_new(void) {
    cf_config *c = malloc(sizeof *c);
    if (c) cf_config_default(c);
    return c;
}

void cf_config_destroy(cf_config **c) {
    if (!c || !*c) return;
    free(*c);
    *c = NULL;
}

/* F_CHOICE and F_BOOL fields are read and written as int */
_Static_assert(sizeof(cf_algo) == sizeof(int) && sizeof(cf_reg) == sizeof(int) && sizeof(cf_device) == sizeof(int) &&
                   sizeof(cf_precision) == sizeof(int) && sizeof(cf_als_solver) == sizeof(int) &&
                   sizeof(cf_als_gram) == sizeof(int) &&
                   sizeof(cf_lr_schedule) == sizeof(int) && sizeof(cf_sgd_schedule) == sizeof(int) &&
                   sizeof(cf_optimizer) == sizeof(int),
               "cf_config's enum fields are int-sized");

/* F_DOUBLE_SAME: a double that may be "same" (NaN: another field's value) */
typedef enum { F_I32, F_I64, F_U64, F_DOUBLE, F_DOUBLE_SAME, F_BOOL, F_CHOICE } kind;

/* The choices not covered by a public *_parse function, as the CLI names them. */
static const char *const lr_schedule_names[] = {"const", "invscale", NULL};
static const char *const schedule_names[] = {"shuffle", "blocks", "hogwild", NULL};
static const char *const optimizer_names[] = {"plain", "adam", "auto", NULL};
static const char *const als_gram_names[] = {"simt", "tc", NULL}; /* cf_als_gram */
/* cf_reg: reg takes the first three, bias_reg also "same" (CF_REG_SAME) */
static const char *const reg_names[] = {"plain", "weighted", "mean", NULL};
static const char *const bias_reg_names[] = {"plain", "weighted", "mean", "same", NULL};

typedef struct field {
    const char *name;
    kind k;
    size_t off;
    const char *const *names; /* F_CHOICE without a parse function */
    int (*parse)(const char *, int *);
    const char *(*show)(int);
} field;

/* adapters from the typed public parse / name functions */
#define ADAPT(T, fn)                                                                                       \
    static int parse_##fn(const char *s, int *out) {                                                       \
        T v;                                                                                               \
        if (cf_##fn##_parse(s, &v) != 0) return -1;                                                        \
        *out = (int)v;                                                                                     \
        return 0;                                                                                          \
    }                                                                                                      \
    static const char *show_##fn(int v) { return cf_##fn##_name((T)v); }
ADAPT(cf_algo, algo)
ADAPT(cf_device, device)
ADAPT(cf_precision, precision)
ADAPT(cf_als_solver, als_solver)

#define OFF(f) offsetof(cf_config, f)
static const field fields[] = {
    {"algo", F_CHOICE, OFF(algo), NULL, parse_algo, show_algo},
    {"factors", F_I32, OFF(factors), NULL, NULL, NULL},
    {"iters", F_I32, OFF(iters), NULL, NULL, NULL},
    {"lambda", F_DOUBLE, OFF(lambda), NULL, NULL, NULL},
    {"reg", F_CHOICE, OFF(reg), reg_names, NULL, NULL},
    {"bias-lambda", F_DOUBLE_SAME, OFF(bias_lambda), NULL, NULL, NULL},
    {"bias-reg", F_CHOICE, OFF(bias_reg), bias_reg_names, NULL, NULL},
    {"bias", F_BOOL, OFF(bias), NULL, NULL, NULL},
    {"tol", F_DOUBLE, OFF(tol), NULL, NULL, NULL},
    {"seed", F_U64, OFF(seed), NULL, NULL, NULL},
    {"threads", F_I32, OFF(threads), NULL, NULL, NULL},
    {"init-scale", F_DOUBLE, OFF(init_scale), NULL, NULL, NULL},
    {"device", F_CHOICE, OFF(device), NULL, parse_device, show_device},
    {"gpu-id", F_I32, OFF(gpu_id), NULL, NULL, NULL},
    {"gpu-mem-limit", F_U64, OFF(gpu_mem_limit), NULL, NULL, NULL},
    {"lr", F_DOUBLE, OFF(lr), NULL, NULL, NULL},
    {"lr-schedule", F_CHOICE, OFF(lr_schedule), lr_schedule_names, NULL, NULL},
    {"lr-decay", F_DOUBLE, OFF(lr_decay), NULL, NULL, NULL},
    {"schedule", F_CHOICE, OFF(schedule), schedule_names, NULL, NULL},
    {"blocks", F_I32, OFF(blocks), NULL, NULL, NULL},
    {"batch", F_I64, OFF(batch), NULL, NULL, NULL},
    {"optimizer", F_CHOICE, OFF(optimizer), optimizer_names, NULL, NULL},
    {"inner", F_I32, OFF(inner), NULL, NULL, NULL},
    {"early-stop", F_I32, OFF(early_stop), NULL, NULL, NULL},
    {"restarts", F_I32, OFF(restarts), NULL, NULL, NULL},
    {"precision", F_CHOICE, OFF(precision), NULL, parse_precision, show_precision},
    {"als-solver", F_CHOICE, OFF(als_solver), NULL, parse_als_solver, show_als_solver},
    {"als-gram", F_CHOICE, OFF(als_gram), als_gram_names, NULL, NULL},
};

const char *cf_config_field(int k) {
    return k >= 0 && (size_t)k < sizeof fields / sizeof *fields ? fields[k].name : NULL;
}

static const field *find_field(const char *name) {
    for (size_t k = 0; name && k < sizeof fields / sizeof *fields; k++)
        if (strcmp(fields[k].name, name) == 0) return &fields[k];
    return NULL;
}

static cf_status bad(cf_error *err, const char *name, const char *value, const char *what) {
    char shown[CF_SHOW_CAP];
    return cf_fail(err, CF_ERR_INVALID, "%s: '%s' is not %s", name, cf_text_show(shown, sizeof shown, value, strlen(value)),
                   what);
}

cf_status cf_config_set(cf_config *cfg, const char *name, const char *value, cf_error *err) {
    if (!cfg || !name || !value)
        return cf_fail(err, CF_ERR_INVALID, "cf_config_set: %s is NULL", !cfg ? "cfg" : !name ? "name" : "value");
    const field *f = find_field(name);
    if (!f) {
        char shown[CF_SHOW_CAP];
        return cf_fail(err, CF_ERR_INVALID, "unknown configuration field '%s'",
                       cf_text_show(shown, sizeof shown, name, strlen(name)));
    }
    char *at = (char *)cfg + f->off, *end = NULL;
    errno = 0;
    switch (f->k) {
    case F_I32:
    case F_I64: {
        long long v = strtoll(value, &end, 10);
        if (!*value || *end || errno || (f->k == F_I32 && (v < INT32_MIN || v > INT32_MAX)))
            return bad(err, name, value, f->k == F_I32 ? "a 32-bit integer" : "a 64-bit integer");
        if (f->k == F_I32) {
            int32_t x = (int32_t)v;
            memcpy(at, &x, sizeof x);
        } else {
            int64_t x = (int64_t)v;
            memcpy(at, &x, sizeof x);
        }
        return CF_OK;
    }
    case F_U64: {
        unsigned long long v = strtoull(value, &end, 10);
        if (!*value || *end || errno || value[0] == '-') return bad(err, name, value, "an unsigned 64-bit integer");
        uint64_t x = (uint64_t)v;
        memcpy(at, &x, sizeof x);
        return CF_OK;
    }
    case F_DOUBLE:
    case F_DOUBLE_SAME: {
        if (f->k == F_DOUBLE_SAME && strcmp(value, "same") == 0) {
            double nan = NAN;
            memcpy(at, &nan, sizeof nan);
            return CF_OK;
        }
        double v = strtod(value, &end);
        if (!*value || *end || !isfinite(v))
            return bad(err, name, value, f->k == F_DOUBLE ? "a finite number" : "a finite number or 'same'");
        memcpy(at, &v, sizeof v);
        return CF_OK;
    }
    case F_BOOL: {
        int v;
        if (strcmp(value, "0") == 0) v = 0;
        else if (strcmp(value, "1") == 0) v = 1;
        else return bad(err, name, value, "0 or 1");
        memcpy(at, &v, sizeof v);
        return CF_OK;
    }
    case F_CHOICE: {
        int v = -1;
        if (f->parse) {
            if (f->parse(value, &v) != 0) v = -1;
        } else {
            for (int k = 0; f->names[k]; k++)
                if (strcmp(f->names[k], value) == 0) v = k;
        }
        if (v < 0) {
            char list[160] = "one of ";
            for (int k = 0; k < 16; k++) { /* the names, from the same tables the parsers use */
                const char *nm = f->show ? f->show(k) : f->names[k];
                if (!nm || strcmp(nm, "?") == 0) break;
                size_t at = strlen(list);
                snprintf(list + at, sizeof list - at, "%s%s", k ? ", " : "", nm);
            }
            return bad(err, name, value, list);
        }
        /* every enum field of cf_config is int-sized */
        memcpy(at, &v, sizeof v);
        return CF_OK;
    }
    }
    return bad(err, name, value, "settable");
}

cf_status cf_config_get(const cf_config *cfg, const char *name, char *buf, size_t cap, cf_error *err) {
    if (!cfg || !name || !buf || cap == 0)
        return cf_fail(err, CF_ERR_INVALID, "cf_config_get: %s", !cfg ? "cfg is NULL" : !name ? "name is NULL" : "no buffer");
    const field *f = find_field(name);
    if (!f) {
        char shown[CF_SHOW_CAP];
        return cf_fail(err, CF_ERR_INVALID, "unknown configuration field '%s'",
                       cf_text_show(shown, sizeof shown, name, strlen(name)));
    }
    const char *at = (const char *)cfg + f->off;
    switch (f->k) {
    case F_I32: {
        int32_t v;
        memcpy(&v, at, sizeof v);
        snprintf(buf, cap, "%" PRId32, v);
        break;
    }
    case F_I64: {
        int64_t v;
        memcpy(&v, at, sizeof v);
        snprintf(buf, cap, "%" PRId64, v);
        break;
    }
    case F_U64: {
        uint64_t v;
        memcpy(&v, at, sizeof v);
        snprintf(buf, cap, "%" PRIu64, v);
        break;
    }
    case F_DOUBLE:
    case F_DOUBLE_SAME: {
        double v;
        memcpy(&v, at, sizeof v);
        if (f->k == F_DOUBLE_SAME && isnan(v)) {
            snprintf(buf, cap, "same");
            break;
        }
        for (int digits = 15; digits <= 17; digits++) { /* the shortest that reads back as v */
            snprintf(buf, cap, "%.*g", digits, v);
            if (strtod(buf, NULL) == v) break;
        }
        break;
    }
    case F_BOOL:
    case F_CHOICE: {
        int v;
        memcpy(&v, at, sizeof v);
        if (f->k == F_BOOL) snprintf(buf, cap, "%d", v);
        else if (f->show) snprintf(buf, cap, "%s", f->show(v));
        else {
            int n = 0;
            while (f->names[n]) n++;
            snprintf(buf, cap, "%s", v >= 0 && v < n ? f->names[v] : "?");
        }
        break;
    }
    }
    return CF_OK;
}
