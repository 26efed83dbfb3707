/*
 * emit_c.c — the plan as straight-line C99 (SPEC §5).
 *
 * OUT.h declares the API; OUT.c holds one `static const` descriptor per
 * kernel call (every dimension a constant), the static arena, the packed
 * weights and m_infer: one runtime call per step, in order, no loops, no
 * allocation.  Weights are either loaded at run time (m_load_weights reads
 * a safetensors file and packs it with cnn_prepare) or, with --weights,
 * packed here by the same cnn_prepare into OUT.weights and linked in with
 * the assembler's .incbin: a C initializer for VGG16's 553 MB would take a
 * C compiler many minutes and gigabytes, .incbin takes a second.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emit_c.h"
#include "output.h"

int emit_c_valid_prefix(const char *p) {
    if (!isalpha((unsigned char)*p) && *p != '_') return 0;
    for (; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_') return 0;
    return 1;
}

typedef struct {
    const Graph *g;
    const Plan *p;
    FILE *out;
    const char *prefix;
    char upper[128];
    int embedded;
} Emit;

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* OUT.c -> OUT + ext */
static char *sibling(const char *out_c, const char *ext) {
    size_t n = strlen(out_c);
    if (n > 2 && strcmp(out_c + n - 2, ".c") == 0) n -= 2;
    return xprintf("%.*s%s", (int)n, out_c, ext);
}

static void fmt_float(char *buf, size_t size, float v) {
    snprintf(buf, size, "%.9gf", (double)v);
    if (!strpbrk(buf, ".en")) { /* 6f is not a float literal: 6.0f is */
        size_t n = strlen(buf);
        snprintf(buf + n - 1, size - n + 1, ".0f");
    }
}

/* A pointer expression for tensor t. */
static void tensor_ref(const Emit *e, int t, long long extra, char *buf, size_t size) {
    TensorView v;
    plan_view(e->p, t, &v);
    const Buffer *b = &e->p->bufs[v.buf];
    long long off = v.offset + extra;
    if (b->kind == B_INPUT)
        snprintf(buf, size, off ? "input + %lld" : "input", off);
    else if (b->kind == B_OUTPUT && e->p->n_outputs == 1)
        snprintf(buf, size, off ? "output + %lld" : "output", off);
    else if (b->kind == B_OUTPUT)
        snprintf(buf, size, "output%d + %lld", b->output, off);
    else
        snprintf(buf, size, "a + %lld", b->offset + off);
}

static void emit_act(FILE *out, const cnn_act *a) {
    static const char *const kinds[] = {"CNN_ACT_LINEAR", "CNN_ACT_RELU", "CNN_ACT_TANH", "CNN_ACT_SIGMOID"};
    char slope[32], mx[32];
    fmt_float(slope, sizeof slope, a->negative_slope);
    fmt_float(mx, sizeof mx, a->max_value);
    fprintf(out, "{%s, %s, %d, %s}", kinds[a->kind], slope, a->has_max, mx);
}

static void emit_conv_fields(FILE *out, const cnn_conv *c) {
    fprintf(out, "{%d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, ", c->in_h, c->in_w, c->in_c,
            c->out_h, c->out_w, c->out_c, c->k_h, c->k_w, c->stride_h, c->stride_w, c->dil_h, c->dil_w,
            c->pad_top, c->pad_left, c->out_stride);
    emit_act(out, &c->act);
    fputc('}', out);
}

/* The descriptors: one static const per step that needs one. */
static void emit_descriptors(const Emit *e) {
    FILE *out = e->out;
    for (int s = 0; s < e->p->n_steps; s++) {
        const Step *st = &e->p->steps[s];
        switch (st->kind) {
        case K_CONV:
            fprintf(out, "static const cnn_conv %s_s%d = ", e->prefix, s);
            emit_conv_fields(out, &st->conv);
            break;
        case K_DWCONV:
            fprintf(out, "static const cnn_dwconv %s_s%d = {", e->prefix, s);
            emit_conv_fields(out, &st->dw.geom);
            fprintf(out, ", %d}", st->dw.depth_multiplier);
            break;
        case K_CONV_DW:
            fprintf(out, "static const cnn_conv %s_s%d = ", e->prefix, s);
            emit_conv_fields(out, &st->conv);
            fprintf(out, ";\nstatic const cnn_dwconv %s_s%dd = {", e->prefix, s);
            emit_conv_fields(out, &st->dw.geom);
            fprintf(out, ", %d}", st->dw.depth_multiplier);
            break;
        case K_MAXPOOL:
        case K_AVGPOOL: {
            const cnn_pool *p = &st->pool;
            fprintf(out, "static const cnn_pool %s_s%d = {%d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d}",
                    e->prefix, s, p->in_h, p->in_w, p->channels, p->out_h, p->out_w, p->pool_h, p->pool_w,
                    p->stride_h, p->stride_w, p->pad_top, p->pad_left, p->out_stride);
            break;
        }
        case K_ACTIVATE:
        case K_ADD:
            fprintf(out, "static const cnn_act %s_s%d = ", e->prefix, s);
            emit_act(out, &st->act);
            break;
        default: continue;
        }
        fprintf(out, ";\n");
    }
}

static void emit_tensor_specs(const Emit *e) {
    FILE *out = e->out;
    const Graph *g = e->g;
    fprintf(out, "\n/* The Keras tensors a weights file must hold, in this order. */\n");
    fprintf(out, "static const cnn_tensor_spec %s_tensors[] = {\n", e->prefix);
    int n = 0;
    for (int i = 0; i < g->n; i++)
        for (int w = 0; w < g->layers[i].n_weights; w++, n++) {
            const WeightSpec *ws = &g->layers[i].weights[w];
            fprintf(out, "    {\"%s/%s\", %d, {", g->layers[i].name, ws->var, ws->rank);
            for (int k = 0; k < ws->rank; k++) fprintf(out, "%s%lld", k ? ", " : "", ws->shape[k]);
            fprintf(out, "}},\n");
        }
    if (n == 0) fprintf(out, "    {\"\", 0, {0}},\n");
    fprintf(out, "};\n");
}

/* The descriptor a prep packs for: "&PREFIX_sN", or "&PREFIX_sNd" for the
 * depthwise half of a K_CONV_DW step. */
static void prep_desc(const Emit *e, int prep, char *buf, size_t size) {
    for (int s = 0; s < e->p->n_steps; s++) {
        if (e->p->steps[s].prep == prep) snprintf(buf, size, "&%s_s%d", e->prefix, s);
        if (e->p->steps[s].dw_prep == prep) snprintf(buf, size, "&%s_s%dd", e->prefix, s);
    }
}

static void emit_preps(const Emit *e) {
    FILE *out = e->out;
    const Plan *p = e->p;
    static const char *const kinds[] = {"CNN_PREP_CONV", "CNN_PREP_DWCONV", "CNN_PREP_SCALE_SHIFT"};
    fprintf(out, "\n/* Batch normalization folding and packing, done once per load by cnn_prepare. */\n");
    fprintf(out, "static const cnn_prep %s_preps[] = {\n", e->prefix);
    for (int i = 0; i < p->n_preps; i++) {
        const cnn_prep *r = &p->preps[i];
        char eps[32], desc[64];
        fmt_float(eps, sizeof eps, r->eps);
        if (r->kind == CNN_PREP_SCALE_SHIFT)
            snprintf(desc, sizeof desc, "NULL");
        else
            prep_desc(e, i, desc, sizeof desc);
        fprintf(out, "    {%s, %s, %d, %lld, %lld, %lld, %lld, %lld, %lld, %s, %lld},\n", kinds[r->kind],
                desc, r->channels, r->kernel, r->bias, r->gamma, r->beta, r->mean, r->var, eps, r->packed);
    }
    if (p->n_preps == 0) fprintf(out, "    {0, NULL, 0, 0, 0, 0, 0, 0, 0, 0.0f, 0},\n");
    fprintf(out, "};\n");
}

static void step_comment(const Emit *e, const Step *st) {
    const Layer *l = &e->g->layers[st->layer];
    fprintf(e->out, "    /* %s (%s)", l->name, l->op ? l->op->keras_type : "InputLayer");
    for (int k = 0; k < st->n_folded; k++) fprintf(e->out, " + %s", e->g->layers[st->folded[k]].name);
    if (st->kind == K_COPY) fprintf(e->out, ": to the caller's output");
    fprintf(e->out, " */\n");
}

static void emit_step(const Emit *e, int s) {
    const Step *st = &e->p->steps[s];
    FILE *out = e->out;
    char o[64], in[64], res[64], scratch[64];
    const char *pre = e->prefix;
    if (st->out >= 0) tensor_ref(e, st->out, st->kind == K_COPY_CHANNELS ? st->slice : 0, o, sizeof o);
    if (st->n_in) tensor_ref(e, st->in[0], 0, in, sizeof in);
    TensorView v;
    plan_view(e->p, st->n_in ? st->in[0] : st->out, &v);
    long long count = v.pixels * v.channels;
    step_comment(e, st);
    switch (st->kind) {
    case K_CONV:
        if (st->residual >= 0)
            tensor_ref(e, st->residual, 0, res, sizeof res);
        else
            snprintf(res, sizeof res, "NULL");
        if (st->scratch >= 0)
            tensor_ref(e, st->scratch, 0, scratch, sizeof scratch);
        else
            snprintf(scratch, sizeof scratch, "NULL");
        fprintf(out, "    cnn_conv_forward(%s, %s, w + %lld, %s, %s, &%s_s%d);\n", o, in,
                e->p->preps[st->prep].packed, res, scratch, pre, s);
        break;
    case K_DWCONV:
        fprintf(out, "    cnn_dwconv_forward(%s, %s, w + %lld, &%s_s%d);\n", o, in,
                e->p->preps[st->prep].packed, pre, s);
        break;
    case K_CONV_DW: {
        tensor_ref(e, st->scratch, 0, scratch, sizeof scratch);
        fprintf(out, "    cnn_conv_dw_forward(%s, %s, %s, w + %lld, w + %lld, &%s_s%d, &%s_s%dd);\n", o, in,
                scratch, e->p->preps[st->prep].packed, e->p->preps[st->dw_prep].packed, pre, s, pre, s);
        break;
    }
    case K_MAXPOOL: fprintf(out, "    cnn_maxpool_forward(%s, %s, &%s_s%d);\n", o, in, pre, s); break;
    case K_AVGPOOL: fprintf(out, "    cnn_avgpool_forward(%s, %s, &%s_s%d);\n", o, in, pre, s); break;
    case K_GLOBAL_AVG:
        fprintf(out, "    cnn_global_avgpool(%s, %s, %lld, %d);\n", o, in, v.pixels, v.channels);
        break;
    case K_GLOBAL_MAX:
        fprintf(out, "    cnn_global_maxpool(%s, %s, %lld, %d);\n", o, in, v.pixels, v.channels);
        break;
    case K_SCALE_SHIFT: {
        long long w0 = e->p->preps[st->prep].packed;
        fprintf(out, "    cnn_scale_shift(%s, %s, w + %lld, w + %lld, %lld, %d);\n", o, in, w0,
                w0 + v.channels, v.pixels, v.channels);
        break;
    }
    case K_ACTIVATE: fprintf(out, "    cnn_activate(%s, %s, %lld, &%s_s%d);\n", o, in, count, pre, s); break;
    case K_SOFTMAX: fprintf(out, "    cnn_softmax(%s, %s, %lld, %d);\n", o, in, v.pixels, v.channels); break;
    case K_ADD:
        fprintf(out, "    {\n        const float *const ins[] = {");
        for (int k = 0; k < st->n_in; k++) {
            char r[64];
            tensor_ref(e, st->in[k], 0, r, sizeof r);
            fprintf(out, "%s%s", k ? ", " : "", r);
        }
        fprintf(out, "};\n        cnn_add(%s, ins, %d, %lld, &%s_s%d);\n    }\n", o, st->n_in, count, pre, s);
        break;
    case K_LRN: {
        char bias[32], alpha[32], beta[32];
        fmt_float(bias, sizeof bias, st->lrn_bias);
        fmt_float(alpha, sizeof alpha, st->lrn_alpha);
        fmt_float(beta, sizeof beta, st->lrn_beta);
        fprintf(out, "    cnn_lrn(%s, %s, %lld, %d, %d, %s, %s, %s);\n", o, in, v.pixels, v.channels,
                st->lrn_radius, bias, alpha, beta);
        break;
    }
    case K_ZERO_PAD: {
        const Shape *sh = &e->g->layers[e->g->layers[st->layer].in[0]].shape;
        fprintf(out, "    cnn_zero_pad(%s, %s, %lld, %lld, %lld, %d, %d, %d, %d);\n", o, in, sh->d[0],
                sh->d[1], sh->d[2], st->pad[0], st->pad[1], st->pad[2], st->pad[3]);
        break;
    }
    case K_COPY_CHANNELS: {
        TensorView cv;
        plan_view(e->p, st->out, &cv);
        fprintf(out, "    cnn_copy_channels(%s, %d, %s, %lld, %d);\n", o, cv.stride, in, v.pixels,
                v.channels);
        break;
    }
    case K_COPY:
        if (e->p->n_outputs == 1)
            fprintf(out, "    memcpy(output, %s, %lld * sizeof(float));\n", in, count);
        else
            fprintf(out, "    memcpy(output%d, %s, %lld * sizeof(float));\n", st->output, in, count);
        break;
    }
}

static void emit_infer_signature(const Emit *e, FILE *out) {
    fprintf(out, "void %s_infer(const float *input", e->prefix);
    if (e->p->n_outputs == 1)
        fprintf(out, ", float *output");
    else
        for (int k = 0; k < e->p->n_outputs; k++) fprintf(out, ", float *output%d", k);
    fprintf(out, ")");
}

static void emit_header(const Emit *e, const char *source) {
    FILE *out = e->out;
    const Graph *g = e->g;
    const Plan *p = e->p;
    fprintf(out, "/* Generated by cnncc %s from %s: do not edit. */\n", CNNCC_VERSION, source);
    fprintf(out, "#ifndef %s_H\n#define %s_H\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n", e->upper,
            e->upper);
    char shape[96];
    shape_plain(&g->layers[0].shape, shape, sizeof shape);
    fprintf(out, "#define %s_INPUT_SIZE %lld /* %s */\n", e->upper, shape_elements(&g->layers[0].shape),
            shape);
    for (int k = 0; k < p->n_outputs; k++) {
        const Layer *l = &g->layers[p->outputs[k]];
        shape_plain(&l->shape, shape, sizeof shape);
        if (p->n_outputs == 1)
            fprintf(out, "#define %s_OUTPUT_SIZE", e->upper);
        else
            fprintf(out, "#define %s_OUTPUT%d_SIZE", e->upper, k);
        fprintf(out, " %lld /* %s %s */\n", shape_elements(&l->shape), l->name, shape);
    }
    fprintf(out, "#define %s_ARENA_BYTES %lld\n", e->upper, plan_arena_bytes(p));
    fprintf(out, "#define %s_WEIGHT_COUNT %lld\n", e->upper, g->params);
    if (e->embedded) fprintf(out, "#define %s_EMBEDDED_WEIGHTS 1\n", e->upper);
    fprintf(out,
            "\n/* Load weights from a safetensors file: 0, or a negative code for %s_strerror.\n"
            " * A failed load leaves the previous weights in place.%s */\n",
            e->prefix, e->embedded ? "  The weights are embedded: this does nothing and returns 0." : "");
    fprintf(out, "int %s_load_weights(const char *path);\nconst char *%s_strerror(int code);\n", e->prefix,
            e->prefix);
    fprintf(out, "/* Batch-1 inference; not reentrant (one static arena). */\n");
    emit_infer_signature(e, out);
    fprintf(out, ";\n\n#ifdef __cplusplus\n}\n#endif\n#endif\n");
}

static void emit_weights_storage(const Emit *e, const char *weights_file) {
    FILE *out = e->out;
    long long n = e->p->packed_floats;
    if (n == 0) return;
    fprintf(out, "\n/* Weights packed for the kernels: %lld floats (%lld Keras parameters). */\n", n,
            e->g->params);
    if (!e->embedded) {
        fprintf(out, "static float %s_packed[%lld] CNN_CACHE_ALIGNED;\n", e->prefix, n);
        return;
    }
    fprintf(out,
            "#if !defined(__GNUC__) || !defined(__ELF__)\n"
            "#error \"embedded weights use the GNU assembler's .incbin on ELF; "
            "elsewhere generate without --weights and call %s_load_weights\"\n#endif\n",
            e->prefix);
    fprintf(out,
            "/* %s is found next to this file with -Wa,-I<its directory> (or in the current directory). */\n",
            weights_file);
    fprintf(out,
            "__asm__(\".section .rodata\\n.balign 64\\n.globl %s_packed\\n.hidden %s_packed\\n%s_packed:\\n"
            ".incbin \\\"%s\\\"\\n.previous\\n\");\n",
            e->prefix, e->prefix, e->prefix, weights_file);
    fprintf(out, "extern const float %s_packed[%lld];\n", e->prefix, n);
}

static int count_tensors(const Graph *g) {
    int n = 0;
    for (int i = 0; i < g->n; i++) n += g->layers[i].n_weights;
    return n;
}

static void emit_loader(const Emit *e) {
    FILE *out = e->out;
    const char *pre = e->prefix;
    if (e->embedded || e->p->packed_floats == 0) {
        fprintf(out, "\nint %s_load_weights(const char *path) {\n    (void)path;\n    return 0;\n}\n", pre);
        fprintf(out, "\nconst char *%s_strerror(int code) { return cnn_st_strerror(code); }\n", pre);
        return;
    }
    emit_tensor_specs(e);
    emit_preps(e);
    fprintf(out,
            "\n/* All or nothing: cnn_st_load validates the whole file before %s_packed is touched. */\n",
            pre);
    fprintf(out, "int %s_load_weights(const char *path) {\n", pre);
    fprintf(out, "    float *raw = NULL;\n");
    fprintf(out, "    int rc = cnn_st_load(path, %s_tensors, %d, &raw);\n", pre, count_tensors(e->g));
    fprintf(out, "    if (rc != 0) return rc;\n");
    fprintf(out, "    rc = cnn_prepare(%s_packed, raw, %s_preps, %d);\n", pre, pre, e->p->n_preps);
    fprintf(out, "    cnn_st_free(raw);\n    return rc;\n}\n");
    fprintf(out, "\nconst char *%s_strerror(int code) { return cnn_st_strerror(code); }\n", pre);
}

static void emit_source(const Emit *e, const char *header, const char *source, const char *weights_file) {
    FILE *out = e->out;
    const Plan *p = e->p;
    const char *pre = e->prefix;
    fprintf(out, "/* Generated by cnncc %s from %s: do not edit. */\n", CNNCC_VERSION, source);
    fprintf(out, "#include <stddef.h>\n#include <string.h>\n\n#include \"cnnrt.h\"\n#include \"%s\"\n",
            header);
    if (p->arena_floats) {
        fprintf(out, "\n/* Activations: %lld bytes placed by liveness (lower bound %lld bytes). */\n",
                plan_arena_bytes(p), plan_lower_bound(p));
        fprintf(out, "static float %s_arena[%lld] CNN_CACHE_ALIGNED;\n", pre, p->arena_floats);
    }
    emit_weights_storage(e, weights_file);
    fprintf(out, "\n");
    emit_descriptors(e);
    emit_loader(e);
    fprintf(out, "\n");
    emit_infer_signature(e, out);
    fprintf(out, " {\n");
    if (p->arena_floats) fprintf(out, "    float *const a = %s_arena;\n", pre);
    if (p->packed_floats) fprintf(out, "    const float *const w = %s_packed;\n", pre);
    int uses_input = 0;
    for (int s = 0; s < p->n_steps; s++)
        for (int k = 0; k < p->steps[s].n_in; k++) {
            TensorView v;
            plan_view(p, p->steps[s].in[k], &v);
            uses_input |= p->bufs[v.buf].kind == B_INPUT;
        }
    if (!uses_input) fprintf(out, "    (void)input;\n");
    for (int s = 0; s < p->n_steps; s++) emit_step(e, s);
    fprintf(out, "}\n");
}

/* cnn_prepare at code-generation time: the bytes m_load_weights would make. */
static int pack_weights(const Emit *e, const char *weights, const char *bin_path) {
    const Graph *g = e->g;
    int n = count_tensors(g);
    cnn_tensor_spec *specs = xcalloc((size_t)n + 1, sizeof *specs);
    char **names = xcalloc((size_t)n + 1, sizeof(char *));
    int k = 0;
    for (int i = 0; i < g->n; i++)
        for (int w = 0; w < g->layers[i].n_weights; w++, k++) {
            const WeightSpec *ws = &g->layers[i].weights[w];
            names[k] = xprintf("%s/%s", g->layers[i].name, ws->var);
            specs[k].name = names[k];
            specs[k].rank = ws->rank;
            memcpy(specs[k].shape, ws->shape, sizeof ws->shape);
        }
    int big = e->p->packed_floats > (16LL << 20);
    if (big) fprintf(stderr, "cnncc: reading %s (%lld MB)...\n", weights, g->params * 4 >> 20);
    float *raw = NULL;
    int rc = cnn_st_load(weights, specs, n, &raw);
    if (rc == 0)
        for (int x = 0; x < cnn_st_extra_count(); x++)
            fprintf(stderr, "cnncc: warning: %s: tensor '%s' is not used by the model\n", weights,
                    cnn_st_extra_name(x));
    float *packed = NULL;
    if (rc == 0) {
        if (big) fprintf(stderr, "cnncc: folding and packing...\n");
        packed = calloc((size_t)e->p->packed_floats, sizeof(float));
        rc = packed ? cnn_prepare(packed, raw, e->p->preps, e->p->n_preps) : CNN_E_NOMEM;
    }
    int status = 0;
    if (rc != 0) {
        fprintf(stderr, "cnncc: %s\n", cnn_st_strerror(rc));
        status = 2;
    } else {
        if (big) fprintf(stderr, "cnncc: writing %s...\n", bin_path);
        OutFile of;
        if (out_open(&of, bin_path) != 0)
            status = 2;
        else if (fwrite(packed, sizeof(float), (size_t)e->p->packed_floats, of.f) !=
                 (size_t)e->p->packed_floats) {
            out_abort(&of);
            status = 2;
        } else if (out_commit(&of) != 0)
            status = 2;
    }
    free(packed);
    cnn_st_free(raw);
    for (int x = 0; x < n; x++) free(names[x]);
    free(names);
    free(specs);
    return status;
}

int emit_c(const Graph *g, const Plan *p, const char *out_c, const char *prefix, const char *weights) {
    Emit e;
    memset(&e, 0, sizeof e);
    e.g = g;
    e.p = p;
    e.prefix = prefix ? prefix : g->model;
    e.embedded = weights != NULL;
    if (!emit_c_valid_prefix(e.prefix) || strlen(e.prefix) > 100) {
        fprintf(stderr, "cnncc: '%s' is not a usable C prefix; give --prefix NAME\n", e.prefix);
        return 2;
    }
    for (size_t i = 0; e.prefix[i]; i++) e.upper[i] = (char)toupper((unsigned char)e.prefix[i]);
    char *h_path = sibling(out_c, ".h"), *bin_path = sibling(out_c, ".weights");
    char source[160];
    snprintf(source, sizeof source, "model '%s'", g->model);
    int status = 0;
    if (e.embedded && p->packed_floats) status = pack_weights(&e, weights, bin_path);
    OutFile oc, oh;
    if (status == 0 && out_open(&oh, h_path) == 0) {
        e.out = oh.f;
        emit_header(&e, source);
        if (out_open(&oc, out_c) == 0) {
            e.out = oc.f;
            emit_source(&e, base_name(h_path), source, base_name(bin_path));
            /* The header first: a source never lands without its header. */
            if (out_commit(&oh) != 0) {
                out_abort(&oc);
                status = 2;
            } else if (out_commit(&oc) != 0) {
                status = 2;
            }
        } else {
            out_abort(&oh);
            status = 2;
        }
    } else {
        status = 2;
    }
    free(h_path);
    free(bin_path);
    return status;
}
