/*
 * plan.c — from the graph as written to the kernel calls that run it, and
 * a static arena for every activation.
 *
 * Rewrites, each where it is exact:
 *   - dropout and flatten are views of their input (no call);
 *   - batch normalization after a convolution or dense layer with a linear
 *     activation and no other reader is folded into its weights;
 *   - an activation is fused into its producer's epilogue;
 *   - an add is fused into a convolution producing one of its inputs (the
 *     other is added in the epilogue, possibly in place);
 *   - the inputs of a concatenation write straight into their channel slice;
 *   - zero padding in front of a convolution becomes the convolution's own,
 *     and in front of a max pooling of a ReLU's output the pooling's own;
 *   - auxiliary heads are dropped unless asked for;
 *   - a convolution whose output only the depthwise convolution after it
 *     reads runs with it as one step, through a ring of a few rows (when
 *     the runtime's cnn_conv_dw_fusable says it pays).
 * A convolution the runtime runs by Winograd gets scratch memory in the
 * arena for that step (cnn_conv_scratch_floats).
 * The summary still shows the model as written: these change the plan only.
 *
 * Memory: every remaining tensor gets a buffer live from the step that
 * writes it to the last step that reads it; elementwise steps take over a
 * buffer that dies with them (in place).  Buffers are then placed in one
 * arena, largest first, each at the lowest offset free during its
 * lifetime.  The lower bound reported beside the arena is the largest sum
 * of buffers live at one step.
 */
#include <stdlib.h>
#include <string.h>

#include "plan.h"

#define ALIGN_FLOATS 16 /* 64 bytes */

typedef struct {
    Plan *p;
    const Graph *g;
    int keep_aux;
    int *alias;     /* tensor -> the tensor whose data it is (views) */
    int *step_of;   /* tensor -> step that writes it, -1 */
    int *exclusive; /* tensor: its data is observed only through this tensor */
    int *consumers; /* live consumers per layer */
    int *is_output;
    int *pad_folded; /* zero_padding2d layers absorbed by their consumer */
    int cap_steps;
} Builder;

static int live(const Builder *b, int i) {
    return b->keep_aux || !b->g->layers[i].aux_only;
}

static int root(const Builder *b, int t) {
    while (b->alias[t] != t) t = b->alias[t];
    return t;
}

static Step *new_step(Builder *b, KernelKind kind, int layer) {
    Plan *p = b->p;
    if (p->n_steps == b->cap_steps) {
        b->cap_steps = b->cap_steps ? 2 * b->cap_steps : 64;
        p->steps = xrealloc(p->steps, sizeof(Step) * (size_t)b->cap_steps);
    }
    Step *s = &p->steps[p->n_steps++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->layer = layer;
    s->pos = layer;
    s->out = layer;
    s->residual = -1;
    s->prep = -1;
    s->dw_prep = -1;
    s->scratch = -1;
    b->step_of[layer] = p->n_steps - 1;
    return s;
}

static int new_tensor(Builder *b) {
    Plan *p = b->p;
    int t = p->n_tensors++;
    p->tensors = xrealloc(p->tensors, sizeof(TensorView) * (size_t)p->n_tensors);
    b->alias = xrealloc(b->alias, sizeof(int) * (size_t)p->n_tensors);
    b->step_of = xrealloc(b->step_of, sizeof(int) * (size_t)p->n_tensors);
    b->exclusive = xrealloc(b->exclusive, sizeof(int) * (size_t)p->n_tensors);
    b->alias[t] = t;
    b->step_of[t] = -1;
    b->exclusive[t] = 1;
    memset(&p->tensors[t], 0, sizeof(TensorView));
    return t;
}

/* ---- geometry ---- */

static cnn_act act_of(Act a) {
    cnn_act r = {CNN_ACT_LINEAR, 0, 0, 0};
    if (a == ACT_RELU || a == ACT_RELU6) r.kind = CNN_ACT_RELU;
    if (a == ACT_RELU6) r.has_max = 1, r.max_value = 6;
    if (a == ACT_TANH) r.kind = CNN_ACT_TANH;
    if (a == ACT_SIGMOID) r.kind = CNN_ACT_SIGMOID;
    return r;
}

/* The activation a layer applies on its own (activation= or an activation layer). */
static cnn_act layer_act(const Layer *l, int *softmax) {
    *softmax = 0;
    if (strcmp(l->op->name, "relu") == 0) {
        const Attr *mx = layer_attr(l, "max_value");
        cnn_act r = {CNN_ACT_RELU, (float)layer_attr(l, "negative_slope")->f, mx->set, (float)mx->f};
        return r;
    }
    const Attr *a = layer_attr(l, "activation");
    if (!a) {
        cnn_act none = {CNN_ACT_LINEAR, 0, 0, 0};
        return none;
    }
    *softmax = a->act == ACT_SOFTMAX;
    return act_of(a->act);
}

/* Keras 'same': total = max((out-1)*s + k_eff - in, 0), floor(total/2) before. */
static int same_pad(long long in, long long out, long long k, long long s, long long d) {
    long long k_eff = k + (k - 1) * (d - 1), total = (out - 1) * s + k_eff - in;
    return total > 0 ? (int)(total / 2) : 0;
}

static const Shape *shape_of(const Builder *b, int layer) {
    return &b->g->layers[layer].shape;
}

/* Window geometry of a conv/depthwise/pool layer reading `in_layer`, with
 * the padding of a folded zero_padding2d added. */
static void window(const Builder *b, const Layer *l, const char *size_arg, int in_layer, int extra_top,
                   int extra_left, cnn_conv *c) {
    const Shape *in = shape_of(b, in_layer), *out = &l->shape;
    const Attr *k = layer_attr(l, size_arg), *st = layer_attr(l, "strides");
    const Attr *dil = layer_attr(l, "dilation_rate"), *pad = layer_attr(l, "padding");
    memset(c, 0, sizeof *c);
    c->in_h = (int)in->d[0], c->in_w = (int)in->d[1], c->in_c = (int)in->d[2];
    c->out_h = (int)out->d[0], c->out_w = (int)out->d[1], c->out_c = (int)out->d[2];
    c->k_h = (int)k->i[0], c->k_w = (int)k->i[1];
    c->stride_h = (int)st->i[0], c->stride_w = (int)st->i[1];
    c->dil_h = dil ? (int)dil->i[0] : 1, c->dil_w = dil ? (int)dil->i[1] : 1;
    /* 'same' padding is computed on the input as the layer saw it (padded). */
    const Shape *seen = &b->g->layers[l->in[0]].shape;
    c->pad_top = extra_top + (pad->same ? same_pad(seen->d[0], out->d[0], k->i[0], st->i[0], c->dil_h) : 0);
    c->pad_left = extra_left + (pad->same ? same_pad(seen->d[1], out->d[1], k->i[1], st->i[1], c->dil_w) : 0);
    c->out_stride = c->out_c;
}

/* Where a layer reading `in` gets its data, and the padding a folded
 * zero_padding2d in between adds. */
static int unpadded_source(const Builder *b, int in, int *top, int *left) {
    *top = *left = 0;
    if (!b->pad_folded[in]) return in;
    const Attr *zp = layer_attr(&b->g->layers[in], "padding");
    *top = (int)zp->i[0], *left = (int)zp->i[2];
    return b->g->layers[in].in[0];
}

/* ---- weights ---- */

long long plan_raw_offset(const Graph *g, int layer, const char *var) {
    long long off = 0;
    for (int i = 0; i < g->n; i++) {
        const Layer *l = &g->layers[i];
        for (int w = 0; w < l->n_weights; w++) {
            long long n = 1;
            for (int k = 0; k < l->weights[w].rank; k++) n *= l->weights[w].shape[k];
            if (i == layer && strcmp(l->weights[w].var, var) == 0) return off;
            off += n;
        }
    }
    return -1;
}

static int add_prep(Builder *b, int kind, int channels, int layer, const char *kernel, int with_bias) {
    Plan *p = b->p;
    p->preps = xrealloc(p->preps, sizeof(cnn_prep) * (size_t)(p->n_preps + 1));
    cnn_prep *r = &p->preps[p->n_preps];
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->channels = channels;
    r->kernel = kernel ? plan_raw_offset(b->g, layer, kernel) : -1;
    r->bias = with_bias ? plan_raw_offset(b->g, layer, "bias") : -1;
    r->gamma = r->beta = r->mean = r->var = -1;
    return p->n_preps++;
}

static void set_bn(Builder *b, int prep, int bn_layer) {
    cnn_prep *r = &b->p->preps[prep];
    r->gamma = plan_raw_offset(b->g, bn_layer, "gamma");
    r->beta = plan_raw_offset(b->g, bn_layer, "beta");
    r->mean = plan_raw_offset(b->g, bn_layer, "moving_mean");
    r->var = plan_raw_offset(b->g, bn_layer, "moving_variance");
    r->eps = (float)layer_attr(&b->g->layers[bn_layer], "epsilon")->f;
}

/* ---- fusion tests ---- */

/* The step writing layer `in`'s data, if `in` can be changed in place by a
 * fusion: nobody else reads it and it is not handed to the caller. */
static Step *fusable_producer(Builder *b, int in) {
    if (b->consumers[in] != 1 || b->is_output[in] || !b->exclusive[in]) return NULL;
    int s = b->step_of[root(b, in)];
    return s < 0 ? NULL : &b->p->steps[s];
}

static void note_folded(Step *s, int layer) {
    if (s->n_folded < 8) s->folded[s->n_folded++] = layer;
}

static void make_view(Builder *b, int layer, int of) {
    b->alias[layer] = of;
    b->exclusive[layer] = b->exclusive[of] && b->consumers[of] == 1 && !b->is_output[of];
}

/* ---- one layer ---- */

static void plan_conv(Builder *b, int i, const Layer *l) {
    int top, left, src = unpadded_source(b, l->in[0], &top, &left);
    int softmax;
    cnn_act act = layer_act(l, &softmax);
    int use_bias = layer_attr(l, "use_bias")->i[0] != 0;
    const char *op = l->op->name;
    Step *s;
    if (strcmp(op, "conv2d") == 0) {
        s = new_step(b, K_CONV, i);
        window(b, l, "kernel_size", src, top, left, &s->conv);
        s->conv.act = act;
        s->prep = add_prep(b, CNN_PREP_CONV, s->conv.out_c, i, "kernel", use_bias);
    } else if (strcmp(op, "depthwise_conv2d") == 0) {
        s = new_step(b, K_DWCONV, i);
        window(b, l, "kernel_size", src, top, left, &s->dw.geom);
        s->dw.depth_multiplier = (int)layer_attr(l, "depth_multiplier")->i[0];
        s->dw.geom.act = act;
        s->prep = add_prep(b, CNN_PREP_DWCONV, s->dw.geom.out_c, i, "depthwise_kernel", use_bias);
    } else { /* separable: depthwise into a temporary, then a 1x1 convolution */
        int mid = new_tensor(b);
        s = new_step(b, K_DWCONV, i);
        b->step_of[i] = -1;
        s->out = mid;
        b->step_of[mid] = b->p->n_steps - 1;
        window(b, l, "kernel_size", src, top, left, &s->dw.geom);
        s->dw.depth_multiplier = (int)layer_attr(l, "depth_multiplier")->i[0];
        s->dw.geom.out_c = s->dw.geom.in_c * s->dw.depth_multiplier;
        s->dw.geom.out_stride = s->dw.geom.out_c;
        s->in[0] = src;
        s->n_in = 1;
        s->prep = add_prep(b, CNN_PREP_DWCONV, s->dw.geom.out_c, i, "depthwise_kernel", 0);
        b->p->tensors[mid].channels = s->dw.geom.out_c;
        b->p->tensors[mid].pixels = (long long)l->shape.d[0] * l->shape.d[1];
        cnn_conv pw = {(int)l->shape.d[0],
                       (int)l->shape.d[1],
                       s->dw.geom.out_c,
                       (int)l->shape.d[0],
                       (int)l->shape.d[1],
                       (int)l->shape.d[2],
                       1,
                       1,
                       1,
                       1,
                       1,
                       1,
                       0,
                       0,
                       (int)l->shape.d[2],
                       act};
        s = new_step(b, K_CONV, i);
        s->conv = pw;
        s->in[0] = mid;
        s->n_in = 1;
        s->prep = add_prep(b, CNN_PREP_CONV, pw.out_c, i, "pointwise_kernel", use_bias);
        src = -1;
    }
    if (src >= 0) {
        s->in[0] = src;
        s->n_in = 1;
    }
    if (softmax) {
        Step *sm = new_step(b, K_SOFTMAX, i);
        sm->in[0] = i;
        sm->n_in = 1;
        b->step_of[i] = b->p->n_steps - 2; /* the convolution still writes the data */
        sm->out = i;
        b->exclusive[i] = 0; /* softmax is not linear: nothing may fuse behind it */
    }
}

static void plan_dense(Builder *b, int i, const Layer *l) {
    int softmax;
    cnn_act act = layer_act(l, &softmax);
    long long in = shape_of(b, l->in[0])->d[0];
    cnn_conv c = {1, 1, (int)in, 1, 1, (int)l->shape.d[0], 1, 1, 1, 1, 1, 1, 0, 0, (int)l->shape.d[0], act};
    Step *s = new_step(b, K_CONV, i);
    s->conv = c;
    s->in[0] = l->in[0];
    s->n_in = 1;
    s->prep = add_prep(b, CNN_PREP_CONV, c.out_c, i, "kernel", layer_attr(l, "use_bias")->i[0] != 0);
    if (softmax) {
        Step *sm = new_step(b, K_SOFTMAX, i);
        sm->in[0] = i;
        sm->n_in = 1;
        b->step_of[i] = b->p->n_steps - 2;
        b->exclusive[i] = 0;
    }
}

static void plan_batch_norm(Builder *b, int i, const Layer *l) {
    Step *prod = fusable_producer(b, l->in[0]);
    if (prod && (prod->kind == K_CONV || prod->kind == K_DWCONV) && prod->residual < 0 &&
        (prod->kind == K_CONV ? prod->conv.act.kind : prod->dw.geom.act.kind) == CNN_ACT_LINEAR) {
        set_bn(b, prod->prep, i);
        note_folded(prod, i);
        make_view(b, i, l->in[0]);
        return;
    }
    const Shape *s = &l->shape;
    Step *st = new_step(b, K_SCALE_SHIFT, i);
    st->in[0] = l->in[0];
    st->n_in = 1;
    st->prep = add_prep(b, CNN_PREP_SCALE_SHIFT, (int)s->d[s->rank - 1], i, NULL, 0);
    set_bn(b, st->prep, i);
}

static cnn_act *act_slot(Step *s) {
    if (s->kind == K_CONV) return &s->conv.act;
    if (s->kind == K_DWCONV) return &s->dw.geom.act;
    if (s->kind == K_ADD || s->kind == K_ACTIVATE) return &s->act;
    return NULL;
}

static void plan_activation(Builder *b, int i, const Layer *l) {
    int softmax;
    cnn_act act = layer_act(l, &softmax);
    Step *prod = fusable_producer(b, l->in[0]);
    cnn_act *slot = prod ? act_slot(prod) : NULL;
    if (!softmax && slot && slot->kind == CNN_ACT_LINEAR) {
        *slot = act;
        note_folded(prod, i);
        make_view(b, i, l->in[0]);
        return;
    }
    Step *s = new_step(b, softmax ? K_SOFTMAX : K_ACTIVATE, i);
    s->in[0] = l->in[0];
    s->n_in = 1;
    s->act = act;
}

static void plan_add(Builder *b, int i, const Layer *l) {
    if (l->n_in == 2) {
        for (int k = 0; k < 2; k++) {
            Step *prod = fusable_producer(b, l->in[k]);
            if (prod && prod->kind == K_CONV && prod->residual < 0 && prod->conv.act.kind == CNN_ACT_LINEAR &&
                root(b, l->in[1 - k]) != root(b, l->in[k])) {
                prod->residual = l->in[1 - k];
                prod->pos = i; /* runs when the other input is ready */
                note_folded(prod, i);
                make_view(b, i, l->in[k]);
                b->exclusive[i] = 1;
                b->step_of[i] = (int)(prod - b->p->steps);
                return;
            }
        }
    }
    Step *s = new_step(b, K_ADD, i);
    for (int k = 0; k < l->n_in; k++) s->in[k] = l->in[k];
    s->n_in = l->n_in;
}

static void plan_concat(Builder *b, int i, const Layer *l) {
    Step *anchor = NULL;
    long long offset = 0;
    int channels = (int)l->shape.d[l->shape.rank - 1];
    for (int k = 0; k < l->n_in; k++) {
        int in = l->in[k];
        int in_c = (int)shape_of(b, in)->d[shape_of(b, in)->rank - 1];
        Step *prod = fusable_producer(b, in);
        int slice_ok = prod && root(b, in) == prod->out && prod->residual < 0 && l->shape.rank == 3 &&
                       (prod->kind == K_CONV || prod->kind == K_DWCONV || prod->kind == K_MAXPOOL ||
                        prod->kind == K_AVGPOOL);
        if (slice_ok) {
            /* The producer writes its channels straight into the concatenation. */
            int t = prod->out;
            b->alias[t] = i;
            b->p->tensors[t].offset = offset;
            b->p->tensors[t].stride = channels;
            if (prod->kind == K_CONV)
                prod->conv.out_stride = channels;
            else if (prod->kind == K_DWCONV)
                prod->dw.geom.out_stride = channels;
            else
                prod->pool.out_stride = channels;
            note_folded(prod, i);
        } else {
            Step *c = new_step(b, K_COPY_CHANNELS, i);
            c->in[0] = in;
            c->n_in = 1;
            c->slice = (int)offset;
            anchor = c;
        }
        offset += in_c;
    }
    b->step_of[i] = anchor ? (int)(anchor - b->p->steps) : -1;
    b->exclusive[i] = 1;
}

static void plan_pool(Builder *b, int i, const Layer *l, KernelKind kind) {
    cnn_conv c;
    int top, left, src = unpadded_source(b, l->in[0], &top, &left);
    window(b, l, "pool_size", src, top, left, &c);
    Step *s = new_step(b, kind, i);
    cnn_pool p = {c.in_h, c.in_w,     c.in_c,     c.out_h,   c.out_w,    c.k_h,
                  c.k_w,  c.stride_h, c.stride_w, c.pad_top, c.pad_left, c.in_c};
    s->pool = p;
    s->in[0] = src;
    s->n_in = 1;
}

static void plan_simple(Builder *b, int i, const Layer *l, KernelKind kind) {
    Step *s = new_step(b, kind, i);
    s->in[0] = l->in[0];
    s->n_in = 1;
    if (kind == K_ZERO_PAD) {
        const Attr *zp = layer_attr(l, "padding");
        for (int k = 0; k < 4; k++) s->pad[k] = (int)zp->i[k];
    } else if (kind == K_LRN) {
        s->lrn_radius = (int)layer_attr(l, "depth_radius")->i[0];
        s->lrn_bias = (float)layer_attr(l, "bias")->f;
        s->lrn_alpha = (float)layer_attr(l, "alpha")->f;
        s->lrn_beta = (float)layer_attr(l, "beta")->f;
    }
}

/* Whether tensor t never holds a negative value: its producer ends in a
 * ReLU without a negative slope. */
static int non_negative(Builder *b, int t) {
    int s = b->step_of[root(b, t)];
    if (s < 0) return 0;
    Step *st = &b->p->steps[s];
    const cnn_act *a = act_slot(st);
    return st->out == root(b, t) && a && a->kind == CNN_ACT_RELU && a->negative_slope == 0.0f;
}

/* A zero_padding2d read only by a convolution becomes that convolution's
 * padding.  Before a max pooling it becomes the pooling's padding (which
 * ignores positions outside the input) when that gives the same maximum:
 * the input is never negative, so a zero never wins, and every window
 * keeps at least one real input (each pad smaller than the window). */
static int pad_foldable(Builder *b, int i) {
    const Graph *g = b->g;
    if (b->consumers[i] != 1 || b->is_output[i]) return 0;
    for (int j = i + 1; j < g->n; j++) {
        const Layer *c = &g->layers[j];
        if (!live(b, j) || c->n_in != 1 || c->in[0] != i) continue;
        if (strcmp(c->op->name, "max_pooling2d") == 0) {
            const Attr *zp = layer_attr(&g->layers[i], "padding"), *ps = layer_attr(c, "pool_size");
            return !layer_attr(c, "padding")->same && zp->i[0] < ps->i[0] && zp->i[1] < ps->i[0] &&
                   zp->i[2] < ps->i[1] && zp->i[3] < ps->i[1] && non_negative(b, g->layers[i].in[0]);
        }
        return strcmp(c->op->name, "conv2d") == 0 || strcmp(c->op->name, "depthwise_conv2d") == 0 ||
               strcmp(c->op->name, "separable_conv2d") == 0;
    }
    return 0;
}

static void plan_layer(Builder *b, int i) {
    const Layer *l = &b->g->layers[i];
    const char *op = l->op->name;
    if (strcmp(op, "conv2d") == 0 || strcmp(op, "depthwise_conv2d") == 0 ||
        strcmp(op, "separable_conv2d") == 0)
        plan_conv(b, i, l);
    else if (strcmp(op, "dense") == 0)
        plan_dense(b, i, l);
    else if (strcmp(op, "batch_normalization") == 0)
        plan_batch_norm(b, i, l);
    else if (strcmp(op, "activation") == 0 || strcmp(op, "relu") == 0)
        plan_activation(b, i, l);
    else if (strcmp(op, "add") == 0)
        plan_add(b, i, l);
    else if (strcmp(op, "concatenate") == 0)
        plan_concat(b, i, l);
    else if (strcmp(op, "max_pooling2d") == 0)
        plan_pool(b, i, l, K_MAXPOOL);
    else if (strcmp(op, "average_pooling2d") == 0)
        plan_pool(b, i, l, K_AVGPOOL);
    else if (strcmp(op, "global_average_pooling2d") == 0)
        plan_simple(b, i, l, K_GLOBAL_AVG);
    else if (strcmp(op, "global_max_pooling2d") == 0)
        plan_simple(b, i, l, K_GLOBAL_MAX);
    else if (strcmp(op, "lrn") == 0)
        plan_simple(b, i, l, K_LRN);
    else if (strcmp(op, "zero_padding2d") == 0) {
        if (pad_foldable(b, i)) {
            b->pad_folded[i] = 1;
            make_view(b, i, l->in[0]);
        } else {
            plan_simple(b, i, l, K_ZERO_PAD);
        }
    } else { /* flatten, dropout: the same floats */
        make_view(b, i, l->in[0]);
    }
}

/* ---- convolution + depthwise ---- */

/* Steps are in execution order.  A K_CONV followed by the K_DWCONV that
 * is the only reader of its output becomes one K_CONV_DW; the
 * intermediate tensor is then never written and gets no memory, the ring
 * takes its place. */
static void fuse_conv_dw(Builder *b) {
    Plan *p = b->p;
    int n = 0;
    for (int s = 0; s < p->n_steps; s++) {
        Step *st = &p->steps[s], *nx = s + 1 < p->n_steps ? &p->steps[s + 1] : NULL;
        p->steps[n] = *st;
        st = &p->steps[n++];
        int mid = nx ? nx->in[0] : -1; /* a view of the convolution's output, read only here */
        if (!nx || st->kind != K_CONV || nx->kind != K_DWCONV || st->residual >= 0 || mid >= b->g->n ||
            root(b, mid) != st->out || b->consumers[mid] != 1 || b->is_output[mid] || !b->exclusive[mid] ||
            !cnn_conv_dw_fusable(&st->conv, &nx->dw))
            continue;
        st->kind = K_CONV_DW;
        st->dw = nx->dw;
        st->dw_prep = nx->prep;
        st->out = nx->out;
        note_folded(st, nx->layer);
        for (int k = 0; k < nx->n_folded; k++) note_folded(st, nx->folded[k]);
        st->scratch = new_tensor(b);
        p->tensors[st->scratch].channels = st->conv.out_c;
        p->tensors[st->scratch].pixels =
            (long long)(cnn_conv_dw_ring_floats(&st->conv, &st->dw) / st->conv.out_c);
        s++; /* the depthwise step is now part of this one */
    }
    p->n_steps = n;
}

/* A convolution that needs scratch memory (Winograd's transformed tiles)
 * gets a tensor of its own, live during that step only. */
static void reserve_scratch(Builder *b) {
    Plan *p = b->p;
    for (int s = 0; s < p->n_steps; s++) {
        size_t floats = p->steps[s].kind == K_CONV ? cnn_conv_scratch_floats(&p->steps[s].conv) : 0;
        if (!floats) continue;
        int t = new_tensor(b);
        p->steps[s].scratch = t;
        p->tensors[t].channels = 1;
        p->tensors[t].pixels = (long long)floats;
    }
}

/* ---- memory ---- */

static int buf_resolve(const Plan *p, int b) {
    while (p->bufs[b].merged_into >= 0) b = p->bufs[b].merged_into;
    return b;
}

void plan_view(const Plan *p, int t, TensorView *v) {
    *v = p->tensors[t];
    v->buf = buf_resolve(p, p->tensors[t].buf);
}

static int new_buffer(Plan *p, BufKind kind, long long floats) {
    p->bufs = xrealloc(p->bufs, sizeof(Buffer) * (size_t)(p->n_bufs + 1));
    Buffer *b = &p->bufs[p->n_bufs];
    memset(b, 0, sizeof *b);
    b->kind = kind;
    b->floats = floats;
    b->first = 1 << 30;
    b->last = -1;
    b->merged_into = -1;
    return p->n_bufs++;
}

/* Views: each tensor's buffer, offset and stride from its alias chain. */
static void assign_views(Builder *b) {
    Plan *p = b->p;
    const Graph *g = b->g;
    for (int t = 0; t < p->n_tensors; t++) {
        if (t < g->n && (!live(b, t) || g->layers[t].shape.rank == 0)) continue;
        TensorView *v = &p->tensors[t];
        if (t < g->n) {
            const Shape *s = &g->layers[t].shape;
            v->channels = (int)s->d[s->rank - 1];
            v->pixels = shape_elements(s) / v->channels;
        }
        if (b->alias[t] == t) {
            BufKind kind = t < g->n && !g->layers[t].op ? B_INPUT : B_ARENA;
            v->buf = new_buffer(p, kind, v->pixels * v->channels);
        }
    }
    for (int t = 0; t < p->n_tensors; t++) {
        if (t < g->n && !live(b, t)) continue;
        TensorView *v = &p->tensors[t];
        long long offset = v->offset;
        int stride = v->stride, u = t;
        while (b->alias[u] != u) {
            u = b->alias[u];
            offset += p->tensors[u].offset;
            if (!stride) stride = p->tensors[u].stride;
        }
        if (u != t) v->buf = p->tensors[u].buf;
        v->offset = offset;
        v->stride = stride ? stride : v->channels;
    }
}

static void touch(Plan *p, int t, int step) {
    Buffer *b = &p->bufs[buf_resolve(p, p->tensors[t].buf)];
    if (step < b->first) b->first = step;
    if (step > b->last) b->last = step;
}

static void liveness(Plan *p) {
    for (int s = 0; s < p->n_steps; s++) {
        const Step *st = &p->steps[s];
        if (st->out >= 0) touch(p, st->out, s);
        for (int k = 0; k < st->n_in; k++) touch(p, st->in[k], s);
        if (st->residual >= 0) touch(p, st->residual, s);
        if (st->scratch >= 0) touch(p, st->scratch, s);
    }
    for (int b = 0; b < p->n_bufs; b++)
        if (p->bufs[b].kind == B_INPUT) p->bufs[b].first = 0;
    for (int k = 0; k < p->n_outputs; k++)
        p->bufs[buf_resolve(p, p->tensors[p->outputs[k]].buf)].last = p->n_steps;
}

static int whole(const Plan *p, int t) {
    const TensorView *v = &p->tensors[t];
    return v->offset == 0 && v->stride == v->channels &&
           p->bufs[buf_resolve(p, v->buf)].floats == v->pixels * v->channels;
}

/* Elementwise steps write over an input that dies with them. */
static void in_place(Plan *p) {
    for (int s = 0; s < p->n_steps; s++) {
        Step *st = &p->steps[s];
        int cand[17], n = 0;
        if (st->kind == K_ACTIVATE || st->kind == K_SCALE_SHIFT || st->kind == K_SOFTMAX || st->kind == K_ADD)
            for (int k = 0; k < st->n_in; k++) cand[n++] = st->in[k];
        /* A convolution may write over its residual, but not when that is
         * also its input: output pixels would overwrite input pixels that
         * later pixels (and later panels of the same pixel) still read. */
        if (st->kind == K_CONV && st->residual >= 0 &&
            buf_resolve(p, p->tensors[st->residual].buf) != buf_resolve(p, p->tensors[st->in[0]].buf))
            cand[n++] = st->residual;
        int bo = buf_resolve(p, p->tensors[st->out].buf);
        if (n == 0 || p->bufs[bo].kind != B_ARENA || p->bufs[bo].first != s || !whole(p, st->out)) continue;
        for (int k = 0; k < n; k++) {
            int bi = buf_resolve(p, p->tensors[cand[k]].buf);
            Buffer *in = &p->bufs[bi];
            if (bi == bo || in->kind != B_ARENA || in->last != s || in->floats != p->bufs[bo].floats ||
                !whole(p, cand[k]))
                continue;
            p->bufs[bo].merged_into = bi;
            if (p->bufs[bo].last > in->last) in->last = p->bufs[bo].last;
            /* A multi-input add writes over its first surviving input: keep in[0] first. */
            if (st->kind == K_ADD && k != 0) {
                int tmp = st->in[0];
                st->in[0] = st->in[k];
                st->in[k] = tmp;
            }
            break;
        }
    }
}

/* Outputs go straight to the caller's arrays when their buffer is theirs alone. */
static void place_outputs(Builder *bl) {
    Plan *p = bl->p;
    for (int k = 0; k < p->n_outputs; k++) {
        int t = p->outputs[k], b = buf_resolve(p, p->tensors[t].buf);
        int shared = 0;
        for (int j = 0; j < k; j++) shared |= buf_resolve(p, p->tensors[p->outputs[j]].buf) == b;
        if (!shared && p->bufs[b].kind == B_ARENA && whole(p, t)) {
            p->bufs[b].kind = B_OUTPUT;
            p->bufs[b].output = k;
            continue;
        }
        Step *s = new_step(bl, K_COPY, t);
        s->in[0] = t;
        s->n_in = 1;
        s->out = -1;
        s->output = k;
        s->pos = 1 << 30;
    }
}

static int by_size_desc(const void *a, const void *b) {
    const Buffer *x = *(const Buffer *const *)a, *y = *(const Buffer *const *)b;
    if (x->floats != y->floats) return x->floats > y->floats ? -1 : 1;
    return x < y ? -1 : x > y;
}

static long long round_up(long long n) {
    return (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
}

/* Largest first, each at the lowest offset not used by a buffer live at the same time. */
static void place_arena(Plan *p) {
    Buffer **order = xcalloc((size_t)p->n_bufs, sizeof(Buffer *));
    int n = 0;
    for (int b = 0; b < p->n_bufs; b++)
        if (p->bufs[b].kind == B_ARENA && p->bufs[b].merged_into < 0 && p->bufs[b].last >= 0)
            order[n++] = &p->bufs[b];
    qsort(order, (size_t)n, sizeof *order, by_size_desc);
    for (int i = 0; i < n; i++) {
        Buffer *b = order[i];
        long long offset = 0;
        for (int moved = 1; moved;) {
            moved = 0;
            for (int j = 0; j < i; j++) {
                const Buffer *o = order[j];
                int overlap_time = o->first <= b->last && b->first <= o->last;
                int overlap_space =
                    o->offset < offset + round_up(b->floats) && offset < o->offset + round_up(o->floats);
                if (overlap_time && overlap_space) {
                    offset = o->offset + round_up(o->floats);
                    moved = 1;
                }
            }
        }
        b->offset = offset;
        if (offset + round_up(b->floats) > p->arena_floats) p->arena_floats = offset + round_up(b->floats);
    }
    for (int s = 0; s < p->n_steps; s++) {
        long long live_floats = 0;
        for (int i = 0; i < n; i++)
            if (order[i]->first <= s && s <= order[i]->last) live_floats += order[i]->floats;
        if (live_floats > p->lower_bound_floats) p->lower_bound_floats = live_floats;
    }
    free(order);
}

/* ---- weights ---- */

static void place_weights(Plan *p) {
    for (int s = 0; s < p->n_steps; s++) {
        Step *st = &p->steps[s];
        if (st->prep < 0) continue;
        cnn_prep *r = &p->preps[st->prep];
        r->desc = st->kind == K_CONV || st->kind == K_CONV_DW ? (const void *)&st->conv
                  : st->kind == K_DWCONV                      ? (const void *)&st->dw
                                                              : NULL;
        if (st->dw_prep >= 0) p->preps[st->dw_prep].desc = &st->dw;
    }
    long long offset = 0;
    for (int i = 0; i < p->n_preps; i++) {
        cnn_prep *r = &p->preps[i];
        long long n = r->kind == CNN_PREP_CONV     ? (long long)cnn_conv_packed_floats(r->desc)
                      : r->kind == CNN_PREP_DWCONV ? (long long)cnn_dwconv_packed_floats(r->desc)
                                                   : 2LL * r->channels;
        r->packed = offset;
        offset += round_up(n);
    }
    p->packed_floats = offset;
}

/* ---- the pass ---- */

typedef struct {
    int pos, index;
} StepKey;

static int by_pos(const void *a, const void *b) {
    const StepKey *x = a, *y = b;
    if (x->pos != y->pos) return x->pos < y->pos ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index; /* stable */
}

static void sort_steps(Plan *p) {
    int n = p->n_steps;
    if (n == 0) return;
    StepKey *keys = xcalloc((size_t)n + 1, sizeof(StepKey));
    Step *sorted = xcalloc((size_t)n + 1, sizeof(Step));
    for (int s = 0; s < n; s++) keys[s].pos = p->steps[s].pos, keys[s].index = s;
    qsort(keys, (size_t)n, sizeof *keys, by_pos);
    for (int s = 0; s < n; s++) sorted[s] = p->steps[keys[s].index];
    memcpy(p->steps, sorted, sizeof(Step) * (size_t)n);
    free(sorted);
    free(keys);
}

Plan *plan_build(const Graph *g, int keep_aux) {
    Plan *p = xcalloc(1, sizeof *p);
    p->g = g;
    Builder b;
    memset(&b, 0, sizeof b);
    b.p = p;
    b.g = g;
    b.keep_aux = keep_aux;
    b.consumers = xcalloc((size_t)g->n + 1, sizeof(int));
    b.is_output = xcalloc((size_t)g->n + 1, sizeof(int));
    b.pad_folded = xcalloc((size_t)g->n + 1, sizeof(int));
    for (int i = 0; i < g->n; i++) new_tensor(&b);
    for (int i = 0; i < g->n; i++)
        if (live(&b, i))
            for (int k = 0; k < g->layers[i].n_in; k++) b.consumers[g->layers[i].in[k]]++;
    for (int k = 0; k < g->n_outputs; k++) p->outputs[p->n_outputs++] = g->outputs[k];
    for (int k = 0; keep_aux && k < g->n_aux_outputs; k++) p->outputs[p->n_outputs++] = g->aux_outputs[k];
    for (int k = 0; k < p->n_outputs; k++) b.is_output[p->outputs[k]] = 1;

    for (int i = 0; i < g->n; i++)
        if (live(&b, i) && g->layers[i].op) plan_layer(&b, i);

    /* Steps were created in program order; fusions moved some later. */
    sort_steps(p);
    fuse_conv_dw(&b);
    reserve_scratch(&b);
    assign_views(&b);
    liveness(p);
    in_place(p);
    place_outputs(&b);
    liveness(p);
    place_arena(p);
    place_weights(p);

    free(b.alias);
    free(b.step_of);
    free(b.exclusive);
    free(b.consumers);
    free(b.is_output);
    free(b.pad_folded);
    return p;
}

void plan_free(Plan *p) {
    if (!p) return;
    free(p->steps);
    free(p->tensors);
    free(p->bufs);
    free(p->preps);
    free(p);
}

long long plan_arena_bytes(const Plan *p) {
    return p->arena_floats * 4;
}
long long plan_lower_bound(const Plan *p) {
    return p->lower_bound_floats * 4;
}
