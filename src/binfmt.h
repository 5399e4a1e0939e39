/*
 * binfmt.h — the binary dataset format (".cfd", written by `cufactor convert`): the
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
#define CF_BIN_VERSION 1u
#define CF_BIN_HEADER 80

/* Whether `size` bytes at data start with the magic. */
int cf_bin_is(const void *data, size_t size);

/* Loads the binary dataset in [data, data + size) into part `part` of ds (as the text
 * reader would: IDs new to ds's maps are added; the ratings are appended). Checks the
 * header, the size, the checksum (in parallel blocks, `threads` threads, 0: all cores)
 * and every index; any failure is CF_ERR_PARSE "NAME: ..." naming what is wrong, and
 * leaves ds's ratings as they were. Fills rep (format CF_FORMAT_BINARY). */
cf_status cf_bin_load(cf_dataset *ds, int part, const char *name, const void *data, size_t size, int threads,
                      cf_read_report *rep, cf_error *err);

/* Writes every rating of ds (both parts) and both maps to `path`, atomically
 * (atomic_file.h): the old file or the complete new one, never a torn one. */
cf_status cf_bin_write(const cf_dataset *ds, const char *path, int threads, cf_error *err);

#endif
