/*
 * pool.c — max and average pooling, windowed and global.
 *
 * Positions outside the input are skipped, so 'same' average pooling
 * divides by the number of valid inputs, as Keras does.  The channel loop
 * is innermost and contiguous, which is all the vectorizer needs: pooling
 * is a few percent of any model's time.
 */
#include <float.h>

#include "cnnrt_internal.h"

#if CNN_X86
#include <immintrin.h>
#endif

/* Window of output (y, x) clipped to the input: rows [*y0, *y1), cols [*x0, *x1). */
static void window(const cnn_pool *p, int y, int x, int *y0, int *y1, int *x0, int *x1) {
    *y0 = y * p->stride_h - p->pad_top;
    *x0 = x * p->stride_w - p->pad_left;
    *y1 = *y0 + p->pool_h;
    *x1 = *x0 + p->pool_w;
    *y0 = *y0 < 0 ? 0 : *y0;
    *x0 = *x0 < 0 ? 0 : *x0;
    *y1 = *y1 > p->in_h ? p->in_h : *y1;
    *x1 = *x1 > p->in_w ? p->in_w : *x1;
}

/* Window by window, for rows too wide for the stack buffer. */
static void pool_direct(float *out, const float *in, const cnn_pool *p, int is_max, int y_begin, int y_end) {
    int ch = p->channels;
    for (int y = y_begin; y < y_end; y++)
        for (int x = 0; x < p->out_w; x++) {
            int y0, y1, x0, x1;
            window(p, y, x, &y0, &y1, &x0, &x1);
            float *dst = out + ((size_t)y * p->out_w + x) * p->out_stride;
            for (int c = 0; c < ch; c++) dst[c] = is_max ? -FLT_MAX : 0.0f;
            for (int iy = y0; iy < y1; iy++)
                for (int ix = x0; ix < x1; ix++) {
                    const float *src = in + ((size_t)iy * p->in_w + ix) * ch;
                    if (is_max)
                        for (int c = 0; c < ch; c++) dst[c] = src[c] > dst[c] ? src[c] : dst[c];
                    else
                        for (int c = 0; c < ch; c++) dst[c] += src[c];
                }
            if (!is_max) {
                int count = (y1 - y0) * (x1 - x0);
                float inv = count > 0 ? 1.0f / (float)count : 0.0f;
                for (int c = 0; c < ch; c++) dst[c] *= inv;
            }
        }
}

/* Rows of the window reduced first, over whole contiguous input rows (long
 * loops that vectorize even when there are only a few channels), then the
 * columns of each output pixel from that one row. */
#define ROW_FLOATS 8192 /* 32 KB of stack */

static void pool_row(float *dst_row, const float *in, const cnn_pool *p, int y, int is_max, float *row) {
    int ch = p->channels, span = p->in_w * ch;
    int y0 = y * p->stride_h - p->pad_top, y1 = y0 + p->pool_h;
    y0 = y0 < 0 ? 0 : y0;
    y1 = y1 > p->in_h ? p->in_h : y1;
    memcpy(row, in + (size_t)y0 * span, (size_t)span * sizeof(float));
    for (int iy = y0 + 1; iy < y1; iy++) {
        const float *src = in + (size_t)iy * span;
        if (is_max)
            for (int i = 0; i < span; i++) row[i] = src[i] > row[i] ? src[i] : row[i];
        else
            for (int i = 0; i < span; i++) row[i] += src[i];
    }
    for (int x = 0; x < p->out_w; x++) {
        int x0 = x * p->stride_w - p->pad_left, x1 = x0 + p->pool_w;
        x0 = x0 < 0 ? 0 : x0;
        x1 = x1 > p->in_w ? p->in_w : x1;
        float *dst = dst_row + (size_t)x * p->out_stride;
        const float *first = row + (size_t)x0 * ch;
        for (int c = 0; c < ch; c++) dst[c] = first[c];
        for (int ix = x0 + 1; ix < x1; ix++) {
            const float *src = row + (size_t)ix * ch;
            if (is_max)
                for (int c = 0; c < ch; c++) dst[c] = src[c] > dst[c] ? src[c] : dst[c];
            else
                for (int c = 0; c < ch; c++) dst[c] += src[c];
        }
        if (!is_max) {
            float inv = 1.0f / (float)((y1 - y0) * (x1 - x0));
            for (int c = 0; c < ch; c++) dst[c] *= inv;
        }
    }
}

#if CNN_X86
/* Max or sum of a rows x cols window whose first pixel is at src, over
 * the channels in mask m (fewer than 16); inlined with constant rows and
 * cols for 2x2, so that loop unrolls. */
static inline __attribute__((always_inline)) CNN_TARGET_AVX512 __m512 window_vec(const float *src,
                                                                                 const cnn_pool *p,
                                                                                 __mmask16 m, const int rows,
                                                                                 const int cols, int is_max) {
    const size_t ch = (size_t)p->channels, row = (size_t)p->in_w * ch;
    /* row by row, then the rows: for 2x2, two operations deep instead of four */
    __m512 v = _mm512_setzero_ps();
    for (int i = 0; i < rows; i++, src += row) {
        __m512 r = _mm512_maskz_loadu_ps(m, src);
        for (int j = 1; j < cols; j++) {
            __m512 u = _mm512_maskz_loadu_ps(m, src + j * ch);
            r = is_max ? _mm512_max_ps(r, u) : _mm512_add_ps(r, u);
        }
        v = i == 0 ? r : is_max ? _mm512_max_ps(v, r) : _mm512_add_ps(v, r);
    }
    return v;
}

/* Layers with fewer than 16 channels (LeNet's 28x28x6): one masked vector
 * per output pixel, whole windows straight from the input; the pixels
 * whose 2x2 window lies inside the row in a loop of their own, without
 * clipping (28x28x6: 0.81 us, 1.39 through the row buffer of
 * pool_row_avx512, whose loads straddle the vectors just stored). */
static inline __attribute__((always_inline)) CNN_TARGET_AVX512 void
pool_row_narrow(float *dst_row, const float *in, const cnn_pool *p, int y, const int is_max) {
    int y0 = y * p->stride_h - p->pad_top, y1 = y0 + p->pool_h;
    y0 = y0 < 0 ? 0 : y0;
    y1 = y1 > p->in_h ? p->in_h : y1;
    const __mmask16 m = (__mmask16)((1u << p->channels) - 1);
    /* x in [full0, full1): the window lies inside the row */
    int full0 = (p->pad_left + p->stride_w - 1) / p->stride_w;
    int full1 =
        p->in_w + p->pad_left >= p->pool_w ? (p->in_w + p->pad_left - p->pool_w) / p->stride_w + 1 : 0;
    full1 = full1 > p->out_w ? p->out_w : full1;
    full0 = full0 > full1 ? full1 : full0;
    const __m512 inv_full = _mm512_set1_ps(1.0f / (float)((y1 - y0) * p->pool_w));
    const size_t step = (size_t)p->stride_w * p->channels;
    if (p->pool_h == 2 && p->pool_w == 2 && y1 - y0 == 2 && full0 < full1) {
        const float *src =
            in + ((size_t)y0 * p->in_w + (size_t)(full0 * p->stride_w - p->pad_left)) * p->channels;
        float *dst = dst_row + (size_t)full0 * p->out_stride;
        for (int x = full0; x < full1; x++, src += step, dst += p->out_stride) {
            __m512 v = window_vec(src, p, m, 2, 2, is_max);
            _mm512_mask_storeu_ps(dst, m, is_max ? v : _mm512_mul_ps(v, inv_full));
        }
    } else {
        full1 = full0; /* every pixel by the general path */
    }
    for (int x = 0; x < p->out_w; x++) {
        if (x == full0) x = full1;
        if (x >= p->out_w) break;
        int x0 = x * p->stride_w - p->pad_left, x1 = x0 + p->pool_w;
        x0 = x0 < 0 ? 0 : x0;
        x1 = x1 > p->in_w ? p->in_w : x1;
        __m512 v = window_vec(in + ((size_t)y0 * p->in_w + x0) * p->channels, p, m, y1 - y0, x1 - x0, is_max);
        const __m512 inv = _mm512_set1_ps(1.0f / (float)((y1 - y0) * (x1 - x0)));
        _mm512_mask_storeu_ps(dst_row + (size_t)x * p->out_stride, m, is_max ? v : _mm512_mul_ps(v, inv));
    }
}

/* max and average as separate functions: the choice out of the loop */
static CNN_TARGET_AVX512 void pool_row_narrow_max(float *dst_row, const float *in, const cnn_pool *p, int y) {
    pool_row_narrow(dst_row, in, p, y, 1);
}
static CNN_TARGET_AVX512 void pool_row_narrow_avg(float *dst_row, const float *in, const cnn_pool *p, int y) {
    pool_row_narrow(dst_row, in, p, y, 0);
}

/* pool_row with 16-channel vectors: the per-pixel loops above run over
 * `channels` floats, only 6 or 16 in small models, where scalar tails
 * dominate; masked vectors have none. */
static CNN_TARGET_AVX512 void pool_row_avx512(float *dst_row, const float *in, const cnn_pool *p, int y,
                                              int is_max, float *row) {
    int ch = p->channels, span = p->in_w * ch;
    int y0 = y * p->stride_h - p->pad_top, y1 = y0 + p->pool_h;
    y0 = y0 < 0 ? 0 : y0;
    y1 = y1 > p->in_h ? p->in_h : y1;
    for (int i = 0; i < span; i += 16) {
        __mmask16 m = span - i >= 16 ? 0xFFFF : (__mmask16)((1u << (span - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(m, in + (size_t)y0 * span + i);
        for (int iy = y0 + 1; iy < y1; iy++) {
            __m512 u = _mm512_maskz_loadu_ps(m, in + (size_t)iy * span + i);
            v = is_max ? _mm512_max_ps(v, u) : _mm512_add_ps(v, u);
        }
        _mm512_mask_storeu_ps(row + i, m, v);
    }
    for (int x = 0; x < p->out_w; x++) {
        int x0 = x * p->stride_w - p->pad_left, x1 = x0 + p->pool_w;
        x0 = x0 < 0 ? 0 : x0;
        x1 = x1 > p->in_w ? p->in_w : x1;
        float *dst = dst_row + (size_t)x * p->out_stride;
        const __m512 inv = _mm512_set1_ps(1.0f / (float)((y1 - y0) * (x1 - x0)));
        for (int c = 0; c < ch; c += 16) {
            __mmask16 m = ch - c >= 16 ? 0xFFFF : (__mmask16)((1u << (ch - c)) - 1);
            __m512 v = _mm512_maskz_loadu_ps(m, row + (size_t)x0 * ch + c);
            for (int ix = x0 + 1; ix < x1; ix++) {
                __m512 u = _mm512_maskz_loadu_ps(m, row + (size_t)ix * ch + c);
                v = is_max ? _mm512_max_ps(v, u) : _mm512_add_ps(v, u);
            }
            _mm512_mask_storeu_ps(dst + c, m, is_max ? v : _mm512_mul_ps(v, inv));
        }
    }
}
#endif

typedef struct {
    float *out;
    const float *in;
    const cnn_pool *p;
    int is_max;
} pool_job;

/* Output rows [out_h*index/n, out_h*(index+1)/n), each thread with its own
 * row buffer (or window by window when input rows are too wide for it). */
static void pool_task(void *ctx, int index, int n) {
    const pool_job *j = ctx;
    const cnn_pool *p = j->p;
    int y0 = (int)((long)p->out_h * index / n), y1 = (int)((long)p->out_h * (index + 1) / n);
    if ((long)p->in_w * p->channels > ROW_FLOATS) {
        pool_direct(j->out, j->in, p, j->is_max, y0, y1);
        return;
    }
    float row[ROW_FLOATS];
#if CNN_X86
    if (cnn_kernels_get()->isa == CNN_ISA_AVX512) {
        for (int y = y0; y < y1; y++) {
            float *dst = j->out + (size_t)y * p->out_w * p->out_stride;
            if (p->channels < 16)
                (j->is_max ? pool_row_narrow_max : pool_row_narrow_avg)(dst, j->in, p, y);
            else
                pool_row_avx512(dst, j->in, p, y, j->is_max, row);
        }
        return;
    }
#endif
    for (int y = y0; y < y1; y++)
        pool_row(j->out + (size_t)y * p->out_w * p->out_stride, j->in, p, y, j->is_max, row);
}

static void pool_forward(float *out, const float *in, const cnn_pool *p, int is_max) {
    pool_job j = {out, in, p, is_max};
    /* reads pool_h/stride_h times what it writes */
    double floats = (double)p->out_h * p->out_w * p->channels *
                    (1.0 + (double)p->pool_h / (p->stride_h > 0 ? p->stride_h : 1));
    int n = cnn_parallel_parts(floats, p->out_h);
    if (n > 1)
        cnn_parallel(pool_task, &j, n);
    else
        pool_task(&j, 0, 1);
}

void cnn_maxpool_forward(float *out, const float *in, const cnn_pool *p) {
    pool_forward(out, in, p, 1);
}

void cnn_avgpool_forward(float *out, const float *in, const cnn_pool *p) {
    pool_forward(out, in, p, 0);
}

/* (pixels, channels) -> (channels) */
void cnn_global_avgpool(float *out, const float *in, int pixels, int channels) {
    for (int c = 0; c < channels; c++) out[c] = 0.0f;
    for (long p = 0; p < pixels; p++)
        for (int c = 0; c < channels; c++) out[c] += in[p * channels + c];
    float inv = 1.0f / (float)pixels;
    for (int c = 0; c < channels; c++) out[c] *= inv;
}

void cnn_global_maxpool(float *out, const float *in, int pixels, int channels) {
    for (int c = 0; c < channels; c++) out[c] = in[c];
    for (long p = 1; p < pixels; p++)
        for (int c = 0; c < channels; c++)
            out[c] = in[p * channels + c] > out[c] ? in[p * channels + c] : out[c];
}
