/*
 * gz.h — gzip in and out (private to the library). In: a ratings file, a test file or a
 * binary dataset compressed with gzip (`gzip`, `pigz`, `bgzip`: one member or many,
 * concatenated) is decompressed into memory whole before it is parsed; every reader of
 * the library (read.c) and the CLI's line readers (cf_text_open in cufactor.h) go
 * through here, recognizing it by its magic, whatever the file is called. Out: a text
 * output whose name ends in ".gz" (cf_dataset_write, cf_output) is written as a sequence
 * of gzip members, each compressed on its own (cf_gz_blocks).
 */
#ifndef CF_GZ_H
#define CF_GZ_H

#include "cufactor.h"

#include <stddef.h>

/* 1 when data starts as a gzip member does (1f 8b, method 8: deflate). */
int cf_gz_is(const void *data, size_t size);

/* A compressed or archive format that is not read (ZIP, xz, zstd, bzip2), recognized by
 * its magic: the message's tail ("a ZIP archive, which is not read: extract ...");
 * NULL for anything else. */
const char *cf_compressed_other(const void *data, size_t size);

/* Decompresses every gzip member of data[0..size) into a new malloc'ed buffer: *out
 * (*out_size bytes, followed by one NUL that is not counted). A BGZF file (bgzip's, or
 * this library's *.gz outputs: every member says its size) is decompressed on `threads`
 * threads (0: all cores), each member into its place; anything else member by member on
 * the calling thread. The result is the same either way. Trailing zero bytes after
 * the last member (padding some tools write) are ignored; anything else after it is an
 * error. Progress, when progress is not NULL: phase "decompressing", done and total in
 * bytes of data, called with 0, after members (at most every max(total/100, 2^22)
 * bytes) and with total at the end; a non-zero return cancels (CF_ERR_INTERRUPTED).
 * A member cannot be interrupted: a file of one member (plain `gzip`) is one step.
 * Errors name `name` and the byte offset of the member at fault; *out is NULL then. */
cf_status cf_gunzip(const char *name, const void *data, size_t size, int threads, cf_read_progress_fn progress,
                    void *user, char **out, size_t *out_size, cf_error *err);

/* The BGZF blocks the calling thread's latest cf_gunzip decompressed on the parallel path
 * (0: it went member by member). For tests. */
extern _Thread_local size_t cf_gz_last_bgzf;

/* 1 when path ends in ".gz": the outputs to write gzip-compressed. */
int cf_gz_name(const char *path);

/* For the binary outputs (a model, a checkpoint, a binary dataset), which are written
 * uncompressed: CF_ERR_INVALID "PATH: WHAT is written uncompressed ...; name it without
 * .gz" when path ends in ".gz", else CF_OK. */
cf_status cf_gz_refuse(const char *path, const char *what, cf_error *err);

/* The level of the members written: libdeflate's level 1 packs rating text 2.46× at
 * 144 MB/s a core on the 2-core VM; level 6 (gzip's default) 2.7× at ≈ 30 MB/s. */
#define CF_GZ_LEVEL 1

/* in[0..n) compressed into *out (grown as needed; *cap its size) as BGZF blocks: gzip
 * members of at most 65,280 bytes of input whose headers carry their sizes (as bgzip
 * writes), so that a reader (here, bgzip, htslib) finds and decompresses them in
 * parallel, and gzip -d reads them as one text. Returns the bytes written, 0 when out
 * of memory. Independent calls may run on different threads. */
size_t cf_gz_blocks(const void *in, size_t n, unsigned char **out, size_t *cap);

/* BGZF's end-of-file marker, an empty block: what a writer appends after the last block. */
#define CF_GZ_EOF_SIZE 28
extern const unsigned char cf_gz_eof[CF_GZ_EOF_SIZE];

#endif
