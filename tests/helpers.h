/* helpers.h — shared test helpers: temporary directories and files. */
#ifndef CF_TEST_HELPERS_H
#define CF_TEST_HELPERS_H

#include <stddef.h>

/* A fresh directory under $TMPDIR (or /tmp); the returned string is malloc'ed. */
char *cf_test_tmpdir(void);
/* Writes `len` bytes (len = (size_t)-1: strlen) to dir/name; returns the malloc'ed path. */
char *cf_test_write(const char *dir, const char *name, const char *data, size_t len);
/* dir/name, malloc'ed. */
char *cf_test_path(const char *dir, const char *name);
/* Whole file contents (malloc'ed, NUL-terminated), NULL if unreadable; *len may be NULL. */
char *cf_test_read(const char *path, size_t *len);
/* Removes a directory tree (best effort). */
void cf_test_rmtree(const char *dir);

#endif
