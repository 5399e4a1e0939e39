/*
 * binfmt.h — the binary dataset format (".cfd", written by `cufactor convert` and, as
 * version 2 in its generator's order, by the bench cache, src/bench/data.c): the
 * ratings and both ID maps of a dataset, loaded at memory speed by the same entry points
 * as text (cf_dataset_read, cf_dataset_read_test, cf_read_memory), which recognize it by
 * its magic. Layout and checks: binfmt.c.
 */
#ifndef CF_BINFMT_H
#define CF_BINFMT_H

#include "cufactor.h"
#include "dataset.h"

#include <stddef.h>
#include <stdint.h>

#define CF_BIN_MAGIC "CFDATA\r\n" /* 8 bytes; the CR LF catches text-mode mangling */
#define CF_BIN_MAGIC_LEN 8
#define CF_BIN_VERSION 1u /* sorted ratings: what convert writes, and every cufactor reads */
#define CF_BIN_HEADER 80
#define CF_BIN_VERSION2 2u /* adds a flags word: header 88 bytes */
#define CF_BIN_HEADER2 88
#define CF_BIN_UNSORTED 1u /* flag: the ratings in the writer's order (a bench cache) */
#define CF_BIN_TIMED 2u    /* flag: a timestamp per rating (convert --timestamps) */

/* Whether `size` bytes at data start with the magic. */
int cf_bin_is(const void *data, size_t size);

/* Loads the binary dataset in [data, data + size) into part `part` of ds (as the text
 * reader would: IDs new to ds's maps are added; the ratings are appended). Checks the
 * header, the size, the checksum (in parallel blocks, `threads` threads, 0: all cores)
 * and every index; any failure is CF_ERR_PARSE "NAME: ..." naming what is wrong, and
 * leaves ds's ratings as they were. Fills rep (format CF_FORMAT_BINARY). *sorted (may be
 * NULL) = 1 for a file sorted by (user, item) (no repeated pair: nothing to deduplicate),
 * 0 for one flagged CF_BIN_UNSORTED (in the writer's order; the caller deduplicates
 * where it needs distinct pairs). A timed ds (cf_dataset_set_timed) takes the file's
 * timestamps and refuses a file without them; an untimed one skips them (still checked). */
cf_status cf_bin_load(cf_dataset *ds, int part, const char *name, const void *data, size_t size, int threads,
                      cf_read_report *rep, int *sorted, cf_error *err);

/* Writes every rating of ds (both parts) and both maps to `path`, atomically
 * (atomic_file.h): the old file or the complete new one, never a torn one. The ratings
 * must be sorted by (user, item) (version 1) — or, with keep_order, may be in any order
 * of distinct pairs (the caller's promise), written as they are: version 2, flagged
 * CF_BIN_UNSORTED when not sorted (the bench cache, whose split depends on the
 * generator's order). */
cf_status cf_bin_write(const cf_dataset *ds, const char *path, int threads, cf_error *err);
cf_status cf_bin_write_ordered(const cf_dataset *ds, const char *path, int threads, int keep_order, cf_error *err);

#endif
