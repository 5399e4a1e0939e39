/*
 * bytecodec.h — the little-endian field codec of cufactor's binary headers (.cfm in
 * model_io.c, .cfc in checkpoint.c): a cursor over a byte buffer, values copied in and
 * out with memcpy at the cursor's offset. The caller sizes the buffer; nothing here checks
 * bounds. Hosts are little-endian (model_io.c refuses to build elsewhere).
 */
#ifndef CF_BYTECODEC_H
#define CF_BYTECODEC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct cf_cursor {
    unsigned char *p;
    size_t at;
} cf_cursor;

static inline void cf_put_bytes(cf_cursor *c, const void *v, size_t n) { memcpy(c->p + c->at, v, n), c->at += n; }
static inline void cf_put_i32(cf_cursor *c, int32_t v) { cf_put_bytes(c, &v, 4); }
static inline void cf_put_u32(cf_cursor *c, uint32_t v) { cf_put_bytes(c, &v, 4); }
static inline void cf_put_i64(cf_cursor *c, int64_t v) { cf_put_bytes(c, &v, 8); }
static inline void cf_put_u64(cf_cursor *c, uint64_t v) { cf_put_bytes(c, &v, 8); }
static inline void cf_put_f64(cf_cursor *c, double v) { cf_put_bytes(c, &v, 8); }

static inline void cf_get_bytes(cf_cursor *c, void *v, size_t n) { memcpy(v, c->p + c->at, n), c->at += n; }
static inline int32_t cf_get_i32(cf_cursor *c) { int32_t v; cf_get_bytes(c, &v, 4); return v; }
static inline uint32_t cf_get_u32(cf_cursor *c) { uint32_t v; cf_get_bytes(c, &v, 4); return v; }
static inline int64_t cf_get_i64(cf_cursor *c) { int64_t v; cf_get_bytes(c, &v, 8); return v; }
static inline uint64_t cf_get_u64(cf_cursor *c) { uint64_t v; cf_get_bytes(c, &v, 8); return v; }
static inline double cf_get_f64(cf_cursor *c) { double v; cf_get_bytes(c, &v, 8); return v; }

#endif
