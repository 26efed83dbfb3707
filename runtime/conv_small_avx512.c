/*
 * conv_small_avx512.c — convolutions of a one-channel image into a few
 * channels (LeNet's first layer: 32x32x1 -> 6), vectorized over pixels.
 *
 * The GEMM path vectorizes over output channels: with 6 of them, 10 of 16
 * lanes would multiply zeros and every FMA would need its own broadcast.
 * Here a vector is 16 neighbouring output pixels of one channel.  With one
 * input channel and horizontal stride 1, tap (ky, kx) of those 16 pixels is
 * 16 consecutive floats of an input row, one load; each weight is one
 * broadcast shared by two such vectors (32 pixels).  The input rows are
 * copied into zero-padded rows on the stack first, so padding needs no
 * branches and no load leaves the buffer.  The results are scattered into
 * the NHWC output (or a concatenation slice).
 */
#include "cnnrt_internal.h"

#if CNN_X86
#include <immintrin.h>

#define SMALL_MAX_OUT_C  12    /* 2 x 12 accumulators */
#define SMALL_BUF_FLOATS 16384 /* padded rows on the stack: 64 KB */
#define SMALL_MAX_K_H    16

/* The transpose of a dense output (out_stride == out_c): lane l of output
 * vector o is element 16o+l of the pixel-major block of 16 pixels, i.e.
 * pixel idx[o][l] of the channel whose mask[o][ch] has bit l.  Built at
 * the start of each call. */
typedef struct {
    int idx[SMALL_MAX_OUT_C][16];
    __mmask16 mask[SMALL_MAX_OUT_C][SMALL_MAX_OUT_C];
} small_transpose;

static void make_transpose(small_transpose *tt, int nc) {
    memset(tt, 0, sizeof *tt);
    /* element e = 16o + l is channel ch of pixel px (counted: a division
     * per element cost more than the table is worth) */
    for (int o = 0, px = 0, ch = 0; o < nc; o++)
        for (int l = 0; l < 16; l++) {
            tt->idx[o][l] = px;
            tt->mask[o][ch] |= (__mmask16)(1u << l);
            if (++ch == nc) ch = 0, px++;
        }
}

static inline __attribute__((always_inline)) CNN_TARGET_AVX512 void
small_row(float *out, const float *const *rows, const int *row_ok, const float *packed, const cnn_conv *c,
          int y, const small_transpose *tt, const int nc) {
    const int k_total = c->k_h * c->k_w;
    const float *bias = packed + (size_t)k_total * CNN_PANEL;
    const __m512i lane_offsets =
        _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                           _mm512_set1_epi32(c->out_stride));
    const int dense = tt != NULL;
    for (int x0 = 0; x0 < c->out_w; x0 += 32) {
        __m512 acc[2][SMALL_MAX_OUT_C];
        for (int ch = 0; ch < nc; ch++) acc[0][ch] = acc[1][ch] = _mm512_set1_ps(bias[ch]);
        for (int ky = 0; ky < c->k_h; ky++) {
            if (!row_ok[ky]) continue;
            for (int kx = 0; kx < c->k_w; kx++) {
                const float *src = rows[ky] + x0 + kx * c->dil_w;
                const __m512 v0 = _mm512_loadu_ps(src), v1 = _mm512_loadu_ps(src + 16);
                const float *w = packed + (size_t)(ky * c->k_w + kx) * CNN_PANEL;
                for (int ch = 0; ch < nc; ch++) {
                    const __m512 wv = _mm512_set1_ps(w[ch]);
                    acc[0][ch] = _mm512_fmadd_ps(v0, wv, acc[0][ch]);
                    acc[1][ch] = _mm512_fmadd_ps(v1, wv, acc[1][ch]);
                }
            }
        }
        for (int half = 0; half < 2; half++) {
            int n = c->out_w - x0 - 16 * half;
            if (n <= 0) break;
            __mmask16 m = n >= 16 ? 0xFFFF : (__mmask16)((1u << n) - 1);
            float *base = out + ((size_t)y * c->out_w + x0 + 16 * half) * c->out_stride;
            if (dense) {
                /* 16 pixels x nc channels are nc*16 contiguous floats:
                 * output vector v takes lane l from channel (16v+l) % nc,
                 * pixel (16v+l) / nc, one masked permute per channel. */
                __m512 v[SMALL_MAX_OUT_C];
                for (int ch = 0; ch < nc; ch++) v[ch] = cnn_act16(acc[half][ch], &c->act);
                const int total = n * nc;
                for (int o = 0; o < nc; o++) {
                    const __m512i tidx = _mm512_loadu_si512(tt->idx[o]);
                    __m512 r = _mm512_setzero_ps();
                    for (int ch = 0; ch < nc; ch++)
                        r = _mm512_mask_permutexvar_ps(r, tt->mask[o][ch], tidx, v[ch]);
                    int left = total - 16 * o;
                    if (left <= 0) break;
                    __mmask16 sm = left >= 16 ? 0xFFFF : (__mmask16)((1u << left) - 1);
                    _mm512_mask_storeu_ps(base + 16 * o, sm, r);
                }
                continue;
            }
            for (int ch = 0; ch < nc; ch++)
                _mm512_mask_i32scatter_ps(base + ch, m, lane_offsets, cnn_act16(acc[half][ch], &c->act), 4);
        }
    }
}

#define SMALL_FN(NC)                                                                                         \
    static CNN_TARGET_AVX512 void small_row_##NC(float *out, const float *const *rows, const int *row_ok,    \
                                                 const float *packed, const cnn_conv *c, int y,              \
                                                 const small_transpose *tt) {                                \
        small_row(out, rows, row_ok, packed, c, y, tt, NC);                                                  \
    }
SMALL_FN(1)
SMALL_FN(2) SMALL_FN(3) SMALL_FN(4) SMALL_FN(5) SMALL_FN(6) SMALL_FN(7) SMALL_FN(8) SMALL_FN(9) SMALL_FN(10)
    SMALL_FN(11) SMALL_FN(12)

        typedef void (*small_row_fn)(float *, const float *const *, const int *, const float *,
                                     const cnn_conv *, int, const small_transpose *);
static const small_row_fn small_rows[SMALL_MAX_OUT_C + 1] = {
    NULL,        small_row_1, small_row_2, small_row_3,  small_row_4,  small_row_5,  small_row_6,
    small_row_7, small_row_8, small_row_9, small_row_10, small_row_11, small_row_12,
};

/* Copies input row iy into dst as a padded row: index j holds input column
 * j - pad_left, zero outside the input. */
static void pad_row(float *dst, const float *in, const cnn_conv *c, int iy, int padded_w) {
    int left = c->pad_left < padded_w ? c->pad_left : padded_w;
    int copy = c->in_w < padded_w - left ? c->in_w : padded_w - left;
    memset(dst, 0, sizeof(float) * (size_t)padded_w);
    memcpy(dst + left, in + (size_t)iy * c->in_w, sizeof(float) * (size_t)copy);
}

int cnn_conv_small_avx512(float *out, const float *in, const float *packed, const float *residual,
                          const cnn_conv *c) {
    /* the last vector pair may read 31 floats past the last output's taps */
    int padded_w = c->out_w + (c->k_w - 1) * c->dil_w + 32;
    if (c->in_c != 1 || c->out_c > SMALL_MAX_OUT_C || c->stride_w != 1 || residual ||
        c->k_h > SMALL_MAX_K_H || (long)c->k_h * padded_w > SMALL_BUF_FLOATS || c->pad_left < 0)
        return 0;
    float buf[SMALL_BUF_FLOATS];
    /* the whole image padded once when it fits, else the k_h rows of each output row */
    int whole = (long)c->in_h * padded_w <= SMALL_BUF_FLOATS;
    if (whole)
        for (int iy = 0; iy < c->in_h; iy++) pad_row(buf + (size_t)iy * padded_w, in, c, iy, padded_w);
    const float *rows[SMALL_MAX_K_H];
    int row_ok[SMALL_MAX_K_H];
    small_transpose tt;
    const int dense = c->out_stride == c->out_c;
    if (dense) make_transpose(&tt, c->out_c);
    for (int y = 0; y < c->out_h; y++) {
        for (int ky = 0; ky < c->k_h; ky++) {
            int iy = y * c->stride_h + ky * c->dil_h - c->pad_top;
            row_ok[ky] = iy >= 0 && iy < c->in_h;
            if (!row_ok[ky])
                rows[ky] = buf;
            else if (whole)
                rows[ky] = buf + (size_t)iy * padded_w;
            else {
                pad_row(buf + (size_t)ky * padded_w, in, c, iy, padded_w);
                rows[ky] = buf + (size_t)ky * padded_w;
            }
        }
        small_rows[c->out_c](out, rows, row_ok, packed, c, y, dense ? &tt : NULL);
    }
    return 1;
}
#endif
