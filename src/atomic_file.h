/*
 * atomic_file.h — buffered output that appears at its path all at once or not at all.
 *
 * The data goes to an unnamed file in PATH's directory (Linux O_TMPFILE): a process
 * killed while writing leaves nothing behind, the kernel frees the inode. Commit
 * flushes and fsyncs it, links it to a fresh name "PATH.tmp.XXXXXX" (linkat through
 * /proc/self/fd), renames that over PATH and fsyncs the directory: a name exists only
 * for the microseconds between the link and the rename. Where O_TMPFILE is refused
 * (EOPNOTSUPP, EISDIR, EINVAL: filesystems or kernels without it) or /proc is missing,
 * the data goes to "PATH.tmp.XXXXXX" from mkstemp instead, as before, and a kill then
 * leaves that file. Either way a reader of PATH sees the old file or the complete new
 * one, never a torn one. Any failure (open, write, fsync, link, close, rename) removes
 * the temporary, leaves an existing PATH untouched and reports CF_ERR_IO naming the
 * path and strerror(errno).
 *
 * Only regular files are replaced: open refuses (CF_ERR_IO, "PATH: is a FIFO, not a
 * regular file: refusing to replace it") a PATH that is a device node, FIFO, socket or
 * directory. A symbolic link is written through atomically: the temporary goes next to
 * the link's final target and is renamed over that target, so the link survives and
 * points at the new file; a dangling link, or one to a non-regular file, is refused.
 *
 * Writes are buffered in a large block and errors are sticky: the caller streams
 * everything with cf_afile_write / cf_afile_space and checks once, at commit.
 *
 *   cf_afile f;
 *   if (cf_afile_open(&f, path, 0, err)) return err->status;
 *   cf_afile_write(&f, data, n);              // any number of times
 *   return cf_afile_commit(&f, err);          // or cf_afile_abort(&f) to give up
 */
#ifndef CF_ATOMIC_FILE_H
#define CF_ATOMIC_FILE_H

#include "cufactor.h"

#include <stddef.h>

typedef struct cf_afile {
    int fd;            /* the temporary file, -1 once closed */
    int anon;          /* fd is an unnamed O_TMPFILE inode (tmp not yet linked) */
    char *path;        /* final path (owned copy) */
    char *tmp;         /* temporary path (owned): mkstemp's, or the name linked at publish */
    unsigned char *buf;
    size_t cap, len;   /* buffer size and bytes pending in it */
    int err_no;        /* first errno seen by a write, 0 if none */
    const char *what;  /* the step that failed ("write", "fsync", ...) */
} cf_afile;

/* Default buffer size: 4 MiB. */
#define CF_AFILE_BUFSIZE ((size_t)4 << 20)

/* Creates the temporary file next to `path`. bufsize 0 = CF_AFILE_BUFSIZE.
 * On failure *f holds nothing that needs freeing. */
cf_status cf_afile_open(cf_afile *f, const char *path, size_t bufsize, cf_error *err);

/* Appends n bytes (sticky error: checked at commit). */
void cf_afile_write(cf_afile *f, const void *data, size_t n);

/* Appends a NUL-terminated string. */
void cf_afile_puts(cf_afile *f, const char *s);

/* Room for `need` bytes (need <= cap) at the end of the buffer, flushing first when
 * there is less; the caller writes there and then calls cf_afile_advance(f, used). */
unsigned char *cf_afile_space(cf_afile *f, size_t need);
static inline void cf_afile_advance(cf_afile *f, size_t used) { f->len += used; }

/* Writes out what was written so far and waits until it is on disk (fdatasync), so that
 * the commit's fsync has only what follows and the file's metadata left: a writer thread
 * calls it while another still computes what goes last (a checksum). Errors are sticky and
 * reported by commit, as a write's. */
void cf_afile_sync_data(cf_afile *f);

/* Flush, fsync, close, rename over the path. Frees everything in *f, also on failure
 * (then the temporary file is removed). */
cf_status cf_afile_commit(cf_afile *f, cf_error *err);

/* The two halves of commit, for writers of several files that must appear together:
 * finish flushes, fsyncs and closes the temporary file (on failure it is removed and *f
 * freed); publish renames it over the path and frees *f (on failure the temporary is
 * removed). Write every file and finish each, then publish them all: a failure while
 * writing (disk full) then replaces none of the old files. */
cf_status cf_afile_finish(cf_afile *f, cf_error *err);
cf_status cf_afile_publish(cf_afile *f, cf_error *err);

/* Gives up: closes and removes the temporary file, frees *f. Accepts a closed *f. */
void cf_afile_abort(cf_afile *f);

/* Test hooks (process-wide; tests only). cf_afile_use_tmpfile(0) makes every later open
 * take the mkstemp path as if O_TMPFILE were refused; (1) restores the default; returns
 * the previous setting. cf_afile_after_flush, when set, is called after each buffer is
 * written to the file (a test stops a save there, mid-write, to kill it). */
int cf_afile_use_tmpfile(int on);
extern void (*cf_afile_after_flush)(const cf_afile *f);

#endif
