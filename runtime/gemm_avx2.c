/*
 * gemm_avx2.c — the AVX2+FMA micro-kernel: up to 6 pixels x 16 channels.
 *
 * With 16 ymm registers, 6 rows x 2 ymm of accumulators (12) plus two
 * weight vectors and a broadcast is the largest tile that fits.  The
 * packed panel is 32 columns wide, so a tile runs twice, once per 16-column
 * half, reading every other 64-byte half-row of the panel; the pointer
 * table is shared.  Partial columns are stored through a small buffer.
 */
#include "cnnrt_internal.h"

#if CNN_X86
#include <immintrin.h>

#define AVX2_MR 6

static inline __attribute__((always_inline)) CNN_TARGET_AVX2 void half_body(const cnn_tile *t, const int mr,
                                                                            int half) {
    __m256 acc0[AVX2_MR], acc1[AVX2_MR];
    const int col0 = half * 16;
    const __m256 bias0 = _mm256_loadu_ps(t->bias + col0), bias1 = _mm256_loadu_ps(t->bias + col0 + 8);
    /* the loops over r that touch acc0/acc1 outside the k loop are unrolled
     * too: left as loops, GCC kept the accumulators in a stack array and
     * stored and reloaded all of them around every tile */
    CNN_UNROLL(AVX2_MR) for (int r = 0; r < mr; r++) {
        acc0[r] = bias0;
        acc1[r] = bias1;
    }
    const float *b = t->b + col0;
    const float *const *a = t->a;
    const int kc = t->kc;
    for (int tap = 0; tap < t->n_taps; tap++, a += mr) {
        const float *p[AVX2_MR];
        for (int r = 0; r < mr; r++) p[r] = a[r];
        for (int k = 0; k < kc; k++, b += CNN_PANEL) {
            const __m256 w0 = _mm256_loadu_ps(b), w1 = _mm256_loadu_ps(b + 8);
            for (int r = 0; r < mr; r++) {
                const __m256 x = _mm256_broadcast_ss(p[r] + k);
                acc0[r] = _mm256_fmadd_ps(x, w0, acc0[r]);
                acc1[r] = _mm256_fmadd_ps(x, w1, acc1[r]);
            }
        }
    }
    int cols = t->nr - col0;
    cols = cols > 16 ? 16 : cols;
    const cnn_act *act = t->act;
    const int relu = act->kind == CNN_ACT_RELU, has_max = relu && act->has_max;
    const __m256 zero = _mm256_setzero_ps(), slope = _mm256_set1_ps(act->negative_slope);
    const __m256 maxv = _mm256_set1_ps(act->max_value);
    CNN_UNROLL(AVX2_MR) for (int r = 0; r < mr; r++) {
        float *out = t->out + r * t->out_stride + col0;
        const float *res = t->residual ? t->residual + r * t->res_stride + col0 : NULL;
        CNN_ALIGN(32) float buf[16];
        __m256 v0 = acc0[r], v1 = acc1[r];
        if (res && cols == 16) {
            v0 = _mm256_add_ps(v0, _mm256_loadu_ps(res));
            v1 = _mm256_add_ps(v1, _mm256_loadu_ps(res + 8));
        }
        if (relu && (cols == 16 || !res)) {
            v0 = _mm256_blendv_ps(v0, _mm256_mul_ps(v0, slope), _mm256_cmp_ps(v0, zero, _CMP_LT_OQ));
            v1 = _mm256_blendv_ps(v1, _mm256_mul_ps(v1, slope), _mm256_cmp_ps(v1, zero, _CMP_LT_OQ));
            if (has_max) {
                v0 = _mm256_min_ps(v0, maxv);
                v1 = _mm256_min_ps(v1, maxv);
            }
        }
        if (cols == 16) {
            _mm256_storeu_ps(out, v0);
            _mm256_storeu_ps(out + 8, v1);
        } else {
            _mm256_store_ps(buf, v0);
            _mm256_store_ps(buf + 8, v1);
            for (int j = 0; j < cols; j++)
                out[j] = res ? (relu ? cnn_relu(buf[j] + res[j], act) : buf[j] + res[j]) : buf[j];
        }
    }
    if (act->kind == CNN_ACT_TANH || act->kind == CNN_ACT_SIGMOID)
        for (int r = 0; r < mr; r++) cnn_act_generic(t->out + r * t->out_stride + col0, (size_t)cols, act);
}

#define HALF_FN(MR)                                                                                          \
    static CNN_TARGET_AVX2 void half_##MR(const cnn_tile *t, int half) {                                     \
        half_body(t, MR, half);                                                                              \
    }
HALF_FN(1)
HALF_FN(2) HALF_FN(3) HALF_FN(4) HALF_FN(5) HALF_FN(6)

    static void (*const halves[AVX2_MR + 1])(const cnn_tile *, int) = {NULL,   half_1, half_2, half_3,
                                                                       half_4, half_5, half_6};

void cnn_tile_avx2(const cnn_tile *t) {
    if (t->mr > AVX2_MR) {
        cnn_tile_generic(t); /* the driver never asks for more than 6 rows */
        return;
    }
    halves[t->mr](t, 0);
    if (t->nr > 16) halves[t->mr](t, 1);
}
#endif
