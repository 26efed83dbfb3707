/*
 * conv_winograd.c — 3x3 stride-1 convolutions by Winograd F(2x2, 3x3).
 *
 * Each 2x2 block of output pixels (a tile) is computed from the 4x4 block
 * of input around it (Lavin and Gray, "Fast Algorithms for Convolutional
 * Neural Networks", 2016):
 *     Y = A^T [ (G g G^T) . (B^T d B) ] A
 * summed over input channels.  The 16 products per tile and channel pair
 * replace 36 multiply-adds: the layer becomes 16 independent GEMMs, one
 * per position xi of the 4x4 transformed tile, each
 *     M[xi] (tiles x out_c) = V[xi] (tiles x in_c) * U[xi] (in_c x out_c),
 * 2.25 times fewer multiply-adds than the direct convolution.  The
 * transforms use only additions (and halves, in G), so the rounding error
 * stays within a few ulp of the direct sum's.
 *
 * Packed layout (cnn_conv_pack picks it from the geometry alone, through
 * cnn_conv_winograd, so cnncc and every ISA agree): U[0..15], each the
 * packed form of a 1x1 convolution in_c -> out_c with a zero bias, then the
 * layer's bias padded to whole panels.  Each GEMM is thus an ordinary 1x1
 * convolution over the transformed tiles, run by the tiled driver of
 * conv.c with its micro-kernel and cache blocking.
 *
 * Tiles are numbered row by row and processed in bands of consecutive
 * tiles.  Per band: transform the input tiles into V (scratch), run the 16
 * GEMMs into M (scratch), and transform M into output pixels with bias,
 * residual and activation.  A band reads all 16 weight blocks, so bands
 * are about BAND_TILES tiles: the weights of a 512 -> 512 layer are 16 MB,
 * read once per band, while V[xi], M[xi] and a block of weights (1 MB)
 * stay in L2 through each GEMM.  Each thread (up to CNN_SCRATCH_THREADS)
 * takes an equal contiguous range of tiles and has a scratch area of its
 * own, so threads never wait for each other within the layer (a 14x14
 * output is 49 tiles: 25 and 24, where whole tile rows would give 4 and 3).
 */
#include "cnnrt_internal.h"

#define BAND_TILES   64 /* tiles per band, at most */
#define MIN_CHANNELS 16 /* fewer input or output channels: the transforms cost more than they save */
/* Fewer tiles leave each of the 16 GEMMs too few rows to fill the
 * micro-kernel, and the transformed weights (16/9 of the direct ones) are
 * read for little work: ResNet-50's 7x7x512 layers (16 tiles, weights
 * from memory) take 2.3 ms either way, so they keep the smaller direct
 * weights; its 14x14x256 ones (49 tiles) take 1.2 ms against 1.9 ms. */
#define MIN_TILES 32

static int tiles_w(const cnn_conv *c) {
    return (c->out_w + 1) / 2;
}

static int tile_rows(const cnn_conv *c) {
    return (c->out_h + 1) / 2;
}

static long n_tiles(const cnn_conv *c) {
    return (long)tile_rows(c) * tiles_w(c);
}

/* Floats between the rows of M: whole panels, as the GEMMs write them. */
static int m_stride(const cnn_conv *c) {
    return (c->out_c + CNN_PANEL - 1) / CNN_PANEL * CNN_PANEL;
}

int cnn_conv_winograd(const cnn_conv *c) {
    return c->k_h == 3 && c->k_w == 3 && c->stride_h == 1 && c->stride_w == 1 && c->dil_h == 1 &&
           c->dil_w == 1 && c->in_c >= MIN_CHANNELS && c->out_c >= MIN_CHANNELS &&
           c->in_c <= CNN_ZERO_FLOATS && n_tiles(c) >= MIN_TILES;
}

/* The 1x1 convolution in_c -> out_c that GEMM xi of a band of `tiles`
 * tiles is: V[xi] as a row of pixels in, M[xi] (rows of whole panels) out. */
static cnn_conv gemm_of(const cnn_conv *c, int tiles) {
    cnn_conv g;
    memset(&g, 0, sizeof g);
    g.in_h = g.out_h = 1;
    g.in_w = g.out_w = tiles;
    g.in_c = c->in_c;
    g.out_c = c->out_c;
    g.k_h = g.k_w = g.stride_h = g.stride_w = g.dil_h = g.dil_w = 1;
    g.out_stride = m_stride(c);
    g.act.kind = CNN_ACT_LINEAR;
    return g;
}

static size_t block_floats(const cnn_conv *c) {
    cnn_conv g = gemm_of(c, 1);
    return cnn_conv_packed_floats(&g);
}

size_t cnn_winograd_packed_floats(const cnn_conv *c) {
    return 16 * block_floats(c) + (size_t)m_stride(c);
}

/* U = G g G^T for every (ci, co), scattered into the 16 blocks. */
void cnn_winograd_pack(float *packed, const float *kernel, const float *bias, const cnn_conv *c) {
    const size_t n = (size_t)c->out_c, in_c = (size_t)c->in_c, block = block_floats(c);
    const size_t panels = (n + CNN_PANEL - 1) / CNN_PANEL;
    memset(packed, 0, sizeof(float) * 16 * block); /* panel padding and the zero biases */
    for (size_t ci = 0; ci < in_c; ci++)
        for (size_t co = 0; co < n; co++) {
            float g[3][3], t[4][3];
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++) g[ky][kx] = kernel[((ky * 3 + kx) * in_c + ci) * n + co];
            for (int kx = 0; kx < 3; kx++) { /* t = G g */
                t[0][kx] = g[0][kx];
                t[1][kx] = 0.5f * (g[0][kx] + g[1][kx] + g[2][kx]);
                t[2][kx] = 0.5f * (g[0][kx] - g[1][kx] + g[2][kx]);
                t[3][kx] = g[2][kx];
            }
            size_t at = (co / CNN_PANEL) * CNN_PANEL * in_c + ci * CNN_PANEL + co % CNN_PANEL;
            for (int i = 0; i < 4; i++) { /* U = t G^T */
                float u[4] = {t[i][0], 0.5f * (t[i][0] + t[i][1] + t[i][2]),
                              0.5f * (t[i][0] - t[i][1] + t[i][2]), t[i][2]};
                for (int j = 0; j < 4; j++) packed[(size_t)(i * 4 + j) * block + at] = u[j];
            }
        }
    float *packed_bias = packed + 16 * block;
    for (size_t j = 0; j < panels * CNN_PANEL; j++) packed_bias[j] = (bias && j < n) ? bias[j] : 0.0f;
}

static int band_tiles(const cnn_conv *c) {
    return n_tiles(c) < BAND_TILES ? (int)n_tiles(c) : BAND_TILES;
}

/* Scratch per thread: V and M of the largest band (a band as large as a
 * whole thread's share could be, so a thread alone still runs a 49-tile
 * layer as one band, reading its weights once). */
static size_t thread_scratch(const cnn_conv *c) {
    return (size_t)16 * band_tiles(c) * ((size_t)c->in_c + (size_t)m_stride(c));
}

size_t cnn_winograd_scratch_floats(const cnn_conv *c) {
    return CNN_SCRATCH_THREADS * thread_scratch(c);
}

/* ---- transforms, one body for every ISA -----------------------------------
 * A block of 16 channels (n < 16 at the end of a row) goes through local
 * arrays, which the compiler keeps in vector registers or L1: no aliasing
 * between the 16 input rows and the 16 outputs to rule out, so the loops
 * over the 16 lanes vectorize at whatever width the ISA has. */

/* V = B^T d B; d[p] is the input pixel at (p / 4, p % 4) of the 4x4 block,
 * position p of the result goes to v + p*step. */
CNN_INLINE void input_block(float *v, ptrdiff_t step, const float *const *d, int c, int n) {
    float x[16][16], t[16][16];
    if (n < 16) memset(x, 0, sizeof x);
    for (int p = 0; p < 16; p++) memcpy(x[p], d[p] + c, sizeof(float) * (size_t)n);
    for (int j = 0; j < 4; j++) /* rows: B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1] */
        for (int l = 0; l < 16; l++) {
            t[j][l] = x[j][l] - x[8 + j][l];
            t[4 + j][l] = x[4 + j][l] + x[8 + j][l];
            t[8 + j][l] = x[8 + j][l] - x[4 + j][l];
            t[12 + j][l] = x[4 + j][l] - x[12 + j][l];
        }
    for (int i = 0; i < 16; i += 4) /* columns: times B */
        for (int l = 0; l < 16; l++) {
            x[i][l] = t[i][l] - t[i + 2][l];
            x[i + 1][l] = t[i + 1][l] + t[i + 2][l];
            x[i + 2][l] = t[i + 2][l] - t[i + 1][l];
            x[i + 3][l] = t[i + 1][l] - t[i + 3][l];
        }
    for (int p = 0; p < 16; p++) memcpy(v + p * step + c, x[p], sizeof(float) * (size_t)n);
}

CNN_INLINE void input_body(float *v, ptrdiff_t step, const float *const *d, int channels) {
    int c = 0;
    for (; c + 16 <= channels; c += 16) input_block(v, step, d, c, 16);
    if (c < channels) input_block(v, step, d, c, channels - c);
}

/* y[q] (q = 2*row + col of the 2x2 output, NULL when outside the output)
 * = A^T m A + bias (+ r[q]), A^T = [1 1 1 0; 0 1 -1 -1]; position p of m at
 * m + p*step.  Each residual is read before any output is written, so r
 * may alias y. */
CNN_INLINE void output_block(float *const *y, const float *const *r, const float *m, ptrdiff_t step,
                             const float *bias, int k, int n) {
    float x[16][16], s[8][16], o[4][16], b[16], res[16];
    if (n < 16) memset(x, 0, sizeof x);
    for (int p = 0; p < 16; p++) memcpy(x[p], m + p * step + k, sizeof(float) * (size_t)n);
    memcpy(b, bias + k, sizeof(float) * (size_t)n);
    for (int j = 0; j < 4; j++)
        for (int l = 0; l < 16; l++) {
            s[j][l] = x[j][l] + x[4 + j][l] + x[8 + j][l];
            s[4 + j][l] = x[4 + j][l] - x[8 + j][l] - x[12 + j][l];
        }
    for (int i = 0; i < 2; i++)
        for (int l = 0; l < 16; l++) {
            o[2 * i][l] = s[4 * i][l] + s[4 * i + 1][l] + s[4 * i + 2][l] + b[l];
            o[2 * i + 1][l] = s[4 * i + 1][l] - s[4 * i + 2][l] - s[4 * i + 3][l] + b[l];
        }
    for (int q = 0; q < 4; q++)
        if (r[q]) {
            memcpy(res, r[q] + k, sizeof(float) * (size_t)n);
            for (int l = 0; l < 16; l++) o[q][l] += res[l];
        }
    for (int q = 0; q < 4; q++)
        if (y[q]) memcpy(y[q] + k, o[q], sizeof(float) * (size_t)n);
}

CNN_INLINE void output_body(float *const *y, const float *const *r, const float *m, ptrdiff_t step,
                            const float *bias, int channels) {
    int k = 0;
    for (; k + 16 <= channels; k += 16) output_block(y, r, m, step, bias, k, 16);
    if (k < channels) output_block(y, r, m, step, bias, k, channels - k);
}

typedef void (*input_fn)(float *v, ptrdiff_t step, const float *const *d, int channels);
typedef void (*output_fn)(float *const *y, const float *const *r, const float *m, ptrdiff_t step,
                          const float *bias, int channels);

static void input_generic(float *v, ptrdiff_t step, const float *const *d, int channels) {
    input_body(v, step, d, channels);
}
static void output_generic(float *const *y, const float *const *r, const float *m, ptrdiff_t step,
                           const float *bias, int channels) {
    output_body(y, r, m, step, bias, channels);
}
#if CNN_X86
static CNN_TARGET_AVX512 __attribute__((target("prefer-vector-width=512"))) void
input_avx512(float *v, ptrdiff_t step, const float *const *d, int channels) {
    input_body(v, step, d, channels);
}
static CNN_TARGET_AVX512 __attribute__((target("prefer-vector-width=512"))) void
output_avx512(float *const *y, const float *const *r, const float *m, ptrdiff_t step, const float *bias,
              int channels) {
    output_body(y, r, m, step, bias, channels);
}
static CNN_TARGET_AVX2 void input_avx2(float *v, ptrdiff_t step, const float *const *d, int channels) {
    input_body(v, step, d, channels);
}
static CNN_TARGET_AVX2 void output_avx2(float *const *y, const float *const *r, const float *m,
                                        ptrdiff_t step, const float *bias, int channels) {
    output_body(y, r, m, step, bias, channels);
}
#endif

/* ---- driver ------------------------------------------------------------- */

typedef struct {
    const cnn_conv *c;
    float *out;
    const float *in, *packed, *residual;
    float *scratch;
    input_fn input;
    output_fn output;
    cnn_act_fn act;
} wino_job;

/* Input pixel (iy, ix), or the zero row outside the input. */
static const float *in_pixel(const wino_job *j, int iy, int ix) {
    const cnn_conv *c = j->c;
    if (iy < 0 || iy >= c->in_h || ix < 0 || ix >= c->in_w) return cnn_zero_row;
    return j->in + ((size_t)iy * c->in_w + ix) * c->in_c;
}

/* Tiles t0..t1-1: input transform, 16 GEMMs, output transform. */
static void run_band(const wino_job *j, float *v, float *m, long t0, long t1) {
    const cnn_conv *c = j->c;
    const int tw = tiles_w(c), tiles = (int)(t1 - t0);
    const cnn_conv g = gemm_of(c, tiles);
    const ptrdiff_t v_step = (ptrdiff_t)tiles * c->in_c, m_step = (ptrdiff_t)tiles * g.out_stride;
    const size_t block = block_floats(c);
    const float *bias = j->packed + 16 * block;
    for (int t = 0; t < tiles; t++) {
        int iy = (int)((t0 + t) / tw) * 2 - c->pad_top, ix = (int)((t0 + t) % tw) * 2 - c->pad_left;
        const float *d[16];
        for (int p = 0; p < 16; p++) d[p] = in_pixel(j, iy + p / 4, ix + p % 4);
        j->input(v + (ptrdiff_t)t * c->in_c, v_step, d, c->in_c);
    }
    for (int xi = 0; xi < 16; xi++)
        cnn_conv_rows(m + xi * m_step, v + xi * v_step, j->packed + xi * block, &g, 0, 1);
    for (int t = 0; t < tiles; t++) {
        int oy = (int)((t0 + t) / tw) * 2, ox = (int)((t0 + t) % tw) * 2;
        float *y[4];
        const float *r[4];
        for (int q = 0; q < 4; q++) {
            int py = oy + q / 2, px = ox + q % 2, inside = py < c->out_h && px < c->out_w;
            size_t pixel = (size_t)py * c->out_w + px;
            y[q] = inside ? j->out + pixel * c->out_stride : NULL;
            r[q] = inside && j->residual ? j->residual + pixel * c->out_c : NULL;
        }
        j->output(y, r, m + (ptrdiff_t)t * g.out_stride, m_step, bias, c->out_c);
        if (c->act.kind != CNN_ACT_LINEAR)
            for (int q = 0; q < 4; q++)
                if (y[q]) j->act(y[q], (size_t)c->out_c, &c->act);
    }
}

/* The thread's tiles in as few bands as fit its scratch, of equal size:
 * 70 tiles make bands of 35, not 64 and a 6 that would read all the
 * weights for little work. */
static void wino_task(void *ctx, int index, int n) {
    const wino_job *j = ctx;
    const cnn_conv *c = j->c;
    const long tiles = n_tiles(c), first = tiles * index / n, mine = tiles * (index + 1) / n - first;
    const int band = band_tiles(c);
    float *v = j->scratch + (size_t)index * thread_scratch(c);
    float *m = v + (size_t)16 * band * c->in_c;
    long bands = (mine + band - 1) / band;
    for (long b = 0; b < bands; b++)
        run_band(j, v, m, first + mine * b / bands, first + mine * (b + 1) / bands);
}

void cnn_winograd_forward(float *out, const float *in, const float *packed, const float *residual,
                          float *scratch, const cnn_conv *c) {
    const cnn_kernels *kern = cnn_kernels_get();
    wino_job j = {c, out, in, packed, residual, scratch, input_generic, output_generic, kern->act};
#if CNN_X86
    if (kern->isa == CNN_ISA_AVX512) j.input = input_avx512, j.output = output_avx512;
    if (kern->isa == CNN_ISA_AVX2) j.input = input_avx2, j.output = output_avx2;
#endif
    double macs = (double)c->out_h * c->out_w * c->out_c * 9.0 * c->in_c;
    int n = cnnrt_threads();
    n = n < CNN_SCRATCH_THREADS ? n : CNN_SCRATCH_THREADS;

    if (n > 1 && macs >= CNN_PARALLEL_MIN_MACS)
        cnn_parallel(wino_task, &j, n);
    else
        wino_task(&j, 0, 1);
}
