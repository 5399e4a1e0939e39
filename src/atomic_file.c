/*
 * atomic_file.c — buffered write to an unnamed O_TMPFILE inode in PATH's directory (or,
 * where that is refused, to "PATH.tmp.XXXXXX" from mkstemp), then fsync, link to a
 * fresh "PATH.tmp.XXXXXX", rename over PATH, fsync the directory (see atomic_file.h).
 * The new file gets the permission bits of the file it replaces, or 0644 when there is
 * none. PATH may be a symbolic link: the file is then written next to its final target and
 * renamed over that (the link stays, pointing at the new file). A PATH that exists and is
 * not a regular file (device, FIFO, socket, directory; or a link to one, or a dangling
 * link) is refused at open with CF_ERR_IO: the rename would replace it by a regular file.
 */
#include "atomic_file.h"

#include "common.h"
#include "gz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int use_tmpfile = 1;
void (*cf_afile_after_flush)(const cf_afile *f) = NULL;

int cf_afile_use_tmpfile(int on) {
    int was = use_tmpfile;
    use_tmpfile = on != 0;
    return was;
}

/* The directory part of path ("." for a bare name, "/" for "/x"); NULL when out of memory. */
static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
}

/* Opens an unnamed file in path's directory: the fd, or -1 with errno set. */
static int open_unnamed(const char *path) {
#ifdef O_TMPFILE
    /* linking it later goes through /proc/self/fd: without /proc it could never be named */
    if (access("/proc/self/fd", X_OK) != 0) {
        errno = EOPNOTSUPP;
        return -1;
    }
    char *dir = dir_of(path);
    if (!dir) return -1;
    int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    int e = errno;
    free(dir);
    errno = e;
    return fd;
#else
    (void)path;
    errno = EOPNOTSUPP;
    return -1;
#endif
}

/* O_TMPFILE refused by the filesystem or kernel (not a fault of the destination). */
static int tmpfile_refused(int e) { return e == EOPNOTSUPP || e == EISDIR || e == EINVAL; }

static void afile_free(cf_afile *f) {
    free(f->path);
    free(f->tmp);
    free(f->buf);
    f->path = f->tmp = NULL;
    f->buf = NULL;
    f->cap = f->len = 0;
}

static cf_status open_resolved(cf_afile *f, const char *path, size_t bufsize, cf_error *err);

static const char *kind_of(mode_t mode) {
    switch (mode & S_IFMT) {
    case S_IFDIR: return "a directory";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    case S_IFIFO: return "a FIFO";
    case S_IFSOCK: return "a socket";
    }
    return "not a regular file";
}

/* The path the file will be renamed to: `path` itself, or the target of a symbolic link
 * at `path` (followed all the way, canonical), so that a link keeps pointing at the new
 * file. *target is malloc'ed (NULL when path is no link). Refuses (CF_ERR_IO) a dangling
 * link and a destination that exists and is not a regular file: the rename would replace
 * a device node, FIFO or socket by a regular file. */
static cf_status resolve_target(const char *path, char **target, cf_error *err) {
    *target = NULL;
    struct stat sb;
    if (lstat(path, &sb) != 0) return CF_OK; /* nothing there: a new file */
    if (S_ISLNK(sb.st_mode)) {
        char *t = realpath(path, NULL);
        if (!t) {
            int e = errno;
            return cf_fail(err, CF_ERR_IO, "%s: a symbolic link whose target cannot be resolved (%s): "
                           "refusing to write through it", path, strerror(e));
        }
        if (stat(t, &sb) != 0) {
            int e = errno;
            cf_status st = cf_fail(err, CF_ERR_IO, "%s: symbolic link to %s: %s", path, t, strerror(e));
            free(t);
            return st;
        }
        *target = t;
    }
    if (!S_ISREG(sb.st_mode)) {
        cf_status st = cf_fail(err, CF_ERR_IO, "%s: %s%s, not a regular file: refusing to replace it", path,
                               *target ? "a symbolic link to " : "is ", kind_of(sb.st_mode));
        free(*target);
        *target = NULL;
        return st;
    }
    return CF_OK;
}

cf_status cf_afile_open(cf_afile *f, const char *path, size_t bufsize, cf_error *err) {
    memset(f, 0, sizeof *f);
    f->fd = -1;
    if (!path || !*path) return cf_fail(err, CF_ERR_INVALID, "output path: empty");
    char *target = NULL;
    cf_status rs = resolve_target(path, &target, err);
    if (rs) return rs;
    cf_status st0 = open_resolved(f, target ? target : path, bufsize, err);
    free(target);
    return st0;
}

static cf_status open_resolved(cf_afile *f, const char *path, size_t bufsize, cf_error *err) {
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
    if (use_tmpfile) {
        f->fd = open_unnamed(path);
        if (f->fd >= 0)
            f->anon = 1;
        else if (!tmpfile_refused(errno)) { /* ENOENT, ENOTDIR, EACCES, ENOSPC...: mkstemp would fail too */
            int e = errno;
            cf_status st = cf_fail(err, CF_ERR_IO, "%s: cannot create a temporary file next to it: %s",
                                   path, strerror(e));
            afile_free(f);
            return st;
        }
    }
    if (!f->anon) f->fd = mkstemp(f->tmp);
    if (f->fd < 0) {
        int e = errno;
        cf_status st = cf_fail(err, CF_ERR_IO, "%s: cannot create a temporary file next to it: %s",
                               path, strerror(e));
        afile_free(f);
        return st;
    }
    struct stat sb;
    mode_t mode = stat(path, &sb) == 0 && S_ISREG(sb.st_mode) ? (sb.st_mode & 07777) : 0644;
    if (fchmod(f->fd, mode) != 0) { /* keep 0600: still a valid file */ }
    return CF_OK;
}

/* Writes the pending buffer to the file, retrying short writes. */
/* write(2) of n bytes at p, all of them (sticky error). */
static void write_all(cf_afile *f, const unsigned char *p, size_t n) {
    size_t off = 0;
    while (!f->err_no && off < n) {
        ssize_t w = write(f->fd, p + off, n - off);
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
}

static void afile_flush(cf_afile *f) {
    write_all(f, f->buf, f->len);
    f->len = 0;
    if (cf_afile_after_flush) cf_afile_after_flush(f);
}

void cf_afile_write(cf_afile *f, const void *data, size_t n) {
    const unsigned char *p = data;
    /* a large write goes out from the caller's memory, a buffer's worth per write(2)
     * (the flush hook called after each, as for a buffer): no copy through the buffer */
    if (n >= f->cap && !f->err_no) {
        if (f->len) afile_flush(f);
        for (; n >= f->cap && !f->err_no; p += f->cap, n -= f->cap) {
            write_all(f, p, f->cap);
            if (cf_afile_after_flush) cf_afile_after_flush(f);
        }
    }
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

void cf_afile_sync_data(cf_afile *f) {
    if (f->err_no) return;
    afile_flush(f);
    if (!f->err_no && fdatasync(f->fd) != 0) f->err_no = errno, f->what = "fdatasync";
}

unsigned char *cf_afile_space(cf_afile *f, size_t need) {
    if (f->cap - f->len < need) afile_flush(f);
    return f->buf + f->len;
}

void cf_afile_abort(cf_afile *f) {
    if (!f) return;
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
    if (f->tmp && !f->anon) unlink(f->tmp); /* an unnamed file has nothing to remove */
    f->anon = 0;
    afile_free(f);
}

/* Makes the rename durable; failures here are not reported (the data is safe). */
static void sync_parent_dir(const char *path) {
    char *dir = dir_of(path);
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
    if (!f->anon) { /* an unnamed file stays open until publish links it */
        if (close(f->fd) != 0 && !f->err_no) f->err_no = errno, f->what = "close";
        f->fd = -1;
    }
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

/* Replaces the trailing XXXXXX of f->tmp by 6 characters from a per-process sequence
 * mixed with the pid and the clock (splitmix64 finalizer). */
static void fill_suffix(char *tmp) {
    static const char chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    static _Atomic uint64_t counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 40) ^
                 (++counter * 0x9e3779b97f4a7c15ULL);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    x ^= x >> 31;
    char *p = tmp + strlen(tmp) - 6;
    for (int k = 0; k < 6; k++, x /= 62) p[k] = chars[x % 62];
}

/* Gives the unnamed file the name f->tmp (a fresh PATH.tmp.XXXXXX) and closes it; 0 or errno. */
static int link_unnamed(cf_afile *f) {
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", f->fd);
    int e = 0;
    for (int tries = 0; tries < 100; tries++) {
        fill_suffix(f->tmp);
        if (linkat(AT_FDCWD, proc, AT_FDCWD, f->tmp, AT_SYMLINK_FOLLOW) == 0) {
            f->anon = 0; /* named now: abort unlinks it */
            e = 0;
            break;
        }
        e = errno;
        if (e != EEXIST) break;
    }
    if (close(f->fd) != 0 && !e) e = errno;
    f->fd = -1;
    return e;
}

cf_status cf_afile_publish(cf_afile *f, cf_error *err) {
    if (f->anon) {
        int e = link_unnamed(f);
        if (e) {
            cf_status st = cf_fail(err, CF_ERR_IO, "%s: linking the finished file failed: %s", f->path, strerror(e));
            cf_afile_abort(f);
            return st;
        }
    }
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

/* ------------------------------------------------------------------ cf_output (cufactor.h) */

/* A path ending in ".gz" (cf_gz_name): the text is gathered in blocks of GZ_BLOCK bytes,
 * each written as BGZF blocks (gz.c), the last at commit with BGZF's end marker. */
#define GZ_BLOCK ((size_t)4 << 20)

struct cf_output {
    cf_afile af;
    FILE *stream;      /* fopencookie stream whose writes go into af */
    int gz;            /* 1: a *.gz path, written as BGZF */
    unsigned char *text, *z; /* gz: the text being gathered (GZ_BLOCK bytes), its blocks */
    size_t len, zcap;
};

/* The gathered text as BGZF blocks into af. */
static void output_member(cf_output *o) {
    const size_t n = cf_gz_blocks(o->text, o->len, &o->z, &o->zcap);
    if (!n && !o->af.err_no) o->af.err_no = ENOMEM, o->af.what = "compress";
    if (n) cf_afile_write(&o->af, o->z, n);
    o->len = 0;
}

static ssize_t output_write(void *cookie, const char *buf, size_t size) {
    cf_output *o = cookie;
    if (o->af.err_no) { /* failed, or aborted: nothing more reaches the file (nor the compressor) */
        errno = o->af.err_no;
        return -1;
    }
    if (!o->gz) {
        cf_afile_write(&o->af, buf, size);
    } else {
        for (size_t done = 0; done < size;) {
            const size_t k = size - done < GZ_BLOCK - o->len ? size - done : GZ_BLOCK - o->len;
            memcpy(o->text + o->len, buf + done, k);
            o->len += k, done += k;
            if (o->len == GZ_BLOCK) output_member(o);
        }
    }
    if (o->af.err_no) {
        errno = o->af.err_no;
        return -1;
    }
    return (ssize_t)size;
}

static void output_free(cf_output *o) {
    free(o->text), free(o->z);
    free(o);
}

cf_status cf_output_open(const char *path, cf_output **out, FILE **stream, cf_error *err) {
    *out = NULL;
    *stream = NULL;
    cf_output *o = cf_malloc(sizeof *o, err, "output file");
    if (!o) return CF_ERR_NOMEM;
    memset(o, 0, sizeof *o);
    o->gz = cf_gz_name(path);
    if (o->gz && !(o->text = cf_malloc(GZ_BLOCK, err, "output file's compression block"))) {
        free(o);
        return CF_ERR_NOMEM;
    }
    cf_status st = cf_afile_open(&o->af, path, 0, err);
    if (st) {
        output_free(o);
        return st;
    }
    cookie_io_functions_t io = {.read = NULL, .write = output_write, .seek = NULL, .close = NULL};
    o->stream = fopencookie(o, "w", io);
    if (!o->stream) {
        int e = errno;
        cf_afile_abort(&o->af);
        output_free(o);
        return cf_fail(err, CF_ERR_NOMEM, "%s: cannot open an output stream: %s", path, strerror(e));
    }
    *out = o;
    *stream = o->stream;
    return CF_OK;
}

cf_status cf_output_commit(cf_output **f, cf_error *err) {
    cf_output *o = f ? *f : NULL;
    if (!o) return CF_OK;
    *f = NULL;
    /* fclose hands the stdio buffer to af; a write error there is af's sticky error */
    if (fclose(o->stream) != 0 && !o->af.err_no) o->af.err_no = errno ? errno : EIO, o->af.what = "write";
    if (o->gz && !o->af.err_no) {
        if (o->len > 0) output_member(o);
        cf_afile_write(&o->af, cf_gz_eof, CF_GZ_EOF_SIZE); /* also all of an empty output */
    }
    cf_status st = cf_afile_commit(&o->af, err);
    output_free(o);
    return st;
}

void cf_output_abort(cf_output **f) {
    cf_output *o = f ? *f : NULL;
    if (!o) return;
    *f = NULL;
    o->af.err_no = EIO; /* nothing more reaches the file while the stream closes */
    fclose(o->stream);
    cf_afile_abort(&o->af);
    output_free(o);
}
