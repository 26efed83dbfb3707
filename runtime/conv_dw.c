/*
 * conv_dw.c — a convolution and the depthwise convolution that reads its
 * output, interleaved by bands of rows through a ring buffer.
 *
 * MobileNet's pointwise outputs (112x112x64 is 3.2 MB) do not fit in L2:
 * run one layer after the other and the depthwise layer reads its input
 * back from L3 or memory.  Here each thread takes a contiguous range of
 * the depthwise output rows and works through it in bands: it computes
 * the convolution rows the band needs into its own ring of R rows, then
 * the band's depthwise rows from the ring, while those rows are in cache.
 *
 * Ring size.  Band rows y..y+B-1 of the depthwise output read input rows
 * lo = y*s - pad_top .. hi-1, hi = (y+B-1)*s - pad_top + (k-1)*dil + 1,
 * and R = (B-1)*s + (k-1)*dil + 1 = hi - lo.  Row r lives in slot r % R.
 * Computing rows up to hi overwrites rows below hi - R = lo only, which
 * the band and the ones after it no longer read.  Every convolution row is
 * computed once per thread; only the (k-1)*dil + 1 - s rows at a thread
 * boundary are computed by both neighbours.
 */
#include "cnnrt_internal.h"

#define BAND_MIN_PIXELS  128          /* depthwise outputs per band, at least */
#define FUSE_MAX_WEIGHTS (1u << 20)   /* packed conv weights kept in L2 across the bands */
#define FUSE_MIN_BYTES   (256u << 10) /* intermediate worth keeping out of memory */

static int band_rows(const cnn_dwconv *d) {
    int b = (BAND_MIN_PIXELS + d->geom.out_w - 1) / d->geom.out_w;
    return b < d->geom.out_h ? b : d->geom.out_h;
}

static int ring_rows(const cnn_dwconv *d) {
    const cnn_conv *g = &d->geom;
    int r = (band_rows(d) - 1) * g->stride_h + (g->k_h - 1) * g->dil_h + 1;
    return r < g->in_h ? r : g->in_h;
}

int cnn_conv_dw_fusable(const cnn_conv *c, const cnn_dwconv *d) {
    const cnn_conv *g = &d->geom;
    size_t mid_bytes = (size_t)c->out_h * c->out_w * c->out_c * sizeof(float);
    return g->in_h == c->out_h && g->in_w == c->out_w && g->in_c == c->out_c && c->out_stride == c->out_c &&
           c->out_h > 1 && cnn_conv_tiled(c) && mid_bytes >= FUSE_MIN_BYTES &&
           cnn_conv_packed_floats(c) * sizeof(float) <= FUSE_MAX_WEIGHTS;
}

size_t cnn_conv_dw_ring_floats(const cnn_conv *c, const cnn_dwconv *d) {
    return (size_t)CNN_SCRATCH_THREADS * ring_rows(d) * c->out_w * c->out_c;
}

typedef struct {
    float *out;
    const float *in;
    float *ring;
    const float *conv_packed, *dw_packed;
    const cnn_conv *c;
    const cnn_dwconv *d;
    cnn_dw_rows_fn rows_fn;
} fused_job;

static void fused_task(void *ctx, int index, int n) {
    const fused_job *j = ctx;
    const cnn_conv *c = j->c, *g = &j->d->geom;
    const int rows = g->out_h, band = band_rows(j->d), ring = ring_rows(j->d);
    const size_t row_floats = (size_t)c->out_w * c->out_c;
    float *mine = j->ring + (size_t)index * ring * row_floats;
    int y = (int)((long)rows * index / n), y_end = (int)((long)rows * (index + 1) / n);
    int done = 0; /* next convolution row to compute; raised to each band's lo */
    for (; y < y_end; y += band) {
        int yb = y + band < y_end ? y + band : y_end;
        int lo = y * g->stride_h - g->pad_top; /* rows below lo: read by no band left */
        int hi = (yb - 1) * g->stride_h - g->pad_top + (g->k_h - 1) * g->dil_h + 1;
        hi = hi < c->out_h ? hi : c->out_h;
        done = done > lo ? done : lo; /* a stride larger than the kernel skips rows */
        while (done < hi) {           /* in runs that do not wrap around the ring */
            int slot = done % ring, n_rows = hi - done < ring - slot ? hi - done : ring - slot;
            cnn_conv_rows(mine + slot * row_floats, j->in, j->conv_packed, c, done, done + n_rows);
            done += n_rows;
        }
        j->rows_fn(j->out, mine, j->dw_packed, j->d, y, yb, ring);
    }
}

void cnn_conv_dw_forward(float *out, const float *in, float *ring, const float *conv_packed,
                         const float *dw_packed, const cnn_conv *c, const cnn_dwconv *d) {
    fused_job j = {
        out,       in, ring, conv_packed,
        dw_packed, c,  d,    d->depth_multiplier == 1 ? cnn_kernels_get()->dw_rows : cnn_dw_rows_generic};
    double macs = (double)c->out_h * c->out_w * c->out_c * c->k_h * c->k_w * c->in_c;
    int n = cnnrt_threads();
    n = n < CNN_SCRATCH_THREADS ? n : CNN_SCRATCH_THREADS;
    n = n < d->geom.out_h ? n : d->geom.out_h;
    if (n > 1 && macs >= CNN_PARALLEL_MIN_MACS)
        cnn_parallel(fused_task, &j, n);
    else
        fused_task(&j, 0, 1);
}
