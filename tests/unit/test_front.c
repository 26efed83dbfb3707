/*
 * test_front.c — the front end: lexer, parser, elaboration (shapes,
 * parameters, MACs, names), diagnostics, the JSON graph and the plan.
 *
 * Sources are small strings compiled in memory; diagnostics go to a memory
 * stream so each test can assert the exact "file:line:col: error: ..." it
 * expects.  Every expected number is derived by hand in a comment next to
 * it — from SPEC §2 (Keras's valid/same arithmetic, parameter rules), the
 * Keras rules of keras-and-papers.md §5, or SPEC §6 for the JSON text —
 * never copied from the compiler's output.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnncc.h"
#include "plan.h"

#ifndef SRCDIR
#define SRCDIR "."
#endif

/* ---- helpers ---- */

typedef struct {
    Diag d;
    char *msgs; /* everything diagnosed, NUL-terminated */
    size_t msgs_len;
    Node *root;
    Graph g;
    int rc; /* elab_model's result; -2 if parsing failed */
} Compiled;

/* Parse and elaborate `size` bytes of `src` as "t.arch". */
static Compiled *compile_n(const char *src, size_t size) {
    Compiled *c = calloc(1, sizeof *c);
    ck_assert_ptr_nonnull(c);
    diag_init(&c->d, "t.arch", src, size);
    c->d.out = open_memstream(&c->msgs, &c->msgs_len);
    ck_assert_ptr_nonnull(c->d.out);
    c->root = parse_source(&c->d);
    c->rc = c->root ? elab_model(c->root, &c->g, &c->d) : -2;
    fflush(c->d.out);
    return c;
}

static Compiled *compile(const char *src) {
    return compile_n(src, strlen(src));
}

static void release(Compiled *c) {
    fclose(c->d.out);
    free(c->msgs);
    graph_free(&c->g);
    ast_free(c->root);
    free(c);
}

/* A model that must compile without errors. */
static Compiled *compile_ok(const char *src) {
    Compiled *c = compile(src);
    ck_assert_msg(c->rc == 0 && c->d.errors == 0, "unexpected errors:\n%s", c->msgs);
    return c;
}

static const Layer *layer(const Compiled *c, const char *name) {
    int i = graph_find(&c->g, name);
    ck_assert_msg(i >= 0, "no layer '%s'", name);
    return &c->g.layers[i];
}

#define ASSERT_SHAPE3(c, name, h, w, ch)                                                                     \
    do {                                                                                                     \
        const Layer *l_ = layer(c, name);                                                                    \
        ck_assert_msg(l_->shape.rank == 3 && l_->shape.d[0] == (h) && l_->shape.d[1] == (w) &&               \
                          l_->shape.d[2] == (ch),                                                            \
                      "%s: expected (%d, %d, %d), got rank %d (%lld, %lld, %lld)", name, (int)(h), (int)(w), \
                      (int)(ch), l_->shape.rank, l_->shape.d[0], l_->shape.d[1], l_->shape.d[2]);            \
    } while (0)

#define ASSERT_SHAPE1(c, name, n)                                                                            \
    do {                                                                                                     \
        const Layer *l_ = layer(c, name);                                                                    \
        ck_assert_msg(l_->shape.rank == 1 && l_->shape.d[0] == (n), "%s: expected (%d), got rank %d (%lld)", \
                      name, (int)(n), l_->shape.rank, l_->shape.d[0]);                                       \
    } while (0)

/* The diagnostics contain this text. */
#define ASSERT_MSG(c, text)                                                                                  \
    ck_assert_msg(strstr((c)->msgs, (text)) != NULL, "missing diagnostic:\n  %s\ngot:\n%s", (text), (c)->msgs)

static char *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert(fread(buf, 1, (size_t)n, f) == (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *size = (size_t)n;
    return buf;
}

/* A spec model; the text must outlive the Compiled (the Diag quotes it). */
static Compiled *compile_spec(const char *model, char **text) {
    char path[512];
    size_t size;
    snprintf(path, sizeof path, "%s/specs/%s.arch", SRCDIR, model);
    *text = read_file(path, &size);
    Compiled *c = compile_n(*text, size);
    ck_assert_msg(c->rc == 0, "%s does not compile:\n%s", model, c->msgs);
    return c;
}

/* ====================================================================== */
/* Lexer and parser: the AST kinds of cnncc.h                              */
/* ====================================================================== */

static Node *parse_ok(Compiled **out, const char *src) {
    Compiled *c = calloc(1, sizeof *c);
    diag_init(&c->d, "t.arch", src, strlen(src));
    c->d.out = open_memstream(&c->msgs, &c->msgs_len);
    c->root = parse_source(&c->d);
    fflush(c->d.out);
    ck_assert_msg(c->root != NULL && c->d.errors == 0, "parse failed:\n%s", c->msgs);
    *out = c;
    return c->root;
}

static const Node *nth(const Node *list, int i) {
    while (i-- > 0 && list) list = list->next;
    ck_assert_ptr_nonnull(list);
    return list;
}

START_TEST(parse_comments_newlines_final_statement) {
    Compiled *c;
    /* Comments everywhere, a call spread over lines, no final newline. */
    Node *m = parse_ok(&c, "# header\n"
                           "model m   # the name\n"
                           "\n"
                           "input x: (4, 4, 1)  # shape\n"
                           "y = conv2d(x,   # comment inside parentheses\n"
                           "           2,\n"
                           "\n"
                           "           3)\n"
                           "output y");
    ck_assert_int_eq(m->kind, N_MODEL);
    ck_assert_str_eq(m->str, "m");
    ck_assert_int_eq(ast_count(m->kids), 3);
    const Node *in = nth(m->kids, 0), *as = nth(m->kids, 1), *out = nth(m->kids, 2);
    ck_assert_int_eq(in->kind, N_INPUT);
    ck_assert_str_eq(in->str, "x");
    ck_assert_int_eq(in->loc.line, 4);
    ck_assert_int_eq(in->kids->kind, N_TUPLE);
    ck_assert_int_eq(ast_count(in->kids->kids), 3);
    ck_assert_int_eq(as->kind, N_ASSIGN);
    ck_assert_int_eq(as->loc.line, 5);
    ck_assert_int_eq(as->kids->kind, N_CALL);
    ck_assert_str_eq(as->kids->str, "conv2d");
    ck_assert_int_eq(ast_count(as->kids->kids), 3);
    ck_assert_int_eq(nth(as->kids->kids, 2)->kind, N_INT);
    ck_assert_int_eq(nth(as->kids->kids, 2)->ival, 3);
    ck_assert_int_eq(nth(as->kids->kids, 2)->loc.line, 8);
    ck_assert_int_eq(nth(as->kids->kids, 2)->loc.col, 12);
    ck_assert_int_eq(out->kind, N_OUTPUT);
    ck_assert_int_eq(out->ival, 0);
    ck_assert_int_eq(out->loc.line, 9);
    release(c);
}
END_TEST

START_TEST(parse_literals) {
    Compiled *c;
    Node *m = parse_ok(&c, "model m\n"
                           "y = f(-3, 1e-5, .5, 2., 1.5e3, -0.25, 0x1F, 0X10, \"a b\", true, false, same)\n");
    const Node *call = nth(m->kids, 0)->kids;
    ck_assert_int_eq(call->kind, N_CALL);
    ck_assert_int_eq(ast_count(call->kids), 12);
    const Node *k = call->kids;
    ck_assert_int_eq(k->kind, N_INT);
    ck_assert_int_eq(k->ival, -3);
    k = k->next;
    ck_assert_int_eq(k->kind, N_FLOAT);
    ck_assert_double_eq_tol(k->fval, 1e-5, 1e-20);
    k = k->next;
    ck_assert_int_eq(k->kind, N_FLOAT);
    ck_assert_double_eq(k->fval, 0.5);
    k = k->next;
    ck_assert_int_eq(k->kind, N_FLOAT);
    ck_assert_double_eq(k->fval, 2.0);
    k = k->next;
    ck_assert_int_eq(k->kind, N_FLOAT);
    ck_assert_double_eq(k->fval, 1500.0);
    k = k->next;
    ck_assert_int_eq(k->kind, N_FLOAT);
    ck_assert_double_eq(k->fval, -0.25);
    k = k->next;
    ck_assert_int_eq(k->kind, N_INT);
    ck_assert_int_eq(k->ival, 31);
    k = k->next;
    ck_assert_int_eq(k->kind, N_INT);
    ck_assert_int_eq(k->ival, 16);
    k = k->next;
    ck_assert_int_eq(k->kind, N_STRING);
    ck_assert_str_eq(k->str, "a b");
    k = k->next;
    ck_assert_int_eq(k->kind, N_BOOL);
    ck_assert_int_eq(k->ival, 1);
    k = k->next;
    ck_assert_int_eq(k->kind, N_BOOL);
    ck_assert_int_eq(k->ival, 0);
    k = k->next;
    ck_assert_int_eq(k->kind, N_NAME);
    ck_assert_str_eq(k->str, "same");
    release(c);
}
END_TEST

START_TEST(parse_tuples_kwargs_annotation) {
    Compiled *c;
    Node *m = parse_ok(&c, "model m\n"
                           "input x: (8, 8, 3,)\n"
                           "y = zero_padding2d(x, padding=((1, 2), (3, 4),)) -> (11, 15, 3)\n"
                           "z = concatenate(y, y, axis=-1)\n");
    const Node *in = nth(m->kids, 0);
    ck_assert_int_eq(ast_count(in->kids->kids), 3); /* trailing comma adds nothing */
    const Node *as = nth(m->kids, 1);
    ck_assert_int_eq(as->kind, N_ASSIGN);
    ck_assert_str_eq(as->str, "y");
    const Node *call = as->kids, *shape = as->kids->next;
    ck_assert_int_eq(call->kind, N_CALL);
    ck_assert_ptr_nonnull(shape);
    ck_assert_int_eq(shape->kind, N_TUPLE);
    ck_assert_int_eq(ast_count(shape->kids), 3);
    ck_assert_int_eq(nth(shape->kids, 1)->ival, 15);
    const Node *kw = nth(call->kids, 1);
    ck_assert_int_eq(kw->kind, N_KWARG);
    ck_assert_str_eq(kw->str, "padding");
    const Node *outer = kw->kids;
    ck_assert_int_eq(outer->kind, N_TUPLE);
    ck_assert_int_eq(ast_count(outer->kids), 2);
    ck_assert_int_eq(outer->kids->kind, N_TUPLE);
    ck_assert_int_eq(nth(outer->kids->next->kids, 1)->ival, 4);
    const Node *axis = nth(nth(m->kids, 2)->kids->kids, 2);
    ck_assert_int_eq(axis->kind, N_KWARG);
    ck_assert_int_eq(axis->kids->kind, N_INT);
    ck_assert_int_eq(axis->kids->ival, -1);
    ck_assert_ptr_null(nth(m->kids, 2)->kids->next); /* no annotation */
    release(c);
}
END_TEST

START_TEST(parse_block_repeat_output_expect) {
    Compiled *c;
    Node *m = parse_ok(&c, "model m\n"
                           "block unit(a, b)\n"
                           "{\n"
                           "    y = conv2d(a, b, 1)\n"
                           "    return relu(y)\n"
                           "}\n"
                           "repeat 3 {\n"
                           "    h = unit(h, 4)\n"
                           "}\n"
                           "output h, g auxiliary\n"
                           "expect trainable 12\n");
    const Node *blk = nth(m->kids, 0);
    ck_assert_int_eq(blk->kind, N_BLOCK);
    ck_assert_str_eq(blk->str, "unit");
    ck_assert_int_eq(ast_count(blk->params), 2);
    ck_assert_str_eq(blk->params->next->str, "b");
    ck_assert_int_eq(ast_count(blk->kids), 1);
    ck_assert_ptr_nonnull(blk->ret);
    ck_assert_int_eq(blk->ret->kind, N_CALL);
    ck_assert_str_eq(blk->ret->str, "relu");
    const Node *rep = nth(m->kids, 1);
    ck_assert_int_eq(rep->kind, N_REPEAT);
    ck_assert_int_eq(rep->ival, 3);
    ck_assert_int_eq(ast_count(rep->kids), 1);
    const Node *out = nth(m->kids, 2);
    ck_assert_int_eq(out->kind, N_OUTPUT);
    ck_assert_int_eq(out->ival, 1);
    ck_assert_int_eq(ast_count(out->kids), 2);
    const Node *ex = nth(m->kids, 3);
    ck_assert_int_eq(ex->kind, N_EXPECT);
    ck_assert_str_eq(ex->str, "trainable");
    ck_assert_int_eq(ex->ival, 12);
    release(c);
}
END_TEST

/* ====================================================================== */
/* Shape rules (SPEC §2: valid floor((n-k_eff)/s)+1, same ceil(n/s))       */
/* ====================================================================== */

START_TEST(shape_conv_valid_same_strides_dilation) {
    Compiled *c =
        compile_ok("model m\n"
                   "input x: (7, 7, 3)\n"
                   "a = conv2d(x, 4, 3, name=\"v1\")\n"                                 /* (7-3)/1+1 = 5 */
                   "a = conv2d(x, 4, 3, strides=2, name=\"v2\")\n"                      /* 4/2+1 = 3 */
                   "a = conv2d(x, 4, 3, strides=2, padding=same, name=\"s2\")\n"        /* ceil(7/2) = 4 */
                   "a = conv2d(x, 4, 3, strides=3, name=\"v3\")\n"                      /* 4/3+1 = 2 */
                   "a = conv2d(x, 4, 2, strides=3, name=\"v3k2\")\n"                    /* 5/3+1 = 2 */
                   "a = conv2d(x, 4, 1, strides=3, name=\"v3k1\")\n"                    /* 6/3+1 = 3 */
                   "a = conv2d(x, 4, 3, strides=3, padding=same, name=\"s3\")\n"        /* ceil(7/3) = 3 */
                   "a = conv2d(x, 4, 5, padding=same, name=\"s1\")\n"                   /* 7 */
                   "a = conv2d(x, 4, 3, dilation_rate=2, name=\"d2\")\n"                /* k_eff 5: 3 */
                   "a = conv2d(x, 4, 3, dilation_rate=3, name=\"d3\")\n"                /* k_eff 7: 1 */
                   "a = conv2d(x, 4, 3, dilation_rate=2, padding=same, name=\"d2s\")\n" /* 7 */
                   "a = conv2d(x, 4, 3, dilation_rate=(2, 1), name=\"d21\")\n"          /* (3, 5) */
                   "a = conv2d(x, 5, (3, 1), strides=(2, 1), name=\"ns1\")\n" /* (4/2+1, 7) = (3, 7) */
                   "a = conv2d(x, 2, (1, 5), strides=(1, 3), name=\"ns2\")\n" /* (7, 2/3+1) = (7, 1) */
                   "a = conv2d(x, 2, (2, 4), strides=(3, 2), padding=same, name=\"ns3\")\n" /* (3, 4) */
                   "output a\n");
    ASSERT_SHAPE3(c, "v1", 5, 5, 4);
    ASSERT_SHAPE3(c, "v2", 3, 3, 4);
    ASSERT_SHAPE3(c, "s2", 4, 4, 4);
    ASSERT_SHAPE3(c, "v3", 2, 2, 4);
    ASSERT_SHAPE3(c, "v3k2", 2, 2, 4);
    ASSERT_SHAPE3(c, "v3k1", 3, 3, 4);
    ASSERT_SHAPE3(c, "s3", 3, 3, 4);
    ASSERT_SHAPE3(c, "s1", 7, 7, 4);
    ASSERT_SHAPE3(c, "d2", 3, 3, 4);
    ASSERT_SHAPE3(c, "d3", 1, 1, 4);
    ASSERT_SHAPE3(c, "d2s", 7, 7, 4);
    ASSERT_SHAPE3(c, "d21", 3, 5, 4);
    ASSERT_SHAPE3(c, "ns1", 3, 7, 5);
    ASSERT_SHAPE3(c, "ns2", 7, 1, 2);
    ASSERT_SHAPE3(c, "ns3", 3, 4, 2);
    release(c);
}
END_TEST

START_TEST(shape_padding_pooling_merge_flatten) {
    Compiled *c =
        compile_ok("model m\n"
                   "input x: (7, 7, 3)\n"
                   "a = zero_padding2d(x, name=\"zp_default\")\n"             /* 1 each side: (9, 9) */
                   "a = zero_padding2d(x, 2, name=\"zp_int\")\n"              /* (11, 11) */
                   "a = zero_padding2d(x, (1, 2), name=\"zp_hw\")\n"          /* (7+2, 7+4) */
                   "a = zero_padding2d(x, ((1, 2), (3, 4)), name=\"zp_4\")\n" /* (7+3, 7+7) */
                   "a = zero_padding2d(x, padding=((0, 1), (0, 0)), name=\"zp_kw\")\n" /* (8, 7) */
                   "a = max_pooling2d(x, name=\"mp_default\")\n"          /* pool 2 stride 2: 5/2+1 = 3 */
                   "a = max_pooling2d(x, 3, name=\"mp3\")\n"              /* stride 3: 4/3+1 = 2 */
                   "a = max_pooling2d(x, 3, strides=1, name=\"mp3s1\")\n" /* 5 */
                   "a = max_pooling2d(x, 3, strides=2, padding=same, name=\"mp3same\")\n" /* ceil(7/2) = 4 */
                   "a = max_pooling2d(x, 2, padding=same, name=\"mp2same\")\n"            /* ceil(7/2) = 4 */
                   "a = average_pooling2d(x, (3, 2), name=\"ap32\")\n" /* strides (3,2): (2, 3) */
                   "a = average_pooling2d(x, 7, name=\"ap7\")\n"       /* 1 */
                   "g1 = global_average_pooling2d(x, name=\"gap\")\n"  /* (3) */
                   "g2 = global_max_pooling2d(x, name=\"gmp\")\n"      /* (3) */
                   "c1 = conv2d(x, 4, 3, name=\"c1\")\n"               /* (5, 5, 4) */
                   "c2 = conv2d(x, 6, 3, name=\"c2\")\n"               /* (5, 5, 6) */
                   "c3 = conv2d(x, 4, 3, name=\"c3\")\n"
                   "cat = concatenate(c1, c2, c3, name=\"cat\")\n"        /* 4+6+4 = 14 */
                   "cat1 = concatenate(g1, g2, axis=-1, name=\"cat1\")\n" /* rank 1: 6 */
                   "s = add(c1, c3, c1, name=\"sum\")\n"                  /* (5, 5, 4) */
                   "f = flatten(cat, name=\"flat\")\n"                    /* 5*5*14 = 350 */
                   "fx = flatten(x, name=\"flatx\")\n"                    /* 147 */
                   "d = dropout(f, 0.5, name=\"drop\")\n"
                   "output d, cat1, s, a, fx\n");
    ASSERT_SHAPE3(c, "zp_default", 9, 9, 3);
    ASSERT_SHAPE3(c, "zp_int", 11, 11, 3);
    ASSERT_SHAPE3(c, "zp_hw", 9, 11, 3);
    ASSERT_SHAPE3(c, "zp_4", 10, 14, 3);
    ASSERT_SHAPE3(c, "zp_kw", 8, 7, 3);
    ASSERT_SHAPE3(c, "mp_default", 3, 3, 3);
    ASSERT_SHAPE3(c, "mp3", 2, 2, 3);
    ASSERT_SHAPE3(c, "mp3s1", 5, 5, 3);
    ASSERT_SHAPE3(c, "mp3same", 4, 4, 3);
    ASSERT_SHAPE3(c, "mp2same", 4, 4, 3);
    ASSERT_SHAPE3(c, "ap32", 2, 3, 3);
    ASSERT_SHAPE3(c, "ap7", 1, 1, 3);
    ASSERT_SHAPE1(c, "gap", 3);
    ASSERT_SHAPE1(c, "gmp", 3);
    ASSERT_SHAPE3(c, "cat", 5, 5, 14);
    ASSERT_SHAPE1(c, "cat1", 6);
    ASSERT_SHAPE3(c, "sum", 5, 5, 4);
    ASSERT_SHAPE1(c, "flat", 350);
    ASSERT_SHAPE1(c, "flatx", 147);
    ASSERT_SHAPE1(c, "drop", 350);
    /* Pooling's default strides are pool_size (Keras strides=None). */
    const Attr *st = layer_attr(layer(c, "ap32"), "strides");
    ck_assert_int_eq(st->i[0], 3);
    ck_assert_int_eq(st->i[1], 2);
    /* zero_padding2d attrs are ((top, bottom), (left, right)). */
    const Attr *zp = layer_attr(layer(c, "zp_hw"), "padding");
    ck_assert(zp->i[0] == 1 && zp->i[1] == 1 && zp->i[2] == 2 && zp->i[3] == 2);
    zp = layer_attr(layer(c, "zp_4"), "padding");
    ck_assert(zp->i[0] == 1 && zp->i[1] == 2 && zp->i[2] == 3 && zp->i[3] == 4);
    ck_assert_int_eq(layer(c, "cat")->n_in, 3);
    release(c);
}
END_TEST

START_TEST(shape_depthwise_separable) {
    Compiled *c = compile_ok(
        "model m\n"
        "input x: (7, 7, 3)\n"
        "a = depthwise_conv2d(x, 3, name=\"dw\")\n"                      /* (5, 5, 3) */
        "a = depthwise_conv2d(x, 3, depth_multiplier=2, name=\"dw2\")\n" /* (5, 5, 6) */
        "a = depthwise_conv2d(x, 3, strides=2, padding=same, depth_multiplier=4, name=\"dw4\")\n" /* (4,4,12)
                                                                                                   */
        "a = separable_conv2d(x, 8, 3, depth_multiplier=2, name=\"sep\")\n"            /* (5, 5, 8) */
        "a = separable_conv2d(x, 8, (3, 1), strides=2, padding=same, name=\"sep2\")\n" /* (4, 4, 8) */
        "output a\n");
    ASSERT_SHAPE3(c, "dw", 5, 5, 3);
    ASSERT_SHAPE3(c, "dw2", 5, 5, 6);
    ASSERT_SHAPE3(c, "dw4", 4, 4, 12);
    ASSERT_SHAPE3(c, "sep", 5, 5, 8);
    ASSERT_SHAPE3(c, "sep2", 4, 4, 8);
    release(c);
}
END_TEST

/* ====================================================================== */
/* Parameters (Keras counting) and multiply-accumulates                    */
/* ====================================================================== */

START_TEST(params_and_macs_per_op) {
    Compiled *c = compile_ok("model m\n"
                             "input x: (7, 7, 3)\n"
                             "a = conv2d(x, 4, 3, name=\"conv\")\n"
                             "a = conv2d(x, 4, 3, use_bias=false, name=\"conv_nb\")\n"
                             "a = conv2d(x, 4, (3, 1), strides=2, name=\"conv_ns\")\n"
                             "a = depthwise_conv2d(x, 3, depth_multiplier=2, name=\"dw\")\n"
                             "a = depthwise_conv2d(x, 3, use_bias=false, name=\"dw_nb\")\n"
                             "a = separable_conv2d(x, 8, 3, depth_multiplier=2, name=\"sep\")\n"
                             "a = separable_conv2d(x, 8, 3, use_bias=false, name=\"sep_nb\")\n"
                             "f = flatten(x)\n"
                             "d = dense(f, 10, name=\"fc\")\n"
                             "d = dense(f, 10, use_bias=false, name=\"fc_nb\")\n"
                             "b = batch_normalization(x, name=\"bn\")\n"
                             "b = batch_normalization(x, center=false, name=\"bn_nc\")\n"
                             "b = batch_normalization(x, scale=false, name=\"bn_ns\")\n"
                             "b = batch_normalization(x, center=false, scale=false, name=\"bn_none\")\n"
                             "b = batch_normalization(f, name=\"bn_flat\")\n"
                             "p = max_pooling2d(x)\n"
                             "output a, d, b, p\n");
    const Layer *l;
    /* conv 3x3, cin 3, 4 filters: 3*3*3*4 + 4 = 112; MACs out 5*5*4 * 3*3*3 = 2700 */
    l = layer(c, "conv");
    ck_assert_int_eq(l->params, 112);
    ck_assert_int_eq(l->trainable, 112);
    ck_assert_int_eq(l->macs, 2700);
    ck_assert_int_eq(l->n_weights, 2);
    ck_assert_str_eq(l->weights[0].var, "kernel");
    ck_assert(l->weights[0].rank == 4 && l->weights[0].shape[0] == 3 && l->weights[0].shape[1] == 3 &&
              l->weights[0].shape[2] == 3 && l->weights[0].shape[3] == 4);
    ck_assert_str_eq(l->weights[1].var, "bias");
    l = layer(c, "conv_nb");
    ck_assert_int_eq(l->params, 108);
    ck_assert_int_eq(l->n_weights, 1);
    ck_assert_int_eq(l->macs, 2700);
    /* (3,1) kernel stride 2 -> (3, 4) x 4; params 3*1*3*4 + 4 = 40; MACs 3*4*4*3*1*3 = 432 */
    l = layer(c, "conv_ns");
    ck_assert_int_eq(l->params, 40);
    ck_assert_int_eq(l->macs, 432);
    /* depthwise: 3*3*3*2 + 6 = 60; MACs 5*5*6 * 3*3 = 1350 */
    l = layer(c, "dw");
    ck_assert_int_eq(l->params, 60);
    ck_assert_int_eq(l->macs, 1350);
    ck_assert_str_eq(l->weights[0].var, "depthwise_kernel");
    ck_assert_int_eq(l->weights[0].shape[3], 2);
    l = layer(c, "dw_nb");
    ck_assert_int_eq(l->params, 27);
    ck_assert_int_eq(l->macs, 5 * 5 * 3 * 9);
    /* separable dm 2: 3*3*3*2 + 3*2*8 + 8 = 54 + 48 + 8 = 110;
       MACs: depthwise 5*5*6*9 = 1350 plus pointwise 5*5*6*8 = 1200 */
    l = layer(c, "sep");
    ck_assert_int_eq(l->params, 110);
    ck_assert_int_eq(l->macs, 2550);
    ck_assert_int_eq(l->n_weights, 3);
    ck_assert_str_eq(l->weights[1].var, "pointwise_kernel");
    ck_assert(l->weights[1].shape[0] == 1 && l->weights[1].shape[1] == 1 && l->weights[1].shape[2] == 6 &&
              l->weights[1].shape[3] == 8);
    /* no bias, dm 1: 27 + 24 = 51; MACs 5*5*3*9 + 5*5*3*8 = 675 + 600 */
    l = layer(c, "sep_nb");
    ck_assert_int_eq(l->params, 51);
    ck_assert_int_eq(l->macs, 1275);
    /* dense 147 -> 10: 1470 + 10; MACs 1470 */
    l = layer(c, "fc");
    ck_assert_int_eq(l->params, 1480);
    ck_assert_int_eq(l->macs, 1470);
    ck_assert(l->weights[0].rank == 2 && l->weights[0].shape[0] == 147 && l->weights[0].shape[1] == 10);
    ck_assert_int_eq(layer(c, "fc_nb")->params, 1470);
    /* batch normalization: 4 per channel, gamma and beta trainable */
    l = layer(c, "bn");
    ck_assert_int_eq(l->params, 12);
    ck_assert_int_eq(l->trainable, 6);
    ck_assert_int_eq(l->macs, 0);
    ck_assert_str_eq(l->weights[0].var, "gamma");
    ck_assert_str_eq(l->weights[1].var, "beta");
    ck_assert_str_eq(l->weights[2].var, "moving_mean");
    ck_assert_str_eq(l->weights[3].var, "moving_variance");
    l = layer(c, "bn_nc"); /* no beta */
    ck_assert_int_eq(l->params, 9);
    ck_assert_int_eq(l->trainable, 3);
    ck_assert_str_eq(l->weights[0].var, "gamma");
    ck_assert_str_eq(l->weights[1].var, "moving_mean");
    l = layer(c, "bn_ns"); /* no gamma */
    ck_assert_int_eq(l->params, 9);
    ck_assert_int_eq(l->trainable, 3);
    ck_assert_str_eq(l->weights[0].var, "beta");
    l = layer(c, "bn_none");
    ck_assert_int_eq(l->params, 6);
    ck_assert_int_eq(l->trainable, 0);
    l = layer(c, "bn_flat"); /* rank 1: channels = 147 */
    ck_assert_int_eq(l->params, 4 * 147);
    ck_assert_int_eq(l->trainable, 2 * 147);
    ck_assert_int_eq(layer(c, "max_pooling2d")->params, 0);
    /* Totals: every layer counts (all feed an output). */
    long long params = 112 + 108 + 40 + 60 + 27 + 110 + 51 + 1480 + 1470 + 12 + 9 + 9 + 6 + 588;
    long long trainable = 112 + 108 + 40 + 60 + 27 + 110 + 51 + 1480 + 1470 + 6 + 3 + 3 + 0 + 294;
    ck_assert_int_eq(c->g.params, params);
    ck_assert_int_eq(c->g.trainable, trainable);
    ck_assert_int_eq(c->g.non_trainable, params - trainable);
    ck_assert_int_eq(c->g.macs, 2700 + 2700 + 432 + 1350 + 675 + 2550 + 1275 + 1470 + 1470);
    release(c);
}
END_TEST

START_TEST(params_spec_models) {
    /* MODELS.md: the six totals (total, trainable). */
    static const struct {
        const char *model;
        long long params, trainable;
    } want[] = {
        {"lenet5", 61706, 61706},          {"alexnet", 58692452, 58691748},  {"vgg16", 138357544, 138357544},
        {"googlenet", 13378280, 13378280}, {"resnet50", 25636712, 25583592}, {"mobilenet", 4253864, 4231976},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char *text;
        Compiled *c = compile_spec(want[i].model, &text);
        ck_assert_msg(c->g.params == want[i].params, "%s params %lld", want[i].model, c->g.params);
        ck_assert_msg(c->g.trainable == want[i].trainable, "%s trainable %lld", want[i].model,
                      c->g.trainable);
        ck_assert_int_eq(c->g.non_trainable, want[i].params - want[i].trainable);
        if (strcmp(want[i].model, "googlenet") == 0) /* 6,998,552 without the auxiliary heads */
            ck_assert_int_eq(c->g.params - c->g.aux_params, 6998552);
        release(c);
        free(text);
    }
}
END_TEST

/* ====================================================================== */
/* Keras 2 layer names                                                     */
/* ====================================================================== */

START_TEST(names_auto) {
    Compiled *c = compile_ok("model m\n"
                             "input x: (8, 8, 3)\n"
                             "a = conv2d(x, 4, 3)\n" /* conv2d */
                             "a = conv2d(a, 4, 1)\n" /* conv2d_1 */
                             "a = relu(a)\n"         /* re_lu */
                             "a = conv2d(a, 4, 1, name=\"mine\")\n"
                             "a = relu(a)\n"         /* re_lu_1 */
                             "a = conv2d(a, 4, 1)\n" /* conv2d_2: explicit names do not count */
                             "a = batch_normalization(a)\n"
                             "a = depthwise_conv2d(a, 1)\n"
                             "a = zero_padding2d(a)\n"
                             "a = activation(a, relu)\n"
                             "a = lrn(a)\n"
                             "a = global_average_pooling2d(a)\n"
                             "output a\n");
    static const char *const names[] = {"x",
                                        "conv2d",
                                        "conv2d_1",
                                        "re_lu",
                                        "mine",
                                        "re_lu_1",
                                        "conv2d_2",
                                        "batch_normalization",
                                        "depthwise_conv2d",
                                        "zero_padding2d",
                                        "activation",
                                        "local_response_normalization",
                                        "global_average_pooling2d"};
    ck_assert_int_eq(c->g.n, (int)(sizeof names / sizeof names[0]));
    for (int i = 0; i < c->g.n; i++) ck_assert_str_eq(c->g.layers[i].name, names[i]);
    release(c);
}
END_TEST

START_TEST(names_blocks_and_repeat) {
    Compiled *c = compile_ok("model m\n"
                             "input x: (8, 8, 3)\n"
                             "block unit(t, n) {\n"
                             "    y = conv2d(t, n, 1, name=\"conv\")\n"
                             "    z = conv2d(y, n, 1)\n"
                             "    return relu(z)\n"
                             "}\n"
                             "block pair(t) {\n"
                             "    u = unit(t, 4, name=\"first\")\n"
                             "    return unit(u, 4)\n"
                             "}\n"
                             "h = unit(x, 4, name=\"stem\")\n"
                             "h = unit(h, 4)\n"
                             "repeat 2 {\n"
                             "    h = unit(h, 4)\n"
                             "    h = conv2d(h, 4, 1)\n"
                             "}\n"
                             "h = pair(h, name=\"p\")\n"
                             "h = pair(h)\n"
                             "output h\n");
    /* Program order after inlining; auto names count globally. */
    static const char *const names[] = {
        "x",
        "stem_conv",
        "conv2d",
        "re_lu", /* unit(name="stem") */
        "unit_conv",
        "conv2d_1",
        "re_lu_1", /* first unnamed call: unit */
        "unit_1_conv",
        "conv2d_2",
        "re_lu_2",
        "conv2d_3", /* repeat 1 */
        "unit_2_conv",
        "conv2d_4",
        "re_lu_3",
        "conv2d_5", /* repeat 2 */
        "p_first_conv",
        "conv2d_6",
        "re_lu_4", /* pair(name="p"): unit(name="first") */
        "unit_3_conv",
        "conv2d_7",
        "re_lu_5", /* its unnamed unit call is named unit_3 */
        "pair_first_conv",
        "conv2d_8",
        "re_lu_6", /* unnamed pair call: pair */
        "unit_4_conv",
        "conv2d_9",
        "re_lu_7",
    };
    ck_assert_int_eq(c->g.n, (int)(sizeof names / sizeof names[0]));
    for (int i = 0; i < c->g.n; i++) ck_assert_str_eq(c->g.layers[i].name, names[i]);
    release(c);
}
END_TEST

/* ====================================================================== */
/* Diagnostics, each at its exact line:col                                 */
/* ====================================================================== */

#define HEAD "model m\ninput x: (4, 4, 3)\n" /* lines 1-2 */

START_TEST(diag_syntax_error) {
    Compiled *c = compile(HEAD "y = conv2d(x 4, 3)\noutput y\n");
    ck_assert_int_eq(c->rc, -2);
    ASSERT_MSG(c, "t.arch:3:14: error: syntax error: unexpected integer");
    /* the quoted line and a caret under column 14 */
    ASSERT_MSG(c, "    y = conv2d(x 4, 3)\n                 ^\n");
    release(c);
}
END_TEST

START_TEST(diag_several_syntax_errors) {
    Compiled *c = compile(HEAD "y = conv2d(x 4, 3)\nz == relu(x)\nw = relu(x))\noutput y\n");
    ck_assert_int_eq(c->rc, -2);
    ck_assert_int_ge(c->d.errors, 3);
    ASSERT_MSG(c, "t.arch:3:14: error: syntax error");
    ASSERT_MSG(c, "t.arch:4:4: error: syntax error");
    ASSERT_MSG(c, "t.arch:5:12: error: syntax error");
    release(c);
}
END_TEST

START_TEST(diag_unknown_op) {
    Compiled *c = compile(HEAD "y = conv2e(x, 4, 3)\noutput y\n");
    ck_assert_int_ne(c->rc, 0);
    ASSERT_MSG(c, "t.arch:3:5: error: unknown op 'conv2e'; did you mean 'conv2d'?");
    release(c);
    c = compile(HEAD "y = maxpool(x)\noutput y\n");
    ASSERT_MSG(c, "t.arch:3:5: error: unknown op 'maxpool'");
    release(c);
}
END_TEST

START_TEST(diag_unknown_argument) {
    Compiled *c = compile(HEAD "y = conv2d(x, 4, 3, stride=2)\noutput y\n");
    ck_assert_int_ne(c->rc, 0);
    ASSERT_MSG(c, "t.arch:3:21: error: unknown argument 'stride' for conv2d");
    release(c);
}
END_TEST

START_TEST(diag_missing_argument) {
    Compiled *c = compile(HEAD "y = conv2d(x, 4)\noutput y\n");
    ck_assert_int_ne(c->rc, 0);
    ASSERT_MSG(c, "t.arch:3:5: error: conv2d: missing argument 'kernel_size'");
    release(c);
}
END_TEST

START_TEST(diag_ill_typed_argument) {
    Compiled *c = compile(HEAD "y = conv2d(x, 4, 3, use_bias=1)\noutput y\n");
    ck_assert_int_ne(c->rc, 0);
    ASSERT_MSG(c, "t.arch:3:30: error: conv2d: 'use_bias' must be true or false, got 1");
    release(c);
    c = compile(HEAD "y = conv2d(x, 2.5, 3)\noutput y\n");
    ASSERT_MSG(c, "t.arch:3:15: error: conv2d: 'filters' must be an integer >= 1, got 2.5");
    release(c);
    c = compile(HEAD "y = conv2d(x, 4, 3, activation=relu7)\noutput y\n");
    ASSERT_MSG(c, "t.arch:3:32: error: unknown activation 'relu7'");
    release(c);
}
END_TEST

START_TEST(diag_undefined_variable) {
    Compiled *c = compile(HEAD "y = conv2d(z, 4, 3)\noutput y\n");
    ck_assert_int_ne(c->rc, 0);
    ASSERT_MSG(c, "t.arch:3:12: error: undefined variable 'z'");
    release(c);
    c = compile(HEAD "y = conv2d(x, 4, 3)\noutput q\n");
    ASSERT_MSG(c, "t.arch:4:8: error: undefined variable 'q'");
    release(c);
}
END_TEST

START_TEST(diag_unused_variable_is_a_warning) {
    Compiled *c = compile(HEAD "a = conv2d(x, 4, 3)\nb = flatten(x)\noutput b\n");
    ck_assert_int_eq(c->rc, 0);
    ck_assert_int_eq(c->d.errors, 0);
    ck_assert_int_eq(c->d.warnings, 1);
    ASSERT_MSG(c, "t.arch:3:1: warning: variable 'a' is assigned but never used");
    ck_assert_ptr_null(strstr(c->msgs, "error"));
    release(c);
}
END_TEST

START_TEST(diag_add_unequal_shapes) {
    Compiled *c = compile(HEAD "a = conv2d(x, 4, 3)\n" /* (2, 2, 4) */
                               "b = conv2d(x, 4, 1)\n" /* (4, 4, 4) */
                               "c = add(a, b)\noutput c\n");
    ck_assert_int_ne(c->rc, 0);
    ASSERT_MSG(c, "t.arch:5:5: error: add 'add': inputs have different shapes");
    ASSERT_MSG(c, "t.arch:5:9: note: input 'a' has shape (2, 2, 4), from conv2d at line 3");
    ASSERT_MSG(c, "t.arch:5:12: note: input 'b' has shape (4, 4, 4), from conv2d_1 at line 4");
    release(c);
}
END_TEST

START_TEST(diag_concatenate_unequal_hw) {
    Compiled *c = compile(HEAD "a = conv2d(x, 4, 3)\n"
                               "b = conv2d(x, 4, 1)\n"
                               "c = concatenate(a, b)\noutput c\n");
    ck_assert_int_ne(c->rc, 0);
    ASSERT_MSG(c, "t.arch:5:5: error: concatenate 'concatenate': inputs differ in height x width");
    ASSERT_MSG(c, "note: input 'a' has shape (2, 2, 4)");
    ASSERT_MSG(c, "note: input 'b' has shape (4, 4, 4)");
    release(c);
}
END_TEST

START_TEST(diag_kernel_larger_than_input) {
    Compiled *c = compile(HEAD "y = conv2d(x, 4, 5)\noutput y\n");
    ck_assert_int_ne(c->rc, 0);
    ASSERT_MSG(
        c, "t.arch:3:5: error: conv2d 'conv2d': kernel 5x5 is larger than its input 4x4 with padding=valid");
    ASSERT_MSG(c, "t.arch:3:12: note: input 'x' has shape (4, 4, 3), from x at line 2");
    release(c);
    /* dilation counts: 3 with rate 2 is 5 */
    c = compile(HEAD "y = conv2d(x, 4, 3, dilation_rate=2)\noutput y\n");
    ASSERT_MSG(c, "t.arch:3:5: error: conv2d 'conv2d': kernel 5x5 is larger than its input 4x4");
    release(c);
    c = compile(HEAD "y = max_pooling2d(x, 5)\noutput y\n");
    ASSERT_MSG(c, "t.arch:3:5: error: max_pooling2d 'max_pooling2d': pool 5x5 is larger than its input 4x4");
    release(c);
}
END_TEST

START_TEST(diag_dense_on_rank3) {
    Compiled *c = compile(HEAD "y = dense(x, 10)\noutput y\n");
    ck_assert_int_ne(c->rc, 0);
    ASSERT_MSG(
        c, "t.arch:3:5: error: dense 'dense' needs a rank-1 input, got (None, 4, 4, 3); add flatten() first");
    release(c);
}
END_TEST

START_TEST(diag_failed_shape_annotation) {
    Compiled *c = compile(HEAD "y = conv2d(x, 4, 3) -> (3, 3, 4)\noutput y\n");
    ck_assert_int_ne(c->rc, 0);
    ASSERT_MSG(c, "t.arch:3:24: error: shape check failed: expected (3, 3, 4), got (2, 2, 4)");
    release(c);
    /* the right shape passes, also written with None */
    c = compile_ok(HEAD "y = conv2d(x, 4, 3) -> (None, 2, 2, 4)\nz = flatten(y) -> (16)\noutput z\n");
    release(c);
}
END_TEST

START_TEST(diag_failed_expect) {
    /* conv 3*3*3*4 + 4 = 112 params, all trainable */
    Compiled *c = compile(HEAD "y = conv2d(x, 4, 3)\noutput y\nexpect params 100\nexpect trainable 112\n"
                               "expect non_trainable 1\n");
    ck_assert_int_ne(c->rc, 0);
    ck_assert_int_eq(c->d.errors, 2);
    ASSERT_MSG(c, "t.arch:5:8: error: expect params failed: expected 100, got 112");
    ASSERT_MSG(c, "t.arch:7:8: error: expect non_trainable failed: expected 1, got 0");
    release(c);
    c = compile_ok(HEAD "y = conv2d(x, 4, 3)\noutput y\nexpect params 112\nexpect non_trainable 0\n");
    release(c);
}
END_TEST

START_TEST(diag_duplicate_names) {
    Compiled *c =
        compile(HEAD "a = conv2d(x, 4, 1, name=\"c\")\nb = conv2d(a, 4, 1, name=\"c\")\noutput b\n");
    ck_assert_int_ne(c->rc, 0);
    ASSERT_MSG(c, "t.arch:4:5: error: duplicate layer name 'c'");
    release(c);
    /* an explicit name that an automatic one later collides with */
    c = compile(
        HEAD "a = conv2d(x, 4, 1, name=\"conv2d_1\")\nb = conv2d(a, 4, 1)\nb = conv2d(b, 4, 1)\noutput b\n");
    ASSERT_MSG(c, "t.arch:5:5: error: duplicate layer name 'conv2d_1'");
    release(c);
    /* a name the input already has */
    c = compile(HEAD "a = conv2d(x, 4, 1, name=\"x\")\noutput a\n");
    ASSERT_MSG(c, "t.arch:3:5: error: duplicate layer name 'x'");
    release(c);
}
END_TEST

START_TEST(diag_recursion) {
    Compiled *c = compile(HEAD "block f(t) {\n"
                               "    return f(t)\n"
                               "}\n"
                               "y = f(x)\noutput y\n");
    ck_assert_int_ne(c->rc, 0);
    ASSERT_MSG(c, "t.arch:4:12: error: block 'f' calls itself; recursion is not allowed");
    release(c);
    /* mutual recursion */
    c = compile(HEAD
                "block f(t) {\n    return g(t)\n}\nblock g(t) {\n    return f(t)\n}\ny = f(x)\noutput y\n");
    ck_assert_int_ne(c->rc, 0);
    ASSERT_MSG(c, "t.arch:7:12: error: block 'f' calls itself; recursion is not allowed");
    release(c);
}
END_TEST

START_TEST(diag_not_text) {
    static const char src[] = "model m\ninp\0ut x: (4, 4, 3)\n";
    Compiled *c = compile_n(src, sizeof src - 1);
    ck_assert_int_eq(c->rc, -2);
    ck_assert_int_eq(c->d.errors, 1);
    ASSERT_MSG(c, "t.arch:2:4: error: input is not text");
    release(c);
}
END_TEST

/* "y = " then `depth` open parentheses (line 3, first at column 5). */
static char *nested_parens(int depth) {
    size_t n = (size_t)depth * 2 + 64;
    char *s = malloc(n + sizeof HEAD);
    strcpy(s, HEAD "y = ");
    for (int i = 0; i < depth; i++) strcat(s, "(");
    strcat(s, "1");
    for (int i = 0; i < depth; i++) strcat(s, ")");
    strcat(s, "\n");
    return s;
}

START_TEST(diag_nesting_limits) {
    /* parentheses: the 65th '(' is at column 5 + 64 */
    char *src = nested_parens(MAX_NESTING + 1);
    Compiled *c = compile(src);
    ck_assert_int_ne(c->rc, 0);
    ASSERT_MSG(c, "t.arch:3:69: error: parentheses nested deeper than 64");
    release(c);
    free(src);
    /* 64 deep is not a nesting error (it is an ill-formed statement instead) */
    src = nested_parens(MAX_NESTING);
    c = compile(src);
    ck_assert_ptr_null(strstr(c->msgs, "nested deeper"));
    release(c);
    free(src);

    /* braces: 65 nested repeats; the 65th '{' is on line 3+64 */
    size_t cap = 64 * 1024;
    src = malloc(cap);
    strcpy(src, HEAD);
    for (int i = 0; i <= MAX_NESTING; i++) strcat(src, "repeat 1 {\n");
    strcat(src, "y = relu(x)\n");
    for (int i = 0; i <= MAX_NESTING; i++) strcat(src, "}\n");
    strcat(src, "output y\n");
    c = compile(src);
    ck_assert_int_ne(c->rc, 0);
    ASSERT_MSG(c, "t.arch:67:10: error: braces nested deeper than 64");
    release(c);

    /* block calls: b0 calls b1 ... calls b65 */
    strcpy(src, HEAD);
    for (int i = 0; i <= MAX_NESTING; i++) {
        char line[128];
        snprintf(line, sizeof line, "block b%d(t) {\n    return b%d(t)\n}\n", i, i + 1);
        strcat(src, line);
    }
    strcat(src, "block b65(t) {\n    return relu(t)\n}\ny = b0(x)\noutput y\n");
    c = compile(src);
    ck_assert_int_ne(c->rc, 0);
    ASSERT_MSG(c, "error: block calls nested deeper than 64");
    release(c);
    free(src);
}
END_TEST

START_TEST(diag_too_many_layers) {
    /* MAX_LAYERS - 2 relus plus the input is under the limit however it is counted ... */
    char src[256];
    snprintf(src, sizeof src, HEAD "repeat %d {\n    x = relu(x)\n}\noutput x\n", MAX_LAYERS - 2);
    Compiled *c = compile_ok(src);
    ck_assert_int_eq(c->g.n, MAX_LAYERS - 1);
    release(c);
    /* ... MAX_LAYERS + 1 relus is over it: an error at the call, not a crash */
    snprintf(src, sizeof src, HEAD "repeat %d {\n    x = relu(x)\n}\noutput x\n", MAX_LAYERS + 1);
    c = compile(src);
    ck_assert_int_ne(c->rc, 0);
    ASSERT_MSG(c, "t.arch:4:9: error: more than 100000 layers after unrolling");
    release(c);
}
END_TEST

START_TEST(diag_element_overflow) {
    /* input: 65536 * 65536 = 2^32 > 2^31 - 1 */
    Compiled *c = compile("model m\ninput x: (65536, 65536, 1)\ny = relu(x)\noutput y\n");
    ck_assert_int_ne(c->rc, 0);
    ASSERT_MSG(c, "t.arch:2:10: error: input of more than 2147483647 elements exceeds the limit");
    release(c);
    /* a layer output: 1024 * 1024 * 4096 = 2^32 */
    c = compile("model m\ninput x: (1024, 1024, 1)\ny = conv2d(x, 4096, 1)\noutput y\n");
    ck_assert_int_ne(c->rc, 0);
    ASSERT_MSG(c,
               "t.arch:3:5: error: conv2d 'conv2d': output of 1024 x 1024 x 4096 elements exceeds the limit");
    release(c);
    /* a weight: dense 65536 -> 65536 has a 2^32 kernel */
    c = compile("model m\ninput x: (65536)\ny = dense(x, 65536)\noutput y\n");
    ck_assert_int_ne(c->rc, 0);
    ASSERT_MSG(c, "t.arch:3:5: error: dense 'dense': weight 'kernel' exceeds the limit");
    release(c);
    /* far beyond 64 bits: a layer output whose product overflows long long */
    c = compile("model m\ninput x: (2147483647)\n"
                "y = dense(x, 2147483647, use_bias=false)\noutput y\n");
    ck_assert_int_ne(c->rc, 0);
    ASSERT_MSG(c, "exceeds the limit");
    release(c);
}
END_TEST

START_TEST(diag_several_errors_in_one_run) {
    Compiled *c = compile(HEAD "a = conv3d(x, 6, 5)\n"
                               "b = conv2d(x, 6, 3, stride=2)\n"
                               "c = dense(y, 10)\n"
                               "d = dense(x, 10)\n"
                               "e = flatten(x)\n"
                               "output e\n");
    ck_assert_int_ne(c->rc, 0);
    ck_assert_int_eq(c->d.errors, 4);
    ASSERT_MSG(c, "t.arch:3:5: error: unknown op 'conv3d'");
    ASSERT_MSG(c, "t.arch:4:21: error: unknown argument 'stride'");
    ASSERT_MSG(c, "t.arch:5:11: error: undefined variable 'y'");
    ASSERT_MSG(c, "t.arch:6:5: error: dense 'dense' needs a rank-1 input");
    release(c);
}
END_TEST

/* ====================================================================== */
/* The JSON graph (SPEC §6)                                                */
/* ====================================================================== */

/* JSON text with the whitespace outside strings removed. */
static char *squeeze(const char *s) {
    char *out = malloc(strlen(s) + 1), *o = out;
    int in_str = 0, escaped = 0;
    for (; *s; s++) {
        if (*s == '"' && !escaped) in_str = !in_str;
        escaped = in_str && *s == '\\' && !escaped;
        if (!in_str && (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')) continue;
        *o++ = *s;
    }
    *o = '\0';
    return out;
}

#define ASSERT_JSON_HAS(json, fragment)                                                                      \
    do {                                                                                                     \
        char *f_ = squeeze(fragment);                                                                        \
        ck_assert_msg(strstr(json, f_) != NULL, "JSON lacks the SPEC §6 fragment\n  %s\nin\n%.3000s", f_,    \
                      json);                                                                                 \
        free(f_);                                                                                            \
    } while (0)

START_TEST(json_lenet5_spec_fragments) {
    char *text, *raw = NULL;
    size_t len = 0;
    Compiled *c = compile_spec("lenet5", &text);
    Plan *p = plan_build(&c->g, 0);
    FILE *f = open_memstream(&raw, &len);
    emit_json(f, &c->g, p);
    fclose(f);
    char *json = squeeze(raw);
    /* The fragments of SPEC §6, verbatim (up to whitespace). */
    ASSERT_JSON_HAS(json,
                    "{\"model\": \"lenet5\", \"inputs\": [{\"name\": \"image\", \"shape\": [32, 32, 1]}],\n"
                    " \"outputs\": [\"dense_2\"], \"auxiliary_outputs\": [],\n"
                    " \"layers\": [{\"name\": \"conv2d\", \"type\": \"Conv2D\", \"op\": \"conv2d\",\n"
                    "   \"inputs\": [\"image\"], \"shape\": [28, 28, 6], \"params\": 156,");
    ASSERT_JSON_HAS(json, "\"attrs\": {\"filters\": 6, \"kernel_size\": [5, 5], \"strides\": [1, 1],\n"
                          "             \"padding\": \"valid\", \"dilation_rate\": [1, 1],\n"
                          "             \"activation\": \"tanh\", \"use_bias\": true},\n"
                          "   \"weights\": {\"kernel\": [5, 5, 1, 6], \"bias\": [6]}}");
    ASSERT_JSON_HAS(json, "\"totals\": {\"params\": 61706, \"trainable\": 61706, \"non_trainable\": 0,\n"
                          "            \"macs\": 416520, \"weight_bytes\": 246824, \"arena_bytes\": ");
    /* LeNet-5 MACs by hand: 28*28*6*25 + 10*10*16*150 + 400*120 + 120*84 + 84*10 = 416520 */
    ck_assert_int_eq(c->g.macs, 117600 + 240000 + 48000 + 10080 + 840);
    /* Every attribute of SPEC §2, defaults filled in, for the pooling and dense layers. */
    ASSERT_JSON_HAS(json, "{\"name\": \"average_pooling2d\", \"type\": \"AveragePooling2D\"");
    ASSERT_JSON_HAS(json, "\"attrs\": {\"pool_size\": [2, 2], \"strides\": [2, 2], \"padding\": \"valid\"}");
    ASSERT_JSON_HAS(json, "\"attrs\": {\"units\": 10, \"activation\": \"softmax\", \"use_bias\": true}");
    ASSERT_JSON_HAS(json, "\"weights\": {\"kernel\": [84, 10], \"bias\": [10]}");
    ASSERT_JSON_HAS(json, "{\"name\": \"flatten\", \"type\": \"Flatten\", \"op\": \"flatten\", "
                          "\"inputs\": [\"average_pooling2d_1\"], \"shape\": [400]");
    /* the arena value is the plan's */
    char arena[64];
    snprintf(arena, sizeof arena, "\"arena_bytes\":%lld", plan_arena_bytes(p));
    ck_assert_ptr_nonnull(strstr(json, arena));
    free(json);
    free(raw);
    plan_free(p);
    release(c);
    free(text);
}
END_TEST

START_TEST(json_attrs_of_other_ops) {
    char *raw = NULL;
    size_t len = 0;
    Compiled *c = compile_ok("model m\ninput x: (8, 8, 3)\n"
                             "a = zero_padding2d(x, (1, 2))\n"
                             "b = batch_normalization(a, center=false)\n"
                             "r = relu(b, max_value=6)\n"
                             "r2 = relu(r)\n"
                             "q = concatenate(r2, r2)\n"
                             "l = lrn(q, depth_radius=2, alpha=0.5, beta=0.75)\n"
                             "output l\n");
    FILE *f = open_memstream(&raw, &len);
    emit_json(f, &c->g, NULL);
    fclose(f);
    char *json = squeeze(raw);
    ASSERT_JSON_HAS(json, "\"attrs\": {\"padding\": [[1, 1], [2, 2]]}");
    ASSERT_JSON_HAS(json, "\"attrs\": {\"epsilon\": 0.001, \"center\": false, \"scale\": true}");
    ASSERT_JSON_HAS(json, "\"weights\": {\"gamma\": [3], \"moving_mean\": [3], \"moving_variance\": [3]}");
    ASSERT_JSON_HAS(json, "\"attrs\": {\"max_value\": 6, \"negative_slope\": 0}");
    ASSERT_JSON_HAS(json, "\"attrs\": {\"max_value\": null, \"negative_slope\": 0}");
    ASSERT_JSON_HAS(json, "\"attrs\": {\"axis\": -1}");
    ASSERT_JSON_HAS(json, "\"attrs\": {\"depth_radius\": 2, \"bias\": 1, \"alpha\": 0.5, \"beta\": 0.75}");
    free(json);
    free(raw);
    release(c);
}
END_TEST

/* ====================================================================== */
/* The plan                                                                */
/* ====================================================================== */

static int count_steps(const Plan *p, KernelKind k) {
    int n = 0;
    for (int i = 0; i < p->n_steps; i++) n += p->steps[i].kind == k;
    return n;
}

/* Is layer `l` implemented or absorbed by some step? */
static int folded_somewhere(const Plan *p, int l) {
    for (int i = 0; i < p->n_steps; i++)
        for (int k = 0; k < p->steps[i].n_folded; k++)
            if (p->steps[i].folded[k] == l) return 1;
    return 0;
}

static int count_op(const Graph *g, const char *op) {
    int n = 0;
    for (int i = 0; i < g->n; i++) n += g->layers[i].op && strcmp(g->layers[i].op->name, op) == 0;
    return n;
}

START_TEST(plan_lenet5_arena) {
    char *text;
    Compiled *c = compile_spec("lenet5", &text);
    Plan *p = plan_build(&c->g, 0);
    long long biggest = 28LL * 28 * 6 * 4; /* conv2d's output, the largest activation */
    ck_assert_int_ge(plan_lower_bound(p), biggest);
    ck_assert_int_ge(plan_arena_bytes(p), plan_lower_bound(p));
    /* the whole activation set is an upper bound for a sensible plan:
       image 32*32 + 28*28*6 + 14*14*6 + 10*10*16 + 5*5*16 + 120 + 84 + 10 floats */
    ck_assert_int_le(plan_arena_bytes(p), (1024 + 4704 + 1176 + 1600 + 400 + 120 + 84 + 10) * 4 + 64 * 8);
    plan_free(p);
    release(c);
    free(text);
}
END_TEST

START_TEST(plan_resnet50_mobilenet_fusions) {
    static const char *const models[] = {"resnet50", "mobilenet"};
    for (int m = 0; m < 2; m++) {
        char *text;
        Compiled *c = compile_spec(models[m], &text);
        Plan *p = plan_build(&c->g, 0);
        ck_assert_msg(count_steps(p, K_SCALE_SHIFT) == 0, "%s: a batch normalization was not folded",
                      models[m]);
        ck_assert_msg(count_steps(p, K_ACTIVATE) == 0, "%s: an activation was not fused", models[m]);
        int bn = 0;
        for (int i = 0; i < c->g.n; i++) {
            const Layer *l = &c->g.layers[i];
            if (!l->op) continue;
            if (strcmp(l->op->name, "batch_normalization") == 0 || strcmp(l->op->name, "relu") == 0 ||
                strcmp(l->op->name, "activation") == 0 || strcmp(l->op->name, "add") == 0) {
                ck_assert_msg(folded_somewhere(p, i), "%s: layer %s is not folded into a step", models[m],
                              l->name);
                bn += strcmp(l->op->name, "batch_normalization") == 0;
            }
        }
        /* ResNet-50: 53 BN layers (1 stem + 16*3 + 4 projections); MobileNet: 27 (1 + 13*2) */
        ck_assert_int_eq(bn, m == 0 ? 53 : 27);
        if (m == 0) {
            ck_assert_int_eq(count_op(&c->g, "add"), 16); /* 3 + 4 + 6 + 3 blocks */
            ck_assert_msg(count_steps(p, K_ADD) == 0, "resnet50: an add was not fused into a conv");
            int residual = 0;
            for (int i = 0; i < p->n_steps; i++)
                residual += p->steps[i].kind == K_CONV && p->steps[i].residual >= 0;
            ck_assert_int_eq(residual, 16);
        }
        plan_free(p);
        release(c);
        free(text);
    }
}
END_TEST

START_TEST(plan_googlenet_concat_and_aux) {
    char *text;
    Compiled *c = compile_spec("googlenet", &text);
    ck_assert_int_eq(count_op(&c->g, "concatenate"), 9);
    Plan *p = plan_build(&c->g, 0);
    ck_assert_msg(count_steps(p, K_COPY_CHANNELS) == 0, "a concatenation input was copied");
    int aux_layers = 0;
    for (int i = 0; i < c->g.n; i++) aux_layers += c->g.layers[i].aux_only;
    /* two heads of average_pooling2d, conv2d, flatten, dense, dropout, dense (6 layers each, at least) */
    ck_assert_int_ge(aux_layers, 12);
    for (int i = 0; i < p->n_steps; i++) {
        const Step *s = &p->steps[i];
        ck_assert_msg(!c->g.layers[s->layer].aux_only, "step %d implements auxiliary layer %s", i,
                      c->g.layers[s->layer].name);
        for (int k = 0; k < s->n_folded; k++) ck_assert(!c->g.layers[s->folded[k]].aux_only);
    }
    ck_assert_int_eq(p->n_outputs, 1);
    plan_free(p);
    /* with keep_aux the heads are there: the check above is not vacuous */
    p = plan_build(&c->g, 1);
    int aux_steps = 0;
    for (int i = 0; i < p->n_steps; i++) aux_steps += c->g.layers[p->steps[i].layer].aux_only;
    ck_assert_int_gt(aux_steps, 0);
    ck_assert_int_eq(p->n_outputs, 3);
    plan_free(p);
    release(c);
    free(text);
}
END_TEST

/* ====================================================================== */

static Suite *front_suite(void) {
    Suite *s = suite_create("front");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, parse_comments_newlines_final_statement);
    tcase_add_test(tc, parse_literals);
    tcase_add_test(tc, parse_tuples_kwargs_annotation);
    tcase_add_test(tc, parse_block_repeat_output_expect);
    suite_add_tcase(s, tc);

    tc = tcase_create("shapes_params_names");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, shape_conv_valid_same_strides_dilation);
    tcase_add_test(tc, shape_padding_pooling_merge_flatten);
    tcase_add_test(tc, shape_depthwise_separable);
    tcase_add_test(tc, params_and_macs_per_op);
    tcase_add_test(tc, params_spec_models);
    tcase_add_test(tc, names_auto);
    tcase_add_test(tc, names_blocks_and_repeat);
    suite_add_tcase(s, tc);

    tc = tcase_create("diagnostics");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, diag_syntax_error);
    tcase_add_test(tc, diag_several_syntax_errors);
    tcase_add_test(tc, diag_unknown_op);
    tcase_add_test(tc, diag_unknown_argument);
    tcase_add_test(tc, diag_missing_argument);
    tcase_add_test(tc, diag_ill_typed_argument);
    tcase_add_test(tc, diag_undefined_variable);
    tcase_add_test(tc, diag_unused_variable_is_a_warning);
    tcase_add_test(tc, diag_add_unequal_shapes);
    tcase_add_test(tc, diag_concatenate_unequal_hw);
    tcase_add_test(tc, diag_kernel_larger_than_input);
    tcase_add_test(tc, diag_dense_on_rank3);
    tcase_add_test(tc, diag_failed_shape_annotation);
    tcase_add_test(tc, diag_failed_expect);
    tcase_add_test(tc, diag_duplicate_names);
    tcase_add_test(tc, diag_recursion);
    tcase_add_test(tc, diag_not_text);
    tcase_add_test(tc, diag_nesting_limits);
    tcase_add_test(tc, diag_too_many_layers);
    tcase_add_test(tc, diag_element_overflow);
    tcase_add_test(tc, diag_several_errors_in_one_run);
    suite_add_tcase(s, tc);

    tc = tcase_create("json_plan");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, json_lenet5_spec_fragments);
    tcase_add_test(tc, json_attrs_of_other_ops);
    tcase_add_test(tc, plan_lenet5_arena);
    tcase_add_test(tc, plan_resnet50_mobilenet_fusions);
    tcase_add_test(tc, plan_googlenet_concat_and_aux);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(front_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
