/*
 * harness.h — the bodies of the fuzz targets, as plain functions with no libFuzzer
 * dependence. The libFuzzer targets (fuzz_*.c, built with -DCUFACTOR_FUZZ=ON) call them
 * on every generated input and abort on a broken invariant; tests/test_fuzz_regress.c
 * calls them on every committed corpus file and asserts the same invariants plus the
 * status the file's name promises.
 *
 * Each harness feeds the bytes to the library through its in-memory entry points
 * (cf_read_memory, cf_model_load_memory: the same parsers that files go through; the
 * checkpoint loader, which has none, through a file) and
 * checks what the library promises for any input: either success with a consistent
 * result, or a clean error — one of the expected statuses, a non-empty message that
 * starts with the file name, and nothing left behind.
 */
#ifndef CF_FUZZ_HARNESS_H
#define CF_FUZZ_HARNESS_H

#include "cufactor.h"

#include <stddef.h>
#include <stdint.h>

/* The name the harnesses give the input: messages must start with it. */
#define CF_FUZZ_NAME "fuzz-input"

typedef struct cf_fuzz_outcome {
    cf_status status;            /* the main read (strict) or load (bytes as given) */
    char msg[CF_ERROR_MSG_MAX];  /* its message ("" on success) */
    int64_t count;               /* ratings read, or users + items loaded */
    cf_status status2;           /* readers: skip_bad_lines; model: with a valid checksum */
    char violation[512];         /* "" when every invariant held, else what broke */
} cf_fuzz_outcome;

/* The ratings readers with the format forced to `fmt` (CF_FORMAT_DELIM or CF_FORMAT_MM):
 * strict; with skip_bad_lines; with skip_bad_lines and a 24-byte max_line; and, when the
 * strict read succeeded, the same bytes again into the test part of that dataset. Then
 * the cancel path: the strict read with a progress callback that never cancels (the
 * same outcome) and with one that cancels at call N (N from the input's hash; past the
 * last call: the same outcome): CF_ERR_INTERRUPTED and no ratings; and, when the strict
 * read succeeded, a cancelled read into the test part, which leaves every rating, part
 * and map size as it was. */
void cf_fuzz_read(const uint8_t *data, size_t size, cf_format fmt, cf_fuzz_outcome *o);

/* The model loader, on the bytes as given and (size >= 8) on a copy whose last 8 bytes
 * are replaced by the right checksum, so that mutations get past the checksum to the
 * checks behind it. With tmpdir set, a model that loads is also saved to tmpdir and must
 * come back byte for byte (the format has one encoding per model). */
void cf_fuzz_model(const uint8_t *data, size_t size, const char *tmpdir, cf_fuzz_outcome *o);

/* The checkpoint loader (cf_checkpoint_load, which reads a path): the bytes written to
 * dir/fuzz-input and loaded, as given and (size >= 8) with the right checksum in the
 * last 8 bytes. A checkpoint that loads has consistent counters and factor sets and,
 * saved again, gives the same bytes (a version 1 file: a version 2 file that loads); a
 * failure is CF_ERR_CORRUPT (or NOMEM) with a message that starts with the path. */
void cf_fuzz_checkpoint(const uint8_t *data, size_t size, const char *dir, cf_fuzz_outcome *o);

/* For the libFuzzer targets: prints the violation and aborts, if there is one. */
void cf_fuzz_check(const cf_fuzz_outcome *o);

#endif
