/*
 * sgd.cu — stochastic gradient descent on the device, one warp per rating
 * (DESIGN.md §2; the CPU reference and the derivation are in src/cpu/sgd.c):
 *
 *     e   = r − (μ + b_u + b_i + p_u·q_i)                  (r − p_u·q_i without biases)
 *     b_u += η (e − λ'b_u b_u)         b_i += η (e − λ'b_i b_i)
 *     p_u += η (e q_i − λ'_u p_u)      q_i += η (e p_u_old − λ'_i q_i)
 *
 * λ' = Λ_row / n_row is the per-rating share of the row's regularization, λ'b = Λb_row /
 * n_row the biases' (their own λ_b and mode, cf_bias_reg_lambda). By default λ'b = λ': the
 * host passes no λ'b arrays (a.lamb_u = NULL), the kernels use λ' and read nothing more
 * per rating, and the update is bit for bit the one before λ_b existed. With arrays, the
 * two λ'b of a rating are read (__ldg, read-only path; n_rows floats a side, L2- and
 * L1-resident) as the biases are updated: kept per row in the ring's slots or beside
 * lu / li they cost 1–5 registers in every instantiation (ptxas, sm_90), which cut the
 * default fp32 K = 100/128 and fp16 K = 128 hogwild kernels a block an SM each.
 *
 * A warp applies one rating at a time (sgd_run_regs). Lane l holds NV chunks of VEC
 * consecutive elements of p_u and q_i, chunk c at element (32c + l)·VEC, loaded and
 * stored with one 4–16-byte access per chunk (float/float2/float4; __half/__half2/uint2/
 * uint4). VEC and NV are the host's choice for K (regs_of): fast paths for K ≤ 32, 64,
 * 100, 128 and 256 (fp32 4 × 2 floats, fp16 8 halves per lane); other K loop over memory
 * (sgd_run_mem). The dot product is a butterfly of shuffles, so every lane holds e.
 * A row (p_u with b_u, q_i with b_i) stays in registers across consecutive ratings that
 * share it and is written back when it changes; the other rows are fetched D = 1, 4 or
 * 8 ratings ahead (the ring: cf_sgd_depth; defaults in kernels.h, blocks 8, hogwild 1),
 * with the same results at every depth. Factor and bias loads bypass L1
 * (__ldcg): L1 is not coherent across SMs, and a row cached there would hide other
 * warps' updates (on a small set, for the whole epoch).
 *
 * Streaming: the ratings are laid out in list order (src/sgd_work.h). A warp loads 32
 * consecutive (u, i, r) with one coalesced load per array (one rating per lane), a batch
 * ahead, and takes each from its lane by shuffle.
 *
 * Cost per update (K factors, element size s = 4 fp32 / 2 fp16, biases on):
 *   FLOPs: 2K (dot) + 8K (two updates: e·q − λp, ·η, + p; the same for q) ≈ 10K
 *          (K = 128: 1,280; the arithmetic intensity is ≈ 1 FLOP/byte: memory-bound).
 *   Bytes between the SM and L2 (the kernel's own accesses): q_i read + written 2Ks
 *          (hogwild's add mode sends the Ks of the write as a reduction, which L2
 *          applies to its copy: the same bytes on the wire, an L2 read-modify-write), b_i 8, λ'_i 4, the rating 12 (u, i, r); p_u 2Ks + 12 once per run of one
 *          user's ratings (hogwild list in user order: Netflix averages 208 ratings per
 *          user, so ≈ 2Ks/min(208, run) per update); blocks (sorted by item inside a
 *          block) pays p_u on every update and q_i once per item run (≈ 5.5 ratings on
 *          the Netflix shape at B = 1024).
 *   Bytes from DRAM: the item side (17,770 × K × s: 4.5 MB fp16, 9 MB fp32 at K = 128)
 *          stays in the 50–60 MB of L2 of an H100/H200; the ratings stream once (12 B);
 *          p_u is read once and written once per user run (≈ (2Ks + 12)/min(208, run)).
 *   Roofline (K = 128, hogwild, runs of 256): ≈ 540 B/update cross L2 in fp16 (item row
 *          524 + rating 12 + user share ≈ 4.6), ≈ 1,055 B in fp32; DRAM carries ≈ 17 B
 *          fp16 / 21 B fp32
 *          (ratings + user rows), so the L2 bandwidth is the ceiling: ≈ 18 G updates/s
 *          fp16 and 9 G/s fp32 at 10 TB/s of L2 (bench_sgd measures the L2 and DRAM
 *          ceilings in the same run and prints the share of each). Latency, not
 *          bandwidth, bounded the previous kernel (ncu: DRAM 12.8 %, L2 hit 83 %): hence
 *          the prefetch, the register reuse of p_u and the wide loads.
 *   Latency (blocks): an epoch is bounded by its longest dependent chain, the busiest
 *          item band's ratings one after the other (Netflix shape, B = 1024: ≈ 0.53 M
 *          updates on the critical path of the 100 M, of which 447 k are the busiest
 *          item's; a per-wave barrier costs only ≈ 4 % over the pipelined longest path,
 *          computed from the real block sizes, so there is no persistent kernel). Along
 *          the chain q_i stays in registers and each p_u is a DRAM read (P is 245 MB in
 *          fp32): with one rating of look-ahead an update costs the read's latency,
 *          ≈ 0.6–0.8 µs (≈ 0.35 s an epoch, ≈ 0.3 G updates/s); with the rows fetched
 *          D = 8 ratings ahead it costs the update's own dependent arithmetic (dot,
 *          5 shuffles, the rule: ≈ 0.1 µs), ≈ 55 ms an epoch, ≈ 1.8 G/s — the aim.
 *
 * Schedules:
 *   hogwild — `warps` warps (host plan: ≤ resident, ≤ min(n_users, n_items) / 8, ≤ runs)
 *     take runs of consecutive ratings in the epoch's random order (kernels.h
 *     cf_sgd_hogwild_order), each the next from a counter as it finishes its last, so a
 *     warp that drew a long run does not hold up the epoch while others idle. Warps
 *     update shared rows without locks: a warp's update is
 *     computed from a row other warps may be updating (the accepted race of Hogwild!,
 *     Niu et al. 2011), which is why this schedule is not reproducible. An item row
 *     (q_i, b_i) is written back either as atomic adds of the warp's update
 *     (a.item_add, the default: red.global.add — v4/v2 f32 or f16x2 on sm_90 — of
 *     q − q_read, lane 0 alone for b_i, whose value the warp takes from lane 0; no other
 *     warp's update is lost) or by a store of the warp's copy (cuMF_SGD's way: the
 *     updates others made since the read are lost, which on skewed data slows learning:
 *     src/gpu/gpu.h CF_SGD_ITEM_DEFAULT). A user row is one warp's within a run; stored. A
 *     heavy user spans many runs, which warps may hold at once (each stores its copy at
 *     the end of its run); with o.user_ptr (whole users) a run instead applies the users
 *     that start in it, each to its end (kernels.h cf_hogwild_whole_users), so a user's
 *     row is one warp's for the epoch; users of more ratings than a sixteenth of a warp's
 *     share go first, each alone (cf_hogwild_item), so that the warps that apply them
 *     finish with the rest (src/sgd_work.h cf_hogwild_heavy_min). compute-sanitizer
 *     racecheck reports nothing for it (it checks shared memory), and memcheck must stay
 *     clean.
 *   blocks — one launch per wave, one warp per block of the wave; blocks of a wave touch
 *     disjoint rows of P and Q, each block's ratings in its fixed order: the sequence of
 *     updates of every row is the CPU reference's, so the result equals it up to
 *     rounding (fp32 here, double there) and is bit-identical run to run.
 *
 * Storage: T = float (the side's F, row stride ld) or __half (row stride K); arithmetic
 * is fp32 either way, fp16 rounding happens at each store (__float2half_rn).
 */
#include "kernels.h"
#include "sgd_row.cuh"
#include "warp.cuh"

#include <cuda_fp16.h>
#include "launch.cuh"
#include <stdint.h>
#include <string.h>

#define SGD_THREADS 128
#define SGD_WARPS (SGD_THREADS / 32)

/* The biases' λ'b of rating (u, i): their own arrays when the host set them, else the
 * factors' λ' (lu, li), read from nothing more. */
__device__ __forceinline__ void bias_lambdas(const cf_sgd_args &a, uint32_t u, uint32_t i, float lu, float li,
                                             float &lbu, float &lbi) {
    lbu = a.lamb_u ? __ldg(a.lamb_u + u) : lu;
    lbi = a.lamb_u ? __ldg(a.lamb_i + i) : li;
}

/* Lane l's rating of the batch at position `at` (l's own position; nothing past end). */
__device__ __forceinline__ void load_ids(const cf_sgd_args &a, int64_t at, int64_t end, int64_t off, int64_t n,
                                         uint32_t &u, uint32_t &i, float &r) {
    u = 0, i = 0, r = 0.0f;
    if (at < end) {
        const int64_t t = cf_hogwild_pos(at, off, n);
        u = a.su[t], i = a.si[t], r = a.sr[t]; /* one coalesced load per array */
    }
}

/* ------------------------------------------------------------------ the prefetch ring
 * Flags of the rating at position y, set for a whole batch of 32 positions at once
 * (batch_flags: D shuffle rounds per 32 ratings, off the update's dependent chain):
 *   SAME_P   y − 1 has the same user: p_u continues in registers (the chain);
 *   STALE_P  the user also appears at one of y − D … y − 2: the copy fetched D ratings
 *            ahead may predate that rating's update, so p_u is read again when y comes
 *            up (after that rating's write-back, by the same lanes: program order);
 * and the same for the item. SAME wins over STALE (the chain holds the newest value).
 * Positions before `begin` belong to another run: never SAME or STALE. */
enum { RF_SAME_P = 1, RF_STALE_P = 2, RF_SAME_Q = 4, RF_STALE_Q = 8 };

/* u, i: lane l's rating at position pos (this batch); pu, pi: lane l's of the batch
 * before (any value when there is none: masked by begin). */
template <int D>
__device__ __forceinline__ uint32_t batch_flags(uint32_t u, uint32_t i, uint32_t pu, uint32_t pi, int64_t pos,
                                                int64_t begin) {
    const int lane = threadIdx.x & 31;
    uint32_t f = 0;
#pragma unroll
    for (int k = 1; k <= D; k++) {
        const int src = (lane - k) & 31; /* position pos − k: this batch's lane, or the last one's */
        const uint32_t uc = __shfl_sync(CF_FULL_MASK, u, src), up = __shfl_sync(CF_FULL_MASK, pu, src);
        const uint32_t ic = __shfl_sync(CF_FULL_MASK, i, src), ip = __shfl_sync(CF_FULL_MASK, pi, src);
        const uint32_t uk = lane >= k ? uc : up, ik = lane >= k ? ic : ip;
        if (pos - k >= begin) {
            if (uk == u) f |= k == 1 ? RF_SAME_P : RF_STALE_P;
            if (ik == i) f |= k == 1 ? RF_SAME_Q : RF_STALE_Q;
        }
    }
    return f;
}

/* One rating of the ring: its ids and flags, and the rows fetched for it ahead of time
 * (p, b_u unless SAME_P or STALE_P; λ'_u unless SAME_P; likewise q, b_i, λ'_i). */
template <typename T, int VEC, int NV> struct slot {
    row<T, VEC, NV> p, q;
    float r, bu, bi, lu, li;
    uint32_t u, i, fl;
};

template <typename T, int VEC, int NV>
__device__ __forceinline__ void slot_fill(slot<T, VEC, NV> &s, const cf_sgd_args &a, uint32_t u, uint32_t i, float r,
                                          uint32_t fl) {
    const size_t ld = (size_t)a.ld;
    s.u = u, s.i = i, s.r = r, s.fl = fl;
    if (!(fl & RF_SAME_Q)) {
        s.li = __ldg(a.lam_i + i);
        if (!(fl & RF_STALE_Q)) {
            s.q.load((const T *)a.Q + i * ld, a.k);
            s.bi = a.use_bias ? __ldcg(a.bi + i) : 0.0f;
        }
    }
    if (!(fl & RF_SAME_P)) {
        s.lu = __ldg(a.lam_u + u);
        if (!(fl & RF_STALE_P)) {
            s.p.load((const T *)a.P + u * ld, a.k);
            s.bu = a.use_bias ? __ldcg(a.bu + u) : 0.0f;
        }
    }
}

/* One side's row of the rating that comes up (row, bias, λ'), from its slot: kept when
 * SAME (the chain in registers), read again when STALE, else the slot's prefetched copy. */
template <typename T, int VEC, int NV>
__device__ __forceinline__ void take_row(row<T, VEC, NV> &cur, float &b, float &l, const row<T, VEC, NV> &pre,
                                         float pre_b, float pre_l, uint32_t same, uint32_t stale, const T *F,
                                         const float *B, uint32_t r, size_t ld, int bias, int K) {
    if (same) return;
    l = pre_l;
    if (stale) {
        cur.load(F + r * ld, K);
        b = bias ? __ldcg(B + r) : 0.0f;
    } else {
        cur = pre, b = pre_b;
    }
}

/* The positions [begin, end) of the list, in order, by one warp, from registers
 * (K ≤ 32·VEC·NV). Per rating: e = r − r̂, then the rule at the top of the file.
 *   - The ids stream in 32 at a time, one coalesced load per array (a rating per lane),
 *     the next batch loaded a whole batch before it is needed.
 *   - A ring of D slots: when rating x comes up, its slot's rows become the current
 *     ones and the slot is refilled with rating x + D, so each row is requested D
 *     updates before it is used and D loads are in flight behind the update chain. The
 *     `blocks` chain of a hot item is a run of one item over distinct users: q_i stays
 *     in registers and every p_u is a DRAM read, whose latency (≈ 0.6–0.8 µs) one rating
 *     of look-ahead cannot cover (an update is ≈ 0.1 µs of dependent arithmetic and
 *     shuffles); D = 8 can. Hogwild's user runs keep p_u and read each q_i from L2.
 *   - p_u (b_u) stay in registers while consecutive ratings have the same user (the
 *     hogwild list is in user order), q_i (b_i) while they have the same item (a
 *     `blocks` block is sorted by item), and are written back when the next rating has
 *     another one: the same values a store and a reload would give (fp16: rounded as
 *     stored), with no memory round trip between consecutive updates of one row.
 *   - A row that an earlier rating in the look-ahead window updates is read again at its
 *     turn (STALE): the warp applies its own updates in list order whatever D is, so
 *     results do not depend on D (blocks: bit for bit, as the tests check).
 * Every branch on u, i or the position is warp-uniform (values from shuffles). */
template <typename T, int VEC, int NV, int D, bool ADD>
__device__ __forceinline__ void sgd_run_regs(const cf_sgd_args &a, int64_t begin, int64_t end, int64_t off,
                                             int64_t n) {
    if (begin >= end) return;
    const int lane = threadIdx.x & 31;
    const int K = a.k;
    const size_t ld = (size_t)a.ld;
    T *const P = (T *)a.P, *const Q = (T *)a.Q;
    const float eta = a.lr;
    const int bias = a.use_bias;

    /* ids of positions base + lane (c*) and base + 32 + lane (n*); n's flags when needed */
    int64_t base = begin;
    uint32_t cu, ci, nu, ni;
    float cr, nr;
    load_ids(a, base + lane, end, off, n, cu, ci, cr);
    load_ids(a, base + 32 + lane, end, off, n, nu, ni, nr);
    uint32_t cf = batch_flags<D>(cu, ci, cu, ci, base + lane, begin), nf = 0;
    bool n_flagged = false;

    slot<T, VEC, NV> sl[D]{}; /* (zeros: read only after a fill, which the compiler cannot see) */
#pragma unroll
    for (int s = 0; s < D; s++)
        if (begin + s < end)
            slot_fill(sl[s], a, __shfl_sync(CF_FULL_MASK, cu, s), __shfl_sync(CF_FULL_MASK, ci, s),
                      __shfl_sync(CF_FULL_MASK, cr, s), __shfl_sync(CF_FULL_MASK, cf, s));

    row<T, VEC, NV> p{}, q{};
    float bu = 0.0f, bi = 0.0f, lu = 0.0f, li = 0.0f;
    for (int64_t x0 = begin; x0 < end; x0 += D) {
#pragma unroll
        for (int s = 0; s < D; s++) {
            const int64_t x = x0 + s;
            if (x < end) {
                if (x - base == 32) { /* the next batch becomes the current one */
                    base += 32;
                    cu = nu, ci = ni, cr = nr, cf = nf, n_flagged = false;
                    load_ids(a, base + 32 + lane, end, off, n, nu, ni, nr);
                }
                /* rating x: its slot's rows become the current ones (x = begin has no SAME) */
                const uint32_t u = sl[s].u, i = sl[s].i, fl = sl[s].fl;
                const float r = sl[s].r;
                take_row(q, bi, li, sl[s].q, sl[s].bi, sl[s].li, fl & RF_SAME_Q, fl & RF_STALE_Q, Q, a.bi, i, ld,
                         bias, K);
                /* the biases as lane 0 read them: each lane loaded its own copy, and another warp's
                 * store may land between two lanes' loads (hogwild), which would give the lanes
                 * different e; with ADD lane 0 also adds b_i's change */
                if (!(fl & RF_SAME_Q)) bi = __shfl_sync(CF_FULL_MASK, bi, 0);
                take_row(p, bu, lu, sl[s].p, sl[s].bu, sl[s].lu, fl & RF_SAME_P, fl & RF_STALE_P, P, a.bu, u, ld,
                         bias, K);
                if (!(fl & RF_SAME_P)) bu = __shfl_sync(CF_FULL_MASK, bu, 0);
                /* the slot takes rating x + D */
                const int64_t y = x + D;
                if (y < end) {
                    const int j = (int)(y - base); /* < 32 + D ≤ 64 */
                    if (j >= 32 && !n_flagged) {
                        nf = batch_flags<D>(nu, ni, cu, ci, base + 32 + lane, begin);
                        n_flagged = true;
                    }
                    const bool nx = j >= 32;
                    const int src = j & 31;
                    slot_fill(sl[s], a, __shfl_sync(CF_FULL_MASK, nx ? nu : cu, src),
                              __shfl_sync(CF_FULL_MASK, nx ? ni : ci, src),
                              __shfl_sync(CF_FULL_MASK, nx ? nr : cr, src),
                              __shfl_sync(CF_FULL_MASK, nx ? nf : cf, src));
                }
                /* the update of (u, i, r) */
                float dot = 0.0f;
#pragma unroll
                for (int v = 0; v < VEC * NV; v++) dot = fmaf(p.f[v], q.f[v], dot);
                dot = cf_warp_sum(dot);
                /* r̂ summed as the CPU does: ((μ + b_u) + b_i) + p·q */
                const float e = r - cf_dev_predict(a.mu, bu, bi, dot, bias);
#pragma unroll
                for (int c = 0; c < NV; c++) {
                    float dq[VEC]; /* add mode: this rating's change of the lane's chunk of q_i */
#pragma unroll
                    for (int v = 0; v < VEC; v++) {
                        const int x = c * VEC + v;
                        const float pk = p.f[x], qk = q.f[x];
                        p.f[x] = stored<T>(pk + eta * (e * qk - lu * pk));
                        q.f[x] = stored<T>(qk + eta * (e * pk - li * qk));
                        dq[v] = q.f[x] - qk; /* exact where the two are within a factor 2 */
                    }
                    if (ADD) add_chunk<T, VEC>(Q + i * ld, (32 * c + lane) * VEC, K, ld, dq);
                }
                if (bias) {
                    float lbu, lbi;
                    bias_lambdas(a, u, i, lu, li, lbu, lbi);
                    const float step_i = eta * (e - lbi * bi);
                    bu = bu + eta * (e - lbu * bu), bi = bi + step_i;
                    if (ADD && lane == 0) atomicAdd(a.bi + i, step_i);
                }
                /* Store mode: a row is written back when rating x + 1 (in the next slot) has
                 * another one (every lane stores the biases: one address, one value, one
                 * transaction; a lane then never reads a bias another lane wrote, which no
                 * warp collective orders). Add mode adds each rating's change of q_i as it
                 * is made (above): no copy of the row read is kept, and a chain of one item
                 * (SAME) goes on from the warp's registers as in store mode. */
                const bool more = x + 1 < end;
                const slot<T, VEC, NV> &sn = sl[(s + 1) % D];
                if (!ADD && (!more || sn.i != i)) {
                    q.store(Q + i * ld, K);
                    if (bias) a.bi[i] = bi;
                }
                if (!more || sn.u != u) {
                    p.store(P + u * ld, K);
                    if (bias) a.bu[u] = bu;
                }
            }
        }
    }
}

/* The same for any K, from memory (lane l takes elements l, l + 32, ...), one rating at a
 * time with no prefetch: the path for K beyond the register instantiations. */
template <typename T, bool ADD>
__device__ __forceinline__ void sgd_run_mem(const cf_sgd_args &a, int64_t begin, int64_t end, int64_t off,
                                            int64_t n) {
    const int lane = threadIdx.x & 31;
    const int K = a.k;
    const float eta = a.lr;
    for (int64_t base = begin; base < end; base += 32) {
        uint32_t my_u = 0, my_i = 0;
        float my_r = 0.0f;
        if (base + lane < end) {
            const int64_t t = cf_hogwild_pos(base + lane, off, n);
            my_u = a.su[t], my_i = a.si[t], my_r = a.sr[t]; /* coalesced */
        }
        const int cnt = end - base < 32 ? (int)(end - base) : 32; /* warp-uniform */
        for (int j = 0; j < cnt; j++) {
            const uint32_t u = __shfl_sync(CF_FULL_MASK, my_u, j);
            const uint32_t i = __shfl_sync(CF_FULL_MASK, my_i, j);
            const float r = __shfl_sync(CF_FULL_MASK, my_r, j);
            T *const p = (T *)a.P + (size_t)u * (size_t)a.ld;
            T *const q = (T *)a.Q + (size_t)i * (size_t)a.ld;
            const float lu = __ldg(a.lam_u + u), li = __ldg(a.lam_i + i);
            /* The biases: lane 0 alone reads and writes them, the others get its values by
             * shuffle. A shuffle orders no memory access, so lanes reading what lane 0 stored
             * for the previous rating (the same user or item is common in both schedules)
             * could see the old value on hardware and compute another e (the simulation
             * switches fibers at a shuffle and cannot show it). */
            float bu = 0.0f, bi = 0.0f;
            if (a.use_bias && lane == 0) bu = __ldcg(a.bu + u), bi = __ldcg(a.bi + i);
            bu = __shfl_sync(CF_FULL_MASK, bu, 0);
            bi = __shfl_sync(CF_FULL_MASK, bi, 0);
            float dot = 0.0f;
            for (int c = lane; c < K; c += 32) dot = fmaf(to_f(__ldcg(p + c)), to_f(__ldcg(q + c)), dot);
            dot = cf_warp_sum(dot);
            const float e = r - cf_dev_predict(a.mu, bu, bi, dot, a.use_bias);
            for (int c0 = 0; c0 < K; c0 += 32) { /* warp-uniform: add_chunk shuffles */
                const int c = c0 + lane;
                float d = 0.0f; /* add mode: this rating's change of q_i[c] */
                if (c < K) {
                    const float pk = to_f(__ldcg(p + c)), qk = to_f(__ldcg(q + c));
                    p[c] = from_f<T>(pk + eta * (e * qk - lu * pk));
                    const T qn = from_f<T>(qk + eta * (e * pk - li * qk));
                    if (ADD) d = to_f(qn) - qk;
                    else q[c] = qn;
                }
                if (ADD) add_chunk<T, 1>(q, c, K, a.ld, &d);
            }
            if (a.use_bias && lane == 0) {
                float lbu, lbi;
                bias_lambdas(a, u, i, lu, li, lbu, lbi);
                const float step_i = eta * (e - lbi * bi);
                a.bu[u] = bu + eta * (e - lbu * bu);
                if (ADD)
                    atomicAdd(a.bi + i, step_i);
                else
                    a.bi[i] = bi + step_i;
            }
        }
    }
}

/* VEC = 0: the memory path (no ring: D unused). */
template <typename T, int VEC, int NV, int D, bool ADD>
__device__ __forceinline__ void sgd_run(const cf_sgd_args &a, int64_t begin, int64_t end, int64_t off, int64_t n) {
    if constexpr (VEC > 0) {
        sgd_run_regs<T, VEC, NV, D, ADD>(a, begin, end, off, n);
    } else {
        sgd_run_mem<T, ADD>(a, begin, end, off, n);
    }
}

/* Each warp takes the epoch's work items from the counter o.next (lane 0's atomic, about
 * a microsecond against the ≥ 30 µs of an item's run of up to 256 ratings) until they run
 * out. Claiming the next item before applying the current one would hide that microsecond
 * but holds the claim across the run: 4 more registers, which cost the fp16 K = 128 store
 * kernel one of its 6 blocks an SM (ptxas -v, sm_90), and so it is not done. */
template <typename T, int VEC, int NV, int D, bool ADD>
__global__ void __launch_bounds__(SGD_THREADS) sgd_hogwild_kernel(const cf_sgd_args a, const cf_sgd_hogwild_order o) {
    const int64_t w = (int64_t)blockIdx.x * SGD_WARPS + threadIdx.x / 32;
    if (w >= o.warps) return; /* whole warps: the grid's last block may have spare ones */
    const bool lead = (threadIdx.x & 31) == 0;
    const unsigned long long items = (unsigned long long)(o.n_heavy + o.n_runs);
    for (;;) {
        const unsigned long long c = __shfl_sync(CF_FULL_MASK, lead ? atomicAdd(o.next, 1ULL) : 0ULL, 0);
        if (c >= items) break; /* warp-uniform */
        int64_t s, e, off;
        cf_hogwild_item(&o, a.su, (int64_t)c, &s, &e, &off); /* same loads, every lane */
        sgd_run<T, VEC, NV, D, ADD>(a, s, e, off, o.n);
    }
}

/* (ADD is false: the rows of a wave's blocks are disjoint, a block's rows are its warp's) */
template <typename T, int VEC, int NV, int D, bool ADD>
__global__ void __launch_bounds__(SGD_THREADS)
    sgd_wave_kernel(const cf_sgd_args a, const int64_t *__restrict__ block_ptr, int B, int shift) {
    const int w = blockIdx.x * SGD_WARPS + threadIdx.x / 32; /* the user band a */
    if (w >= B) return;                                      /* whole warps leave */
    const int64_t blk = (int64_t)w * B + (w + shift) % B;
    static_assert(!ADD, "blocks stores its rows");
    sgd_run<T, VEC, NV, D, false>(a, block_ptr[blk], block_ptr[blk + 1], 0, INT64_MAX); /* no rotation */
}

/* The register shape for K, storage and row stride: VEC elements per load (≤ 16 bytes:
 * 4 floats or 8 halves), the narrowest with 32·VEC ≥ K, narrowed until it divides K and
 * the row stride; NV chunks per lane. Returns the instantiation's index into the tables
 * below, or 0 for the memory path. Fast paths: K = 32 (1 × 1), 64 (2 × 1), 100 and 128
 * (4 × 1), 256 (fp32 4 × 2, fp16 8 × 1), and every K ≤ 32. */
static int regs_of(int k, int ld, int fp16) {
    const int max_vec = fp16 ? 8 : 4;
    int vec = 1;
    while (vec < max_vec && 32 * vec < k) vec *= 2;
    while (vec > 1 && (k % vec || ld % vec)) vec /= 2;
    const int nv = (k + 32 * vec - 1) / (32 * vec);
    /* the instantiations: 1 = (1,1), 2 = (2,1), 3 = (4,1), 4 = (4,2) fp32 / (8,1) fp16 */
    if (nv == 1) return vec == 1 ? 1 : vec == 2 ? 2 : vec == 4 ? 3 : 4;
    if (nv == 2 && vec == 4 && !fp16) return 4;
    return 0;
}

/* The ring depths built: 1, 4, 8 (index 0, 1, 2). Shape 4 (8 floats of each row per
 * lane: a slot is ≈ 24 registers) stops at 4, so that 8 slots do not spill; the memory
 * path has no ring. */
extern "C" int cf_sgd_depth(int k, int ld, int fp16, int want) {
    const int shape = regs_of(k, ld, fp16);
    if (shape == 0) return 0;
    const int d = want >= 8 ? 8 : want >= 2 ? 4 : 1;
    return shape == 4 && d > 4 ? 4 : d;
}
static int ring_index(int k, int ld, int fp16, int want) {
    const int d = cf_sgd_depth(k, ld, fp16, want);
    return d == 8 ? 2 : d == 4 ? 1 : 0;
}

typedef void (*hogwild_fn)(const cf_sgd_args, const cf_sgd_hogwild_order);
typedef void (*wave_fn)(const cf_sgd_args, const int64_t *, int, int);

/* [shape][ring index] for storage T and item writes A (true: adds); shape 4 is (4, 2) in
 * fp32 and (8, 1) in fp16 */
#define SGD_TABLE(KERNEL, T, V4, N4, A)                                                                                \
    {                                                                                                                  \
        {KERNEL<T, 0, 0, 1, A>, KERNEL<T, 0, 0, 1, A>, KERNEL<T, 0, 0, 1, A>},                                         \
            {KERNEL<T, 1, 1, 1, A>, KERNEL<T, 1, 1, 4, A>, KERNEL<T, 1, 1, 8, A>},                                     \
            {KERNEL<T, 2, 1, 1, A>, KERNEL<T, 2, 1, 4, A>, KERNEL<T, 2, 1, 8, A>},                                     \
            {KERNEL<T, 4, 1, 1, A>, KERNEL<T, 4, 1, 4, A>, KERNEL<T, 4, 1, 8, A>},                                     \
            {KERNEL<T, V4, N4, 1, A>, KERNEL<T, V4, N4, 4, A>, KERNEL<T, V4, N4, 4, A>},                               \
    }

static hogwild_fn hogwild_kernel_for(int k, int ld, int fp16, int depth, int add) {
    static const hogwild_fn f32[2][5][3] = {SGD_TABLE(sgd_hogwild_kernel, float, 4, 2, false),
                                            SGD_TABLE(sgd_hogwild_kernel, float, 4, 2, true)};
    static const hogwild_fn f16[2][5][3] = {SGD_TABLE(sgd_hogwild_kernel, __half, 8, 1, false),
                                            SGD_TABLE(sgd_hogwild_kernel, __half, 8, 1, true)};
    return (fp16 ? f16 : f32)[add ? 1 : 0][regs_of(k, ld, fp16)][ring_index(k, ld, fp16, depth)];
}
static wave_fn wave_kernel_for(int k, int ld, int fp16, int depth) {
    static const wave_fn f32[5][3] = SGD_TABLE(sgd_wave_kernel, float, 4, 2, false);
    static const wave_fn f16[5][3] = SGD_TABLE(sgd_wave_kernel, __half, 8, 1, false);
    return (fp16 ? f16 : f32)[regs_of(k, ld, fp16)][ring_index(k, ld, fp16, depth)];
}

/* Resident blocks per SM of the hogwild kernel for this K, storage and depth (≥ 1). The
 * fp16 row stride is K; for fp32 K rounded up to 4 stands for the side's ld (same
 * divisibility). */
static int hogwild_blocks_per_sm(int k, int fp16, int depth, int add) {
    int n = 0;
    const int ld = fp16 ? k : (k + 3) / 4 * 4;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, hogwild_kernel_for(k, ld, fp16, depth, add), SGD_THREADS,
                                                      0) != cudaSuccess) {
        (void)cudaGetLastError();
        return 1;
    }
    return n > 0 ? n : 1;
}

extern "C" int cf_sgd_warps_per_sm(int k, int fp16, int depth, int add) {
    return hogwild_blocks_per_sm(k, fp16, depth, add) * SGD_WARPS;
}

extern "C" int64_t cf_sgd_resident_warps(int k, int fp16, int depth, int add) {
    int dev = 0, sms = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return (int64_t)sms * cf_sgd_warps_per_sm(k, fp16, depth, add);
}

static int valid_depth(int d) { return d == 1 || d == 4 || d == 8; }

extern "C" int launch_sgd_hogwild(const cf_sgd_args *a, const cf_sgd_hogwild_order *o, cf_stream_t stream) {
    if (o->n <= 0) return (int)cudaSuccess;
    if (!valid_depth(a->depth) || o->run < 1 || o->warps < 1 || o->n_runs < 1 || (o->n_runs - 1) * o->run >= o->n ||
        o->n_runs * o->run < o->n || o->off < 0 || o->off >= o->n || o->n_runs > ((int64_t)1 << 32) ||
        o->perm_a > UINT32_MAX || o->perm_b >= (uint64_t)o->n_runs || !o->next || o->n_heavy < 0 ||
        (o->n_heavy > 0 && (!o->heavy || !o->user_ptr || o->heavy_a > UINT32_MAX || o->heavy_b >= (uint64_t)o->n_heavy)) ||
        (o->user_ptr && o->heavy_min < o->run))
        return (int)cudaErrorInvalidValue;
    cudaError_t e = cudaMemsetAsync(o->next, 0, sizeof *o->next, stream);
    if (e != cudaSuccess) return (int)e;
    const int64_t grid = (o->warps + SGD_WARPS - 1) / SGD_WARPS;
    CF_LAUNCH_KERNEL(hogwild_kernel_for(a->k, a->ld, a->fp16, a->depth, a->item_add), (unsigned)grid, SGD_THREADS, 0,
                     stream, *a, *o);
    return (int)cudaGetLastError();
}

extern "C" int launch_sgd_wave(const cf_sgd_args *a, const int64_t *d_block_ptr, int B, int shift,
                               cf_stream_t stream) {
    if (B < 1 || shift < 0 || shift >= B || !valid_depth(a->depth)) return (int)cudaErrorInvalidValue;
    const unsigned grid = (unsigned)((B + SGD_WARPS - 1) / SGD_WARPS);
    CF_LAUNCH_KERNEL(wave_kernel_for(a->k, a->ld, a->fp16, a->depth), grid, SGD_THREADS, 0, stream,
        *a, d_block_ptr, B, shift);
    return (int)cudaGetLastError();
}

/* ------------------------------------------------------------------ L2 ceiling */

/* The L2 read ceiling for bench_sgd: every thread reads 16-byte words of a buffer that
 * fits in L2 with ld.global.cg (L2, not L1: the path the SGD kernels' factor loads take),
 * `reps` passes, grid-stride; 16·n4·reps bytes in all, nothing from DRAM after the first
 * pass. FLOPs: 4 adds per word (to keep the loads). The sum goes to sink[thread]
 * (grid·256 floats: noise beside the reads) so the loads are not dropped. */
#define L2_THREADS 256
__global__ void __launch_bounds__(L2_THREADS) l2_read_kernel(const float4 *__restrict__ buf, int64_t n4, int reps,
                                                            float *__restrict__ sink) {
    const int64_t t0 = blockIdx.x * (int64_t)blockDim.x + threadIdx.x, stride = (int64_t)gridDim.x * blockDim.x;
    float acc = 0.0f;
    for (int r = 0; r < reps; r++)
        for (int64_t x = t0; x < n4; x += stride) {
            const float4 v = __ldcg(buf + x);
            acc += (v.x + v.y) + (v.z + v.w);
        }
    sink[t0] = acc;
}

extern "C" int launch_l2_read(const void *d_buf, int64_t bytes, int reps, float *d_sink, int grid, cf_stream_t stream) {
    if (bytes < 16 || reps < 1 || grid < 1) return (int)cudaErrorInvalidValue;
    CF_LAUNCH_KERNEL(l2_read_kernel, (unsigned)grid, L2_THREADS, 0, stream, (const float4 *)d_buf, bytes / 16, reps,
                     d_sink);
    return (int)cudaGetLastError();
}
