/*
 * gemm_generic.c — the portable micro-kernel: plain C any compiler can
 * vectorize.  It is the reference the SIMD kernels are tested against and
 * the path on CPUs without AVX2, so it is written for clarity first: one
 * row of 32 accumulators at a time, two rows when there are two.
 */
#include "cnnrt_internal.h"

/* acc[0..32) and acc2 += taps of rows r and r+1 (acc2 NULL for one row). */
static void rows_dot(float *acc, float *acc2, const cnn_tile *t, int r) {
    const float *b = t->b;
    for (int tap = 0; tap < t->n_taps; tap++, b += (size_t)t->kc * CNN_PANEL) {
        const float *a = t->a[tap * t->mr + r];
        const float *a2 = acc2 ? t->a[tap * t->mr + r + 1] : a;
        for (int k = 0; k < t->kc; k++) {
            const float *brow = b + (size_t)k * CNN_PANEL;
            float x = a[k], x2 = a2[k];
            for (int j = 0; j < CNN_PANEL; j++) acc[j] += x * brow[j];
            if (acc2)
                for (int j = 0; j < CNN_PANEL; j++) acc2[j] += x2 * brow[j];
        }
    }
}

static void store_row(const cnn_tile *t, const float *acc, int r) {
    float *out = t->out + r * t->out_stride;
    const float *res = t->residual ? t->residual + r * t->res_stride : NULL;
    for (int j = 0; j < t->nr; j++) out[j] = acc[j] + (res ? res[j] : 0.0f);
    if (t->act->kind != CNN_ACT_LINEAR) cnn_act_generic(out, (size_t)t->nr, t->act);
}

void cnn_tile_generic(const cnn_tile *t) {
    float acc[CNN_PANEL], acc2[CNN_PANEL];
    int r = 0;
    for (; r + 1 < t->mr; r += 2) {
        memcpy(acc, t->bias, sizeof acc);
        memcpy(acc2, t->bias, sizeof acc2);
        rows_dot(acc, acc2, t, r);
        store_row(t, acc, r);
        store_row(t, acc2, r + 1);
    }
    if (r < t->mr) {
        memcpy(acc, t->bias, sizeof acc);
        rows_dot(acc, NULL, t, r);
        store_row(t, acc, r);
    }
}
