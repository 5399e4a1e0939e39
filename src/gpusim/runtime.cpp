/*
 * runtime.cpp — the simulated CUDA device of the CPU simulation build: the runtime API of
 * include/cuda_runtime_api.h (memory, copies, streams, events, device properties, errors)
 * and the execution of kernels (launch checks, block order, the threads' scheduler, the
 * barrier and warp-collective rules). cuda_sim.h explains the model; docs/RELIABILITY.md's "GPU tests
 * without a GPU" says what it proves.
 *
 * The simulated device (environment variables, read once):
 *   CUFACTOR_SIM_MEM_MB   device memory in MiB (default 4096): cudaMalloc beyond it fails
 *                         with cudaErrorMemoryAllocation, cudaMemGetInfo reports it
 *   CUFACTOR_SIM_SMS      multiprocessors (default 4): sizes the persistent grids
 *   CUFACTOR_SIM_SEED     seed of the block orders (default 1; cf_sim_set_seed changes it)
 *   CUFACTOR_SIM_DEVICES  0: cudaGetDeviceCount reports no device, -1: no driver
 *                         (cudaErrorInsufficientDriver, as the runtime says then); default 1
 *   CUFACTOR_SIM_RESIDENT blocks of a grid that run at once, their warps interleaved at
 *                         every barrier and collective (default 1; cf_sim_set_resident)
 *
 * Order of work: every stream feeds one queue in issue order (a stronger order than the
 * hardware's, which cufactor's one blocking stream does not rely on either way). The queue
 * runs at the synchronizing calls: cudaStreamSynchronize, cudaEventSynchronize,
 * cudaDeviceSynchronize, cudaMemcpy, cudaMemset, cudaFree, and a copy into pageable host
 * memory (which is synchronous on hardware too). So host code that reads a result
 * before synchronizing reads what was there before, as it might on a GPU.
 *
 * The host side is single-threaded: one host thread drives the device (as in cufactor).
 */
#include "cuda_sim.h"
#include "fiber.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "asan.h"

/* The linker's bounds of the static __shared__ section (absent when no kernel has any). */
extern "C" char __start_cf_sim_shared[] __attribute__((weak));
extern "C" char __stop_cf_sim_shared[] __attribute__((weak));

namespace cf_sim {

thread_view *cur = nullptr; /* one host thread drives the simulated device */
int mma_truncation = 0;      /* include/mma.h */

/* ------------------------------------------------------------------ the device */
static const size_t SMEM_DEFAULT = 48 * 1024, SMEM_OPTIN = 232448; /* sm_90: 227 KiB */
static const unsigned char POISON = 0xff;

struct device {
    bool init = false;
    size_t mem = (size_t)4096 << 20, used = 0;
    int sms = 4, count = 1;
    int cc_major = 9, cc_minor = 0; /* sm_90 unless cf_sim_set_compute_capability says otherwise */
    uint64_t seed = 1, launches = 0;
    int resident = 1; /* blocks of a grid that run at once (run_grid) */
    std::map<uintptr_t, size_t> allocs;
    std::set<void *> streams, events;
    std::map<const void *, int> max_dyn_smem;
    std::deque<std::function<void()>> queue;
};
static device dev;
static thread_local cudaError_t last_error = cudaSuccess;

static long env_long(const char *name, long dflt, long lo, long hi) {
    const char *s = getenv(name);
    if (!s || !*s) return dflt;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi) {
        fprintf(stderr, "cufactor-sim: %s=%s is not a number in %ld..%ld\n", name, s, lo, hi);
        exit(2);
    }
    return v;
}

static device &D() {
    if (!dev.init) {
        dev.init = true;
        dev.mem = (size_t)env_long("CUFACTOR_SIM_MEM_MB", 4096, 1, 1L << 24) << 20;
        dev.sms = (int)env_long("CUFACTOR_SIM_SMS", 4, 1, 1024);
        dev.seed = (uint64_t)env_long("CUFACTOR_SIM_SEED", 1, 0, 1L << 62);
        dev.count = (int)env_long("CUFACTOR_SIM_DEVICES", 1, -1, 1);
        dev.resident = (int)env_long("CUFACTOR_SIM_RESIDENT", 1, 1, 4096);
    }
    return dev;
}

static cudaError_t ret(cudaError_t e) {
    if (e != cudaSuccess) last_error = e;
    return e;
}

static void run_queue() {
    device &d = D();
    while (!d.queue.empty()) {
        std::function<void()> op = std::move(d.queue.front());
        d.queue.pop_front();
        op();
    }
}

static bool stream_ok(cudaStream_t s) { return !s || D().streams.count((void *)s); }

/* The live allocation holding [p, p + n), or end(). */
static std::map<uintptr_t, size_t>::iterator find_alloc(const void *p, size_t n) {
    device &d = D();
    uintptr_t a = (uintptr_t)p;
    auto it = d.allocs.upper_bound(a);
    if (it == d.allocs.begin()) return d.allocs.end();
    --it;
    if (a >= it->first && n <= it->second && a - it->first <= it->second - n) return it;
    return d.allocs.end();
}

/* ------------------------------------------------------------------ the scheduler */
enum tstate { RUNNABLE, WAIT_BAR, WAIT_WARP, EXITED };

struct thread_state {
    thread_view view;
    fiber *fib = nullptr; /* its stack: the pool's (run_grid) */
    tstate state = RUNNABLE;
    /* where it waits */
    const char *file = nullptr;
    int line = 0;
    warp_op op = WARP_SYNC;
    unsigned mask = 0;
    uint64_t value = 0, result = 0;
    int arg = 0, width = 32;
    uint64_t ukey[3] = {0, 0, 0}; /* WARP_UNIFORM: pointer, other arguments, contents */
    const char *uwhat = nullptr;
};

struct block_run {
    const launch_config *cfg = nullptr;
    const std::function<void()> *body = nullptr;
    std::vector<thread_state> th; /* by linear thread id */
    unsigned n = 0, live = 0, exited = 0, at_bar = 0;
    fiber_host host;
    thread_state *running = nullptr;
};
static block_run *blk = nullptr;

static std::string thread_name(const thread_state &t) {
    char b[96];
    snprintf(b, sizeof b, "thread (%u,%u,%u)", t.view.tid.x, t.view.tid.y, t.view.tid.z);
    return b;
}

[[noreturn]] static void fail(const thread_state *t, const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const uint3 b = blk && !blk->th.empty() ? blk->th[0].view.bid : uint3{0, 0, 0};
    fprintf(stderr, "cufactor-sim: kernel %s, block (%u,%u,%u)%s%s: %s\n",
            blk && blk->cfg ? blk->cfg->name : "?", b.x, b.y, b.z, t ? ", " : "",
            t ? thread_name(*t).c_str() : "", msg);
    fflush(stderr);
    abort();
}

static const char *op_name(warp_op op) {
    switch (op) {
    case WARP_SHFL_IDX: return "__shfl_sync";
    case WARP_SHFL_UP: return "__shfl_up_sync";
    case WARP_SHFL_DOWN: return "__shfl_down_sync";
    case WARP_SHFL_XOR: return "__shfl_xor_sync";
    case WARP_SYNC: return "__syncwarp";
    case WARP_BALLOT: return "__ballot_sync";
    case WARP_UNIFORM: return "wmma::*_sync";
    }
    return "?";
}

static void yield_running() {
    thread_state *t = blk->running;
    fiber_yield(&blk->host, t->fib, 0);
}

static std::string where(const thread_state &t) {
    char b[512];
    if (t.state == WAIT_BAR)
        snprintf(b, sizeof b, "__syncthreads at %s:%d", t.file, t.line);
    else if (t.state == WAIT_WARP)
        snprintf(b, sizeof b, "%s(mask 0x%08x) at %s:%d", op_name(t.op), t.mask, t.file, t.line);
    else if (t.state == EXITED)
        snprintf(b, sizeof b, "exited");
    else
        snprintf(b, sizeof b, "running");
    return b;
}

/* Releases the barrier when every thread of the block waits at it. */
static bool try_release_barrier() {
    if (blk->at_bar == 0 || blk->at_bar < blk->live) return false;
    const thread_state *first = nullptr;
    for (auto &t : blk->th) {
        if (t.state != WAIT_BAR) continue;
        if (!first) first = &t;
        else if (t.line != first->line || strcmp(t.file, first->file) != 0)
            fail(&t, "divergent __syncthreads: waits at %s:%d while %s waits at %s:%d", t.file, t.line,
                 thread_name(*first).c_str(), first->file, first->line);
    }
    for (auto &t : blk->th)
        if (t.state == WAIT_BAR) t.state = RUNNABLE;
    blk->at_bar = 0;
    return true;
}

void syncthreads(const char *file, int line) {
    thread_state *t = blk->running;
    if (blk->exited > 0) {
        const thread_state *gone = nullptr;
        for (auto &x : blk->th)
            if (x.state == EXITED) { gone = &x; break; }
        fail(t, "__syncthreads at %s:%d reached by part of the block: %s has already exited", file, line,
             thread_name(*gone).c_str());
    }
    t->state = WAIT_BAR, t->file = file, t->line = line;
    blk->at_bar++;
    if (try_release_barrier()) return; /* the last one to arrive goes on at once */
    while (t->state != RUNNABLE) yield_running();
}

/* The lanes of warp w: th[32w .. 32w + count). */
static unsigned warp_lanes(unsigned w) {
    unsigned first = 32 * w;
    return blk->n - first < 32 ? blk->n - first : 32;
}

static void complete_collective(unsigned w, unsigned mask) {
    thread_state *L = &blk->th[32 * w];
    const thread_state &any = L[__builtin_ctz(mask)];
    if (any.op == WARP_UNIFORM) {
        static const char *const key[3] = {"the pointer", "ldm or the layout", "a fragment's contents"};
        for (unsigned l = 1; l < 32; l++)
            for (int k = 0; k < 3; k++)
                if (L[l].ukey[k] != L[0].ukey[k])
                    fail(&L[l], "%s at %s:%d: %s differs across the warp (lane 0: %#llx, lane %u: %#llx); "
                         "wmma needs warp-uniform arguments, and fragments hold one matrix per warp",
                         L[l].uwhat, L[l].file, L[l].line, key[k], (unsigned long long)L[0].ukey[k], l,
                         (unsigned long long)L[l].ukey[k]);
    }
    const int width = any.width;
    unsigned ballot = 0;
    for (unsigned l = 0; l < 32; l++)
        if ((mask >> l) & 1u && L[l].value) ballot |= 1u << l;
    for (unsigned l = 0; l < 32; l++) {
        if (!((mask >> l) & 1u)) continue;
        thread_state &t = L[l];
        const unsigned seg = l & ~(unsigned)(width - 1);
        unsigned src = l;
        switch (t.op) {
        case WARP_SHFL_IDX: src = seg + ((unsigned)t.arg & (unsigned)(width - 1)); break;
        case WARP_SHFL_UP: src = (l - seg) >= (unsigned)t.arg ? l - (unsigned)t.arg : l; break;
        case WARP_SHFL_DOWN: src = (l - seg) + (unsigned)t.arg < (unsigned)width ? l + (unsigned)t.arg : l; break;
        case WARP_SHFL_XOR: {
            unsigned s = l ^ (unsigned)t.arg;
            src = s >= seg + (unsigned)width ? l : s; /* later groups: own value */
            break;
        }
        case WARP_SYNC: break;
        case WARP_BALLOT: break;
        case WARP_UNIFORM: break;
        }
        if (t.op == WARP_BALLOT)
            t.result = ballot;
        else if (src < 32 && ((mask >> src) & 1u))
            t.result = L[src].value;
        else
            t.result = ~(uint64_t)0; /* from a lane outside the mask: undefined on hardware */
        t.state = RUNNABLE;
    }
}

uint64_t warp_collective(warp_op op, unsigned mask, uint64_t v, int arg, int width, const char *file, int line) {
    thread_state *t = blk->running;
    const unsigned lane = t->view.lane, w = t->view.warp, nl = warp_lanes(w);
    if (width < 1 || width > 32 || (width & (width - 1)))
        fail(t, "%s at %s:%d: width %d is not a power of two in 1..32", op_name(op), file, line, width);
    if (!((mask >> lane) & 1u))
        fail(t, "%s at %s:%d: mask 0x%08x does not include the calling lane %u", op_name(op), file, line, mask, lane);
    if (nl < 32 && (mask >> nl))
        fail(t, "%s at %s:%d: mask 0x%08x names lanes %u.. that do not exist (the block has %u threads)", op_name(op),
             file, line, mask, nl, blk->n);
    thread_state *L = &blk->th[32 * w];
    for (unsigned l = 0; l < nl; l++)
        if ((mask >> l) & 1u && L[l].state == EXITED)
            fail(t, "%s at %s:%d: mask 0x%08x names lane %u, which has exited", op_name(op), file, line, mask, l);
    t->state = WAIT_WARP, t->op = op, t->mask = mask, t->value = v, t->arg = arg, t->width = width;
    t->file = file, t->line = line;
    /* complete when every lane of the mask waits here with the same mask */
    bool all = true;
    for (unsigned l = 0; l < nl && all; l++) {
        if (!((mask >> l) & 1u)) continue;
        const thread_state &x = L[l];
        if (x.state != WAIT_WARP || x.line != line || x.mask != mask || x.op != op || strcmp(x.file, file) != 0)
            all = false;
    }
    if (all) complete_collective(w, mask);
    while (t->state != RUNNABLE) yield_running();
    return t->result;
}

void warp_uniform(const char *what, uint64_t ptr, uint64_t args, uint64_t content, const char *file, int line) {
    thread_state *t = blk->running;
    if (warp_lanes(t->view.warp) < 32)
        fail(t, "%s at %s:%d: warp %u has %u threads; wmma needs all 32 lanes of a warp", what, file, line,
             t->view.warp, warp_lanes(t->view.warp));
    t->ukey[0] = ptr, t->ukey[1] = args, t->ukey[2] = content, t->uwhat = what;
    (void)warp_collective(WARP_UNIFORM, 0xffffffffu, 0, 0, 32, file, line);
}

static void thread_exit_checks(thread_state *t) {
    if (blk->at_bar > 0) {
        for (auto &x : blk->th)
            if (x.state == WAIT_BAR)
                fail(t, "exited while %s waits at __syncthreads (%s:%d): a barrier reached by part of the block",
                     thread_name(x).c_str(), x.file, x.line);
    }
    thread_state *L = &blk->th[32 * t->view.warp];
    for (unsigned l = 0; l < warp_lanes(t->view.warp); l++)
        if (L[l].state == WAIT_WARP && ((L[l].mask >> t->view.lane) & 1u))
            fail(t, "exited while lane %u waits at %s(mask 0x%08x) at %s:%d, which names it", l, op_name(L[l].op),
                 L[l].mask, L[l].file, L[l].line);
}

static void thread_entry(void *p) {
    thread_state *t = (thread_state *)p;
    (*blk->body)();
    t = blk->running; /* (the same thread) */
    thread_exit_checks(t);
    t->state = EXITED;
    blk->live--, blk->exited++;
    fiber_yield(&blk->host, t->fib, 1);
}

static void deadlock() {
    /* one line per distinct wait, with how many threads wait there and the first of them */
    std::vector<std::pair<std::string, std::pair<const thread_state *, int>>> waits;
    for (auto &t : blk->th) {
        if (t.state == EXITED) continue;
        std::string w = where(t);
        auto it = std::find_if(waits.begin(), waits.end(), [&](const auto &x) { return x.first == w; });
        if (it == waits.end())
            waits.push_back({w, {&t, 1}});
        else
            it->second.second++;
    }
    std::string s;
    for (auto &w : waits)
        s += "\n    " + std::to_string(w.second.second) + " thread(s) from " + thread_name(*w.second.first) + ": " +
             w.first;
    fail(nullptr, "no thread can go on (a barrier or warp collective reached by part of its threads):%s", s.c_str());
}

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static const size_t STACK_BYTES = 256 * 1024;
static const uint64_t RESIDENT_THREADS = 8192;

/* The static __shared__ section's bytes that belong to variables (all of it; under ASan
 * the stretches between its redzones), as (offset, length): what is poisoned at each
 * block's start, and what a block's copy holds while another resident block's is in the
 * section. Found once. */
static const std::vector<std::pair<size_t, size_t>> &static_shared_ranges() {
    static std::vector<std::pair<size_t, size_t>> r;
    static bool done = false;
    if (done) return r;
    done = true;
    char *a = __start_cf_sim_shared, *b = __stop_cf_sim_shared;
    if (!a || !b || b <= a) return r;
#ifdef CF_SIM_ASAN
    for (char *p = a; p < b;) {
        while (p < b && __asan_address_is_poisoned(p)) p++;
        char *q = p;
        while (q < b && !__asan_address_is_poisoned(q)) q++;
        if (q > p) r.push_back({(size_t)(p - a), (size_t)(q - p)});
        p = q;
    }
#else
    r.push_back({0, (size_t)(b - a)});
#endif
    return r;
}

/* `to` (the section itself, or a block's copy of it) filled with the poison pattern where
 * variables lie. */
static void poison_statics(char *to, const std::vector<std::pair<size_t, size_t>> &ranges) {
    for (auto &r : ranges) memset(to + r.first, POISON, r.second);
}

/* One resident block: its threads, dynamic shared memory, thread order and, while another
 * block's variables are in the static section, its own. */
struct block_slot {
    block_run br;
    void *smem = nullptr;
    std::vector<unsigned> run; /* the threads' order, reshuffled per block */
    std::vector<char> statics;
    bool active = false;
};

/* Runs a grid: its blocks in a seeded shuffled order, up to `resident` of them at once
 * (the device's setting when it was launched, cf_sim_set_resident; no more than
 * RESIDENT_THREADS threads in all), each block's threads in a seeded order.
 * With one resident block (the default) a block runs to its end before the next starts.
 * With several, the scheduler passes over the resident blocks in turn, each thread of a
 * block running to its next barrier or warp collective, and a finished block's place
 * goes to the next block of the order: warps of different blocks interleave at every
 * collective, as co-resident blocks do on hardware, so kernels that race on purpose
 * (hogwild SGD) see other warps' updates land between their reads and writes. */
static void run_grid(const launch_config &c, const std::function<void()> &body, uint64_t order_seed, int resident) {
    const uint64_t nb = (uint64_t)c.grid.x * c.grid.y * c.grid.z;
    const unsigned nt = c.block.x * c.block.y * c.block.z;
    std::vector<uint64_t> order(nb);
    for (uint64_t j = 0; j < nb; j++) order[j] = j;
    uint64_t s = order_seed;
    for (uint64_t j = nb; j > 1; j--) std::swap(order[j - 1], order[splitmix(&s) % j]);
    /* at most RESIDENT_THREADS threads at once: each is a fiber with its own stack
     * mapping, and a process has a bounded number of mappings */
    const uint64_t fit = std::max<uint64_t>(1, RESIDENT_THREADS / nt);
    const unsigned R = (unsigned)std::min<uint64_t>(std::min<uint64_t>(nb, fit), (uint64_t)std::max(resident, 1));

    static std::vector<fiber> pool; /* stacks reused across launches */
    if (pool.size() < (size_t)R * nt) pool.resize((size_t)R * nt);
    for (size_t j = 0; j < (size_t)R * nt; j++) fiber_alloc(&pool[j], STACK_BYTES);
    std::vector<block_slot> slots(R);
    for (auto &sl : slots) {
        /* 256-byte aligned, as the start of a block's shared window is on hardware (wmma's
         * loads and stores check for 256-bit alignment) */
        if (posix_memalign(&sl.smem, 256, c.smem ? c.smem : 1) != 0) {
            fprintf(stderr, "cufactor-sim: no host memory for %zu bytes of shared memory\n", c.smem);
            abort();
        }
        sl.br.cfg = &c, sl.br.body = &body, sl.br.n = nt;
        sl.br.th.resize(nt);
        sl.run.resize(nt);
    }
    char *const sec = __start_cf_sim_shared;
    const auto &ranges = static_shared_ranges();
    size_t sec_bytes = 0;
    for (auto &r : ranges) sec_bytes = std::max(sec_bytes, r.first + r.second);
    if (R > 1)
        for (auto &sl : slots) sl.statics.resize(sec_bytes);
    unsigned owner = 0; /* the slot whose static __shared__ variables are in the section */

    block_run *outer = blk;
    thread_view *outer_cur = cur;
    uint64_t next = 0;
    auto start_block = [&](unsigned k) {
        block_slot &sl = slots[k];
        const uint64_t b = order[next++];
        const uint3 bid{(unsigned)(b % c.grid.x), (unsigned)(b / c.grid.x % c.grid.y),
                        (unsigned)(b / ((uint64_t)c.grid.x * c.grid.y))};
        poison_statics(k == owner ? sec : sl.statics.data(), ranges);
        memset(sl.smem, POISON, c.smem);
        block_run &br = sl.br;
        br.live = nt, br.exited = 0, br.at_bar = 0;
        /* threads in a seeded order per block (fixed while it runs) */
        for (unsigned j = 0; j < nt; j++) {
            thread_state &t = br.th[j];
            t.state = RUNNABLE;
            t.view.tid = uint3{j % c.block.x, j / c.block.x % c.block.y, j / (c.block.x * c.block.y)};
            t.view.bid = bid, t.view.bdim = c.block, t.view.gdim = c.grid;
            t.view.lane = j % 32, t.view.warp = j / 32, t.view.dyn_smem = sl.smem;
            t.fib = &pool[(size_t)k * nt + j];
            fiber_start(&br.host, t.fib, thread_entry, &t);
            sl.run[j] = j;
        }
        for (unsigned j = nt; j > 1; j--) std::swap(sl.run[j - 1], sl.run[splitmix(&s) % j]);
        sl.active = true;
    };
    for (unsigned k = 0; k < R; k++) start_block(k);
    for (bool any = true; any;) {
        any = false;
        for (unsigned k = 0; k < R; k++) {
            block_slot &sl = slots[k];
            if (!sl.active) continue;
            any = true;
            if (k != owner) { /* this block's static __shared__ variables into the section */
                block_slot &o = slots[owner];
                for (auto &r : ranges) {
                    memcpy(o.statics.data() + r.first, sec + r.first, r.second);
                    memcpy(sec + r.first, sl.statics.data() + r.first, r.second);
                }
                owner = k;
            }
            blk = &sl.br;
            bool ran = false;
            for (unsigned j : sl.run) {
                thread_state &t = sl.br.th[j];
                if (t.state != RUNNABLE) continue;
                sl.br.running = &t;
                cur = &t.view;
                fiber_resume(&sl.br.host, t.fib);
                ran = true;
            }
            sl.br.running = nullptr;
            if (!ran) deadlock();
            if (sl.br.live == 0) {
                sl.active = false;
                if (next < nb) start_block(k);
            }
        }
    }
    cur = outer_cur;
    blk = outer;
    for (auto &sl : slots) free(sl.smem);
}

cudaError_t launch_erased(const launch_config &c, std::function<void()> body) {
    device &d = D();
    const dim3 g = c.grid, b = c.block;
    if (blk) {
        fprintf(stderr, "cufactor-sim: kernel %s launched from device code (dynamic parallelism is not simulated)\n",
                c.name);
        abort();
    }
    if (!stream_ok(c.stream)) return ret(cudaErrorInvalidResourceHandle);
    const uint64_t threads = (uint64_t)b.x * b.y * b.z;
    if (threads == 0 || threads > 1024 || b.x > 1024 || b.y > 1024 || b.z > 64) return ret(cudaErrorInvalidConfiguration);
    if (g.x == 0 || g.y == 0 || g.z == 0 || g.x > 0x7fffffffu || g.y > 65535 || g.z > 65535)
        return ret(cudaErrorInvalidConfiguration);
    auto it = d.max_dyn_smem.find(c.fn);
    const size_t smem_max = it == d.max_dyn_smem.end() ? SMEM_DEFAULT : (size_t)it->second;
    if (c.smem > smem_max) return ret(cudaErrorInvalidValue);
    const uint64_t seed = d.seed * 0x9e3779b97f4a7c15ull + ++d.launches;
    auto cfg = std::make_shared<launch_config>(c);
    const int resident = d.resident; /* the setting at the launch, as the seed */
    d.queue.push_back([cfg, body = std::move(body), seed, resident]() { run_grid(*cfg, body, seed, resident); });
    return cudaSuccess;
}

cudaError_t func_set_max_dynamic_smem(const void *fn, int bytes) {
    if (!fn || bytes < 0 || (size_t)bytes > SMEM_OPTIN) return ret(cudaErrorInvalidValue);
    D().max_dyn_smem[fn] = bytes;
    return cudaSuccess;
}

cudaError_t occupancy_blocks_per_sm(int *n, const void *fn, int threads, size_t smem) {
    if (!n || !fn || threads < 1 || threads > 1024) return ret(cudaErrorInvalidValue);
    const int warps = (threads + 31) / 32;
    int by_threads = 64 / warps, by_smem = (int)(SMEM_OPTIN / (smem + 1024));
    int v = std::min(std::min(by_threads, by_smem), 32);
    *n = v;
    return cudaSuccess;
}

} // namespace cf_sim

using namespace cf_sim;

/* ------------------------------------------------------------------ runtime API */
extern "C" {

const char *cudaGetErrorName(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError: return "cudaErrorInitializationError";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
    case cudaErrorUnknown: return "cudaErrorUnknown";
    }
    return "unrecognized error code";
}

/* The toolkit's texts, so messages read as they would on hardware. */
const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInitializationError: return "initialization error";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorInsufficientDriver: return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorNotSupported: return "operation not supported";
    case cudaErrorUnknown: return "unknown error";
    }
    return "unrecognized error code";
}

cudaError_t cudaGetLastError(void) {
    cudaError_t e = last_error;
    last_error = cudaSuccess;
    return e;
}
cudaError_t cudaPeekAtLastError(void) { return last_error; }

cudaError_t cudaGetDeviceCount(int *count) {
    if (!count) return ret(cudaErrorInvalidValue);
    *count = D().count > 0 ? D().count : 0;
    /* -1: no driver, which the runtime reports as an insufficient driver */
    return D().count > 0 ? cudaSuccess : ret(D().count < 0 ? cudaErrorInsufficientDriver : cudaErrorNoDevice);
}
cudaError_t cudaGetDevice(int *device) {
    if (!device) return ret(cudaErrorInvalidValue);
    *device = 0;
    return D().count > 0 ? cudaSuccess : ret(cudaErrorNoDevice);
}
cudaError_t cudaSetDevice(int device) {
    if (D().count <= 0) return ret(cudaErrorNoDevice);
    return device == 0 ? cudaSuccess : ret(cudaErrorInvalidDevice);
}

cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *p, int device) {
    if (!p) return ret(cudaErrorInvalidValue);
    if (D().count <= 0) return ret(cudaErrorNoDevice);
    if (device != 0) return ret(cudaErrorInvalidDevice);
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "cufactor-sim (CPU simulation, %d SMs, %zu MiB)", D().sms, D().mem >> 20);
    p->totalGlobalMem = D().mem;
    p->sharedMemPerBlock = SMEM_DEFAULT;
    p->sharedMemPerBlockOptin = SMEM_OPTIN;
    p->warpSize = 32;
    p->maxThreadsPerBlock = 1024;
    p->maxThreadsDim[0] = 1024, p->maxThreadsDim[1] = 1024, p->maxThreadsDim[2] = 64;
    p->maxGridSize[0] = 0x7fffffff, p->maxGridSize[1] = 65535, p->maxGridSize[2] = 65535;
    p->major = D().cc_major, p->minor = D().cc_minor;
    p->multiProcessorCount = D().sms;
    p->maxThreadsPerMultiProcessor = 2048;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int *value, enum cudaDeviceAttr attr, int device) {
    struct cudaDeviceProp p;
    if (!value) return ret(cudaErrorInvalidValue);
    cudaError_t e = cudaGetDeviceProperties(&p, device);
    if (e != cudaSuccess) return e;
    switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = p.maxThreadsPerBlock; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = (int)p.sharedMemPerBlock; break;
    case cudaDevAttrWarpSize: *value = p.warpSize; break;
    case cudaDevAttrMultiProcessorCount: *value = p.multiProcessorCount; break;
    case cudaDevAttrComputeCapabilityMajor: *value = p.major; break;
    case cudaDevAttrComputeCapabilityMinor: *value = p.minor; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = (int)p.sharedMemPerBlockOptin; break;
    default: return ret(cudaErrorInvalidValue);
    }
    return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) {
    run_queue();
    return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int *v) {
    if (!v) return ret(cudaErrorInvalidValue);
    *v = CUDART_VERSION;
    return cudaSuccess;
}
cudaError_t cudaRuntimeGetVersion(int *v) { return cudaDriverGetVersion(v); }

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes) {
    if (!free_bytes || !total_bytes) return ret(cudaErrorInvalidValue);
    if (D().count <= 0) return ret(cudaErrorNoDevice);
    *total_bytes = D().mem;
    *free_bytes = D().mem - D().used;
    return cudaSuccess;
}

cudaError_t cudaMalloc(void **ptr, size_t size) {
    if (!ptr) return ret(cudaErrorInvalidValue);
    *ptr = nullptr;
    if (D().count <= 0) return ret(cudaErrorNoDevice);
    if (size == 0) return cudaSuccess;
    if (size > D().mem - D().used) return ret(cudaErrorMemoryAllocation);
    void *p = nullptr;
    if (posix_memalign(&p, 256, size) != 0) return ret(cudaErrorMemoryAllocation);
    memset(p, POISON, size); /* fresh device memory is garbage: make a read before a write show */
    D().allocs[(uintptr_t)p] = size;
    D().used += size;
    *ptr = p;
    return cudaSuccess;
}

cudaError_t cudaFree(void *ptr) {
    if (!ptr) return cudaSuccess;
    run_queue(); /* cudaFree synchronizes */
    auto it = D().allocs.find((uintptr_t)ptr);
    if (it == D().allocs.end()) return ret(cudaErrorInvalidValue);
    D().used -= it->second;
    D().allocs.erase(it);
    free(ptr);
    return cudaSuccess;
}

static cudaError_t check_copy(void *dst, const void *src, size_t n, enum cudaMemcpyKind *kind) {
    if (n == 0) return cudaSuccess;
    if (!dst || !src) return cudaErrorInvalidValue;
    const bool dd = find_alloc(dst, n) != D().allocs.end(), sd = find_alloc(src, n) != D().allocs.end();
    switch (*kind) {
    case cudaMemcpyHostToDevice: return dd ? cudaSuccess : cudaErrorInvalidValue;
    case cudaMemcpyDeviceToHost: return sd ? cudaSuccess : cudaErrorInvalidValue;
    case cudaMemcpyDeviceToDevice: return dd && sd ? cudaSuccess : cudaErrorInvalidValue;
    case cudaMemcpyHostToHost: return cudaSuccess;
    case cudaMemcpyDefault:
        *kind = dd ? (sd ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                   : (sd ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
        return cudaSuccess;
    }
    return cudaErrorInvalidMemcpyDirection;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind) {
    cudaError_t e = check_copy(dst, src, n, &kind);
    if (e != cudaSuccess) return ret(e);
    run_queue();
    if (n) memmove(dst, src, n);
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind, cudaStream_t s) {
    if (!stream_ok(s)) return ret(cudaErrorInvalidResourceHandle);
    cudaError_t e = check_copy(dst, src, n, &kind);
    if (e != cudaSuccess) return ret(e);
    if (n == 0) return cudaSuccess;
    if (kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyHostToHost) {
        /* into pageable host memory: returns when the copy is done, as on hardware */
        run_queue();
        memmove(dst, src, n);
    } else if (kind == cudaMemcpyHostToDevice) {
        /* from pageable host memory: the source is staged at the call */
        auto copy = std::make_shared<std::vector<char>>((const char *)src, (const char *)src + n);
        D().queue.push_back([dst, copy]() { memcpy(dst, copy->data(), copy->size()); });
    } else {
        D().queue.push_back([dst, src, n]() { memmove(dst, src, n); });
    }
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *ptr, int value, size_t n, cudaStream_t s) {
    if (!stream_ok(s)) return ret(cudaErrorInvalidResourceHandle);
    if (n == 0) return cudaSuccess;
    if (find_alloc(ptr, n) == D().allocs.end()) return ret(cudaErrorInvalidValue);
    D().queue.push_back([ptr, value, n]() { memset(ptr, value, n); });
    return cudaSuccess;
}

cudaError_t cudaMemset(void *ptr, int value, size_t n) {
    cudaError_t e = cudaMemsetAsync(ptr, value, n, nullptr);
    if (e == cudaSuccess) run_queue();
    return e;
}

cudaError_t cudaStreamCreate(cudaStream_t *s) {
    if (!s) return ret(cudaErrorInvalidValue);
    if (D().count <= 0) return ret(cudaErrorNoDevice);
    void *h = malloc(1);
    D().streams.insert(h);
    *s = (cudaStream_t)h;
    return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t s) {
    if (!s || !D().streams.count((void *)s)) return ret(cudaErrorInvalidResourceHandle);
    run_queue();
    D().streams.erase((void *)s);
    free((void *)s);
    return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
    if (!stream_ok(s)) return ret(cudaErrorInvalidResourceHandle);
    run_queue();
    return cudaSuccess;
}

struct sim_event {
    bool recorded = false, done = false;
    double ms = 0;
};
static double now_ms() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}
cudaError_t cudaEventCreate(cudaEvent_t *e) {
    if (!e) return ret(cudaErrorInvalidValue);
    sim_event *ev = new sim_event;
    D().events.insert(ev);
    *e = (cudaEvent_t)ev;
    return cudaSuccess;
}
static sim_event *event_of(cudaEvent_t e) {
    return e && D().events.count((void *)e) ? (sim_event *)e : nullptr;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
    sim_event *ev = event_of(e);
    if (!ev) return ret(cudaErrorInvalidResourceHandle);
    run_queue(); /* the queue may still hold its record */
    D().events.erase(ev);
    delete ev;
    return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
    sim_event *ev = event_of(e);
    if (!ev || !stream_ok(s)) return ret(cudaErrorInvalidResourceHandle);
    ev->recorded = true, ev->done = false;
    D().queue.push_back([ev]() { ev->done = true, ev->ms = now_ms(); });
    return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
    if (!event_of(e)) return ret(cudaErrorInvalidResourceHandle);
    run_queue();
    return cudaSuccess;
}
cudaError_t cudaEventQuery(cudaEvent_t e) {
    sim_event *ev = event_of(e);
    if (!ev) return ret(cudaErrorInvalidResourceHandle);
    return !ev->recorded || ev->done ? cudaSuccess : cudaErrorNotReady;
}
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b) {
    sim_event *x = event_of(a), *y = event_of(b);
    if (!ms) return ret(cudaErrorInvalidValue);
    if (!x || !y) return ret(cudaErrorInvalidResourceHandle);
    if (!x->done || !y->done) return ret(cudaErrorNotReady);
    *ms = (float)(y->ms - x->ms);
    return cudaSuccess;
}

void cf_sim_set_mma_truncation(int on) { cf_sim::mma_truncation = on != 0; }

void cf_sim_set_compute_capability(int major, int minor) { D().cc_major = major, D().cc_minor = minor; }

void cf_sim_set_resident(int blocks) { D().resident = blocks < 1 ? 1 : blocks > 4096 ? 4096 : blocks; }

void cf_sim_set_seed(unsigned long long seed) {
    D().seed = seed;
    D().launches = 0; /* the same seed replays the same orders from here */
}

} /* extern "C" */
