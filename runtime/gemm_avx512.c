/*
 * gemm_avx512.c — the AVX-512 micro-kernel: up to 14 pixels x 32 channels.
 *
 * 14 rows x 2 zmm of accumulators is 28 of the 32 registers; the other
 * three hold the two halves of a packed weight row and the broadcast input
 * value.  Per k step that is 28 FMAs against 16 loads (14 broadcasts, 2
 * weight vectors), so the two FMA ports stay busy while the loads fit in
 * the three load ports.  Every tile height 1..14 and width 16 or 32 is its
 * own instance of one inline body, so the accumulators are named registers
 * in each.  The epilogue (residual, activation, masked stores for a
 * partial panel) runs on the registers.
 */
#include "cnnrt_internal.h"

#if CNN_X86
#include <immintrin.h>

#define KERNEL_INLINE static inline __attribute__((always_inline))

/* pf: also pull (a share of) the next panel's weights into L2, advancing
 * prefetch_step bytes per k step: a whole 128-byte panel row when one tile
 * fetches the next panel, less when the tiles of a pass split it, so the
 * stream from memory is spread over the whole pass instead of saturating
 * it during the first tile. */
KERNEL_INLINE CNN_TARGET_AVX512 void tile_body(const cnn_tile *t, const int mr, const int nv, const int pf) {
    __m512 acc0[CNN_MR_MAX], acc1[CNN_MR_MAX];
    const __m512 bias0 = _mm512_loadu_ps(t->bias), bias1 = _mm512_loadu_ps(t->bias + 16);
    /* the loops over r that touch acc0/acc1 outside the k loop are unrolled
     * too: left as loops, GCC kept the accumulators in a stack array and
     * stored and reloaded all of them around every tile */
    CNN_UNROLL(CNN_MR_MAX) for (int r = 0; r < mr; r++) {
        acc0[r] = bias0;
        acc1[r] = bias1;
    }
    const float *b = t->b;
    const float *const *a = t->a;
    const int kc = t->kc;
    const char *pfp = (const char *)(t->b + t->prefetch_offset);
    const ptrdiff_t pf_step = t->prefetch_step;
    for (int tap = 0; tap < t->n_taps; tap++, a += mr) {
        const float *p[CNN_MR_MAX];
        for (int r = 0; r < mr; r++) p[r] = a[r];
        /* unrolled: the loop overhead is a few percent at kc = 64 */
        _Pragma("GCC unroll 4") for (int k = 0; k < kc; k++, b += CNN_PANEL) {
            const __m512 w0 = _mm512_loadu_ps(b);
            const __m512 w1 = nv == 2 ? _mm512_loadu_ps(b + 16) : w0;
            if (pf) {
                _mm_prefetch(pfp, _MM_HINT_T1);
                if (pf_step > 64) _mm_prefetch(pfp + 64, _MM_HINT_T1);
                pfp += pf_step;
            }
            for (int r = 0; r < mr; r++) {
                const __m512 x = _mm512_set1_ps(p[r][k]);
                acc0[r] = _mm512_fmadd_ps(x, w0, acc0[r]);
                if (nv == 2) acc1[r] = _mm512_fmadd_ps(x, w1, acc1[r]);
            }
        }
    }

    const int nr = t->nr;
    const __mmask16 m0 = nr >= 16 ? 0xFFFF : (__mmask16)((1u << nr) - 1);
    const __mmask16 m1 = nr >= 32 ? 0xFFFF : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1) : 0;
    const cnn_act *act = t->act;
    CNN_UNROLL(CNN_MR_MAX) for (int r = 0; r < mr; r++) {
        __m512 v0 = acc0[r], v1 = acc1[r];
        if (t->residual) {
            const float *res = t->residual + r * t->res_stride;
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, res));
            if (nv == 2) v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, res + 16));
        }
        v0 = cnn_act16(v0, act);
        if (nv == 2) v1 = cnn_act16(v1, act);
        float *out = t->out + r * t->out_stride;
        _mm512_mask_storeu_ps(out, m0, v0);
        if (nv == 2) _mm512_mask_storeu_ps(out + 16, m1, v1);
    }
}

/* One pixel (dense layers, batch 1): a matrix-vector product streaming the
 * panel.  Two accumulators would make every k step wait on the previous
 * FMA (4 cycles), so four k steps go to four independent pairs. */
KERNEL_INLINE CNN_TARGET_AVX512 void gemv_body(const cnn_tile *t, const int nv) {
    __m512 acc[4][2];
    for (int u = 0; u < 4; u++) acc[u][0] = acc[u][1] = _mm512_setzero_ps();
    const float *b = t->b;
    const int kc = t->kc;
    for (int tap = 0; tap < t->n_taps; tap++) {
        const float *x = t->a[tap];
        int k = 0;
        for (; k + 4 <= kc; k += 4, b += 4 * CNN_PANEL) {
            for (int u = 0; u < 4; u++) {
                const __m512 v = _mm512_set1_ps(x[k + u]);
                acc[u][0] = _mm512_fmadd_ps(v, _mm512_loadu_ps(b + u * CNN_PANEL), acc[u][0]);
                if (nv == 2)
                    acc[u][1] = _mm512_fmadd_ps(v, _mm512_loadu_ps(b + u * CNN_PANEL + 16), acc[u][1]);
            }
        }
        for (; k < kc; k++, b += CNN_PANEL) {
            const __m512 v = _mm512_set1_ps(x[k]);
            acc[0][0] = _mm512_fmadd_ps(v, _mm512_loadu_ps(b), acc[0][0]);
            if (nv == 2) acc[0][1] = _mm512_fmadd_ps(v, _mm512_loadu_ps(b + 16), acc[0][1]);
        }
    }
    const int nr = t->nr;
    for (int h = 0; h < nv; h++) {
        int cols = nr - 16 * h;
        __mmask16 m = cols >= 16 ? 0xFFFF : (__mmask16)((1u << cols) - 1);
        __m512 v = _mm512_add_ps(_mm512_add_ps(acc[0][h], acc[1][h]), _mm512_add_ps(acc[2][h], acc[3][h]));
        v = _mm512_add_ps(v, _mm512_loadu_ps(t->bias + 16 * h));
        if (t->residual) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, t->residual + 16 * h));
        _mm512_mask_storeu_ps(t->out + 16 * h, m, cnn_act16(v, t->act));
    }
}

static CNN_TARGET_AVX512 void gemv_16(const cnn_tile *t) {
    gemv_body(t, 1);
}
static CNN_TARGET_AVX512 void gemv_32(const cnn_tile *t) {
    gemv_body(t, 2);
}

#define TILE_FN(MR)                                                                                          \
    static CNN_TARGET_AVX512 void tile_##MR##_16(const cnn_tile *t) {                                        \
        tile_body(t, MR, 1, 0);                                                                              \
    }                                                                                                        \
    static CNN_TARGET_AVX512 void tile_##MR##_32(const cnn_tile *t) {                                        \
        tile_body(t, MR, 2, 0);                                                                              \
    }                                                                                                        \
    static CNN_TARGET_AVX512 void tile_##MR##_32pf(const cnn_tile *t) {                                      \
        tile_body(t, MR, 2, 1);                                                                              \
    }

/* The macro calls have no semicolon to end them, which clang-format takes
 * for one long statement: it stays out of this part. */
/* clang-format off */
TILE_FN(2) TILE_FN(3) TILE_FN(4) TILE_FN(5) TILE_FN(6) TILE_FN(7) TILE_FN(8)
TILE_FN(9) TILE_FN(10) TILE_FN(11) TILE_FN(12) TILE_FN(13) TILE_FN(14)

static void (*const tiles[CNN_MR_MAX + 1][3])(const cnn_tile *) = {
    {NULL, NULL, NULL},
    {gemv_16, gemv_32, gemv_32},
    {tile_2_16, tile_2_32, tile_2_32pf},
    {tile_3_16, tile_3_32, tile_3_32pf},
    {tile_4_16, tile_4_32, tile_4_32pf},
    {tile_5_16, tile_5_32, tile_5_32pf},
    {tile_6_16, tile_6_32, tile_6_32pf},
    {tile_7_16, tile_7_32, tile_7_32pf},
    {tile_8_16, tile_8_32, tile_8_32pf},
    {tile_9_16, tile_9_32, tile_9_32pf},
    {tile_10_16, tile_10_32, tile_10_32pf},
    {tile_11_16, tile_11_32, tile_11_32pf},
    {tile_12_16, tile_12_32, tile_12_32pf},
    {tile_13_16, tile_13_32, tile_13_32pf},
    {tile_14_16, tile_14_32, tile_14_32pf},
};
/* clang-format on */

void cnn_tile_avx512(const cnn_tile *t) {
    tiles[t->mr][t->nr <= 16 ? 0 : t->prefetch_offset ? 2 : 1](t);
}

/* ---- depthwise (depth_multiplier 1) --------------------------------------
 * 3x3 kernels without dilation (MobileNet's) run in register blocks of 7
 * or 8 neighbouring outputs of one or two rows, 16 channels at a time,
 * input vectors loaded straight from the NHWC rows and padding loaded
 * from the zero row.  Other kernels go pixel by pixel: every output vector is a
 * chain of k_h*k_w FMAs, taps outside the input skipped, rows outside it
 * dropped for the whole row. */
/* Outputs x0..x0+B-1 of NR output rows (1, or 2 with stride 1) of a 3x3
 * kernel (stride S, no dilation), all channels: each input vector loaded
 * feeds up to three of the B accumulators of each row it is under, so a
 * block of 8 costs 3*(7*S+3) input loads and 9 weight loads for 72 FMAs
 * instead of 144 loads, and two rows read 4 input rows instead of 6 (the
 * kernel is bound by those loads from L2).  rows[ir] is input row ir of
 * the block (ok[ir] = 0 outside the input).  EDGE blocks also cover the
 * padding (input columns outside the row load from the zero row) and a
 * row end (only the first `valid` outputs are stored), so the
 * whole row runs in blocks. */
KERNEL_INLINE CNN_TARGET_AVX512 void dw3x3_block(float *dst, const float *const *rows, const int *ok, int x0,
                                                 int valid, const float *packed, const float *bias,
                                                 const cnn_dwconv *d, const int S, const int B, const int NR,
                                                 const int EDGE) {
    const cnn_conv *g = &d->geom;
    const int n = g->out_c, in_c = g->in_c;
    const ptrdiff_t ix0 = (ptrdiff_t)x0 * S - g->pad_left, step = g->out_stride;
    const ptrdiff_t row_step = (ptrdiff_t)g->out_w * g->out_stride;
    const cnn_act *act = &g->act;
    const int relu = act->kind == CNN_ACT_RELU, has_max = relu && act->has_max;
    const int LOADS = (B - 1) * S + 3;
    /* EDGE: where column i of input row ir is, the zero row for a column
     * outside the input (a pointer per load: choosing a mask per load
     * took more instructions than the FMAs) */
    const float *src[4][7 * 2 + 3];
    if (EDGE)
        for (int ir = 0; ir < NR + 2; ir++)
            for (int i = 0; i < LOADS; i++) {
                ptrdiff_t ix = ix0 + i;
                src[ir][i] = ix >= 0 && ix < g->in_w ? rows[ir] + ix * in_c : cnn_zero_row;
            }
    for (int c0 = 0; c0 < n; c0 += 16) {
        const __mmask16 m = n - c0 >= 16 ? 0xFFFF : (__mmask16)((1u << (n - c0)) - 1);
        /* every loop over q, o, i, ir and kx is unrolled: with constant
         * indices acc[][], v[] and w[] live in registers (2*8 + 10 + 3 or
         * 8 + 17 + 3 of the 32) */
        __m512 acc[2][8];
        _Pragma("GCC unroll 2") for (int q = 0; q < NR; q++) {
            _Pragma("GCC unroll 8") for (int o = 0; o < B; o++) acc[q][o] =
                _mm512_maskz_loadu_ps(m, bias + c0);
        }
        _Pragma("GCC unroll 4") for (int ir = 0; ir < NR + 2; ir++) {
            if (!ok[ir]) continue;
            __m512 v[7 * 2 + 3];
            _Pragma("GCC unroll 17") for (int i = 0; i < LOADS; i++) v[i] =
                _mm512_maskz_loadu_ps(m, (EDGE ? src[ir][i] : rows[ir] + (ix0 + i) * in_c) + c0);
            _Pragma("GCC unroll 2") for (int q = 0; q < NR; q++) {
                const int ky = ir - q; /* the kernel row this input row is for output row q */
                if (ky < 0 || ky > 2) continue;
                __m512 w[3];
                _Pragma("GCC unroll 3") for (int kx = 0; kx < 3; kx++) w[kx] =
                    _mm512_maskz_loadu_ps(m, packed + (size_t)(ky * 3 + kx) * n + c0);
                _Pragma("GCC unroll 8") for (int o = 0; o < B; o++) {
                    acc[q][o] = _mm512_fmadd_ps(v[o * S], w[0], acc[q][o]);
                    acc[q][o] = _mm512_fmadd_ps(v[o * S + 1], w[1], acc[q][o]);
                    acc[q][o] = _mm512_fmadd_ps(v[o * S + 2], w[2], acc[q][o]);
                }
            }
        }
        const __m512 zero = _mm512_setzero_ps(), slope = _mm512_set1_ps(act->negative_slope);
        const __m512 maxv = _mm512_set1_ps(act->max_value);
        _Pragma("GCC unroll 2") for (int q = 0; q < NR; q++) {
            _Pragma("GCC unroll 8") for (int o = 0; o < B; o++) {
                __m512 v = acc[q][o];
                if (relu) {
                    v = _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ), v, slope);
                    if (has_max) v = _mm512_min_ps(v, maxv);
                }
                if (!EDGE || o < valid) _mm512_mask_storeu_ps(dst + q * row_step + o * step + c0, m, v);
            }
        }
    }
}

/* NR whole output rows of a 3x3 depthwise convolution with stride S, in
 * blocks of B outputs (7 when that divides the row and 8 does not: 14, 28
 * and 7 wide rows then waste nothing).  No software prefetch: the
 * hardware prefetcher follows the input rows, and explicit prefetches
 * measured slower. */
KERNEL_INLINE CNN_TARGET_AVX512 void dw3x3_rows(float *out_row, const float *const *rows, const int *ok,
                                                const float *packed, const cnn_dwconv *d, const int S,
                                                const int B, const int NR) {
    const cnn_conv *g = &d->geom;
    const float *bias = packed + (size_t)9 * g->out_c;
    for (int x0 = 0; x0 < g->out_w; x0 += B) {
        const int valid = g->out_w - x0 < B ? g->out_w - x0 : B;
        const ptrdiff_t ix0 = (ptrdiff_t)x0 * S - g->pad_left;
        float *dst = out_row + (size_t)x0 * g->out_stride;
        if (ix0 >= 0 && ix0 + (B - 1) * S + 2 < g->in_w && valid == B)
            dw3x3_block(dst, rows, ok, x0, B, packed, bias, d, S, B, NR, 0);
        else
            dw3x3_block(dst, rows, ok, x0, valid, packed, bias, d, S, B, NR, 1);
    }
}

/* 3x3, no dilation, stride 1 or 2 horizontally, an activation the block
 * applies itself: the block path. */
static inline int dw3x3_fast(const cnn_dwconv *d) {
    const cnn_conv *g = &d->geom;
    return g->k_h == 3 && g->k_w == 3 && g->dil_w == 1 && g->dil_h == 1 && g->in_c <= CNN_ZERO_FLOATS &&
           (g->stride_w == 1 || g->stride_w == 2) && g->act.kind != CNN_ACT_TANH &&
           g->act.kind != CNN_ACT_SIGMOID;
}

/* Output row y, or rows y and y+1 (NR = 2: 3x3, stride 1, the block path). */
KERNEL_INLINE CNN_TARGET_AVX512 void dw_body(float *out, const float *in, const float *packed,
                                             const cnn_dwconv *d, int y, int ring_rows, const int KH,
                                             const int KW, const int NR) {
    const cnn_conv *g = &d->geom;
    const int n = g->out_c, in_w = g->in_w, sw = g->stride_w, dw = g->dil_w;
    const float *rows[16];
    int ky_ok[16];
    const float *bias = packed + (size_t)KH * KW * n;
    const cnn_act *act = &g->act;
    const int relu = act->kind == CNN_ACT_RELU, has_max = relu && act->has_max;
    const __m512 zero = _mm512_setzero_ps(), slope = _mm512_set1_ps(act->negative_slope);
    const __m512 maxv = _mm512_set1_ps(act->max_value);
    /* interior columns: every kx tap inside the input */
    int x_lo = 0, x_hi = g->out_w;
    while (x_lo < g->out_w && x_lo * sw - g->pad_left < 0) x_lo++;
    while (x_hi > x_lo && (x_hi - 1) * sw - g->pad_left + (KW - 1) * dw >= in_w) x_hi--;
    for (int ky = 0; ky < KH + NR - 1; ky++) { /* NR = 2: stride 1, one more input row */
        int iy = y * g->stride_h + ky * g->dil_h - g->pad_top;
        ky_ok[ky] = iy >= 0 && iy < g->in_h;
        rows[ky] = ky_ok[ky] ? in + (size_t)(ring_rows ? iy % ring_rows : iy) * in_w * g->in_c : in;
    }
    if (dw3x3_fast(d)) {
        float *out_row = out + (size_t)y * g->out_w * g->out_stride;
        const int seven = g->out_w % 8 != 0 && g->out_w % 7 == 0;
        if (NR == 2 && seven)
            dw3x3_rows(out_row, rows, ky_ok, packed, d, 1, 7, 2);
        else if (NR == 2)
            dw3x3_rows(out_row, rows, ky_ok, packed, d, 1, 8, 2);
        else if (sw == 1 && seven)
            dw3x3_rows(out_row, rows, ky_ok, packed, d, 1, 7, 1);
        else if (sw == 1)
            dw3x3_rows(out_row, rows, ky_ok, packed, d, 1, 8, 1);
        else if (seven)
            dw3x3_rows(out_row, rows, ky_ok, packed, d, 2, 7, 1);
        else
            dw3x3_rows(out_row, rows, ky_ok, packed, d, 2, 8, 1);
        return;
    }
    /* The input rows the next output row adds (stride_h of them), fetched
     * into L2 alongside this row's work: they usually come from L3. */
    const float *next_rows[2] = {NULL, NULL};
    for (int s = 0; s < 2 && s < g->stride_h; s++) {
        int iy = (y + 1) * g->stride_h + (KH - 1) * g->dil_h - g->pad_top - s;
        if (y + 1 < g->out_h && iy >= 0 && iy < g->in_h)
            next_rows[s] = in + (size_t)(ring_rows ? iy % ring_rows : iy) * in_w * g->in_c;
    }
    /* Pixel by pixel, all channels: input and output stream through
     * memory in order, and the few KB of weights stay in L1. */
    const size_t row_floats = (size_t)in_w * g->in_c;
    const size_t prefetch_step = (row_floats + (size_t)g->out_w - 1) / (size_t)g->out_w;
    for (int x = 0; x < g->out_w; x++) {
        for (int s = 0; s < 2; s++)
            if (next_rows[s]) {
                /* this column's share of the next rows: a few lines */
                size_t from = (size_t)x * prefetch_step, to = from + prefetch_step;
                for (size_t f = from; f < to && f < row_floats; f += 16)
                    _mm_prefetch((const char *)(next_rows[s] + f), _MM_HINT_T1);
            }
        const int interior = x >= x_lo && x < x_hi;
        const int ix0 = x * sw - g->pad_left;
        const float *src[16 * 16];
        const float *wts[16 * 16];
        int taps = 0;
        for (int ky = 0; ky < KH; ky++) {
            if (!ky_ok[ky]) continue;
            for (int kx = 0; kx < KW; kx++) {
                const int ix = ix0 + kx * dw;
                if (!interior && (ix < 0 || ix >= in_w)) continue;
                src[taps] = rows[ky] + (size_t)ix * g->in_c;
                wts[taps++] = packed + (size_t)(ky * KW + kx) * n;
            }
        }
        float *dst = out + ((size_t)y * g->out_w + x) * g->out_stride;
        for (int c0 = 0; c0 < n; c0 += 16) {
            const __mmask16 m = n - c0 >= 16 ? 0xFFFF : (__mmask16)((1u << (n - c0)) - 1);
            __m512 acc = _mm512_maskz_loadu_ps(m, bias + c0), acc2 = zero;
            int t = 0;
            for (; t + 1 < taps; t += 2) {
                acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, src[t] + c0),
                                      _mm512_maskz_loadu_ps(m, wts[t] + c0), acc);
                acc2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, src[t + 1] + c0),
                                       _mm512_maskz_loadu_ps(m, wts[t + 1] + c0), acc2);
            }
            if (t < taps)
                acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, src[t] + c0),
                                      _mm512_maskz_loadu_ps(m, wts[t] + c0), acc);
            acc = _mm512_add_ps(acc, acc2);
            if (relu) {
                acc = _mm512_mask_mul_ps(acc, _mm512_cmp_ps_mask(acc, zero, _CMP_LT_OQ), acc, slope);
                if (has_max) acc = _mm512_min_ps(acc, maxv);
            }
            _mm512_mask_storeu_ps(dst + c0, m, acc);
        }
    }
    if (act->kind == CNN_ACT_TANH || act->kind == CNN_ACT_SIGMOID)
        for (int x = 0; x < g->out_w; x++)
            cnn_act_avx512(out + ((size_t)y * g->out_w + x) * g->out_stride, (size_t)n, act);
}

static CNN_TARGET_AVX512 void dw_3x3(float *out, const float *in, const float *packed, const cnn_dwconv *d,
                                     int y, int ring_rows) {
    dw_body(out, in, packed, d, y, ring_rows, 3, 3, 1);
}

static CNN_TARGET_AVX512 void dw_3x3_pair(float *out, const float *in, const float *packed,
                                          const cnn_dwconv *d, int y, int ring_rows) {
    dw_body(out, in, packed, d, y, ring_rows, 3, 3, 2);
}

static CNN_TARGET_AVX512 void dw_any(float *out, const float *in, const float *packed, const cnn_dwconv *d,
                                     int y, int ring_rows) {
    dw_body(out, in, packed, d, y, ring_rows, d->geom.k_h, d->geom.k_w, 1);
}

void cnn_dw_rows_avx512(float *out, const float *in, const float *packed, const cnn_dwconv *d, int y0, int y1,
                        int ring_rows) {
    const int pairs = dw3x3_fast(d) && d->geom.stride_h == 1 && d->geom.stride_w == 1;
    for (int y = y0; y < y1; y++) {
        if (pairs && y + 1 < y1)
            dw_3x3_pair(out, in, packed, d, y++, ring_rows);
        else if (d->geom.k_h == 3 && d->geom.k_w == 3)
            dw_3x3(out, in, packed, d, y, ring_rows);
        else if (d->geom.k_h <= 16)
            dw_any(out, in, packed, d, y, ring_rows);
        else
            cnn_dw_rows_generic(out, in, packed, d, y, y + 1, ring_rows);
    }
}
#endif
