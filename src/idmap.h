/*
 * idmap.h — external ID token <-> dense index (0..n-1), an open-addressing hash map
 * with the tokens kept in one arena, in insertion order.
 */
#ifndef CF_IDMAP_H
#define CF_IDMAP_H

#include "cufactor.h"

#include <stddef.h>
#include <stdint.h>

typedef struct cf_idmap cf_idmap;

cf_idmap *cf_idmap_create(void);             /* NULL when out of memory */
void cf_idmap_destroy(cf_idmap **m);
cf_idmap *cf_idmap_clone(const cf_idmap *m); /* NULL when out of memory */

int64_t cf_idmap_size(const cf_idmap *m);

/* Index of the token, adding it if new. Returns 0, or -1 when out of memory.
 * *added (may be NULL) tells whether it was new. Tokens are byte strings of length len
 * (not NUL-terminated); len must be < 2^16. */
int cf_idmap_intern(cf_idmap *m, const char *tok, size_t len, uint32_t *idx, int *added);

/* cf_idmap_intern on tok[k] (len[k] bytes) for k = 0..count-1 in turn, the same
 * results (idx[k], added[k]), faster on large maps (the table's misses overlap). 0, or
 * -1 when out of memory (the map then holds a prefix of the tokens). */
int cf_idmap_intern_many(cf_idmap *m, size_t count, const char *const *tok, const size_t *len, uint32_t *idx,
                         int *added);

/* Room for n tokens in all holding `bytes` bytes (their lengths + 1 each) without
 * growing. 0 ok, -1 out of memory. */
int cf_idmap_reserve(cf_idmap *m, int64_t n, uint64_t bytes);

/* Index of the token, or -1 when absent. */
int64_t cf_idmap_find(const cf_idmap *m, const char *tok, size_t len);
/* Keeps the first n tokens (indices 0..n-1) and forgets the rest: 0, or -1 when n is not
 * in 0..size. Used to give a failed read back the maps it started from. */
int cf_idmap_truncate(cf_idmap *m, int64_t n);

/* The token of an index (NUL-terminated, owned by the map); *len may be NULL. */
const char *cf_idmap_name(const cf_idmap *m, uint32_t idx, size_t *len);

/* to[k] = the index in `to_map` of `from`'s token k, -1 when absent (from's size entries,
 * the caller frees; NULL when out of memory, `what` naming it in err). */
struct cf_error;
int64_t *cf_idmap_translate(const cf_idmap *from, const cf_idmap *to_map, struct cf_error *err, const char *what);

#endif
