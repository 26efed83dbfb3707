/*
 * plan.h — the execution plan (plan.c): the kernel calls left after the
 * graph rewrites, and where every activation lives.
 *
 * A tensor is a view of a buffer: an offset in floats (a channel offset
 * when it is a slice of a concatenation) and a pixel stride.  A buffer is
 * the model input, one of the caller's output arrays, or a range of the
 * static arena placed by liveness.
 */
#ifndef PLAN_H
#define PLAN_H

#include "cnncc.h"
#include "cnnrt.h"

typedef enum {
    K_CONV,    /* conv2d, dense, separable's pointwise half: cnn_conv_forward */
    K_DWCONV,  /* depthwise_conv2d, separable's depthwise half */
    K_CONV_DW, /* a K_CONV whose output only the K_DWCONV after it reads: both, through a ring */
    K_MAXPOOL,
    K_AVGPOOL,
    K_GLOBAL_AVG,
    K_GLOBAL_MAX,
    K_SCALE_SHIFT, /* a batch normalization that could not be folded */
    K_ACTIVATE,
    K_SOFTMAX,
    K_ADD,
    K_LRN,
    K_ZERO_PAD,
    K_COPY_CHANNELS, /* an input of a concatenation that could not write in place */
    K_COPY           /* an output that could not be written in place */
} KernelKind;

typedef enum { B_ARENA, B_INPUT, B_OUTPUT } BufKind;

typedef struct {
    BufKind kind;
    int output; /* B_OUTPUT: which output parameter */
    long long floats;
    int first, last;  /* steps during which it is live */
    long long offset; /* B_ARENA: floats from the arena start */
    int merged_into;  /* -1, or the buffer this one was merged into (in-place) */
} Buffer;

typedef struct {
    int buf;
    long long offset; /* floats from the buffer start */
    int stride;       /* floats between pixels */
    int channels;
    long long pixels;
} TensorView;

typedef struct {
    KernelKind kind;
    int layer;     /* the layer it implements; its name goes into a comment */
    int folded[8]; /* layers fused or folded into it */
    int n_folded;
    int pos;          /* program position that orders the steps */
    int out;          /* tensor */
    int in[16], n_in; /* tensors */
    int residual;     /* tensor added in the epilogue, or -1 */
    cnn_conv conv;    /* K_CONV (also dense), K_CONV_DW */
    cnn_dwconv dw;    /* K_DWCONV, K_CONV_DW */
    cnn_pool pool;    /* K_MAXPOOL, K_AVGPOOL */
    cnn_act act;      /* fused activation (K_CONV, K_DWCONV, K_ADD, K_ACTIVATE) */
    int prep;         /* index into Plan.preps (its weights), or -1 */
    int dw_prep;      /* K_CONV_DW: the depthwise half's weights */
    int scratch;      /* tensor the call may overwrite, or -1: K_CONV_DW's ring
                         (cnn_conv_dw_ring_floats()), a K_CONV's
                         cnn_conv_scratch_floats() when not 0 */
    int pad[4];       /* K_ZERO_PAD: top, bottom, left, right */
    int slice;        /* K_COPY_CHANNELS: first channel of the slice written */
    int output;       /* K_COPY: which output parameter */
    int lrn_radius;
    float lrn_bias, lrn_alpha, lrn_beta;
} Step;

struct Plan {
    const Graph *g;
    Step *steps;
    int n_steps;
    TensorView *tensors; /* per layer, then temporaries */
    int n_tensors;
    Buffer *bufs;
    int n_bufs;
    cnn_prep *preps; /* weight preparation, one per step with weights */
    int n_preps;
    long long packed_floats; /* total packed weights */
    long long arena_floats;
    long long lower_bound_floats;
    int outputs[32], n_outputs; /* layers handed to the caller, in order */
};

Plan *plan_build(const Graph *g, int keep_aux);
void plan_free(Plan *p);
long long plan_arena_bytes(const Plan *p);
long long plan_lower_bound(const Plan *p);
/* Where tensor t lives (its buffer resolved through in-place merges). */
void plan_view(const Plan *p, int t, TensorView *v);
/* Offset (floats) of a layer's weight variable in the raw weights, -1 if none. */
long long plan_raw_offset(const Graph *g, int layer, const char *var);

#endif
