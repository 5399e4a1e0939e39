/*
 * read.h — the ratings readers on bytes in memory (private to the library and its
 * tests). cf_dataset_read and cf_dataset_read_test map (or read) their file and go
 * through the same code, so a test or a fuzz target that feeds bytes here exercises
 * exactly the parser that files get.
 */
#ifndef CF_READ_H
#define CF_READ_H

#include "cufactor.h"

#include <stddef.h>

/* Reads the `size` bytes at `data` (need not be NUL-terminated; nothing past data + size
 * is touched) into part `part` (0 train, 1 test) of ds, as cf_dataset_read_test would
 * read a file with these contents. `name` stands for the file name in messages
 * ("NAME:LINE: reason"). opt and rep may be NULL (defaults / no report). On failure ds
 * keeps the ratings it had before. */
cf_status cf_read_memory(cf_dataset *ds, int part, const char *name, const void *data, size_t size,
                         const cf_read_options *opt, cf_read_report *rep, cf_error *err);

/* The smallest body (bytes after the head) given to one thread: a file below 2 × this is
 * read serially. 1 MiB; tests set it to 1 to cut tiny files into four chunks per thread. */
extern size_t cf_read_chunk_min;

/* The number of chunks the calling thread's latest read cut its body into (1: serial). */
extern _Thread_local int cf_read_last_chunks;

#endif
