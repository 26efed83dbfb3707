/*
 * ops.c — the one table of layer operations.
 *
 * A row says everything the front end knows about an op: its Keras type
 * and auto-name prefix, how many tensor inputs it takes, its arguments in
 * Keras's constructor order with their types and defaults, and three
 * rules: the output shape (Keras's valid/same arithmetic), the weight
 * tensors (Keras names and layouts, from which parameter counts follow)
 * and the multiply-accumulates.  The checker, the summary, the JSON graph,
 * the weights file and the code generator all read this table; a new op is
 * one row here plus one kernel in runtime/.
 */
#include <stdio.h>
#include <string.h>

#include "cnncc.h"

/* ---- helpers shared by the rules ---- */

static const Shape *in_shape(const Layer *l, const Graph *g, int i) {
    return &g->layers[l->in[i]].shape;
}

/* The note under a shape error: where each input came from. */
static void note_inputs(const Layer *l, const Graph *g, Diag *d) {
    for (int i = 0; i < l->n_in; i++) {
        const Layer *src = &g->layers[l->in[i]];
        char buf[96];
        shape_plain(&src->shape, buf, sizeof buf);
        diag_note(d, l->in_loc[i], "input '%s' has shape %s, from %s at line %d", l->in_var[i], buf,
                  src->name, src->loc.line);
    }
}

static int need_rank(Layer *l, Graph *g, Diag *d, int i, int rank) {
    const Shape *s = in_shape(l, g, i);
    if (s->rank == rank) return 1;
    char buf[96];
    shape_format(s, buf, sizeof buf);
    if (rank == 1)
        diag_error(d, l->loc, "%s '%s' needs a rank-1 input, got %s; add flatten() first", l->op->name,
                   l->name, buf);
    else
        diag_error(d, l->loc, "%s '%s' needs a rank-3 input (H, W, C), got %s", l->op->name, l->name, buf);
    note_inputs(l, g, d);
    return 0;
}

/* Fill l->shape and check the element limit. */
static int set_shape(Layer *l, Graph *g, Diag *d, int rank, long long a, long long b, long long c) {
    Shape s = {rank, {a, b, c}};
    long long n = a, tmp;
    if (rank == 3 && (!mul_limit(a, b, MAX_ELEMENTS, &tmp) || !mul_limit(tmp, c, MAX_ELEMENTS, &n))) n = -1;
    if (n < 1 || n > MAX_ELEMENTS) {
        diag_error(d, l->loc, "%s '%s': output of %lld x %lld x %lld elements exceeds the limit of %lld",
                   l->op->name, l->name, a, rank == 3 ? b : 1, rank == 3 ? c : 1, MAX_ELEMENTS);
        note_inputs(l, g, d);
        return 0;
    }
    l->shape = s;
    return 1;
}

/*
 * Keras conv_output_length: k_eff = k + (k-1)(d-1); valid: (n - k_eff)/s + 1,
 * same: ceil(n/s).  Returns 0 when nothing fits.
 */
static int out_length(long long n, long long k, long long s, long long dil, int same, long long *out) {
    long long k_eff = k + (k - 1) * (dil - 1);
    if (same) {
        *out = (n + s - 1) / s;
        return 1;
    }
    if (k_eff > n) return 0;
    *out = (n - k_eff) / s + 1;
    return 1;
}

/* Output (h, w) of a sliding window with the op's kernel/pool, strides, padding. */
static int window_hw(Layer *l, Graph *g, Diag *d, const char *size_arg, long long *oh, long long *ow) {
    const Shape *s = in_shape(l, g, 0);
    const Attr *k = layer_attr(l, size_arg), *st = layer_attr(l, "strides");
    const Attr *pad = layer_attr(l, "padding"), *dil = layer_attr(l, "dilation_rate");
    long long dh = dil ? dil->i[0] : 1, dw = dil ? dil->i[1] : 1;
    if (dil && (dh > 1 || dw > 1) && (st->i[0] > 1 || st->i[1] > 1)) {
        diag_error(d, l->loc, "%s '%s': strides > 1 cannot be combined with dilation_rate > 1 (as in Keras)",
                   l->op->name, l->name);
        return 0;
    }
    if (out_length(s->d[0], k->i[0], st->i[0], dh, pad->same, oh) &&
        out_length(s->d[1], k->i[1], st->i[1], dw, pad->same, ow))
        return 1;
    long long keh = k->i[0] + (k->i[0] - 1) * (dh - 1), kew = k->i[1] + (k->i[1] - 1) * (dw - 1);
    diag_error(d, l->loc, "%s '%s': %s %lldx%lld is larger than its input %lldx%lld with padding=valid",
               l->op->name, l->name, strcmp(size_arg, "pool_size") == 0 ? "pool" : "kernel", keh, kew,
               s->d[0], s->d[1]);
    note_inputs(l, g, d);
    return 0;
}

/* ---- shape rules ---- */

static int shape_conv2d(Layer *l, Graph *g, Diag *d) {
    long long oh, ow;
    if (!need_rank(l, g, d, 0, 3) || !window_hw(l, g, d, "kernel_size", &oh, &ow)) return 0;
    return set_shape(l, g, d, 3, oh, ow, layer_attr(l, "filters")->i[0]);
}

static int shape_depthwise(Layer *l, Graph *g, Diag *d) {
    long long oh, ow, c;
    if (!need_rank(l, g, d, 0, 3) || !window_hw(l, g, d, "kernel_size", &oh, &ow)) return 0;
    if (!mul_limit(in_shape(l, g, 0)->d[2], layer_attr(l, "depth_multiplier")->i[0], MAX_ELEMENTS, &c))
        c = MAX_ELEMENTS + 1;
    return set_shape(l, g, d, 3, oh, ow, c);
}

static int shape_pool(Layer *l, Graph *g, Diag *d) {
    long long oh, ow;
    if (!need_rank(l, g, d, 0, 3) || !window_hw(l, g, d, "pool_size", &oh, &ow)) return 0;
    return set_shape(l, g, d, 3, oh, ow, in_shape(l, g, 0)->d[2]);
}

static int shape_dense(Layer *l, Graph *g, Diag *d) {
    if (!need_rank(l, g, d, 0, 1)) return 0;
    return set_shape(l, g, d, 1, layer_attr(l, "units")->i[0], 0, 0);
}

static int shape_global_pool(Layer *l, Graph *g, Diag *d) {
    if (!need_rank(l, g, d, 0, 3)) return 0;
    return set_shape(l, g, d, 1, in_shape(l, g, 0)->d[2], 0, 0);
}

static int shape_same(Layer *l, Graph *g, Diag *d) {
    const Shape *s = in_shape(l, g, 0);
    return set_shape(l, g, d, s->rank, s->d[0], s->d[1], s->d[2]);
}

static int shape_same_rank3(Layer *l, Graph *g, Diag *d) {
    return need_rank(l, g, d, 0, 3) && shape_same(l, g, d);
}

static int shape_zero_padding(Layer *l, Graph *g, Diag *d) {
    if (!need_rank(l, g, d, 0, 3)) return 0;
    const Shape *s = in_shape(l, g, 0);
    const Attr *p = layer_attr(l, "padding");
    return set_shape(l, g, d, 3, s->d[0] + p->i[0] + p->i[1], s->d[1] + p->i[2] + p->i[3], s->d[2]);
}

static int shape_flatten(Layer *l, Graph *g, Diag *d) {
    const Shape *s = in_shape(l, g, 0);
    return set_shape(l, g, d, 1, shape_elements(s), 0, 0);
}

static int shape_dropout(Layer *l, Graph *g, Diag *d) {
    double rate = layer_attr(l, "rate")->f;
    if (!(rate >= 0 && rate < 1)) {
        diag_error(d, l->attr_loc[0], "dropout '%s': 'rate' must be in [0, 1), got %g", l->name, rate);
        return 0;
    }
    return shape_same(l, g, d);
}

static int shape_add(Layer *l, Graph *g, Diag *d) {
    const Shape *a = in_shape(l, g, 0);
    for (int i = 1; i < l->n_in; i++) {
        const Shape *b = in_shape(l, g, i);
        if (a->rank != b->rank || memcmp(a->d, b->d, sizeof(long long) * (size_t)a->rank) != 0) {
            diag_error(d, l->loc, "add '%s': inputs have different shapes", l->name);
            note_inputs(l, g, d);
            return 0;
        }
    }
    return shape_same(l, g, d);
}

static int shape_concatenate(Layer *l, Graph *g, Diag *d) {
    const Shape *a = in_shape(l, g, 0);
    long long axis = layer_attr(l, "axis")->i[0];
    if (axis != -1 && axis != a->rank) {
        diag_error(d, l->attr_loc[0],
                   "concatenate '%s': only the channel axis (-1 or %d) is supported, got %lld", l->name,
                   a->rank, axis);
        return 0;
    }
    long long last = 0;
    for (int i = 0; i < l->n_in; i++) {
        const Shape *b = in_shape(l, g, i);
        int same_lead = b->rank == a->rank && (a->rank == 1 || (a->d[0] == b->d[0] && a->d[1] == b->d[1]));
        if (!same_lead) {
            diag_error(d, l->loc, "concatenate '%s': inputs differ in %s", l->name,
                       a->rank == 3 ? "height x width" : "rank");
            note_inputs(l, g, d);
            return 0;
        }
        last += b->d[b->rank - 1];
    }
    return set_shape(l, g, d, a->rank, a->rank == 3 ? a->d[0] : last, a->d[1], last);
}

/* ---- weight rules: Keras variable names, shapes and trainability ---- */

static int weight(WeightSpec *w, const char *var, int trainable, int rank, long long a, long long b,
                  long long c, long long e) {
    WeightSpec s = {var, rank, {a, b, c, e}, trainable};
    *w = s;
    return 1;
}

static int use_bias(const Layer *l) {
    return layer_attr(l, "use_bias")->i[0] != 0;
}

static int weights_conv2d(const Layer *l, const Graph *g, WeightSpec *w) {
    const Attr *k = layer_attr(l, "kernel_size");
    long long cin = in_shape(l, g, 0)->d[2], f = layer_attr(l, "filters")->i[0];
    int n = weight(&w[0], "kernel", 1, 4, k->i[0], k->i[1], cin, f);
    if (use_bias(l)) n += weight(&w[n], "bias", 1, 1, f, 0, 0, 0);
    return n;
}

static int weights_depthwise(const Layer *l, const Graph *g, WeightSpec *w) {
    const Attr *k = layer_attr(l, "kernel_size");
    long long cin = in_shape(l, g, 0)->d[2], dm = layer_attr(l, "depth_multiplier")->i[0];
    int n = weight(&w[0], "depthwise_kernel", 1, 4, k->i[0], k->i[1], cin, dm);
    if (use_bias(l)) n += weight(&w[n], "bias", 1, 1, cin * dm, 0, 0, 0);
    return n;
}

static int weights_separable(const Layer *l, const Graph *g, WeightSpec *w) {
    const Attr *k = layer_attr(l, "kernel_size");
    long long cin = in_shape(l, g, 0)->d[2], dm = layer_attr(l, "depth_multiplier")->i[0];
    long long f = layer_attr(l, "filters")->i[0];
    int n = weight(&w[0], "depthwise_kernel", 1, 4, k->i[0], k->i[1], cin, dm);
    n += weight(&w[n], "pointwise_kernel", 1, 4, 1, 1, cin * dm, f);
    if (use_bias(l)) n += weight(&w[n], "bias", 1, 1, f, 0, 0, 0);
    return n;
}

static int weights_dense(const Layer *l, const Graph *g, WeightSpec *w) {
    long long in = in_shape(l, g, 0)->d[0], units = layer_attr(l, "units")->i[0];
    int n = weight(&w[0], "kernel", 1, 2, in, units, 0, 0);
    if (use_bias(l)) n += weight(&w[n], "bias", 1, 1, units, 0, 0, 0);
    return n;
}

static int weights_batch_norm(const Layer *l, const Graph *g, WeightSpec *w) {
    const Shape *s = in_shape(l, g, 0);
    long long c = s->d[s->rank - 1];
    int n = 0;
    if (layer_attr(l, "scale")->i[0]) n += weight(&w[n], "gamma", 1, 1, c, 0, 0, 0);
    if (layer_attr(l, "center")->i[0]) n += weight(&w[n], "beta", 1, 1, c, 0, 0, 0);
    n += weight(&w[n], "moving_mean", 0, 1, c, 0, 0, 0);
    n += weight(&w[n], "moving_variance", 0, 1, c, 0, 0, 0);
    return n;
}

/* ---- multiply-accumulates ---- */

static long long out_pixels(const Layer *l) {
    return l->shape.d[0] * l->shape.d[1];
}

static long long macs_conv2d(const Layer *l, const Graph *g) {
    const Attr *k = layer_attr(l, "kernel_size");
    return out_pixels(l) * l->shape.d[2] * k->i[0] * k->i[1] * in_shape(l, g, 0)->d[2];
}

static long long macs_depthwise(const Layer *l, const Graph *g) {
    const Attr *k = layer_attr(l, "kernel_size");
    (void)g;
    return out_pixels(l) * l->shape.d[2] * k->i[0] * k->i[1];
}

static long long macs_separable(const Layer *l, const Graph *g) {
    const Attr *k = layer_attr(l, "kernel_size");
    long long mid = in_shape(l, g, 0)->d[2] * layer_attr(l, "depth_multiplier")->i[0];
    return out_pixels(l) * mid * (k->i[0] * k->i[1] + l->shape.d[2]);
}

static long long macs_dense(const Layer *l, const Graph *g) {
    return in_shape(l, g, 0)->d[0] * l->shape.d[0];
}

/* ---- the table ---- */

#define WINDOW_ARGS {"strides", A_INT2, "1"}, {"padding", A_PADDING, "valid"},
#define UNARY       1, 1
#define MANY        2, 16

static const OpInfo ops[] = {
    {"conv2d",
     "Conv2D",
     "conv2d",
     UNARY,
     2,
     {{"filters", A_INT, NULL},
      {"kernel_size", A_INT2, NULL},
      WINDOW_ARGS{"dilation_rate", A_INT2, "1"},
      {"activation", A_ACTIVATION, "linear"},
      {"use_bias", A_BOOL, "true"}},
     shape_conv2d,
     weights_conv2d,
     macs_conv2d},
    {"depthwise_conv2d",
     "DepthwiseConv2D",
     "depthwise_conv2d",
     UNARY,
     1,
     {{"kernel_size", A_INT2, NULL},
      WINDOW_ARGS{"depth_multiplier", A_INT, "1"},
      {"activation", A_ACTIVATION, "linear"},
      {"use_bias", A_BOOL, "true"}},
     shape_depthwise,
     weights_depthwise,
     macs_depthwise},
    {"separable_conv2d",
     "SeparableConv2D",
     "separable_conv2d",
     UNARY,
     2,
     {{"filters", A_INT, NULL},
      {"kernel_size", A_INT2, NULL},
      WINDOW_ARGS{"depth_multiplier", A_INT, "1"},
      {"activation", A_ACTIVATION, "linear"},
      {"use_bias", A_BOOL, "true"}},
     shape_conv2d,
     weights_separable,
     macs_separable},
    {"dense",
     "Dense",
     "dense",
     UNARY,
     1,
     {{"units", A_INT, NULL}, {"activation", A_ACTIVATION, "linear"}, {"use_bias", A_BOOL, "true"}},
     shape_dense,
     weights_dense,
     macs_dense},
    {"max_pooling2d",
     "MaxPooling2D",
     "max_pooling2d",
     UNARY,
     1,
     {{"pool_size", A_INT2, "2"}, {"strides", A_INT2, "pool_size"}, {"padding", A_PADDING, "valid"}},
     shape_pool,
     NULL,
     NULL},
    {"average_pooling2d",
     "AveragePooling2D",
     "average_pooling2d",
     UNARY,
     1,
     {{"pool_size", A_INT2, "2"}, {"strides", A_INT2, "pool_size"}, {"padding", A_PADDING, "valid"}},
     shape_pool,
     NULL,
     NULL},
    {"global_average_pooling2d",
     "GlobalAveragePooling2D",
     "global_average_pooling2d",
     UNARY,
     0,
     {{NULL, 0, NULL}},
     shape_global_pool,
     NULL,
     NULL},
    {"global_max_pooling2d",
     "GlobalMaxPooling2D",
     "global_max_pooling2d",
     UNARY,
     0,
     {{NULL, 0, NULL}},
     shape_global_pool,
     NULL,
     NULL},
    {"batch_normalization",
     "BatchNormalization",
     "batch_normalization",
     UNARY,
     0,
     {{"epsilon", A_FLOAT, "0.001"}, {"center", A_BOOL, "true"}, {"scale", A_BOOL, "true"}},
     shape_same,
     weights_batch_norm,
     NULL},
    {"zero_padding2d",
     "ZeroPadding2D",
     "zero_padding2d",
     UNARY,
     1,
     {{"padding", A_PAD4, "1"}},
     shape_zero_padding,
     NULL,
     NULL},
    {"flatten", "Flatten", "flatten", UNARY, 0, {{NULL, 0, NULL}}, shape_flatten, NULL, NULL},
    {"dropout", "Dropout", "dropout", UNARY, 1, {{"rate", A_FLOAT, NULL}}, shape_dropout, NULL, NULL},
    {"activation",
     "Activation",
     "activation",
     UNARY,
     1,
     {{"activation", A_ACTIVATION, NULL}},
     shape_same,
     NULL,
     NULL},
    {"relu",
     "ReLU",
     "re_lu",
     UNARY,
     0,
     {{"max_value", A_FLOAT_OPT, "none"}, {"negative_slope", A_FLOAT, "0"}},
     shape_same,
     NULL,
     NULL},
    {"add", "Add", "add", MANY, 0, {{NULL, 0, NULL}}, shape_add, NULL, NULL},
    {"concatenate",
     "Concatenate",
     "concatenate",
     MANY,
     0,
     {{"axis", A_AXIS, "-1"}},
     shape_concatenate,
     NULL,
     NULL},
    {"lrn",
     "LocalResponseNormalization",
     "local_response_normalization",
     UNARY,
     0,
     {{"depth_radius", A_INT_POS0, "5"},
      {"bias", A_FLOAT, "1"},
      {"alpha", A_FLOAT, "1"},
      {"beta", A_FLOAT, "0.5"}},
     shape_same_rank3,
     NULL,
     NULL},
};

const OpInfo *ops_find(const char *name) {
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(ops[i].name, name) == 0) return &ops[i];
    return NULL;
}

int ops_arg_index(const OpInfo *op, const char *name) {
    for (int i = 0; i < MAX_ATTRS && op->args[i].name; i++)
        if (strcmp(op->args[i].name, name) == 0) return i;
    return -1;
}

const char *ops_act_name(Act a) {
    static const char *const names[] = {"linear", "relu", "relu6", "tanh", "sigmoid", "softmax"};
    return names[a];
}

/* The op with the most similar name, for "did you mean" (edit distance <= 2). */
const char *ops_suggest(const char *name) {
    const char *best = NULL;
    int best_d = 3;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        const char *a = name, *b = ops[i].name;
        size_t la = strlen(a), lb = strlen(b);
        if (la > 40 || lb > 40) continue;
        int row[41];
        for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
        for (size_t x = 1; x <= la; x++) {
            int prev = row[0];
            row[0] = (int)x;
            for (size_t j = 1; j <= lb; j++) {
                int cur = row[j];
                int sub = prev + (a[x - 1] != b[j - 1]);
                int best_here = row[j] + 1 < row[j - 1] + 1 ? row[j] + 1 : row[j - 1] + 1;
                row[j] = sub < best_here ? sub : best_here;
                prev = cur;
            }
        }
        if (row[lb] < best_d) {
            best_d = row[lb];
            best = b;
        }
    }
    return best;
}
