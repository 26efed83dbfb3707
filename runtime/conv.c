/*
 * conv.c — convolution and dense layers as an implicit GEMM.
 *
 * Rows of the GEMM are output pixels, K runs over (ky, kx, ci) and columns
 * are output channels, read from the packed panels of cnnrt.h.  The output
 * is cut into tiles of at most `mr` pixels (the micro-kernel height) by one
 * panel.  For each tile the driver fills a table of row pointers, one per
 * (tap, pixel), straight into the NHWC input; a tap that falls into the
 * padding points at a shared zero row.  That table is built once per tile
 * and reused by every panel, so a 1x1 or 3x3 convolution never copies its
 * input.  Where a tile has no horizontal padding, one pointer per kernel
 * row suffices: the k_w*in_c floats of that row are contiguous in NHWC,
 * and the micro-kernel runs k_h long taps instead of k_h*k_w short ones.
 * Layers with few input channels (the first layer: in_c = 3) would spend
 * the micro-kernel's time switching taps, so their padded tiles are
 * instead gathered into a small im2col block on the stack, one tap of K
 * floats.
 *
 * Cache blocking: panels are visited in groups whose weights fit in half
 * of L2, every tile of the thread's rows runs through the group, then the
 * next group (groups of 256 KB when the weights stream from memory, the
 * next group being prefetched meanwhile).  Threads split the rows (or, when rows are few, the panels)
 * into contiguous, equal shares.
 */
#include "cnnrt_internal.h"

#define L2_PANEL_BYTES   (1024 * 1024) /* weights kept hot per panel group */
#define COLD_GROUP_BYTES (256 * 1024)  /* the same when the weights stream from memory */
#define IM2COL_MAX_IN_C  16            /* gather whole rows below this in_c */
#define IM2COL_FLOATS    8192          /* stack im2col block: 32 KB */
#define MAX_TAP_PTRS     2048          /* row-pointer table: 16 KB of stack */
#define NARROW_MR        9             /* tile height when out_c <= 16 */

size_t cnn_conv_packed_floats(const cnn_conv *c) {
    if (cnn_conv_winograd(c)) return cnn_winograd_packed_floats(c);
    size_t k = (size_t)c->k_h * c->k_w * c->in_c;
    size_t panels = ((size_t)c->out_c + CNN_PANEL - 1) / CNN_PANEL;
    return panels * CNN_PANEL * (k + 1);
}

void cnn_conv_pack(float *packed, const float *kernel, const float *bias, const cnn_conv *c) {
    if (cnn_conv_winograd(c)) {
        cnn_winograd_pack(packed, kernel, bias, c);
        return;
    }
    size_t k_total = (size_t)c->k_h * c->k_w * c->in_c;
    size_t n = (size_t)c->out_c;
    size_t panels = (n + CNN_PANEL - 1) / CNN_PANEL;
    for (size_t p = 0; p < panels; p++) {
        float *panel = packed + p * CNN_PANEL * k_total;
        for (size_t k = 0; k < k_total; k++)
            for (size_t j = 0; j < CNN_PANEL; j++) {
                size_t col = p * CNN_PANEL + j;
                panel[k * CNN_PANEL + j] = col < n ? kernel[k * n + col] : 0.0f;
            }
    }
    float *packed_bias = packed + panels * CNN_PANEL * k_total;
    for (size_t j = 0; j < panels * CNN_PANEL; j++) packed_bias[j] = (bias && j < n) ? bias[j] : 0.0f;
}

typedef struct {
    const cnn_conv *c;
    const cnn_kernels *kern;
    float *out;
    const float *in;
    const float *packed;
    const float *residual;
    int mr, n_panels, group;
    int im2col;       /* gather each tile into one tap of K floats */
    int row_taps;     /* read a kernel row's k_w*in_c floats in place when possible */
    int pointwise;    /* 1x1 kernel on a spatial input: prefetch the next tile */
    int cold_weights; /* weights larger than L2 and few rows: every tile prefetches */
    long m_base;      /* first output pixel (cnn_conv_rows: a band of rows) */
    long rows;        /* pixels from m_base: out_h * out_w for a whole layer */
    long tiles;       /* ceil(rows / mr), each of about rows/tiles pixels */
    int split_rows;   /* threads split rows (else panels) */
    long chunk_size;  /* tiles (or panels) per chunk */
    long n_chunks;
    int n_parts; /* threads the chunks were dealt to */
    /* Thread i owns chunks [n_chunks*i/n_parts, n_chunks*(i+1)/n_parts):
     * next[i] is the next unclaimed one, claimed atomically by its owner
     * or, once that thread has run out, by another.  A cache line each. */
    struct {
        long next;
        char pad[64 - sizeof(long)];
    } part[CNN_MAX_THREADS] __attribute__((aligned(64)));
} conv_job;

/* Input row of pixel (y, x) for tap (ky, kx), or the zero row. */
static const float *tap_row(const cnn_conv *c, const float *in, int y, int x, int ky, int kx) {
    int iy = y * c->stride_h + ky * c->dil_h - c->pad_top;
    int ix = x * c->stride_w + kx * c->dil_w - c->pad_left;
    if (iy < 0 || iy >= c->in_h || ix < 0 || ix >= c->in_w) return cnn_zero_row;
    return in + ((size_t)iy * c->in_w + ix) * c->in_c;
}

/* Fills the (tap, pixel) pointer table for pixels m0..m0+mr-1. */
static void fill_pointers(const float **a, const cnn_conv *c, const float *in, long m0, int mr) {
    int y0 = (int)(m0 / c->out_w), x0 = (int)(m0 % c->out_w);
    for (int r = 0, y = y0, x = x0; r < mr; r++) {
        if (c->k_h == 1 && c->k_w == 1) {
            a[r] = tap_row(c, in, y, x, 0, 0);
        } else {
            for (int ky = 0, t = 0; ky < c->k_h; ky++)
                for (int kx = 0; kx < c->k_w; kx++, t++) a[t * mr + r] = tap_row(c, in, y, x, ky, kx);
        }
        if (++x == c->out_w) x = 0, y++;
    }
}

/* When every pixel of the tile has all k_w taps inside the input row
 * (and no horizontal dilation), the (kx, ci) part of K is one contiguous
 * run of the input: one "tap" per kernel row, k_w*in_c floats long, read
 * in place.  Returns 0 when some pixel needs horizontal padding. */
static int fill_row_taps(const float **a, const cnn_conv *c, const float *in, long m0, int mr) {
    const int k_h = c->k_h, in_h = c->in_h, in_w = c->in_w, out_w = c->out_w, dil_h = c->dil_h;
    const ptrdiff_t in_c = c->in_c, row_floats = (ptrdiff_t)dil_h * in_w * in_c;
    int y = (int)(m0 / out_w), x = (int)(m0 % out_w);
    for (int r = 0; r < mr; r++) {
        int ix0 = x * c->stride_w - c->pad_left;
        if (ix0 < 0 || ix0 + c->k_w > in_w) return 0;
        int iy = y * c->stride_h - c->pad_top;
        ptrdiff_t off = ((ptrdiff_t)iy * in_w + ix0) * in_c;
        for (int ky = 0; ky < k_h; ky++, iy += dil_h, off += row_floats)
            a[ky * mr + r] = iy < 0 || iy >= in_h ? cnn_zero_row : in + off;
        if (++x == out_w) x = 0, y++;
    }
    return 1;
}

/* Gathers pixels m0..m0+mr-1 into im2col rows of K floats: per kernel row,
 * the k_w taps of a pixel are one contiguous run of the input when they
 * are all inside it, so most of the gather is a few long copies. */
static void fill_im2col(float *col, const float **a, const cnn_conv *c, const float *in, long m0, int mr) {
    int k_total = c->k_h * c->k_w * c->in_c, run = c->k_w * c->in_c;
    int y = (int)(m0 / c->out_w), x = (int)(m0 % c->out_w);
    for (int r = 0; r < mr; r++) {
        float *dst = col + (size_t)r * k_total;
        int ix0 = x * c->stride_w - c->pad_left;
        int ix1 = ix0 + (c->k_w - 1) * c->dil_w;
        int contiguous = c->dil_w == 1 && ix0 >= 0 && ix1 < c->in_w;
        for (int ky = 0; ky < c->k_h; ky++, dst += run) {
            int iy = y * c->stride_h + ky * c->dil_h - c->pad_top;
            if (iy < 0 || iy >= c->in_h) {
                for (int i = 0; i < run; i++) dst[i] = 0.0f;
            } else if (contiguous) {
                const float *src = in + ((size_t)iy * c->in_w + ix0) * c->in_c;
                for (int i = 0; i < run; i++) dst[i] = src[i];
            } else {
                for (int kx = 0; kx < c->k_w; kx++) {
                    const float *src = tap_row(c, in, y, x, ky, kx);
                    for (int i = 0; i < c->in_c; i++) dst[kx * c->in_c + i] = src[i];
                }
            }
        }
        a[r] = col + (size_t)r * k_total;
        if (++x == c->out_w) x = 0, y++;
    }
}

/* Pointwise layers do little work per input byte, and their input often
 * comes from L3: fetch the next tile's pixels while this one computes. */
static void prefetch_pixels(const conv_job *j, long m0, long m1) {
#if defined(__GNUC__)
    const cnn_conv *c = j->c;
    int y = (int)(m0 / c->out_w), x = (int)(m0 % c->out_w);
    for (long m = m0; m < m1; m++) {
        const float *row = tap_row(c, j->in, y, x, 0, 0);
        for (int ci = 0; ci < c->in_c; ci += 16) __builtin_prefetch(row + ci, 0, 3);
        if (++x == c->out_w) x = 0, y++;
    }
#else
    (void)j, (void)m0, (void)m1;
#endif
}

/* First row of tile i: the rows are dealt evenly over the tiles, so 49
 * pixels make tiles of 13, 12, 12 and 12 rather than 14, 14, 14 and 7. */
static long tile_start(const conv_job *j, long i) {
    return i * j->rows / j->tiles;
}

/* The panel a thread will reach `ahead` panels after p, when it runs
 * p_begin..p_end-1 and then (pf_after >= 0) the chunk from pf_after on;
 * -1 if none. */
static int panel_ahead(const conv_job *j, int p, int ahead, int p_end, int pf_after) {
    int q = p + ahead;
    if (q < p_end) return q;
    if (pf_after < 0) return -1;
    q = pf_after + (q - p_end);
    return q < j->n_panels ? q : -1;
}

static void run_tiles(const conv_job *j, long tile_begin, long tile_end, int p_begin, int p_end,
                      int pf_after) {
    const cnn_conv *c = j->c;
    int k_total = c->k_h * c->k_w * c->in_c;
    size_t panel_floats = (size_t)k_total * CNN_PANEL;
    const float *packed_bias = j->packed + (size_t)j->n_panels * panel_floats;
    const float *a[MAX_TAP_PTRS];
    float col[IM2COL_FLOATS];
    cnn_tile t;
    t.a = a;
    t.out_stride = c->out_stride;
    t.res_stride = c->out_c;
    t.act = &c->act;
    t.prefetch_step = 128;
    for (int g = p_begin; g < p_end; g += j->group) {
        int g_end = g + j->group < p_end ? g + j->group : p_end;
        for (long i = tile_begin; i < tile_end; i++) {
            long m0 = tile_start(j, i), pixel = j->m_base + m0;
            int mr = (int)(tile_start(j, i + 1) - m0);
            if (j->row_taps && fill_row_taps(a, c, j->in, pixel, mr)) {
                t.n_taps = c->k_h;
                t.kc = c->k_w * c->in_c;
            } else if (j->im2col) {
                fill_im2col(col, a, c, j->in, pixel, mr);
                t.n_taps = 1;
                t.kc = k_total;
            } else {
                fill_pointers(a, c, j->in, pixel, mr);
                t.n_taps = c->k_h * c->k_w;
                t.kc = c->in_c;
            }
            t.mr = mr;
            if (j->pointwise && i + 1 < tile_end)
                prefetch_pixels(j, j->m_base + tile_start(j, i + 1), j->m_base + tile_start(j, i + 2));
            for (int p = g; p < g_end; p++) {
                int n0 = p * CNN_PANEL;
                t.nr = c->out_c - n0 < CNN_PANEL ? c->out_c - n0 : CNN_PANEL;
                t.b = j->packed + (size_t)p * panel_floats;
                t.bias = packed_bias + n0;
                t.out = j->out + (size_t)m0 * c->out_stride + n0;
                t.residual = j->residual ? j->residual + (size_t)m0 * c->out_c + n0 : NULL;
                /* The first tile of a pass meets every panel cold: have it
                 * fetch the next panel while it computes on this one.  When
                 * a few rows stream many MB of weights (cold_weights), the
                 * panel one group ahead is instead split among all the
                 * tiles of the pass, each fetching its share while it
                 * computes: memory then streams at the pace of the whole
                 * pass rather than stalling the first tile. */
                t.prefetch_offset = 0;
                if (j->cold_weights) {
                    /* no further than the next chunk, the last this
                     * thread is sure to run */
                    int dist = !j->split_rows && j->chunk_size < j->group ? (int)j->chunk_size : j->group;
                    int q = panel_ahead(j, p, dist, p_end, pf_after);
                    long n_t = tile_end - tile_begin, share = i - tile_begin;
                    if (q >= 0) {
                        t.prefetch_offset = (ptrdiff_t)(q - p) * (ptrdiff_t)panel_floats +
                                            (ptrdiff_t)(share * (long)panel_floats / n_t);
                        t.prefetch_step = (int)((128 + n_t - 1) / n_t);
                    }
                } else if (i == tile_begin) {
                    int q = panel_ahead(j, p, 1, p_end, pf_after);
                    if (q >= 0) {
                        t.prefetch_offset = (ptrdiff_t)(q - p) * (ptrdiff_t)panel_floats;
                        t.prefetch_step = 128;
                    }
                }
                j->kern->tile(&t);
            }
        }
    }
}

/* Claim a chunk: the thread's own next one, else (its share done) the next
 * one of another thread's share; -1 when none is left. */
static long claim_chunk(conv_job *j, int index) {
    for (int k = 0; k < j->n_parts; k++) {
        int i = (index + k) % j->n_parts;
        long end = j->n_chunks * (i + 1) / j->n_parts;
        if (__atomic_load_n(&j->part[i].next, __ATOMIC_RELAXED) >= end) continue;
        long chunk = __atomic_fetch_add(&j->part[i].next, 1, __ATOMIC_RELAXED);
        if (chunk < end) return chunk;
    }
    return -1;
}

/* Each thread runs the chunks of its own contiguous share first, so that
 * the rows a thread writes in one layer are mostly the rows it reads in the
 * next, from its own L2; a thread that finishes early then takes chunks
 * from the others' shares instead of waiting: on a busy machine a
 * preempted thread holds up only its current chunk, not half the layer. */
static void conv_task(void *ctx, int index, int n) {
    conv_job *j = ctx;
    (void)n;
    /* With the panels split and chunks enough (two per thread), a thread
     * claims its next chunk before it runs the current one, so that the
     * current chunk can prefetch the next chunk's first panels. */
    int ahead = !j->split_rows && j->n_chunks >= 2L * j->n_parts;
    long chunk = claim_chunk(j, index);
    while (chunk >= 0) {
        long next = ahead ? claim_chunk(j, index) : -1;
        long first = chunk * j->chunk_size;
        if (j->split_rows) {
            long last = first + j->chunk_size < j->tiles ? first + j->chunk_size : j->tiles;
            run_tiles(j, first, last, 0, j->n_panels, -1);
        } else {
            long last = first + j->chunk_size < j->n_panels ? first + j->chunk_size : j->n_panels;
            run_tiles(j, 0, j->tiles, (int)first, (int)last, next >= 0 ? (int)(next * j->chunk_size) : -1);
        }
        chunk = ahead ? next : claim_chunk(j, index);
    }
}

/* Plain loops for what the tiled path cannot do (padding wider than the
 * zero row); slow but exact. */
static void conv_reference(float *out, const float *in, const float *packed, const float *residual,
                           const cnn_conv *c) {
    int k_total = c->k_h * c->k_w * c->in_c;
    int n_panels = (c->out_c + CNN_PANEL - 1) / CNN_PANEL;
    const float *packed_bias = packed + (size_t)n_panels * CNN_PANEL * k_total;
    for (long m = 0; m < (long)c->out_h * c->out_w; m++)
        for (int o = 0; o < c->out_c; o++) {
            int y = (int)(m / c->out_w), x = (int)(m % c->out_w);
            const float *panel = packed + (size_t)(o / CNN_PANEL) * CNN_PANEL * k_total;
            float sum = packed_bias[o];
            int k = 0;
            for (int ky = 0; ky < c->k_h; ky++)
                for (int kx = 0; kx < c->k_w; kx++, k += c->in_c) {
                    const float *row = tap_row(c, in, y, x, ky, kx);
                    if (row == cnn_zero_row) continue;
                    for (int ci = 0; ci < c->in_c; ci++)
                        sum += row[ci] * panel[(size_t)(k + ci) * CNN_PANEL + o % CNN_PANEL];
                }
            if (residual) sum += residual[m * c->out_c + o];
            out[m * c->out_stride + o] = sum;
        }
    for (long m = 0; m < (long)c->out_h * c->out_w; m++)
        cnn_activate(out + m * c->out_stride, out + m * c->out_stride, (size_t)c->out_c, &c->act);
}

static int needs_padding(const cnn_conv *c) {
    return c->pad_top > 0 || c->pad_left > 0 ||
           (c->out_h - 1) * c->stride_h + (c->k_h - 1) * c->dil_h - c->pad_top >= c->in_h ||
           (c->out_w - 1) * c->stride_w + (c->k_w - 1) * c->dil_w - c->pad_left >= c->in_w;
}

/* Cost of the busiest thread, in rows x panels, for each way to split. */
static int prefer_row_split(long rows, long tiles, int n_panels, int n) {
    long max_tiles = (tiles + n - 1) / n;
    long row_cost = (max_tiles * rows + tiles - 1) / tiles * n_panels;
    long panel_cost = rows * ((n_panels + n - 1) / n);
    return row_cost <= panel_cost;
}

/* The tiled path's parameters for a layer; 0 when only conv_reference
 * can run it (padding wider than the zero row, or too many taps). */
static int job_setup(conv_job *j, float *out, const float *in, const float *packed, const float *residual,
                     const cnn_conv *c) {
    int k_total = c->k_h * c->k_w * c->in_c;
    j->c = c;
    j->kern = cnn_kernels_get();
    j->out = out;
    j->in = in;
    j->packed = packed;
    j->residual = residual;
    j->mr = j->kern->mr;
    /* One weight vector per k step: a 14-row tile makes 15 loads per 14
     * FMAs and needs more row pointers than there are general registers;
     * 9 rows is 7 % faster on LeNet's 14x14x6 -> 16 */
    if (c->out_c <= 16 && j->mr > NARROW_MR) j->mr = NARROW_MR;
    j->m_base = 0;
    j->rows = (long)c->out_h * c->out_w;
    j->n_panels = (c->out_c + CNN_PANEL - 1) / CNN_PANEL;
    j->im2col = c->in_c < IM2COL_MAX_IN_C && (long)j->mr * k_total <= IM2COL_FLOATS && k_total > c->in_c;
    j->pointwise = c->k_h == 1 && c->k_w == 1 && c->out_h * c->out_w > 1;
    j->row_taps = c->k_w > 1 && (c->dil_w == 1) && c->k_w * c->in_c <= CNN_ZERO_FLOATS;
    if (!j->im2col && (long)c->k_h * c->k_w * j->mr > MAX_TAP_PTRS) j->mr = MAX_TAP_PTRS / (c->k_h * c->k_w);
    if (j->mr < 1 || (c->in_c > CNN_ZERO_FLOATS && needs_padding(c))) return 0;
    size_t panel_bytes = (size_t)k_total * CNN_PANEL * sizeof(float);
    j->cold_weights = panel_bytes * j->n_panels > 2 * L2_PANEL_BYTES && j->rows <= 16L * j->mr;
    /* Cold weights stream in one group ahead of the group in use: two
     * groups of 1 MB filled the 2 MB L2 and evicted panels still in use
     * (7x7x1024 -> 1024: 990 us; groups of 256 KB: 853 us). */
    j->group = (int)((j->cold_weights ? COLD_GROUP_BYTES : L2_PANEL_BYTES) / panel_bytes);
    j->group = j->group < 1 ? 1 : j->group;
    j->tiles = (j->rows + j->mr - 1) / j->mr;
    return 1;
}

int cnn_conv_tiled(const cnn_conv *c) {
    conv_job j;
    return !cnn_conv_winograd(c) && job_setup(&j, NULL, NULL, NULL, NULL, c);
}

/* The whole job on the calling thread. */
static void run_serial(conv_job *j) {
    j->split_rows = 1;
    j->chunk_size = j->tiles;
    j->n_chunks = 1;
    j->n_parts = 1;
    j->part[0].next = 0;
    conv_task(j, 0, 1);
}

void cnn_conv_rows(float *out_rows, const float *in, const float *packed, const cnn_conv *c, int y0, int y1) {
    conv_job j;
    job_setup(&j, out_rows, in, packed, NULL, c);
    j.m_base = (long)y0 * c->out_w;
    j.rows = (long)(y1 - y0) * c->out_w;
    j.tiles = (j.rows + j.mr - 1) / j.mr;
    run_serial(&j);
}

size_t cnn_conv_scratch_floats(const cnn_conv *c) {
    return cnn_conv_winograd(c) ? cnn_winograd_scratch_floats(c) : 0;
}

void cnn_conv_forward(float *out, const float *in, const float *packed, const float *residual, float *scratch,
                      const cnn_conv *c) {
    conv_job j;
    const cnn_kernels *kern = cnn_kernels_get();
    if (cnn_conv_winograd(c)) {
        cnn_winograd_forward(out, in, packed, residual, scratch, c);
        return;
    }
    if (kern->conv_small && kern->conv_small(out, in, packed, residual, c)) return;
    if (!job_setup(&j, out, in, packed, residual, c)) {
        conv_reference(out, in, packed, residual, c);
        return;
    }
    int k_total = c->k_h * c->k_w * c->in_c;
    size_t panel_bytes = (size_t)k_total * CNN_PANEL * sizeof(float);
    int n = cnnrt_threads();
    double macs = (double)j.rows * k_total * c->out_c;
    long tiles = j.tiles;
    /* A layer that streams its weights from memory (a dense layer on a
     * 1x1 input: 1024 x 1000 is 1M MACs but 4 MB, 0.3 ms) is bound by
     * bandwidth, which two cores double: count its weights as floats moved. */
    if (n > 1 && (macs >= CNN_PARALLEL_MIN_MACS ||
                  (j.cold_weights && cnn_parallel_parts((double)k_total * c->out_c, j.n_panels) > 1))) {
        /* about eight chunks per thread: enough to even out, few enough
         * that each still streams its weights through L2 only once */
        j.split_rows = prefer_row_split(j.rows, tiles, j.n_panels, n);
        /* A chunk of rows streams every weight panel, a chunk of panels
         * every input row.  Weights larger than a core's L2 share come
         * from L3 again for each chunk of rows (one or two 14-pixel tiles
         * at 14x14): when the input is the smaller of the two, split the
         * panels if that balances as well. */
        size_t in_bytes = (size_t)c->in_h * c->in_w * c->in_c * sizeof(float);
        if (j.split_rows && panel_bytes * j.n_panels > L2_PANEL_BYTES &&
            in_bytes < panel_bytes * j.n_panels &&
            j.rows * ((j.n_panels + n - 1) / n) <=
                (((tiles + n - 1) / n * j.rows + tiles - 1) / tiles) * j.n_panels)
            j.split_rows = 0;
        long units = j.split_rows ? tiles : j.n_panels;
        /* panels: about four chunks per thread, so that each chunk is a
         * few panels and prefetches its next one (see conv_task) */
        j.chunk_size = units / ((j.split_rows ? 8L : 4L) * n);
        j.chunk_size = j.chunk_size < 1 ? 1 : j.chunk_size;
        j.n_chunks = (units + j.chunk_size - 1) / j.chunk_size;
        j.n_parts = n < j.n_chunks ? n : (int)j.n_chunks;
        for (int i = 0; i < j.n_parts; i++) j.part[i].next = j.n_chunks * i / j.n_parts;
        cnn_parallel(conv_task, &j, j.n_parts);
    } else {
        run_serial(&j);
    }
}
