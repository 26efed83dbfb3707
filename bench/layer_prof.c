/*
 * layer_prof.c — per-layer times of a generated model, without touching the
 * generated code: linked into a model runner with -Wl,--wrap=cnn_X for each
 * runtime entry point below, it times every call and keys it by call site
 * (return address and descriptor), keeping the minimum over the runs (the
 * least disturbed run on a shared machine), in thread CPU time with one
 * thread and wall time with CNNRT_THREADS > 1.  At exit it prints one line per
 * site in call order: kind, shape, MACs, min time, GFLOP/s, % of
 * LAYER_PROF_PEAK (GFLOP/s, default 154), sorted by time with
 * LAYER_PROF_SORT=1; LAYER_PROF_HOT=1 also times each convolution without
 * a residual a second time, hot in cache (column hot_peak).  Build: bench/layer_prof.sh MODEL.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cnnrt.h"

#define MAX_SITES 4096

typedef struct {
    const void *ra, *desc;
    char kind[16];
    char shape[96];
    double macs;
    double min_us, sum_us, hot_us;
    long calls;
    int order;
} site;

static site sites[MAX_SITES];
static int hot = -1;
static int n_sites;

/* CPU time of the calling thread with one runtime thread (a preempted run
 * is not charged for the wait), wall time with more. */
static int clock_id = -1;

static double now_us(void) {
    struct timespec t;
    if (clock_id < 0) {
        const char *th = getenv("CNNRT_THREADS");
        clock_id = th && atoi(th) > 1 ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID;
    }
    clock_gettime(clock_id, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static site *find(const void *ra, const void *desc) {
    for (int i = 0; i < n_sites; i++)
        if (sites[i].ra == ra && sites[i].desc == desc) return &sites[i];
    if (n_sites == MAX_SITES) return NULL;
    site *s = &sites[n_sites];
    memset(s, 0, sizeof *s);
    s->ra = ra;
    s->desc = desc;
    s->order = n_sites++;
    s->min_us = 1e30;
    return s;
}

static void record(site *s, double t) {
    if (!s) return;
    if (t < s->min_us) s->min_us = t;
    s->sum_us += t;
    s->calls++;
}

#define RA __builtin_return_address(0)

void __real_cnn_conv_forward(float *, const float *, const float *, const float *, float *, const cnn_conv *);
void __wrap_cnn_conv_forward(float *out, const float *in, const float *packed, const float *residual,
                             float *scratch, const cnn_conv *c) {
    site *s = find(RA, c);
    if (hot < 0) hot = getenv("LAYER_PROF_HOT") != NULL;
    if (s && !s->calls) {
        snprintf(s->kind, sizeof s->kind, "conv");
        snprintf(s->shape, sizeof s->shape, "%dx%dx%d k%dx%d s%d -> %dx%dx%d%s", c->in_h, c->in_w, c->in_c,
                 c->k_h, c->k_w, c->stride_h, c->out_h, c->out_w, c->out_c,
                 scratch ? (residual ? " +res wino" : " wino") : residual ? " +res" : "");
        s->macs = (double)c->out_h * c->out_w * c->out_c * c->k_h * c->k_w * c->in_c;
    }
    double t0 = now_us();
    __real_cnn_conv_forward(out, in, packed, residual, scratch, c);
    record(s, now_us() - t0);
    /* LAYER_PROF_HOT=1: run it again with its weights and input now in
     * cache (residual layers read out: only those without a residual) */
    if (s && hot && !residual) {
        t0 = now_us();
        __real_cnn_conv_forward(out, in, packed, residual, scratch, c);
        t0 = now_us() - t0;
        if (t0 < s->hot_us || !s->hot_us) s->hot_us = t0;
    }
}

void __real_cnn_dwconv_forward(float *, const float *, const float *, const cnn_dwconv *);
void __wrap_cnn_dwconv_forward(float *out, const float *in, const float *packed, const cnn_dwconv *d) {
    const cnn_conv *c = &d->geom;
    site *s = find(RA, d);
    if (s && !s->calls) {
        snprintf(s->kind, sizeof s->kind, "dwconv");
        snprintf(s->shape, sizeof s->shape, "%dx%dx%d k%dx%d s%d -> %dx%dx%d", c->in_h, c->in_w, c->in_c,
                 c->k_h, c->k_w, c->stride_h, c->out_h, c->out_w, c->out_c);
        s->macs = (double)c->out_h * c->out_w * c->out_c * c->k_h * c->k_w;
    }
    double t0 = now_us();
    __real_cnn_dwconv_forward(out, in, packed, d);
    record(s, now_us() - t0);
}

void __real_cnn_conv_dw_forward(float *, const float *, float *, const float *, const float *,
                                const cnn_conv *, const cnn_dwconv *);
void __wrap_cnn_conv_dw_forward(float *out, const float *in, float *ring, const float *cp, const float *dp,
                                const cnn_conv *c, const cnn_dwconv *d) {
    site *s = find(RA, d);
    if (s && !s->calls) {
        snprintf(s->kind, sizeof s->kind, "conv+dw");
        snprintf(s->shape, sizeof s->shape, "%dx%dx%d k%dx%d s%d -> %dx%dx%d dw s%d -> %dx%d", c->in_h,
                 c->in_w, c->in_c, c->k_h, c->k_w, c->stride_h, c->out_h, c->out_w, c->out_c,
                 d->geom.stride_h, d->geom.out_h, d->geom.out_w);
        s->macs = (double)c->out_h * c->out_w * c->out_c * c->k_h * c->k_w * c->in_c +
                  (double)d->geom.out_h * d->geom.out_w * d->geom.out_c * d->geom.k_h * d->geom.k_w;
    }
    double t0 = now_us();
    __real_cnn_conv_dw_forward(out, in, ring, cp, dp, c, d);
    record(s, now_us() - t0);
}

#define WRAP_POOL(NAME)                                                                                      \
    void __real_##NAME(float *, const float *, const cnn_pool *);                                            \
    void __wrap_##NAME(float *out, const float *in, const cnn_pool *p) {                                     \
        site *s = find(RA, p);                                                                               \
        if (s && !s->calls) {                                                                                \
            snprintf(s->kind, sizeof s->kind, "%s", #NAME + 4);                                              \
            snprintf(s->shape, sizeof s->shape, "%dx%dx%d p%dx%d s%d -> %dx%d", p->in_h, p->in_w,            \
                     p->channels, p->pool_h, p->pool_w, p->stride_h, p->out_h, p->out_w);                    \
        }                                                                                                    \
        double t0 = now_us();                                                                                \
        __real_##NAME(out, in, p);                                                                           \
        record(s, now_us() - t0);                                                                            \
    }
WRAP_POOL(cnn_maxpool_forward)
WRAP_POOL(cnn_avgpool_forward)

void __real_cnn_zero_pad(float *, const float *, int, int, int, int, int, int, int);
void __wrap_cnn_zero_pad(float *out, const float *in, int h, int w, int c, int top, int bottom, int left,
                         int right) {
    site *s = find(RA, NULL);
    if (s && !s->calls) {
        snprintf(s->kind, sizeof s->kind, "zero_pad");
        snprintf(s->shape, sizeof s->shape, "%dx%dx%d +%d,%d,%d,%d", h, w, c, top, bottom, left, right);
    }
    double t0 = now_us();
    __real_cnn_zero_pad(out, in, h, w, c, top, bottom, left, right);
    record(s, now_us() - t0);
}

void __real_cnn_add(float *, const float *const *, int, size_t, const cnn_act *);
void __wrap_cnn_add(float *out, const float *const *ins, int n_in, size_t count, const cnn_act *act) {
    site *s = find(RA, NULL);
    if (s && !s->calls) {
        snprintf(s->kind, sizeof s->kind, "add");
        snprintf(s->shape, sizeof s->shape, "%d x %zu", n_in, count);
    }
    double t0 = now_us();
    __real_cnn_add(out, ins, n_in, count, act);
    record(s, now_us() - t0);
}

void __real_cnn_activate(float *, const float *, size_t, const cnn_act *);
void __wrap_cnn_activate(float *out, const float *in, size_t count, const cnn_act *act) {
    site *s = find(RA, NULL);
    if (s && !s->calls) {
        snprintf(s->kind, sizeof s->kind, "activate");
        snprintf(s->shape, sizeof s->shape, "%zu", count);
    }
    double t0 = now_us();
    __real_cnn_activate(out, in, count, act);
    record(s, now_us() - t0);
}

void __real_cnn_copy_channels(float *, int, const float *, int, int);
void __wrap_cnn_copy_channels(float *out, int out_stride, const float *in, int pixels, int channels) {
    site *s = find(RA, NULL);
    if (s && !s->calls) {
        snprintf(s->kind, sizeof s->kind, "copy_ch");
        snprintf(s->shape, sizeof s->shape, "%d x %d", pixels, channels);
    }
    double t0 = now_us();
    __real_cnn_copy_channels(out, out_stride, in, pixels, channels);
    record(s, now_us() - t0);
}

#define WRAP_GLOBAL(NAME)                                                                                    \
    void __real_##NAME(float *, const float *, int, int);                                                    \
    void __wrap_##NAME(float *out, const float *in, int pixels, int channels) {                              \
        site *s = find(RA, NULL);                                                                            \
        if (s && !s->calls) {                                                                                \
            snprintf(s->kind, sizeof s->kind, "%s", #NAME + 4);                                              \
            snprintf(s->shape, sizeof s->shape, "%d x %d", pixels, channels);                                \
        }                                                                                                    \
        double t0 = now_us();                                                                                \
        __real_##NAME(out, in, pixels, channels);                                                            \
        record(s, now_us() - t0);                                                                            \
    }
WRAP_GLOBAL(cnn_global_avgpool)
WRAP_GLOBAL(cnn_global_maxpool)

void __real_cnn_softmax(float *, const float *, int, int);
void __wrap_cnn_softmax(float *out, const float *in, int rows, int n) {
    site *s = find(RA, NULL);
    if (s && !s->calls) {
        snprintf(s->kind, sizeof s->kind, "softmax");
        snprintf(s->shape, sizeof s->shape, "%d x %d", rows, n);
    }
    double t0 = now_us();
    __real_cnn_softmax(out, in, rows, n);
    record(s, now_us() - t0);
}

void __real_cnn_lrn(float *, const float *, int, int, int, float, float, float);
void __wrap_cnn_lrn(float *out, const float *in, int pixels, int channels, int depth_radius, float bias,
                    float alpha, float beta) {
    site *s = find(RA, NULL);
    if (s && !s->calls) {
        snprintf(s->kind, sizeof s->kind, "lrn");
        snprintf(s->shape, sizeof s->shape, "%d x %d", pixels, channels);
    }
    double t0 = now_us();
    __real_cnn_lrn(out, in, pixels, channels, depth_radius, bias, alpha, beta);
    record(s, now_us() - t0);
}

static int by_time(const void *a, const void *b) {
    double x = ((const site *)a)->min_us, y = ((const site *)b)->min_us;
    return (x < y) - (x > y);
}

__attribute__((destructor)) static void report(void) {
    const char *pk = getenv("LAYER_PROF_PEAK");
    double peak = pk ? atof(pk) : 154.0;
    double total = 0, total_macs = 0;
    for (int i = 0; i < n_sites; i++) {
        total += sites[i].min_us;
        total_macs += sites[i].macs;
    }
    if (getenv("LAYER_PROF_SORT")) qsort(sites, (size_t)n_sites, sizeof *sites, by_time);
    fprintf(stderr, "%4s %-9s %-44s %9s %10s %6s %7s %6s %8s\n", "#", "kind", "shape", "MMACs", "min_us",
            "share", "GFLOP/s", "peak", "hot_peak");
    for (int i = 0; i < n_sites; i++) {
        const site *s = &sites[i];
        double g = s->macs ? 2 * s->macs / s->min_us / 1e3 : 0;
        fprintf(stderr, "%4d %-9s %-44s %9.1f %10.1f %5.1f%% %7.1f %5.0f%%", s->order, s->kind, s->shape,
                s->macs / 1e6, s->min_us, 100 * s->min_us / total, g, 100 * g / peak);
        if (s->hot_us > 0 && s->macs) fprintf(stderr, " %7.0f%%", 100 * 2 * s->macs / s->hot_us / 1e3 / peak);
        fprintf(stderr, "\n");
    }
    fprintf(stderr, "sum of per-layer minima: %.1f us, %.1f GFLOP/s = %.0f%% of %.0f\n", total,
            2 * total_macs / total / 1e3, 100 * 2 * total_macs / total / 1e3 / peak, peak);
}
