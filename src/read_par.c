/*
 * read_par.c — parallel reading: the body of a file (what follows the head the driver,
 * read.c, parses serially) in chunks on several threads, merged into the result of the
 * serial reader. The parse loops are the formats' own (read_text.c, read_mm.c); a reader
 * whose ck is set writes into its chunk (chunk_push in read_impl.h; cf_read_bad_line and
 * cf_read_nomem in read.c), and this file cuts, runs and merges the chunks.
 *
 * After the serial head (delimited: the lines up to the first data line, which fixes
 * the delimiter and the header; Matrix Market: banner and size line) the body is cut
 * into chunks at line starts, four per thread (taken in turn), and each chunk is
 * parsed by the same cf_read_parse_delim / cf_read_parse_mm into its own ID maps and
 * ratings (chunk-local indices), counting its lines and noting its first bad line
 * (local line number, reason, text).
 * Each chunk's IDs are interned into the dataset's maps in the chunk's first-seen order,
 * chunk after chunk, which is exactly the serial reader's order (first occurrence in the
 * file); this merge runs while later chunks are parsed (merge_ready), and stops after the
 * first chunk with an error. That chunk gives the error (its line = the lines of the head
 * and of the chunks before it + its local line: the first bad line of the file, with the
 * same text as the serial reader's). The first chunk interns straight into the dataset's
 * maps and appends to it (it continues the head); every other chunk stores its ratings in
 * place, in slots of ds->all sized by its line count, and they are turned into global
 * indices in place (in parallel) and moved together over the gaps left by lines without a
 * rating. Hence the ratings, ID order, report and messages do not depend on the number of
 * threads or on where the cuts fall. The one check that needs a global count, Matrix
 * Market's "more entries than NNZ", is made after the parse: when it would fire, the body
 * is read again serially (an error path).
 *
 * Progress: each chunk publishes the bytes it has parsed (every CHUNK_PUBLISH bytes, only
 * when there is a callback) into an atomic sum; the calling thread (omp thread 0) calls
 * the callback with that sum, so the callback runs on the caller's thread with done
 * non-decreasing, and it keeps doing so, polling, once its own chunks are parsed. A
 * cancel is seen by every chunk at its next publication.
 */
#include "read_impl.h"

#include <omp.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

size_t cf_read_chunk_min = (size_t)1 << 20;
_Thread_local int cf_read_last_chunks;

#define CHUNK_PUBLISH ((int64_t)1 << 18)
#define CHUNKS_PER_THREAD 4

typedef struct par {
    cf_progress *pg;         /* the read's phase "reading" (called by the calling thread only) */
    _Atomic int64_t done;    /* bytes parsed: the head and what the chunks published */
    _Atomic int cancel;
    _Atomic int finished;    /* chunks done */
} par;

/* The calling thread's progress call with the bytes parsed so far; non-zero: cancelled. */
static int master_progress(par *P) {
    int64_t d = atomic_load_explicit(&P->done, memory_order_relaxed);
    if (d < P->pg->total && cf_progress_at(P->pg, d)) {
        atomic_store(&P->cancel, 1);
        return 1;
    }
    return 0;
}

static void chunk_publish(reader *r, int64_t at) {
    chunk *c = r->ck;
    int64_t in = at - (int64_t)(c->begin - r->base);
    atomic_fetch_add_explicit(&r->par->done, in - c->published, memory_order_relaxed);
    c->published = in;
}

cf_status cf_read_chunk_progress(reader *r, int64_t at) {
    chunk_publish(r, at);
    r->pg.next = at + CHUNK_PUBLISH;
    if (atomic_load(&r->par->cancel) || (r->master && master_progress(r->par))) {
        r->ck->st = CF_ERR_INTERRUPTED;
        return CF_ERR_INTERRUPTED;
    }
    return CF_OK;
}

/* Parses chunk c like the serial reader would from its first line, into c's own maps. */
static void run_chunk(const reader *proto, chunk *c, par *P, int master, int mm, enum delim d, const mm_state *m0) {
    reader r;
    memset(&r, 0, sizeof r);
    r.path = proto->path, r.opt = proto->opt, r.rep = proto->rep, r.ds = proto->ds, r.part = proto->part;
    r.base = proto->base;
    r.ck = c, r.par = P, r.master = master;
    r.users = c->direct ? proto->users : c->users, r.items = c->direct ? proto->items : c->items;
    r.useq = c->direct ? NULL : &c->useq, r.iseq = c->direct ? NULL : &c->iseq;
    r.pg.next = proto->pg.fn ? (int64_t)(c->begin - r.base) + CHUNK_PUBLISH : INT64_MAX;
    cf_status st;
    if (mm) {
        c->mm = *m0;
        c->mm.nnz = UINT64_MAX;
        c->mm.entries = 0;
        st = cf_read_parse_mm(&r, c->begin, c->end, &c->mm, 0, NULL);
    } else {
        int have = 1;
        st = cf_read_parse_delim(&r, c->begin, c->end, &have, &d, 0, NULL);
    }
    if (st && !c->st) c->st = st;
    c->lines = r.line;
    free(r.ucache.slot);
    free(r.icache.slot);
    if (!c->st && proto->pg.fn) chunk_publish(&r, (int64_t)(c->end - r.base));
}

/* The '\n' bytes of [p, end): 16 bytes a step with SSE2 (byte counters summed every 255
 * steps), a memchr a line otherwise. Lines are ≈ 15–25 bytes, so a call per line cost
 * ≈ 1.5 GB/s, a seventh of a 2-thread read's work. */
static int64_t count_newlines(const char *p, const char *end) {
    int64_t c = 0;
#if defined(__SSE2__)
    const __m128i nl = _mm_set1_epi8('\n');
    while (end - p >= 16) {
        __m128i acc = _mm_setzero_si128();
        int steps = (int)((end - p) / 16 < 255 ? (end - p) / 16 : 255);
        for (int k = 0; k < steps; k++, p += 16)
            acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)p), nl));
        const __m128i sums = _mm_sad_epu8(acc, _mm_setzero_si128());
        c += _mm_cvtsi128_si64(sums) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(sums, sums));
    }
#endif
    for (const char *q = p; q < end; q++) {
        q = memchr(q, '\n', (size_t)(end - q));
        if (!q) break;
        c++;
    }
    return c;
}

static int read_threads(const cf_read_options *opt) {
    int t = opt->threads > 0 ? opt->threads : omp_get_num_procs();
    return t < 1 ? 1 : t;
}

/* The merge of the chunks' IDs into the dataset's maps, chunk after chunk in file order,
 * run while later chunks are still being parsed: whichever thread finishes parsing a
 * chunk takes the merge over (busy) and merges every chunk from `merged` on that is
 * parsed, so the serial merge overlaps the parallel parse instead of following it (on 2
 * threads it was ≈ a tenth of a read's wall time, and its share grows with the threads:
 * every chunk brings its own copy of the item IDs). It stops after the first chunk that
 * failed: the maps then hold the IDs seen before its bad line, as the serial reader's do.
 * ut[k], it[k] (k ≥ 1): chunk k's local → global indices, for the remap once all are
 * merged. */
typedef struct merge_pipe {
    _Atomic unsigned char *parsed; /* n flags, each set by its chunk's parser */
    _Atomic int busy;              /* a thread is merging */
    _Atomic int merged;            /* chunks 0..merged−1 are merged */
    _Atomic int stop;              /* a chunk failed (merged) or memory ran out: no more */
    int nomem;
    uint32_t **ut, **it;
    num_cache gu, gi; /* the dataset's maps' decimal IDs: value → index + 1 (complete once
                       * ready: filled from the maps after the first chunk, then by merges) */
    int ready;
} merge_pipe;

/* The decimal IDs of map m into g (value → index + 1). 0 ok, -1 out of memory. */
static int decimal_ids(const cf_idmap *m, num_cache *g) {
    for (int64_t k = 0; k < cf_idmap_size(m); k++) {
        size_t len;
        const char *name = cf_idmap_name(m, (uint32_t)k, &len);
        const int64_t v = canonical_decimal(name, len);
        if (v < 0) continue;
        int64_t cap = (int64_t)g->cap;
        if (grow_u32(&g->slot, &cap, v)) return -1;
        g->cap = (size_t)cap;
        g->slot[v] = (uint32_t)k + 1;
    }
    return 0;
}

/* A chunk's IDs of one kind (q, with its map cm) into the dataset's map `into` in the
 * chunk's first-seen order: table[j] = the index of entry j. A decimal ID is looked up in
 * g (no hashing; the usual case: every chunk of a shuffled file repeats most users) and
 * interned only when new. 0 ok, -1 out of memory. */
static int merge_seq(cf_idmap *into, num_cache *g, const cf_idmap *cm, const id_seq *q, uint32_t *table) {
    for (int64_t j = 0; j < q->n; j++) {
        const uint32_t e = q->e[j];
        uint32_t idx;
        if (e & ID_NUM) {
            const uint32_t v = e & ~ID_NUM;
            if (v < g->cap && g->slot[v]) {
                table[j] = g->slot[v] - 1;
                continue;
            }
            char buf[24];
            const char *t = decimal_text(v, buf);
            int64_t cap = (int64_t)g->cap;
            if (cf_idmap_intern(into, t, (size_t)(buf + 24 - t), &idx, NULL) || grow_u32(&g->slot, &cap, v)) return -1;
            g->cap = (size_t)cap;
            g->slot[v] = idx + 1;
        } else {
            size_t len;
            const char *name = cf_idmap_name(cm, e, &len);
            if (cf_idmap_intern(into, name, len, &idx, NULL)) return -1;
        }
        table[j] = idx;
    }
    return 0;
}

/* The chunks (their maps and ID lists) and the merge's tables. */
static void free_chunks(chunk *ck, int n, merge_pipe *M) {
    for (int k = 0; k < n; k++) {
        cf_idmap_destroy(&ck[k].users);
        cf_idmap_destroy(&ck[k].items);
        free(ck[k].useq.e), free(ck[k].useq.pos), free(ck[k].iseq.e), free(ck[k].iseq.pos);
    }
    free(ck);
    for (int k = 0; k < n && M->ut && M->it; k++) free(M->ut[k]), free(M->it[k]);
    free(M->ut), free(M->it), free((void *)M->parsed);
    free(M->gu.slot), free(M->gi.slot);
}

static void merge_ready(reader *r, chunk *ck, int n, merge_pipe *M) {
    for (;;) {
        if (atomic_exchange(&M->busy, 1)) return; /* another thread merges */
        int k;
        while (!atomic_load_explicit(&M->stop, memory_order_relaxed) &&
               (k = atomic_load_explicit(&M->merged, memory_order_relaxed)) < n &&
               atomic_load(&M->parsed[k])) {
            if (!ck[k].direct) {
                M->ut[k] = malloc(((size_t)ck[k].useq.n + 1) * sizeof **M->ut);
                M->it[k] = malloc(((size_t)ck[k].iseq.n + 1) * sizeof **M->it);
                if (!M->ready) /* the first chunk (direct) is parsed: the maps' decimal IDs so far */
                    M->ready = !decimal_ids(r->users, &M->gu) && !decimal_ids(r->items, &M->gi);
                if (!M->ut[k] || !M->it[k] || !M->ready ||
                    merge_seq(r->users, &M->gu, ck[k].users, &ck[k].useq, M->ut[k]) ||
                    merge_seq(r->items, &M->gi, ck[k].items, &ck[k].iseq, M->it[k])) {
                    M->nomem = 1;
                    atomic_store_explicit(&M->stop, 1, memory_order_relaxed);
                    break;
                }
            }
            if (ck[k].st) atomic_store_explicit(&M->stop, 1, memory_order_relaxed);
            atomic_store_explicit(&M->merged, k + 1, memory_order_relaxed);
        }
        atomic_store(&M->busy, 0);
        /* A chunk marked parsed after the check above, whose thread found the merge busy.
         * Sequentially consistent: either that thread's exchange comes after the store of
         * 0 above (and it merges), or its flag comes before, and this load sees it. */
        k = atomic_load_explicit(&M->merged, memory_order_relaxed);
        if (atomic_load_explicit(&M->stop, memory_order_relaxed) || k >= n || !atomic_load(&M->parsed[k])) return;
    }
}

/* The body [p, end) after the head: in chunks when it is large enough and there are
 * threads, else serially (exactly the serial reader). */
cf_status cf_read_parse_body(reader *r, const char *p, const char *end, int mm, int have_delim, enum delim d,
                             mm_state *m) {
    size_t len = (size_t)(end - p), minc = cf_read_chunk_min ? cf_read_chunk_min : 1;
    /* CHUNKS_PER_THREAD chunks a thread, taken in turn: on a machine shared with other
     * jobs a thread that gets less CPU parses fewer of them */
    int team = read_threads(r->opt), n = team * CHUNKS_PER_THREAD;
    if ((size_t)n > len / minc) n = (int)(len / minc);
    if (team > n) team = n;
    cf_read_last_chunks = team < 2 || (!mm && !have_delim) ? 1 : n;
    if (team < 2 || (!mm && !have_delim))
        return mm ? cf_read_parse_mm(r, p, end, m, 0, NULL)
                  : cf_read_parse_delim(r, p, end, &have_delim, &d, 0, NULL);
    chunk *ck = calloc((size_t)n, sizeof *ck);
    if (!ck) return cf_read_nomem(r);
    cf_status st = CF_OK;
    const char *at = p;
    for (int k = 0; k < n; k++) {
        ck[k].begin = at;
        const char *q = p + len / (size_t)n * (size_t)(k + 1);
        if (k == n - 1 || q < at) q = k == n - 1 ? end : at;
        const char *nl = q < end ? memchr(q, '\n', (size_t)(end - q)) : NULL;
        at = k == n - 1 ? end : nl ? nl + 1 : end;
        ck[k].end = at;
        if (k == 0) {
            ck[k].direct = 1;
            continue;
        }
        ck[k].users = cf_idmap_create();
        ck[k].items = cf_idmap_create();
        if (!ck[k].users || !ck[k].items) st = CF_ERR_NOMEM;
    }
    const int64_t n0 = r->ds->all.n; /* the ratings before the body (the first chunk's follow) */
    /* the maps before the body: Matrix Market's "more entries than NNZ" re-reads the body
     * serially from them (the first chunk interns straight into them; fuzz_mm found that) */
    const int64_t users0 = cf_idmap_size(r->users), items0 = cf_idmap_size(r->items);
    par P = {.pg = &r->pg};
    atomic_init(&P.done, (int64_t)(p - r->base));
    atomic_init(&P.cancel, 0);
    atomic_init(&P.finished, 0);
    _Atomic int next_chunk;
    atomic_init(&next_chunk, 0);
    merge_pipe M = {.parsed = calloc((size_t)n, sizeof *M.parsed), .ut = calloc((size_t)n, sizeof *M.ut),
                    .it = calloc((size_t)n, sizeof *M.it)};
    atomic_init(&M.busy, 0), atomic_init(&M.merged, 0), atomic_init(&M.stop, 0);
    if (!M.parsed || !M.ut || !M.it) st = CF_ERR_NOMEM;
    /* Each chunk's slots in ds->all: as many as its lines (a line holds at most one
     * rating), so chunks store their ratings in place and only gaps need moving. */
    if (!st) {
#pragma omp parallel for num_threads(team) schedule(dynamic, 1)
        for (int k = 0; k < n; k++)
            ck[k].cap = count_newlines(ck[k].begin, ck[k].end) + (ck[k].end > ck[k].begin && ck[k].end[-1] != '\n');
        int64_t at_slot = n0;
        for (int k = 0; k < n; k++) ck[k].base = at_slot, at_slot += ck[k].cap;
        if (cf_dataset_reserve(r->ds, at_slot)) st = CF_ERR_NOMEM;
    }
    if (!st) {
#pragma omp parallel num_threads(team)
        {
            int me = omp_get_thread_num();
            for (int k; (k = atomic_fetch_add(&next_chunk, 1)) < n;) {
                run_chunk(r, &ck[k], &P, me == 0, mm, d, m);
                atomic_store(&M.parsed[k], 1);
                merge_ready(r, ck, n, &M);
                atomic_fetch_add(&P.finished, 1);
            }
            if (me == 0 && r->pg.fn) {
                while (atomic_load(&P.finished) < n && !atomic_load(&P.cancel)) {
                    struct timespec ts = {0, 1000000};
                    nanosleep(&ts, NULL);
                    master_progress(&P);
                }
            }
        }
    }
    if (!st) merge_ready(r, ck, n, &M); /* what the last parser's check may have left */
    int bad = -1, fallback = 0;
    int64_t line0 = r->line, lines = 0;
    if (st) {
        st = cf_read_nomem(r);
        goto out;
    }
    if (atomic_load(&P.cancel)) {
        st = cf_read_cancelled(r, r->pg.last);
        goto out;
    }
    for (int k = 0; k < n && bad < 0; k++)
        if (ck[k].st) bad = k;
    if (mm) { /* "more entries than NNZ" comes first when the entries up to the bad line pass NNZ */
        uint64_t e = m->entries;
        for (int k = 0; k <= (bad < 0 ? n - 1 : bad); k++) e += ck[k].mm.entries;
        if (e > m->nnz) fallback = 1;
    }
    if (fallback) {
        free_chunks(ck, n, &M);
        r->ds->all.n = n0;
        cf_idmap_truncate(r->users, users0), cf_idmap_truncate(r->items, items0);
        return cf_read_parse_mm(r, p, end, m, 0, NULL); /* the serial reader gives the error in order */
    }
    if (bad >= 0) { /* the first bad line of the file; the maps got the IDs seen before it (merge_ready) */
        for (int k = 0; k < bad; k++) lines += ck[k].lines;
        r->line = line0 + lines + ck[bad].err_line;
        if (ck[bad].st == CF_ERR_PARSE)
            st = cf_fail(r->err, CF_ERR_PARSE, "%s:%lld: %s", r->path, (long long)r->line, ck[bad].err_text);
        else
            st = cf_read_nomem(r);
        goto out;
    }
    for (int k = 0; k < n; k++) {
        lines += ck[k].lines;
        if (ck[k].skipped && r->rep->skipped == 0)
            cf_read_set_first_bad(r->rep, r->path, line0 + lines - ck[k].lines + ck[k].first_bad_line,
                                  ck[k].first_bad_reason);
        r->rep->skipped += ck[k].skipped;
        if (mm) m->entries += ck[k].mm.entries;
    }
    r->line = line0 + lines;
    {
        cf_dataset *ds = r->ds;
        int64_t from = ds->all.n; /* after the first chunk's ratings */
        uint32_t **ut = M.ut, **it = M.it;
        const int fail = M.nomem || atomic_load(&M.merged) < n;
        if (!fail) { /* local → global indices in place, then the chunks moved together */
            const uint8_t part = (uint8_t)(r->part != 0);
#pragma omp parallel for num_threads(team) schedule(dynamic, 1)
            for (int k = 1; k < n; k++) {
                const uint32_t *um = ut[k], *im = it[k];
                uint32_t *u = ds->all.u + ck[k].base, *i = ds->all.i + ck[k].base;
                for (int64_t j = 0; j < ck[k].n; j++) u[j] = um[u[j]], i[j] = im[i[j]];
                memset(ds->is_test + ck[k].base, part, (size_t)ck[k].n);
            }
            int64_t o = from;
            for (int k = 1; k < n; k++) {
                if (o != ck[k].base && ck[k].n) {
                    memmove(ds->all.u + o, ds->all.u + ck[k].base, (size_t)ck[k].n * sizeof *ds->all.u);
                    memmove(ds->all.i + o, ds->all.i + ck[k].base, (size_t)ck[k].n * sizeof *ds->all.i);
                    memmove(ds->all.r + o, ds->all.r + ck[k].base, (size_t)ck[k].n * sizeof *ds->all.r);
                    memmove(ds->is_test + o, ds->is_test + ck[k].base, (size_t)ck[k].n);
                    if (ds->timed) memmove(ds->all.t + o, ds->all.t + ck[k].base, (size_t)ck[k].n * sizeof *ds->all.t);
                }
                o += ck[k].n;
            }
            ds->all.n = o;
        }
        if (fail) st = cf_fail(r->err, CF_ERR_NOMEM, "%s: out of memory storing the ratings", r->path);
    }
out:
    free_chunks(ck, n, &M);
    return st;
}
