/*
 * cnnrt_internal.h — what the runtime's files share and nobody else sees.
 *
 * The convolution driver (conv.c) is ISA-independent: it cuts the output
 * into tiles of up to CNN_MR_MAX pixels by one 32-column weight panel and
 * hands each tile to a micro-kernel chosen once per process (isa.c).  A
 * micro-kernel reads its input through a table of row pointers, one per
 * (tap, pixel), so padding is a pointer to zeros and no im2col matrix is
 * built for the common cases.  Fast activations (exp, tanh, sigmoid) live
 * here as branch-free inline C so that both the generic and the vector
 * paths produce the same numbers to within a few ulp.
 */
#ifndef CNNRT_INTERNAL_H
#define CNNRT_INTERNAL_H

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "cnnrt.h"

/* -DCNNRT_PORTABLE builds the plain C kernels only, as on a non-x86 target. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(CNNRT_PORTABLE)
#define CNN_X86           1
#define CNN_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))
#define CNN_TARGET_AVX2   __attribute__((target("avx2,fma")))
#else
#define CNN_X86 0
#endif

/* CNN_UNROLL(n): unroll the next loop n times (n may be a macro) */
#define CNN_STRINGIFY(x) #x
#define CNN_UNROLL(n)    _Pragma(CNN_STRINGIFY(GCC unroll n))

#if defined(__GNUC__)
#define CNN_INLINE   static inline __attribute__((always_inline))
#define CNN_ALIGN(n) __attribute__((aligned(n)))
#else
#define CNN_INLINE static inline
#define CNN_ALIGN(n)
#endif

#define CNN_MAX_THREADS 16
#define CNN_MR_MAX      14 /* pixels per micro-kernel tile, at most */

/* Floats of the shared zero row that padded taps point at.  A padded
 * convolution with more input channels than this takes the slow path. */
#define CNN_ZERO_FLOATS 16384
extern const float cnn_zero_row[CNN_ZERO_FLOATS];

/* One micro-kernel call: out[r][0..nr) for r < mr =
 *   act(bias + sum_t sum_k a[t*mr + r][k] * b[t*kc*32 + k*32 + ...] (+ residual)). */
typedef struct {
    int mr, nr;            /* pixels (1..CNN_MR_MAX) and valid columns (1..32) */
    int n_taps, kc;        /* taps and floats per tap */
    const float *const *a; /* a[t*mr + r]: kc floats of pixel r for tap t */
    const float *b;        /* packed panel at the first tap's first row */
    const float *bias;     /* 32 floats, the panel's slice of the packed bias */
    float *out;            /* pixel r at out + r*out_stride */
    ptrdiff_t out_stride;
    const float *residual; /* NULL, or pixel r at residual + r*res_stride */
    ptrdiff_t res_stride;
    const cnn_act *act;
    ptrdiff_t prefetch_offset; /* 0, or floats from b to data worth prefetching
                                  alongside (part of the next panel, still cold) */
    int prefetch_step;         /* bytes the prefetch address advances per k step
                                  (128: a whole panel row; less when the tiles
                                  of a pass share the next panel out) */
} cnn_tile;

typedef void (*cnn_tile_fn)(const cnn_tile *t);

/* Depthwise rows: output rows y0..y1-1 of a dwconv.  Input row iy is at
 * in + (iy % ring_rows) * in_w * in_c when ring_rows > 0 (a ring of
 * rows, cnn_conv_dw_forward), at in + iy * in_w * in_c when it is 0. */
typedef void (*cnn_dw_rows_fn)(float *out, const float *in, const float *packed, const cnn_dwconv *d, int y0,
                               int y1, int ring_rows);
typedef void (*cnn_act_fn)(float *x, size_t n, const cnn_act *act);

typedef struct {
    int isa; /* enum cnn_isa */
    int mr;  /* tile height the driver should use */
    cnn_tile_fn tile;
    cnn_dw_rows_fn dw_rows;
    cnn_act_fn act; /* in place, any activation */
    /* a special convolution path; returns 0 when the layer is not its kind */
    int (*conv_small)(float *out, const float *in, const float *packed, const float *residual,
                      const cnn_conv *c);
} cnn_kernels;

const cnn_kernels *cnn_kernels_get(void);

/* Whether c runs on the tiled GEMM path (else on Winograd, or on a slow
 * exact loop: padding wider than the zero row, or too many taps). */
int cnn_conv_tiled(const cnn_conv *c);
/* Output rows y0..y1-1 of a convolution without residual, on the calling
 * thread; row y0 is written at out_rows.  c must be tiled (cnn_conv_tiled):
 * cnn_conv_dw_fusable checks it for the fused pairs, and Winograd's GEMMs
 * are 1x1 convolutions without padding. */
void cnn_conv_rows(float *out_rows, const float *in, const float *packed, const cnn_conv *c, int y0, int y1);

/* Winograd F(2x2, 3x3) (conv_winograd.c): cnn_conv_winograd says from the
 * geometry alone whether a convolution is packed and run that way. */
int cnn_conv_winograd(const cnn_conv *c);
size_t cnn_winograd_packed_floats(const cnn_conv *c);
void cnn_winograd_pack(float *packed, const float *kernel, const float *bias, const cnn_conv *c);
size_t cnn_winograd_scratch_floats(const cnn_conv *c);
void cnn_winograd_forward(float *out, const float *in, const float *packed, const float *residual,
                          float *scratch, const cnn_conv *c);

/* Per-ISA tables (NULL members where an ISA has nothing special). */
void cnn_tile_generic(const cnn_tile *t);
void cnn_dw_rows_generic(float *out, const float *in, const float *packed, const cnn_dwconv *d, int y0,
                         int y1, int ring_rows);
void cnn_act_generic(float *x, size_t n, const cnn_act *act);
#if CNN_X86
void cnn_tile_avx512(const cnn_tile *t);
void cnn_dw_rows_avx512(float *out, const float *in, const float *packed, const cnn_dwconv *d, int y0, int y1,
                        int ring_rows);
void cnn_act_avx512(float *x, size_t n, const cnn_act *act);
int cnn_conv_small_avx512(float *out, const float *in, const float *packed, const float *residual,
                          const cnn_conv *c);
void cnn_tile_avx2(const cnn_tile *t);
#endif

/*
 * Threads.  cnn_parallel runs fn(ctx, i, n) for every i < n on n threads
 * (the caller is thread 0) and returns when all are done.  n must not
 * exceed cnnrt_threads().  Kernels call it only for work worth a wakeup.
 */
typedef void (*cnn_task_fn)(void *ctx, int index, int n);
void cnn_parallel(cnn_task_fn fn, void *ctx, int n);

/* Work (multiply-adds) below which a kernel stays on the calling thread. */
#define CNN_PARALLEL_MIN_MACS 1500000.0

/* Floats written below which a memory-bound layer (pooling, padding, add,
 * LRN) stays on the calling thread: 256 KB, tens of microseconds.  Above
 * it, two cores move data about twice as fast as one (each has its own L2
 * and fill buffers), so these layers split their rows too. */
#define CNN_PARALLEL_MIN_FLOATS 65536.0

/* Threads for a memory-bound layer writing `floats` floats in `rows`
 * independent rows: 1 below the threshold, else min(threads, rows). */
CNN_INLINE int cnn_parallel_parts(double floats, long rows) {
    int n = cnnrt_threads();
    if (n <= 1 || floats < CNN_PARALLEL_MIN_FLOATS || rows < 2) return 1;
    return rows < n ? (int)rows : n;
}

/* ---- scalar math shared by every path ------------------------------------ */

/* exp for x in float range, relative error ~2e-7: 2^n * p(r), |r| <= ln2/2. */
CNN_INLINE float cnn_expf(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    float n = floorf(x * 1.44269504f + 0.5f);
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    union {
        unsigned int u;
        float f;
    } scale;
    scale.u = (unsigned int)((int)n + 127) << 23;
    return p * scale.f;
}

CNN_INLINE float cnn_sigmoidf(float x) {
    return 1.0f / (1.0f + cnn_expf(-x));
}

/* tanh with relative error < 4.1e-7 (float arithmetic, every float checked;
 * clamping at 9 adds at most 3.1e-8, tanh(9) = 1 - 3.05e-8):
 * x P(x^2) / Q(x^2), a [9/8] rational fitted for
 * minimal relative error on (0, 9] by tools/fit_tanh.py.  Half the
 * operations of the exp form 1 - 2/(e^2x + 1), and no cancellation near 0
 * to patch with a series. */
#define CNN_TANH_CLAMP 9.0f
#define CNN_TANH_P0    1.0f
#define CNN_TANH_P1    0.13382366f
#define CNN_TANH_P2    0.0034971307f
#define CNN_TANH_P3    2.0632391e-05f
#define CNN_TANH_P4    1.3382959e-08f
#define CNN_TANH_Q1    0.46715683f
#define CNN_TANH_Q2    0.025882982f
#define CNN_TANH_Q3    0.00032880687f
#define CNN_TANH_Q4    7.788992e-07f
CNN_INLINE float cnn_tanhf(float x) {
    x = x < -CNN_TANH_CLAMP ? -CNN_TANH_CLAMP : x > CNN_TANH_CLAMP ? CNN_TANH_CLAMP : x;
    float t = x * x;
    float p = (((CNN_TANH_P4 * t + CNN_TANH_P3) * t + CNN_TANH_P2) * t + CNN_TANH_P1) * t + CNN_TANH_P0;
    float q = (((CNN_TANH_Q4 * t + CNN_TANH_Q3) * t + CNN_TANH_Q2) * t + CNN_TANH_Q1) * t + 1.0f;
    return x * p / q;
}

CNN_INLINE float cnn_relu(float x, const cnn_act *act) {
    x = x < 0.0f ? x * act->negative_slope : x;
    if (act->has_max) x = x > act->max_value ? act->max_value : x;
    return x;
}

#if CNN_X86
#include <immintrin.h>

/* The scalar approximations above, 16 lanes at a time (same formulas, same
 * constants; scalef does the 2^n scaling). */
static inline __attribute__((always_inline)) CNN_TARGET_AVX512 __m512 cnn_exp16(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
    x = _mm512_min_ps(x, _mm512_set1_ps(88.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504f), _mm512_set1_ps(0.5f)),
                                    _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* 1/d from the 14-bit estimate and one Newton step (error ~1e-8): a
 * division costs as much as the rest of tanh. */
static inline __attribute__((always_inline)) CNN_TARGET_AVX512 __m512 cnn_recip16(__m512 d) {
    __m512 y = _mm512_rcp14_ps(d);
    return _mm512_mul_ps(y, _mm512_fnmadd_ps(d, y, _mm512_set1_ps(2.0f)));
}

static inline __attribute__((always_inline)) CNN_TARGET_AVX512 __m512 cnn_sigmoid16(__m512 x) {
    const __m512 one = _mm512_set1_ps(1.0f);
    return cnn_recip16(_mm512_add_ps(one, cnn_exp16(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

static inline __attribute__((always_inline)) CNN_TARGET_AVX512 __m512 cnn_tanh16(__m512 x) {
    /* max(c, x) and min(c, x) return x when it is NaN: NaN stays NaN */
    x = _mm512_min_ps(_mm512_set1_ps(CNN_TANH_CLAMP), _mm512_max_ps(_mm512_set1_ps(-CNN_TANH_CLAMP), x));
    const __m512 t = _mm512_mul_ps(x, x);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(CNN_TANH_P4), t, _mm512_set1_ps(CNN_TANH_P3));
    __m512 q = _mm512_fmadd_ps(_mm512_set1_ps(CNN_TANH_Q4), t, _mm512_set1_ps(CNN_TANH_Q3));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(CNN_TANH_P2));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(CNN_TANH_Q2));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(CNN_TANH_P1));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(CNN_TANH_Q1));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(CNN_TANH_P0));
    q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(1.0f));
    return _mm512_mul_ps(_mm512_mul_ps(x, p), cnn_recip16(q));
}

/* Any activation on 16 lanes; tanh and sigmoid included. */
static inline __attribute__((always_inline)) CNN_TARGET_AVX512 __m512 cnn_act16(__m512 v,
                                                                                const cnn_act *act) {
    switch (act->kind) {
    case CNN_ACT_RELU:
        v = _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), v,
                               _mm512_set1_ps(act->negative_slope));
        return act->has_max ? _mm512_min_ps(v, _mm512_set1_ps(act->max_value)) : v;
    case CNN_ACT_TANH: return cnn_tanh16(v);
    case CNN_ACT_SIGMOID: return cnn_sigmoid16(v);
    default: return v;
    }
}
#endif

#endif
