/* idmap.c — open-addressing (linear probing) hash map of byte-string tokens to dense
 * indices. Tokens live NUL-terminated in one growing arena; offsets[idx] locates the
 * token of idx. The table stores idx+1 (0 = empty slot) and is kept ≤ 50% full. */
#include "idmap.h"
#include "common.h"

#include <stdlib.h>
#include <string.h>

struct cf_idmap {
    uint32_t *slots;    /* cap entries: 0 empty, else idx + 1 */
    uint32_t *hashes;   /* cap entries: the hash of the token in that slot */
    uint64_t cap;       /* power of two */
    int64_t n;
    uint64_t *offsets;  /* n entries: token start in the arena */
    int64_t offsets_cap;
    char *arena;
    uint64_t arena_len, arena_cap;
};

static uint32_t hash_bytes(const char *s, size_t len) {
    /* FNV-1a, 64-bit, folded. Short numeric tokens dominate; this is fast enough. */
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t k = 0; k < len; k++) {
        h ^= (unsigned char)s[k];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 29;
    return (uint32_t)(h ^ (h >> 32));
}

cf_idmap *cf_idmap_create(void) {
    cf_idmap *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->cap = 1024;
    m->slots = calloc(m->cap, sizeof *m->slots);
    m->hashes = malloc(m->cap * sizeof *m->hashes);
    m->offsets_cap = 512;
    m->offsets = malloc((size_t)m->offsets_cap * sizeof *m->offsets);
    m->arena_cap = 8192;
    m->arena = malloc(m->arena_cap);
    if (!m->slots || !m->hashes || !m->offsets || !m->arena) {
        cf_idmap_destroy(&m);
        return NULL;
    }
    return m;
}

void cf_idmap_destroy(cf_idmap **pm) {
    if (!pm || !*pm) return;
    cf_idmap *m = *pm;
    free(m->slots);
    free(m->hashes);
    free(m->offsets);
    free(m->arena);
    free(m);
    *pm = NULL;
}

cf_idmap *cf_idmap_clone(const cf_idmap *src) {
    cf_idmap *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    *m = *src;
    m->slots = malloc(src->cap * sizeof *m->slots);
    m->hashes = malloc(src->cap * sizeof *m->hashes);
    m->offsets = malloc((size_t)src->offsets_cap * sizeof *m->offsets);
    m->arena = malloc(src->arena_cap);
    if (!m->slots || !m->hashes || !m->offsets || !m->arena) {
        cf_idmap_destroy(&m);
        return NULL;
    }
    memcpy(m->slots, src->slots, src->cap * sizeof *m->slots);
    memcpy(m->hashes, src->hashes, src->cap * sizeof *m->hashes);
    memcpy(m->offsets, src->offsets, (size_t)src->n * sizeof *m->offsets);
    memcpy(m->arena, src->arena, src->arena_len);
    return m;
}

int64_t cf_idmap_size(const cf_idmap *m) { return m ? m->n : 0; }

static int64_t lookup(const cf_idmap *m, const char *tok, size_t len, uint32_t h, uint64_t *slot) {
    uint64_t mask = m->cap - 1;
    for (uint64_t s = h & mask;; s = (s + 1) & mask) {
        uint32_t v = m->slots[s];
        if (v == 0) {
            *slot = s;
            return -1;
        }
        if (m->hashes[s] == h) {
            /* the token's length from the arena offsets (tokens lie there in index order,
             * each NUL-terminated): a strlen here was 5 % of a parallel read's time */
            const uint64_t o = m->offsets[v - 1], e = (int64_t)v < m->n ? m->offsets[v] : m->arena_len;
            const char *t = m->arena + o;
            if (e - o - 1 == len && memcmp(t, tok, len) == 0) {
                *slot = s;
                return (int64_t)(v - 1);
            }
        }
    }
}

static int grow_table(cf_idmap *m) {
    uint64_t cap = m->cap * 2;
    uint32_t *slots = calloc(cap, sizeof *slots);
    uint32_t *hashes = malloc(cap * sizeof *hashes);
    if (!slots || !hashes) {
        free(slots);
        free(hashes);
        return -1;
    }
    for (uint64_t s = 0; s < m->cap; s++) {
        if (!m->slots[s]) continue;
        uint64_t t = m->hashes[s] & (cap - 1);
        while (slots[t]) t = (t + 1) & (cap - 1);
        slots[t] = m->slots[s];
        hashes[t] = m->hashes[s];
    }
    free(m->slots);
    free(m->hashes);
    m->slots = slots;
    m->hashes = hashes;
    m->cap = cap;
    return 0;
}

int cf_idmap_reserve(cf_idmap *m, int64_t n, uint64_t bytes) {
    while ((uint64_t)n * 2 > m->cap)
        if (grow_table(m)) return -1;
    if (n > m->offsets_cap) {
        uint64_t *o = realloc(m->offsets, (size_t)n * sizeof *o);
        if (!o) return -1;
        m->offsets = o;
        m->offsets_cap = n;
    }
    if (m->arena_len + bytes > m->arena_cap) {
        char *a = realloc(m->arena, m->arena_len + bytes);
        if (!a) return -1;
        m->arena = a;
        m->arena_cap = m->arena_len + bytes;
    }
    return 0;
}

int cf_idmap_intern(cf_idmap *m, const char *tok, size_t len, uint32_t *idx, int *added) {
    uint32_t h = hash_bytes(tok, len);
    uint64_t slot;
    int64_t found = lookup(m, tok, len, h, &slot);
    if (found >= 0) {
        *idx = (uint32_t)found;
        if (added) *added = 0;
        return 0;
    }
    if (m->n >= (int64_t)UINT32_MAX - 1) return -1;
    if ((uint64_t)(m->n + 1) * 2 > m->cap) {
        if (grow_table(m)) return -1;
        lookup(m, tok, len, h, &slot);
    }
    if (m->n == m->offsets_cap) {
        int64_t c = m->offsets_cap * 2;
        uint64_t *o = realloc(m->offsets, (size_t)c * sizeof *o);
        if (!o) return -1;
        m->offsets = o;
        m->offsets_cap = c;
    }
    if (m->arena_len + len + 1 > m->arena_cap) {
        uint64_t c = m->arena_cap * 2;
        while (m->arena_len + len + 1 > c) c *= 2;
        char *a = realloc(m->arena, c);
        if (!a) return -1;
        m->arena = a;
        m->arena_cap = c;
    }
    memcpy(m->arena + m->arena_len, tok, len);
    m->arena[m->arena_len + len] = '\0';
    m->offsets[m->n] = m->arena_len;
    m->arena_len += len + 1;
    m->slots[slot] = (uint32_t)(m->n + 1);
    m->hashes[slot] = h;
    *idx = (uint32_t)m->n;
    m->n++;
    if (added) *added = 1;
    return 0;
}

/* The batch form: all hashes first, then the inserts in order with the slot of the
 * token PF places ahead prefetched, so that the table's cache misses (a map of millions
 * of IDs is tens of MB of table: every first probe misses) overlap instead of queueing
 * one after the other. Same results as cf_idmap_intern on each token in turn. */
#define PF 16
int cf_idmap_intern_many(cf_idmap *m, size_t count, const char *const *tok, const size_t *len, uint32_t *idx,
                         int *added) {
    uint64_t bytes = 0;
    for (size_t k = 0; k < count; k++) bytes += len[k] + 1;
    if (m->n + (int64_t)count >= (int64_t)UINT32_MAX - 1 || cf_idmap_reserve(m, m->n + (int64_t)count, bytes))
        return -1;
    uint32_t h[256];
    for (size_t b0 = 0; b0 < count; b0 += 256) {
        size_t nb = count - b0 < 256 ? count - b0 : 256;
        for (size_t k = 0; k < nb; k++) h[k] = hash_bytes(tok[b0 + k], len[b0 + k]);
        const uint64_t mask = m->cap - 1; /* reserved: no growth below */
        for (size_t k = 0; k < nb && k < PF; k++) __builtin_prefetch(&m->slots[h[k] & mask]);
        for (size_t k = 0; k < nb; k++) {
            if (k + PF < nb) {
                __builtin_prefetch(&m->slots[h[k + PF] & mask]);
                __builtin_prefetch(&m->hashes[h[k + PF] & mask]);
            }
            const size_t j = b0 + k;
            uint64_t slot;
            int64_t found = lookup(m, tok[j], len[j], h[k], &slot);
            added[j] = found < 0;
            if (found >= 0) {
                idx[j] = (uint32_t)found;
                continue;
            }
            memcpy(m->arena + m->arena_len, tok[j], len[j]);
            m->arena[m->arena_len + len[j]] = '\0';
            m->offsets[m->n] = m->arena_len;
            m->arena_len += len[j] + 1;
            m->slots[slot] = (uint32_t)(m->n + 1);
            m->hashes[slot] = h[k];
            idx[j] = (uint32_t)m->n++;
        }
    }
    return 0;
}

int64_t cf_idmap_find(const cf_idmap *m, const char *tok, size_t len) {
    uint64_t slot;
    return lookup(m, tok, len, hash_bytes(tok, len), &slot);
}

const char *cf_idmap_name(const cf_idmap *m, uint32_t idx, size_t *len) {
    if ((int64_t)idx >= m->n) return NULL;
    const char *t = m->arena + m->offsets[idx];
    if (len) *len = strlen(t);
    return t;
}

int cf_idmap_truncate(cf_idmap *m, int64_t n) {
    if (n < 0 || n > m->n) return -1;
    if (n == m->n) return 0;
    /* the arena and offsets keep their prefix; the table is rebuilt from the kept tokens
     * (linear probing has no cheap removal) */
    m->arena_len = m->offsets[n];
    m->n = n;
    memset(m->slots, 0, m->cap * sizeof *m->slots);
    for (int64_t idx = 0; idx < n; idx++) {
        const char *t = m->arena + m->offsets[idx];
        const uint32_t h = hash_bytes(t, strlen(t));
        uint64_t s = h & (m->cap - 1);
        while (m->slots[s]) s = (s + 1) & (m->cap - 1);
        m->slots[s] = (uint32_t)(idx + 1);
        m->hashes[s] = h;
    }
    return 0;
}

int64_t *cf_idmap_translate(const cf_idmap *from, const cf_idmap *to_map, cf_error *err, const char *what) {
    const int64_t n = cf_idmap_size(from);
    int64_t *to = cf_malloc((size_t)(n > 0 ? n : 1) * sizeof *to, err, what);
    if (!to) return NULL;
    for (int64_t k = 0; k < n; k++) {
        size_t len;
        const char *name = cf_idmap_name(from, (uint32_t)k, &len);
        to[k] = cf_idmap_find(to_map, name, len);
    }
    return to;
}
