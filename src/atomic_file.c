/*
 * atomic_file.c — buffered write to "PATH.tmp.XXXXXX", then fsync + rename over PATH
 * (see atomic_file.h). The new file gets the permission bits of the file it replaces,
 * or 0644 when there is none.
 */
#include "atomic_file.h"

#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void afile_free(cf_afile *f) {
    free(f->path);
    free(f->tmp);
    free(f->buf);
    f->path = f->tmp = NULL;
    f->buf = NULL;
    f->cap = f->len = 0;
}

cf_status cf_afile_open(cf_afile *f, const char *path, size_t bufsize, cf_error *err) {
    memset(f, 0, sizeof *f);
    f->fd = -1;
    if (!path || !*path) return cf_fail(err, CF_ERR_INVALID, "output path: empty");
    size_t n = strlen(path);
    f->path = cf_malloc(n + 1, err, "output path");
    f->tmp = cf_malloc(n + sizeof ".tmp.XXXXXX", err, "temporary path");
    f->cap = bufsize ? bufsize : CF_AFILE_BUFSIZE;
    f->buf = cf_malloc(f->cap, err, "output buffer");
    if (!f->path || !f->tmp || !f->buf) {
        afile_free(f);
        return CF_ERR_NOMEM;
    }
    memcpy(f->path, path, n + 1);
    memcpy(f->tmp, path, n);
    memcpy(f->tmp + n, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
    f->fd = mkstemp(f->tmp);
    if (f->fd < 0) {
        int e = errno;
        cf_status st = cf_fail(err, CF_ERR_IO, "%s: cannot create a temporary file next to it: %s",
                               path, strerror(e));
        afile_free(f);
        return st;
    }
    struct stat sb;
    mode_t mode = stat(path, &sb) == 0 && S_ISREG(sb.st_mode) ? (sb.st_mode & 07777) : 0644;
    if (fchmod(f->fd, mode) != 0) { /* keep mkstemp's 0600: still a valid file */ }
    return CF_OK;
}

/* Writes the pending buffer to the file, retrying short writes. */
static void afile_flush(cf_afile *f) {
    size_t off = 0;
    while (!f->err_no && off < f->len) {
        ssize_t w = write(f->fd, f->buf + off, f->len - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            f->err_no = errno;
            f->what = "write";
        } else if (w == 0) {
            f->err_no = EIO;
            f->what = "write";
        } else {
            off += (size_t)w;
        }
    }
    f->len = 0;
}

void cf_afile_write(cf_afile *f, const void *data, size_t n) {
    const unsigned char *p = data;
    while (n > 0 && !f->err_no) {
        if (f->len == f->cap) afile_flush(f);
        size_t c = f->cap - f->len < n ? f->cap - f->len : n;
        memcpy(f->buf + f->len, p, c);
        f->len += c;
        p += c;
        n -= c;
    }
}

void cf_afile_puts(cf_afile *f, const char *s) { cf_afile_write(f, s, strlen(s)); }

unsigned char *cf_afile_space(cf_afile *f, size_t need) {
    if (f->cap - f->len < need) afile_flush(f);
    return f->buf + f->len;
}

void cf_afile_abort(cf_afile *f) {
    if (!f) return;
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
    if (f->tmp) unlink(f->tmp);
    afile_free(f);
}

/* Makes the rename durable; failures here are not reported (the data is safe). */
static void sync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        if (fsync(fd) != 0) { /* best effort */ }
        close(fd);
    }
    free(dir);
}

cf_status cf_afile_finish(cf_afile *f, cf_error *err) {
    afile_flush(f);
    if (!f->err_no && fsync(f->fd) != 0) f->err_no = errno, f->what = "fsync";
    if (close(f->fd) != 0 && !f->err_no) f->err_no = errno, f->what = "close";
    f->fd = -1;
    free(f->buf);
    f->buf = NULL;
    f->cap = f->len = 0;
    if (f->err_no) {
        cf_status st = cf_fail(err, CF_ERR_IO, "%s: %s failed: %s", f->path, f->what,
                               strerror(f->err_no));
        cf_afile_abort(f);
        return st;
    }
    return CF_OK;
}

cf_status cf_afile_publish(cf_afile *f, cf_error *err) {
    if (rename(f->tmp, f->path) != 0) {
        int e = errno;
        cf_status st = cf_fail(err, CF_ERR_IO, "%s: rename failed: %s", f->path, strerror(e));
        cf_afile_abort(f);
        return st;
    }
    sync_parent_dir(f->path);
    afile_free(f);
    return CF_OK;
}

cf_status cf_afile_commit(cf_afile *f, cf_error *err) {
    cf_status st = cf_afile_finish(f, err);
    return st ? st : cf_afile_publish(f, err);
}
