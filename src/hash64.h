/*
 * hash64.h — the streaming 64-bit checksum of cufactor's binary files, "FNV-1a-64 by
 * words" (the .cfm format of model_io.c documents the same function): h starts at
 * 0xcbf29ce484222325; the bytes are taken as consecutive little-endian u64 words w,
 * each folded in by  h ^= w; h *= 0x100000001b3; h ^= h >> 32;  the last (length mod 8)
 * bytes are folded in one at a time the same way, and finally the total byte count.
 * Every step is a bijection of h, so a change confined to one word is always detected.
 * Not cryptographic: it guards against truncation and corruption, not against forgery.
 */
#ifndef CF_HASH64_H
#define CF_HASH64_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct cf_hash64 {
    uint64_t h, n;
    unsigned char tail[8];
    unsigned ntail;
} cf_hash64;

static inline uint64_t cf_hash64_mix(uint64_t h, uint64_t w) {
    h ^= w;
    h *= 0x100000001b3ULL;
    return h ^ (h >> 32);
}

static inline void cf_hash64_init(cf_hash64 *s) {
    memset(s, 0, sizeof *s);
    s->h = 0xcbf29ce484222325ULL;
}

static inline void cf_hash64_update(cf_hash64 *s, const void *data, size_t len) {
    const unsigned char *p = data;
    s->n += len;
    if (s->ntail) { /* complete a pending partial word first */
        while (s->ntail < 8 && len) s->tail[s->ntail++] = *p++, len--;
        if (s->ntail < 8) return;
        uint64_t w;
        memcpy(&w, s->tail, 8);
        s->h = cf_hash64_mix(s->h, w);
        s->ntail = 0;
    }
    uint64_t h = s->h;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = cf_hash64_mix(h, w);
    }
    s->h = h;
    if (len) memcpy(s->tail, p, len); /* data may be NULL when len is 0 (an absent array) */
    s->ntail = (unsigned)len;
}

static inline uint64_t cf_hash64_final(const cf_hash64 *s) {
    uint64_t h = s->h;
    for (unsigned k = 0; k < s->ntail; k++) h = cf_hash64_mix(h, s->tail[k]);
    return cf_hash64_mix(h, s->n);
}

#endif
