/*
 * depthwise.c — depthwise convolution, one output row at a time.
 *
 * Each input channel is convolved with its own k_h x k_w filter(s), so
 * there is no reduction across channels and no GEMM: the work is a
 * multiply-add per tap, vectorized over contiguous channels.  The row
 * kernels are per ISA (isa.c); this file packs, splits rows among threads
 * and holds the portable row kernel, which also serves depth_multiplier > 1.
 */
#include "cnnrt_internal.h"

size_t cnn_dwconv_packed_floats(const cnn_dwconv *c) {
    return ((size_t)c->geom.k_h * c->geom.k_w + 1) * c->geom.out_c;
}

/* The Keras kernel (k_h, k_w, in_c, dm) is already (k_h, k_w, out_c) with
 * output channel ci*dm + m, so packing is a copy and the bias. */
void cnn_dwconv_pack(float *packed, const float *kernel, const float *bias, const cnn_dwconv *c) {
    size_t taps = (size_t)c->geom.k_h * c->geom.k_w, n = (size_t)c->geom.out_c;
    memcpy(packed, kernel, taps * n * sizeof(float));
    for (size_t i = 0; i < n; i++) packed[taps * n + i] = bias ? bias[i] : 0.0f;
}

void cnn_dw_rows_generic(float *out, const float *in, const float *packed, const cnn_dwconv *d, int y0,
                         int y1, int ring_rows) {
    const cnn_conv *g = &d->geom;
    int dm = d->depth_multiplier, n = g->out_c;
    const float *bias = packed + (size_t)g->k_h * g->k_w * n;
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < g->out_w; x++) {
            float *dst = out + ((size_t)y * g->out_w + x) * g->out_stride;
            memcpy(dst, bias, (size_t)n * sizeof(float));
            for (int ky = 0; ky < g->k_h; ky++) {
                int iy = y * g->stride_h + ky * g->dil_h - g->pad_top;
                if (iy < 0 || iy >= g->in_h) continue;
                for (int kx = 0; kx < g->k_w; kx++) {
                    int ix = x * g->stride_w + kx * g->dil_w - g->pad_left;
                    if (ix < 0 || ix >= g->in_w) continue;
                    const float *src =
                        in + ((size_t)(ring_rows ? iy % ring_rows : iy) * g->in_w + ix) * g->in_c;
                    const float *w = packed + ((size_t)ky * g->k_w + kx) * n;
                    if (dm == 1) {
                        for (int c = 0; c < n; c++) dst[c] += src[c] * w[c];
                    } else {
                        for (int ci = 0; ci < g->in_c; ci++)
                            for (int m = 0; m < dm; m++) dst[ci * dm + m] += src[ci] * w[ci * dm + m];
                    }
                }
            }
            if (g->act.kind != CNN_ACT_LINEAR) cnn_kernels_get()->act(dst, (size_t)n, &g->act);
        }
}

typedef struct {
    float *out;
    const float *in, *packed;
    const cnn_dwconv *d;
    cnn_dw_rows_fn rows_fn;
    int n_parts;
    /* Thread i owns output rows [rows*i/n_parts, rows*(i+1)/n_parts);
     * next[i] is its next unclaimed row, claimed atomically by the owner
     * or, once that thread has run out, by another.  A cache line each. */
    struct {
        int next;
        char pad[64 - sizeof(int)];
    } part[CNN_MAX_THREADS] __attribute__((aligned(64)));
} dw_job;

/* Each thread runs its own contiguous rows first (the rows the pointwise
 * convolutions around it give the same thread, still in its L2), then
 * takes rows from the other shares instead of waiting for a late or
 * preempted thread. */
static void dw_task(void *ctx, int index, int n) {
    dw_job *j = ctx;
    int rows = j->d->geom.out_h;
    (void)n;
    for (int k = 0; k < j->n_parts; k++) {
        int i = (index + k) % j->n_parts;
        int end = (int)((long)rows * (i + 1) / j->n_parts);
        while (__atomic_load_n(&j->part[i].next, __ATOMIC_RELAXED) < end) {
            /* two rows at a time: the 3x3 kernel shares input rows between them */
            int y = __atomic_fetch_add(&j->part[i].next, 2, __ATOMIC_RELAXED);
            if (y >= end) break;
            j->rows_fn(j->out, j->in, j->packed, j->d, y, y + 2 < end ? y + 2 : end, 0);
        }
    }
}

void cnn_dwconv_forward(float *out, const float *in, const float *packed, const cnn_dwconv *c) {
    const cnn_conv *g = &c->geom;
    dw_job j;
    j.out = out;
    j.in = in;
    j.packed = packed;
    j.d = c;
    j.rows_fn = c->depth_multiplier == 1 ? cnn_kernels_get()->dw_rows : cnn_dw_rows_generic;
    /* memory-bound: split like the other memory-bound layers, by the
     * floats read and written (two cores stream about twice as fast) */
    double floats = (double)g->out_h * g->out_w * g->out_c + (double)g->in_h * g->in_w * g->in_c;
    j.n_parts = cnn_parallel_parts(floats, g->out_h);
    for (int i = 0; i < j.n_parts; i++) j.part[i].next = (int)((long)g->out_h * i / j.n_parts);
    if (j.n_parts > 1)
        cnn_parallel(dw_task, &j, j.n_parts);
    else
        dw_task(&j, 0, 1);
}
