/*
 * random_weights.c — seeded test weights and inputs for the reference tests.
 *
 *   random_weights GRAPH.json OUT.safetensors SEED
 *       every tensor of the graph, from a splitmix64 stream seeded with SEED
 *   random_weights --input N OUT.f32 SEED
 *       N float32 uniform in [0, 1) (raw little-endian), for model inputs
 *   random_weights --from-text GRAPH.json OUT.safetensors VALUES.txt
 *       the graph's tensors with values given in a text file: for each tensor
 *       its name "LAYER/VARIABLE" followed by its values in row-major order
 *       (whitespace separated, '#' to end of line is a comment); every tensor
 *       exactly once, in any order
 *   random_weights --f32-from-text VALUES.txt OUT.f32
 *       raw float32 file from whitespace-separated numbers ('#' comments)
 *
 * The random distributions, chosen so that deep networks (VGG16, ResNet-50,
 * GoogLeNet, MobileNet) keep activations O(1) and so that batch-norm
 * folding in the compiler is really exercised:
 *   kernel, depthwise_kernel, pointwise_kernel:
 *       uniform(-L, L), L = sqrt(3 * gain / fan_in), i.e. variance gain/fan_in.
 *       fan_in = kh*kw*cin (conv), in (dense), kh*kw (depthwise),
 *       cin*dm (pointwise).  gain = 2 (He) when the layer's output reaches a
 *       ReLU (its own activation relu/relu6, or a following relu layer /
 *       relu activation, possibly through batch normalization), else 1
 *       (LeCun).  A kernel whose output reaches an `add` of n inputs
 *       (through batch normalization) has its gain divided by n, so that
 *       residual sums grow slowly instead of doubling per block.
 *   bias: uniform(-0.1, 0.1)
 *   gamma: uniform(0.5, 1.5), beta: uniform(-0.2, 0.2),
 *   moving_mean: uniform(-0.2, 0.2), moving_variance: uniform(0.5, 1.5).
 * Tensors are drawn in graph order, values in row-major order, one
 * 24-bit draw per value: the same graph and seed give the same bytes.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnnrt.h"
#include "refgraph.h"

#ifndef RESIDUAL_GAIN
#define RESIDUAL_GAIN 0.1
#endif

static void *xmalloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) ref_die("out of memory");
    return p;
}

static unsigned long long parse_seed(const char *text) {
    char *end;
    errno = 0;
    unsigned long long seed = strtoull(text, &end, 10);
    if (errno || end == text || *end) ref_die("bad seed '%s'", text);
    return seed;
}

static int is_relu_node(const ref_node *n) {
    if (strcmp(n->op, "relu") == 0) return 1;
    if (strcmp(n->op, "activation") == 0) {
        const char *act = ref_attr_string(n, "activation");
        return strcmp(act, "relu") == 0 || strcmp(act, "relu6") == 0;
    }
    return 0;
}

/* 1 when node `at` is a kernel layer's output, possibly through batch
 * normalization (a residual branch or a projection shortcut, not an
 * identity shortcut). */
static int comes_from_kernel(const ref_graph *g, int at) {
    while (at > 0 && strcmp(g->nodes[at].op, "batch_normalization") == 0) at = g->nodes[at].inputs[0];
    return at > 0 && g->nodes[at].n_weights > 0 && strcmp(g->nodes[at].op, "batch_normalization") != 0;
}

static int single_consumer(const ref_graph *g, int at) {
    int consumer = -1, consumers = 0;
    for (int i = at + 1; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_inputs; k++)
            if (g->nodes[i].inputs[k] == at) {
                consumer = i;
                consumers++;
            }
    return consumers == 1 ? consumer : -1;
}

/* Gain of the kernel of node index `at` (see the essay above).  Follows the
 * single-consumer chain through batch normalization. */
static double kernel_gain(const ref_graph *g, int at) {
    const ref_node *n = &g->nodes[at];
    const rj_value *act = rj_get(n->attrs, "activation");
    if (act && act->kind == RJ_STRING && (strcmp(act->text, "relu") == 0 || strcmp(act->text, "relu6") == 0))
        return 2.0;
    double bn = 1.0;
    for (;;) {
        int consumer = single_consumer(g, at);
        if (consumer < 0) return bn;
        const ref_node *c = &g->nodes[consumer];
        if (is_relu_node(c)) return 2.0 * bn;
        if (strcmp(c->op, "add") == 0) {
            double base = kernel_gain(g, consumer);
            int from_kernels = 0;
            for (int k = 0; k < c->n_inputs; k++) from_kernels += comes_from_kernel(g, c->inputs[k]);
            if (from_kernels == c->n_inputs) /* projection: keep the sum's scale */
                return bn * base / c->n_inputs;
            /* beside an identity: a small branch (RESIDUAL_GAIN of it) */
            return bn * RESIDUAL_GAIN * base / from_kernels;
        }
        if (strcmp(c->op, "batch_normalization") != 0) return bn;
        /* E[gamma^2 / moving_variance] = (1 + 1/12) * ln 3 = 1.19 for the
         * distributions below: compensate the variance BN adds. */
        bn /= 1.19;
        at = consumer;
    }
}

static double fan_in(const ref_node *n, const ref_weight *w) {
    if (strcmp(w->variable, "depthwise_kernel") == 0) return (double)(w->shape[0] * w->shape[1]);
    /* conv (kh, kw, cin, cout), pointwise (1, 1, cin*dm, f), dense (in, units):
     * everything but the last dimension. */
    double fan = 1;
    for (int d = 0; d < w->rank - 1; d++) fan *= (double)w->shape[d];
    (void)n;
    return fan;
}

static void fill_uniform(float *dst, size_t count, double lo, double hi, unsigned long long *state) {
    for (size_t i = 0; i < count; i++) dst[i] = (float)(lo + (hi - lo) * ref_uniform01(state));
}

static void fill_tensor(const ref_graph *g, int at, const ref_weight *w, float *dst,
                        unsigned long long *state) {
    const ref_node *n = &g->nodes[at];
    const char *v = w->variable;
    if (strcmp(v, "kernel") == 0 || strcmp(v, "depthwise_kernel") == 0 ||
        strcmp(v, "pointwise_kernel") == 0) {
        double limit = sqrt(3.0 * kernel_gain(g, at) / fan_in(n, w));
        fill_uniform(dst, w->count, -limit, limit, state);
    } else if (strcmp(v, "bias") == 0) {
        fill_uniform(dst, w->count, -0.1, 0.1, state);
    } else if (strcmp(v, "gamma") == 0 || strcmp(v, "moving_variance") == 0) {
        fill_uniform(dst, w->count, 0.5, 1.5, state);
    } else if (strcmp(v, "beta") == 0 || strcmp(v, "moving_mean") == 0) {
        fill_uniform(dst, w->count, -0.2, 0.2, state);
    } else {
        ref_die("%s: no rule for variable '%s'", w->tensor_name, v);
    }
}

/* Specs and data pointers for all tensors of the graph, in graph order. */
static void write_weights(const ref_graph *g, const char *path, float *block) {
    int total = g->n_weight_tensors;
    cnn_tensor_spec *specs = xmalloc(((size_t)total + 1) * sizeof *specs);
    const float **data = xmalloc(((size_t)total + 1) * sizeof *data);
    int k = 0;
    for (int i = 0; i < g->n_nodes; i++)
        for (int w = 0; w < g->nodes[i].n_weights; w++) {
            const ref_weight *rw = &g->nodes[i].weights[w];
            memset(&specs[k], 0, sizeof specs[k]);
            specs[k].name = rw->tensor_name;
            specs[k].rank = rw->rank;
            for (int d = 0; d < rw->rank; d++) specs[k].shape[d] = rw->shape[d];
            data[k] = block + rw->offset;
            k++;
        }
    int status = cnn_st_write(path, specs, total, data);
    if (status != 0) ref_die("%s: %s", path, cnn_st_strerror(status));
    free(specs);
    free((void *)data);
}

static void write_f32(const char *path, const float *data, size_t count) {
    FILE *f = fopen(path, "wb");
    if (!f) ref_die("cannot create %s", path);
    for (size_t i = 0; i < count; i++) {
        unsigned int u;
        memcpy(&u, &data[i], 4);
        unsigned char b[4] = {(unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16),
                              (unsigned char)(u >> 24)};
        if (fwrite(b, 1, 4, f) != 4) ref_die("cannot write %s", path);
    }
    if (fclose(f) != 0) ref_die("cannot write %s", path);
}

/* ---- Text input --------------------------------------------------------- */

struct tokens {
    char *text;
    char *cursor;
    char token[512];
};

static void tokens_open(struct tokens *t, const char *path) {
    size_t len;
    t->text = ref_read_file(path, &len);
    if (strlen(t->text) != len) ref_die("%s: NUL byte in text", path);
    t->cursor = t->text;
}

/* Next whitespace-separated token (comments skipped), or NULL at the end.
 * The token is copied into t->token (tokens are short: names and numbers). */
static char *next_token(struct tokens *t) {
    char *p = t->cursor;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (*p != '#') break;
        while (*p && *p != '\n') p++;
    }
    if (!*p) {
        t->cursor = p;
        return NULL;
    }
    size_t n = 0;
    while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != '#') {
        if (n + 1 >= sizeof t->token) ref_die("token too long near '%.20s'", t->cursor);
        t->token[n++] = *p++;
    }
    t->token[n] = '\0';
    t->cursor = p;
    return t->token;
}

static int parse_float(const char *tok, float *out) {
    char *end;
    errno = 0;
    double v = strtod(tok, &end);
    if (end == tok || *end || errno == ERANGE) return -1;
    *out = (float)v;
    return 0;
}

static const ref_weight *find_tensor(const ref_graph *g, const char *path, const char *name) {
    for (int i = 0; i < g->n_nodes; i++)
        for (int w = 0; w < g->nodes[i].n_weights; w++)
            if (strcmp(g->nodes[i].weights[w].tensor_name, name) == 0) return &g->nodes[i].weights[w];
    ref_die("%s: '%s' is not a tensor of the graph", path, name);
}

static void weights_from_text(const ref_graph *g, const char *path, float *block) {
    struct tokens t;
    char *seen = calloc(g->weight_floats + 1, 1);
    int tensors = 0;
    if (!seen) ref_die("out of memory");
    tokens_open(&t, path);
    char *tok = next_token(&t);
    while (tok) {
        const ref_weight *w = find_tensor(g, path, tok);
        if (seen[w->offset]) ref_die("%s: tensor '%s' given twice", path, tok);
        seen[w->offset] = 1;
        tensors++;
        for (size_t i = 0; i < w->count; i++) {
            tok = next_token(&t);
            if (!tok || parse_float(tok, &block[w->offset + i]) < 0)
                ref_die("%s: tensor '%s' needs %zu numbers, value %zu is bad or missing", path,
                        w->tensor_name, w->count, i);
        }
        tok = next_token(&t);
    }
    if (tensors != g->n_weight_tensors)
        for (int i = 0; i < g->n_nodes; i++)
            for (int w = 0; w < g->nodes[i].n_weights; w++)
                if (!seen[g->nodes[i].weights[w].offset])
                    ref_die("%s: tensor '%s' is missing", path, g->nodes[i].weights[w].tensor_name);
    free(seen);
    free(t.text);
}

static void f32_from_text(const char *text_path, const char *out_path) {
    struct tokens t;
    size_t count = 0, cap = 64;
    float *values = xmalloc(cap * sizeof *values);
    tokens_open(&t, text_path);
    for (char *tok = next_token(&t); tok; tok = next_token(&t)) {
        if (count == cap) {
            cap *= 2;
            float *bigger = realloc(values, cap * sizeof *values);
            if (!bigger) ref_die("out of memory");
            values = bigger;
        }
        if (parse_float(tok, &values[count++]) < 0) ref_die("%s: bad number '%s'", text_path, tok);
    }
    write_f32(out_path, values, count);
    free(values);
    free(t.text);
}

/* ---- Main ------------------------------------------------------------- */

static void usage(void) {
    fputs("usage: random_weights GRAPH.json OUT.safetensors SEED\n"
          "       random_weights --input N OUT.f32 SEED\n"
          "       random_weights --from-text GRAPH.json OUT.safetensors VALUES.txt\n"
          "       random_weights --f32-from-text VALUES.txt OUT.f32\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "--input") == 0) {
        unsigned long long state = parse_seed(argv[4]);
        char *end;
        errno = 0;
        unsigned long long count = strtoull(argv[2], &end, 10);
        if (errno || end == argv[2] || *end || count > (1ULL << 32)) ref_die("bad count '%s'", argv[2]);
        float *values = xmalloc((size_t)count * sizeof *values);
        fill_uniform(values, (size_t)count, 0.0, 1.0, &state);
        write_f32(argv[3], values, (size_t)count);
        free(values);
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "--f32-from-text") == 0) {
        f32_from_text(argv[2], argv[3]);
        return 0;
    }
    int from_text = argc == 5 && strcmp(argv[1], "--from-text") == 0;
    if (!from_text && (argc != 4 || argv[1][0] == '-')) usage();
    char **args = argv + from_text;

    ref_graph g;
    ref_graph_load(&g, args[1]);
    float *block = xmalloc(g.weight_floats * sizeof *block);
    if (from_text) {
        weights_from_text(&g, args[3], block);
    } else {
        unsigned long long state = parse_seed(args[3]);
        for (int i = 0; i < g.n_nodes; i++)
            for (int w = 0; w < g.nodes[i].n_weights; w++)
                fill_tensor(&g, i, &g.nodes[i].weights[w], block + g.nodes[i].weights[w].offset, &state);
    }
    write_weights(&g, args[2], block);
    free(block);
    ref_graph_free(&g);
    return 0;
}
