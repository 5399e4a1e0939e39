/*
 * binfmt.c — the binary dataset format (binfmt.h). All integers little-endian.
 *
 *   offset size  field
 *   0      8     magic "CFDATA\r\n"
 *   8      4     version (1)
 *   12     4     header size (80)
 *   16     8     n: ratings
 *   24     8     users (U), 32 8 items (I)
 *   40     8     UB: bytes of the user names section, 48 8 IB: of the item names section
 *   56     8     B: checksum block size in bytes (1 MiB as written; 4 KiB .. 1 GiB read)
 *   64     8     payload checksum (below)
 *   72     8     header checksum: hash64.h's FNV-1a-64 by words of bytes 0..71
 *   80           the payload, five sections back to back:
 *                u32 user index[n], u32 item index[n], f32 rating[n],
 *                user names: U × (u16 length, bytes), item names: I × (u16 length, bytes)
 *   file size = 80 + 12 n + UB + IB exactly.
 *
 * Version 2 (written only for unsorted ratings, so that a sorted file stays readable by
 * every version-1 reader): header size 88; bytes 72..79 hold a u64 flags word, 80..87
 * the header checksum of bytes 0..79, the payload starts at 88. Flag 1 (CF_BIN_UNSORTED):
 * the ratings are in the writer's order (the bench cache keeps its generator's order, on
 * which its seeded split depends); distinct pairs are then the writer's promise, and
 * the text-equivalent readers (read.c) deduplicate after loading, which sorts. Flag 2
 * (CF_BIN_TIMED): a sixth section follows the item names, i64 timestamp[n] (rating k's
 * time; convert --timestamps), covered by the checksum like the others; file size
 * 88 + 20 n + UB + IB. Other flag bits are refused.
 *
 * Name k of a section is the ID of index k; names are non-empty, without NUL, distinct.
 * Without CF_BIN_UNSORTED the ratings are sorted by (user index, item index), strictly: no (user, item) pair
 * twice, so a load needs no duplicate removal (convert writes a dataset just read, which
 * the reader's duplicate removal left in that order).
 *
 * Checksum: each section is cut into blocks of B bytes (the last one shorter); a block's
 * hash is four interleaved FNV-1a-64-by-words lanes (word k to lane k mod 4; the bytes
 * after the last whole word to lane 0 one by one), folded together with the block's
 * length; the payload checksum is hash64.h's stream over the blocks' hashes (u64 each),
 * sections in order. Blocks hash independently, so writing and loading hash them on all
 * threads; four lanes break the multiply chain (≈ 4× one chain's 2.2 GB/s per core).
 *
 * A load copies the rating sections into the dataset while hashing them (one pass over
 * the mapped file, in parallel, pieces of 4096 ratings checked while in the cache),
 * interns the names meanwhile (batched, prefetching inserts), compares the checksum,
 * and checks every index, the order and that every rating is finite. Bytes moved: the
 * file read once, 13 bytes per rating written (u, i, r, part) into fresh pages
 * (transparent huge pages asked for by cf_dataset_reserve: the kernel zeroes them, one
 * fault per 2 MiB). Ceiling: memory bandwidth, ≈ 25 GB/s copy here, so the zeroing,
 * the copy and the ID map (a random access per name) bound it, not the hash. Any mismatch is CF_ERR_PARSE
 * "NAME: ..." and adds no ratings.
 */
#include "binfmt.h"

#include "atomic_file.h"
#include "common.h"
#include "gz.h"
#include "hash64.h"
#include "idmap.h"

#include <math.h>
#include <omp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BLOCK ((uint64_t)1 << 20)

int cf_bin_is(const void *data, size_t size) {
    return size >= CF_BIN_MAGIC_LEN && memcmp(data, CF_BIN_MAGIC, CF_BIN_MAGIC_LEN) == 0;
}

static uint64_t rd64(const unsigned char *p) {
    uint64_t v = 0;
    for (int k = 7; k >= 0; k--) v = v << 8 | p[k];
    return v;
}
static uint32_t rd32(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static void wr64(unsigned char *p, uint64_t v) {
    for (int k = 0; k < 8; k++) p[k] = (unsigned char)(v >> (8 * k));
}
static void wr32(unsigned char *p, uint32_t v) {
    for (int k = 0; k < 4; k++) p[k] = (unsigned char)(v >> (8 * k));
}

static uint64_t block_hash(const unsigned char *p, size_t len) {
    uint64_t h0 = 0xcbf29ce484222325ULL, h1 = h0 ^ 1, h2 = h0 ^ 2, h3 = h0 ^ 3;
    size_t k = 0;
    for (; k + 32 <= len; k += 32) {
        uint64_t w0, w1, w2, w3;
        memcpy(&w0, p + k, 8), memcpy(&w1, p + k + 8, 8), memcpy(&w2, p + k + 16, 8), memcpy(&w3, p + k + 24, 8);
        h0 = cf_hash64_mix(h0, w0), h1 = cf_hash64_mix(h1, w1), h2 = cf_hash64_mix(h2, w2), h3 = cf_hash64_mix(h3, w3);
    }
    uint64_t *lane[4] = {&h0, &h1, &h2, &h3};
    for (int j = 0; k + 8 <= len; k += 8, j++) {
        uint64_t w;
        memcpy(&w, p + k, 8);
        *lane[j] = cf_hash64_mix(*lane[j], w);
    }
    for (; k < len; k++) h0 = cf_hash64_mix(h0, p[k]);
    return cf_hash64_mix(cf_hash64_mix(cf_hash64_mix(cf_hash64_mix(h0, h1), h2), h3), (uint64_t)len);
}

/* block_hash in pieces while copying (the load's fast path; block_hash, which the writer
 * uses, is its reference, and every load compares the two through the checksum): the
 * four lanes carried from piece to piece, each piece but the last a multiple of 32
 * bytes. Per byte: one load, one store, a quarter of a multiply chain per lane. */
typedef struct lanes {
    uint64_t h[4];
} lanes;

static void lanes_init(lanes *l) {
    l->h[0] = 0xcbf29ce484222325ULL, l->h[1] = l->h[0] ^ 1, l->h[2] = l->h[0] ^ 2, l->h[3] = l->h[0] ^ 3;
}

/* Copies len bytes (a multiple of 32) from src to dst, hashing them into the lanes. */
static void lanes_copy32(lanes *l, unsigned char *restrict dst, const unsigned char *restrict src, size_t len) {
    uint64_t h0 = l->h[0], h1 = l->h[1], h2 = l->h[2], h3 = l->h[3];
    for (size_t k = 0; k < len; k += 32) {
        uint64_t w0, w1, w2, w3;
        memcpy(&w0, src + k, 8), memcpy(&w1, src + k + 8, 8), memcpy(&w2, src + k + 16, 8), memcpy(&w3, src + k + 24, 8);
        memcpy(dst + k, &w0, 8), memcpy(dst + k + 8, &w1, 8), memcpy(dst + k + 16, &w2, 8), memcpy(dst + k + 24, &w3, 8);
        h0 = cf_hash64_mix(h0, w0), h1 = cf_hash64_mix(h1, w1), h2 = cf_hash64_mix(h2, w2), h3 = cf_hash64_mix(h3, w3);
    }
    l->h[0] = h0, l->h[1] = h1, l->h[2] = h2, l->h[3] = h3;
}

/* The last piece's tail (rest < 32 bytes, copied too) and the fold: block_hash's end
 * for a block of `total` bytes. */
static uint64_t lanes_final(lanes *l, unsigned char *dst, const unsigned char *src, size_t rest, uint64_t total) {
    memcpy(dst, src, rest);
    size_t k = 0;
    for (int j = 0; k + 8 <= rest; k += 8, j++) {
        uint64_t w;
        memcpy(&w, src + k, 8);
        l->h[j] = cf_hash64_mix(l->h[j], w);
    }
    for (; k < rest; k++) l->h[0] = cf_hash64_mix(l->h[0], src[k]);
    return cf_hash64_mix(cf_hash64_mix(cf_hash64_mix(cf_hash64_mix(l->h[0], l->h[1]), l->h[2]), l->h[3]), total);
}

/* Whether ratings k0..k1 of (u, i, r) are all valid: indices below nu / ni, finite (by
 * the bits: no branch, so it vectorizes), and, when sorted, (u, i) strictly increasing
 * from the key `prev` of the rating before (0 and has_prev 0 for the first). */
static int ratings_ok(const uint32_t *u, const uint32_t *i, const float *r, uint64_t k0, uint64_t k1, uint64_t nu,
                      uint64_t ni, int sorted, uint64_t prev, int has_prev) {
    uint32_t bad = 0;
    for (uint64_t k = k0; k < k1; k++) {
        uint32_t bits;
        memcpy(&bits, &r[k], 4);
        uint64_t key = (uint64_t)u[k] << 32 | i[k];
        bad |= (uint32_t)(u[k] >= nu) | (uint32_t)(i[k] >= ni) | (uint32_t)((bits & 0x7f800000u) == 0x7f800000u) |
               (uint32_t)(sorted & (has_prev | (k > k0)) & (key <= prev));
        prev = key;
    }
    return bad == 0;
}

/* The five sections of a payload: where they are read from, and where a load copies
 * them to (NULL: not copied). */
typedef struct section {
    const unsigned char *src;
    unsigned char *dst;
    uint64_t len;
} section;

/* The payload checksum of the sections, blocks of `block` bytes hashed on `threads`
 * threads (copying each block to dst first where there is one). -1: out of memory. */
static int payload_hash(const section *s, int ns, uint64_t block, int threads, uint64_t *out) {
    int64_t nb = 0, first[7];
    for (int k = 0; k < ns; k++) first[k] = nb, nb += (int64_t)((s[k].len + block - 1) / block);
    first[ns] = nb;
    uint64_t *bh = malloc((size_t)(nb ? nb : 1) * sizeof *bh);
    if (!bh) return -1;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 4)
    for (int64_t b = 0; b < nb; b++) {
        int k = 0;
        while (b >= first[k + 1]) k++;
        uint64_t off = (uint64_t)(b - first[k]) * block, len = s[k].len - off < block ? s[k].len - off : block;
        if (s[k].dst) {
            memcpy(s[k].dst + off, s[k].src + off, len);
            bh[b] = block_hash(s[k].dst + off, len);
        } else {
            bh[b] = block_hash(s[k].src + off, len);
        }
    }
    cf_hash64 h;
    cf_hash64_init(&h);
    for (int64_t b = 0; b < nb; b++) {
        unsigned char w[8];
        wr64(w, bh[b]);
        cf_hash64_update(&h, w, 8);
    }
    free(bh);
    *out = cf_hash64_final(&h);
    return 0;
}

static int nthreads(int threads) {
    int t = threads > 0 ? threads : omp_get_num_procs();
    return t < 1 ? 1 : t;
}

static uint64_t header_hash(const unsigned char *h, size_t len) {
    cf_hash64 s;
    cf_hash64_init(&s);
    cf_hash64_update(&s, h, len);
    return cf_hash64_final(&s);
}

/* Interns the `count` names of a section into m; table[k] = the index of name k. */
static cf_status load_names(const char *name, const char *what, const unsigned char *p, uint64_t len,
                            uint64_t count, cf_idmap *m, uint32_t *table, int fresh, cf_error *err) {
    uint64_t at = 0;
    /* count names of len bytes: the table, offsets and arena sized once (a hint: the
     * checks below still hold for a lying header) */
    if (count <= len / 2 && cf_idmap_reserve(m, cf_idmap_size(m) + (int64_t)count, len))
        return cf_fail(err, CF_ERR_NOMEM, "%s: out of memory storing the %s IDs", name, what);
    /* batches of up to 256 names: parsed and checked, then interned together (the map's
     * prefetching batch insert), errors reported in name order as one by one would */
    enum { NB = 256 };
    const char *tok[NB];
    size_t tl[NB];
    int added[NB];
    for (uint64_t k0 = 0; k0 < count; k0 += NB) {
        size_t nb = count - k0 < NB ? (size_t)(count - k0) : NB, got = 0;
        const char *why = NULL;
        for (; got < nb; got++) {
            if (len - at < 2) {
                why = "end";
                break;
            }
            size_t l = (size_t)p[at] | (size_t)p[at + 1] << 8;
            if (l == 0 || l > len - at - 2 || memchr(p + at + 2, '\0', l)) {
                why = l == 0 ? "empty" : l > len - at - 2 ? "cut short" : "holding a NUL";
                break;
            }
            tok[got] = (const char *)p + at + 2, tl[got] = l;
            at += 2 + l;
        }
        if (cf_idmap_intern_many(m, got, tok, tl, table + k0, added))
            return cf_fail(err, CF_ERR_NOMEM, "%s: out of memory storing the %s IDs", name, what);
        for (size_t j = 0; fresh && j < got; j++)
            if (!added[j])
                return cf_fail(err, CF_ERR_PARSE, "%s: corrupt binary dataset: %s name %llu appears twice", name,
                               what, (unsigned long long)(k0 + j));
        if (why && !strcmp(why, "end"))
            return cf_fail(err, CF_ERR_PARSE, "%s: corrupt binary dataset: the %s names end after %llu of %llu", name,
                           what, (unsigned long long)(k0 + got), (unsigned long long)count);
        if (why)
            return cf_fail(err, CF_ERR_PARSE, "%s: corrupt binary dataset: %s name %llu is %s", name, what,
                           (unsigned long long)(k0 + got), why);
    }
    if (at != len)
        return cf_fail(err, CF_ERR_PARSE, "%s: corrupt binary dataset: %llu bytes after the %s names", name,
                       (unsigned long long)(len - at), what);
    return CF_OK;
}

cf_status cf_bin_load(cf_dataset *ds, int part, const char *name, const void *data, size_t size, int threads,
                      cf_read_report *rep, int *sorted, cf_error *err) {
    const unsigned char *h = data;
    rep->bytes = (int64_t)size;
    rep->format = CF_FORMAT_BINARY;
    if (size < CF_BIN_HEADER)
        return cf_fail(err, CF_ERR_PARSE, "%s: truncated binary dataset: %zu bytes, shorter than its %d-byte header",
                       name, size, CF_BIN_HEADER);
    uint32_t version = rd32(h + 8), hsize = rd32(h + 12);
    if (version != CF_BIN_VERSION && version != CF_BIN_VERSION2)
        return cf_fail(err, CF_ERR_PARSE, "%s: binary dataset version %u; this cufactor reads versions %u and %u", name,
                       version, CF_BIN_VERSION, CF_BIN_VERSION2);
    const size_t hlen = version == CF_BIN_VERSION ? CF_BIN_HEADER : CF_BIN_HEADER2;
    if (size < hlen)
        return cf_fail(err, CF_ERR_PARSE, "%s: truncated binary dataset: %zu bytes, shorter than its %zu-byte header",
                       name, size, hlen);
    if (rd64(h + hlen - 8) != header_hash(h, hlen - 8))
        return cf_fail(err, CF_ERR_PARSE, "%s: corrupt binary dataset: header checksum mismatch", name);
    const uint64_t flags = version == CF_BIN_VERSION ? 0 : rd64(h + 72);
    if (flags & ~(uint64_t)(CF_BIN_UNSORTED | CF_BIN_TIMED))
        return cf_fail(err, CF_ERR_PARSE, "%s: binary dataset with flags %llx this cufactor does not know", name,
                       (unsigned long long)flags);
    const int unsorted = (flags & CF_BIN_UNSORTED) != 0, timed = (flags & CF_BIN_TIMED) != 0;
    if (ds->timed && !timed)
        return cf_fail(err, CF_ERR_PARSE, "%s: binary dataset without timestamps (convert it again with --timestamps)",
                       name);
    uint64_t n = rd64(h + 16), nu = rd64(h + 24), ni = rd64(h + 32), ub = rd64(h + 40), ib = rd64(h + 48);
    uint64_t block = rd64(h + 56), want = rd64(h + 64);
    if (hsize != hlen || block < 4096 || block % 4 || block > ((uint64_t)1 << 30) || nu > UINT32_MAX || ni > UINT32_MAX ||
        n > (uint64_t)size / 12 || ub > size || ib > size)
        return cf_fail(err, CF_ERR_PARSE, "%s: corrupt binary dataset: impossible header values", name);
    const uint64_t tb = timed ? 8 * n : 0; /* the timestamps section */
    uint64_t expect = hlen + 12 * n + ub + ib + tb;
    if (expect != size)
        return cf_fail(err, CF_ERR_PARSE, "%s: %s binary dataset: %zu bytes, the header promises %llu", name,
                       size < expect ? "truncated" : "corrupt", size, (unsigned long long)expect);
    if (n == 0) return cf_fail(err, CF_ERR_PARSE, "%s: empty file: no ratings", name);
    const int T = nthreads(threads);
    const int64_t from = ds->all.n;
    if (cf_dataset_reserve(ds, from + (int64_t)n))
        return cf_fail(err, CF_ERR_NOMEM, "%s: out of memory storing %llu ratings", name, (unsigned long long)n);
    const unsigned char *pay = h + hlen;
    section s[6] = {
        {pay, (unsigned char *)(ds->all.u + from), 4 * n},
        {pay + 4 * n, (unsigned char *)(ds->all.i + from), 4 * n},
        {pay + 8 * n, (unsigned char *)(ds->all.r + from), 4 * n},
        {pay + 12 * n, NULL, ub},
        {pay + 12 * n + ub, NULL, ib},
        {pay + 12 * n + ub + ib, ds->timed ? (unsigned char *)(ds->all.t + from) : NULL, tb},
    };
    /* One parallel pass: each unit copies and hashes one block of each rating section
     * (the same ratings k0..k1 in all three) and checks them (indices in range, (user,
     * item) strictly increasing, finite) and sets their part; the name blocks and the
     * timestamp blocks (copied when the dataset keeps them) are hashed as units of their
     * own. With empty maps (a fresh dataset, the usual case) thread 0 interns the names
     * first, meanwhile: name k becomes index k. Errors are reported in
     * the order header, checksum, names, ratings; a failure leaves the maps empty again. */
    const int fresh = cf_idmap_size(ds->users) == 0 && cf_idmap_size(ds->items) == 0;
    const uint64_t per = block / 4; /* ratings per block */
    const int64_t nrb = (int64_t)((n + per - 1) / per), nb3 = (int64_t)((ub + block - 1) / block);
    const int64_t nb4 = (int64_t)((ib + block - 1) / block), nb5 = (int64_t)((tb + block - 1) / block);
    const int64_t units = nrb + nb3 + nb4 + nb5;
    uint64_t *bh = malloc((size_t)(3 * nrb + nb3 + nb4 + nb5 + 1) * sizeof *bh);
    uint32_t *ut = malloc((size_t)(nu ? nu : 1) * sizeof *ut), *it = malloc((size_t)(ni ? ni : 1) * sizeof *it);
    if (!bh || !ut || !it) {
        free(bh), free(ut), free(it);
        return cf_fail(err, CF_ERR_NOMEM, "%s: out of memory checking it", name);
    }
    const uint8_t pt = (uint8_t)(part != 0);
    uint32_t *du = ds->all.u + from, *di = ds->all.i + from;
    float *dr = ds->all.r + from;
    int64_t bad = INT64_MAX;
    cf_status names_st = CF_OK;
    cf_error names_err;
    _Atomic int64_t next;
    atomic_init(&next, 0);
#pragma omp parallel num_threads(T)
    {
        if (fresh && omp_get_thread_num() == 0) {
            names_st = load_names(name, "user", s[3].src, ub, nu, ds->users, ut, 1, &names_err);
            if (!names_st) names_st = load_names(name, "item", s[4].src, ib, ni, ds->items, it, 1, &names_err);
        }
        int64_t my_bad = INT64_MAX;
        for (int64_t x; (x = atomic_fetch_add(&next, 1)) < units;) {
            if (x < nrb) {
                uint64_t k0 = (uint64_t)x * per, k1 = k0 + per < n ? k0 + per : n, len = 4 * (k1 - k0);
                /* in pieces of 4096 ratings: each section's piece copied and hashed, then
                 * the piece checked while it is still in the cache */
                lanes ln[3];
                for (int sec = 0; sec < 3; sec++) lanes_init(&ln[sec]);
                uint64_t prev = 0;
                int has_prev = k0 > 0;
                if (has_prev) { /* the rating before the block, from the file (unaligned-safe) */
                    uint32_t pu, pi;
                    memcpy(&pu, s[0].src + 4 * (k0 - 1), 4), memcpy(&pi, s[1].src + 4 * (k0 - 1), 4);
                    prev = (uint64_t)pu << 32 | pi;
                }
                for (uint64_t a = k0; a < k1; a += 4096) {
                    uint64_t b = a + 4096 < k1 ? a + 4096 : k1, whole = (4 * (b - a)) & ~(uint64_t)31;
                    for (int sec = 0; sec < 3; sec++) {
                        lanes_copy32(&ln[sec], s[sec].dst + 4 * a, s[sec].src + 4 * a, whole);
                        if (b == k1)
                            bh[sec * nrb + x] = lanes_final(&ln[sec], s[sec].dst + 4 * a + whole,
                                                            s[sec].src + 4 * a + whole, 4 * (b - a) - whole, len);
                    }
                    if (!ratings_ok(du, di, dr, a, b, nu, ni, !unsorted, prev, has_prev)) {
                        uint64_t pk = prev; /* the slow path: the first bad one */
                        for (uint64_t k = a; k < b; k++) {
                            if (!ratings_ok(du, di, dr, k, k + 1, nu, ni, !unsorted, pk, has_prev || k > a)) {
                                if ((int64_t)k < my_bad) my_bad = (int64_t)k;
                                break;
                            }
                            pk = (uint64_t)du[k] << 32 | di[k];
                        }
                    }
                    prev = (uint64_t)du[b - 1] << 32 | di[b - 1];
                    has_prev = 1;
                }
                memset(ds->is_test + from + (int64_t)k0, pt, k1 - k0);
            } else {
                int sec = x < nrb + nb3 ? 3 : x < nrb + nb3 + nb4 ? 4 : 5;
                int64_t j = x - nrb - (sec > 3 ? nb3 : 0) - (sec > 4 ? nb4 : 0);
                uint64_t off = (uint64_t)j * block, len = s[sec].len - off < block ? s[sec].len - off : block;
                if (s[sec].dst) memcpy(s[sec].dst + off, s[sec].src + off, len);
                bh[x + 2 * nrb] = block_hash(s[sec].src + off, len); /* sections in order after the ratings' */
            }
        }
#pragma omp critical(cf_bin_bad)
        if (my_bad < bad) bad = my_bad;
    }
    cf_hash64 hs;
    cf_hash64_init(&hs);
    for (int64_t b = 0; b < 3 * nrb + nb3 + nb4 + nb5; b++) {
        unsigned char w[8];
        wr64(w, bh[b]);
        cf_hash64_update(&hs, w, 8);
    }
    uint64_t got = cf_hash64_final(&hs);
    free(bh);
    cf_status st = CF_OK;
    if (got != want)
        st = cf_fail(err, CF_ERR_PARSE, "%s: corrupt binary dataset: checksum mismatch (stored %016llx, computed %016llx)",
                     name, (unsigned long long)want, (unsigned long long)got);
    else if (fresh && names_st)
        st = cf_fail(err, names_st, "%s", names_err.msg);
    else if (!fresh && (st = load_names(name, "user", s[3].src, ub, nu, ds->users, ut, 0, err)) == CF_OK)
        st = load_names(name, "item", s[4].src, ib, ni, ds->items, it, 0, err);
    if (!st && bad != INT64_MAX) {
        const char *why = du[bad] >= nu ? "user index out of range" : di[bad] >= ni ? "item index out of range"
                          : !isfinite(dr[bad]) ? "rating not finite" : "not sorted by (user, item): a repeated pair?";
        st = cf_fail(err, CF_ERR_PARSE, "%s: corrupt binary dataset: rating %lld: %s", name, (long long)bad, why);
    }
    if (!st && !fresh) {
#pragma omp parallel for num_threads(T) schedule(static)
        for (int64_t k = 0; k < (int64_t)n; k++) du[k] = ut[du[k]], di[k] = it[di[k]];
    }
    if (!st) {
        ds->all.n = from + (int64_t)n;
        rep->ratings = (int64_t)n;
        if (sorted) *sorted = !unsorted;
    } else if (fresh) { /* the maps were empty: leave them so */
        cf_idmap *a = cf_idmap_create(), *b = cf_idmap_create();
        if (a && b) {
            cf_idmap_destroy(&ds->users), cf_idmap_destroy(&ds->items);
            ds->users = a, ds->items = b;
        } else {
            cf_idmap_destroy(&a), cf_idmap_destroy(&b);
        }
    }
    free(ut);
    free(it);
    return st;
}

/* The names of a map as a section: U × (u16 length, bytes). NULL: out of memory. */
static unsigned char *names_section(const cf_idmap *m, uint64_t *len) {
    int64_t n = cf_idmap_size(m);
    uint64_t total = 0;
    for (int64_t k = 0; k < n; k++) {
        size_t l;
        cf_idmap_name(m, (uint32_t)k, &l);
        total += 2 + l;
    }
    unsigned char *s = malloc(total ? total : 1), *o = s;
    if (!s) return NULL;
    for (int64_t k = 0; k < n; k++) {
        size_t l;
        const char *nm = cf_idmap_name(m, (uint32_t)k, &l);
        *o++ = (unsigned char)(l & 0xff), *o++ = (unsigned char)(l >> 8);
        memcpy(o, nm, l);
        o += l;
    }
    *len = total;
    return s;
}

cf_status cf_bin_write(const cf_dataset *ds, const char *path, int threads, cf_error *err) {
    return cf_bin_write_ordered(ds, path, threads, 0, err);
}

cf_status cf_bin_write_ordered(const cf_dataset *ds, const char *path, int threads, int keep_order, cf_error *err) {
    if (!ds || !path) return cf_fail(err, CF_ERR_INVALID, "cf_bin_write: %s is NULL", !ds ? "ds" : "path");
    const int64_t n = ds->all.n;
    int unsorted = 0;
    for (int64_t k = 1; k < n && !unsorted; k++)
        if (!(ds->all.u[k - 1] < ds->all.u[k] || (ds->all.u[k - 1] == ds->all.u[k] && ds->all.i[k - 1] < ds->all.i[k]))) {
            if (!keep_order)
                return cf_fail(err, CF_ERR_INVALID, "%s: the ratings are not sorted by (user, item) (rating %lld)",
                               path, (long long)k);
            unsorted = 1;
        }
    const uint64_t flags = (unsorted ? CF_BIN_UNSORTED : 0) | (ds->timed ? CF_BIN_TIMED : 0);
    const size_t hlen = flags ? CF_BIN_HEADER2 : CF_BIN_HEADER; /* version 1 when it says all */
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) /* the rename would replace a device or a directory */
        return cf_fail(err, CF_ERR_IO, "%s: exists and is not a regular file; not replacing it", path);
    uint64_t ub = 0, ib = 0;
    unsigned char *us = names_section(ds->users, &ub), *is = names_section(ds->items, &ib);
    cf_status st = CF_OK;
    if (!us || !is) {
        st = cf_fail(err, CF_ERR_NOMEM, "%s: out of memory preparing the ID sections", path);
        goto done;
    }
    section s[6] = {{(const unsigned char *)ds->all.u, NULL, 4 * (uint64_t)n},
                    {(const unsigned char *)ds->all.i, NULL, 4 * (uint64_t)n},
                    {(const unsigned char *)ds->all.r, NULL, 4 * (uint64_t)n},
                    {us, NULL, ub},
                    {is, NULL, ib},
                    {(const unsigned char *)ds->all.t, NULL, ds->timed ? 8 * (uint64_t)n : 0}};
    const int ns = ds->timed ? 6 : 5;
    uint64_t sum;
    if (payload_hash(s, ns, BLOCK, nthreads(threads), &sum)) {
        st = cf_fail(err, CF_ERR_NOMEM, "%s: out of memory computing the checksum", path);
        goto done;
    }
    unsigned char h[CF_BIN_HEADER2];
    memset(h, 0, sizeof h);
    memcpy(h, CF_BIN_MAGIC, CF_BIN_MAGIC_LEN);
    wr32(h + 8, flags ? CF_BIN_VERSION2 : CF_BIN_VERSION), wr32(h + 12, (uint32_t)hlen);
    wr64(h + 16, (uint64_t)n), wr64(h + 24, (uint64_t)cf_idmap_size(ds->users));
    wr64(h + 32, (uint64_t)cf_idmap_size(ds->items)), wr64(h + 40, ub), wr64(h + 48, ib);
    wr64(h + 56, BLOCK), wr64(h + 64, sum);
    if (flags) wr64(h + 72, flags);
    wr64(h + hlen - 8, header_hash(h, hlen - 8));
    cf_afile f;
    if ((st = cf_afile_open(&f, path, 0, err))) goto done;
    cf_afile_write(&f, h, hlen);
    for (int k = 0; k < ns; k++) cf_afile_write(&f, s[k].src, (size_t)s[k].len);
    st = cf_afile_commit(&f, err);
done:
    free(us);
    free(is);
    return st;
}

cf_status cf_dataset_write_binary(const cf_dataset *ds, const char *path, int threads, cf_error *err) {
    cf_error_clear(err);
    if (path && cf_gz_refuse(path, "a binary dataset", err)) return CF_ERR_INVALID;
    return cf_bin_write(ds, path, threads, err);
}
