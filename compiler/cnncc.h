/*
 * cnncc.h — the compiler's data structures and the API of each pass.
 *
 * The path from text to C:
 *
 *   lexer.l, parser.y   .arch text  -> AST (Node)
 *   elab.c              AST -> Graph: blocks and repeats inlined, names
 *                       resolved, arguments checked against ops.c, shapes
 *                       and parameters computed layer by layer
 *   plan.c              Graph -> Plan: rewrites (fusion, folding, aliasing)
 *                       and the static activation arena
 *   summary.c, emit_json.c, emit_dot.c, emit_c.c   the outputs
 *
 * One section per file below.  Everything allocates from the heap and is
 * freed by the owner's *_free; the compiler has no globals.
 */
#ifndef CNNCC_H
#define CNNCC_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#ifndef CNNCC_VERSION
#define CNNCC_VERSION "dev" /* the Makefile defines the release */
#endif

/* Documented limits (README "Limits"); every one is an error, not a crash. */
#define MAX_SOURCE_BYTES (16 * 1024 * 1024) /* .arch file size */
#define MAX_NESTING      64                 /* parentheses, braces, block calls */
#define MAX_LAYERS       100000             /* layers after unrolling */
#define MAX_ELEMENTS     2147483647LL       /* elements of one tensor or weight */
#define MAX_ERRORS       50                 /* diagnostics before giving up */
#define MAX_ATTRS        8                  /* arguments of one op */

/* ---- diag.c: diagnostics with file:line:col, source line and caret ---- */

typedef struct {
    int line, col; /* 1-based; 0 = no location */
    int len;       /* columns the caret underlines */
} Loc;

typedef struct {
    const char *file; /* name shown in messages */
    const char *text; /* source, for the quoted line */
    size_t size;
    int errors, warnings;
    FILE *out; /* stderr, or a memory stream in tests */
} Diag;

void diag_init(Diag *d, const char *file, const char *text, size_t size);
void diag_error(Diag *d, Loc loc, const char *fmt, ...);
void diag_warning(Diag *d, Loc loc, const char *fmt, ...);
void diag_note(Diag *d, Loc loc, const char *fmt, ...);
/* Stop checking once this many errors have been reported. */
int diag_too_many(const Diag *d);

/* ---- ast.c: the syntax tree the parser builds ---- */

typedef enum {
    N_INT,    /* ival */
    N_FLOAT,  /* fval */
    N_STRING, /* str */
    N_NAME,   /* str: a variable, block parameter or symbol (relu, same) */
    N_BOOL,   /* ival */
    N_TUPLE,  /* kids: elements */
    N_CALL,   /* str: op or block; kids: arguments */
    N_KWARG,  /* str: keyword; kids: the value */
    N_INPUT,  /* str: name; kids: shape tuple */
    N_ASSIGN, /* str: variable; kids: expr [, shape tuple] */
    N_BLOCK,  /* str: name; params: N_NAME list; kids: body; ret: expr */
    N_REPEAT, /* ival: count; kids: body */
    N_OUTPUT, /* kids: N_NAME list; ival: 1 if auxiliary */
    N_EXPECT, /* str: params|trainable|non_trainable; ival: value */
    N_MODEL   /* str: model name; kids: statements */
} NodeKind;

typedef struct Node Node;
struct Node {
    NodeKind kind;
    Loc loc;
    char *str;
    long long ival;
    double fval;
    Node *kids;   /* first child */
    Node *next;   /* next sibling */
    Node *params; /* N_BLOCK */
    Node *ret;    /* N_BLOCK */
    int warned;   /* an "unused" warning was given for this node */
};

Node *ast_new(NodeKind kind, Loc loc);
Node *ast_append(Node *list, Node *item); /* returns list (or item if list is NULL) */
void ast_free(Node *n);
int ast_count(const Node *list);

/* ---- parse.c (driver of lexer.l and parser.y) ---- */

/* Parse source text; returns the N_MODEL root or NULL after diagnostics. */
Node *parse_source(Diag *d);

/* ---- ops.c: the one table of layer operations ---- */

typedef enum {
    A_INT,       /* integer >= 1 */
    A_INT_POS0,  /* integer >= 0 */
    A_INT2,      /* int or (int, int), each >= 1 */
    A_FLOAT,     /* number */
    A_FLOAT_OPT, /* number or none */
    A_BOOL,
    A_PADDING,    /* valid | same */
    A_ACTIVATION, /* linear relu relu6 tanh sigmoid softmax */
    A_PAD4,       /* zero_padding2d: int, (h, w) or ((t, b), (l, r)) */
    A_AXIS        /* concatenate axis: -1 or 3 (channels) */
} ArgType;

typedef struct {
    const char *name;
    ArgType type;
    const char *dflt; /* default as source text; NULL = required; "none" */
} ArgSpec;

typedef enum { ACT_LINEAR, ACT_RELU, ACT_RELU6, ACT_TANH, ACT_SIGMOID, ACT_SOFTMAX } Act;

/* An argument after checking: ints are 64-bit, tuples hold up to 4. */
typedef struct {
    int set; /* given or defaulted (0 only for A_FLOAT_OPT none) */
    long long i[4];
    double f;
    Act act;  /* A_ACTIVATION */
    int same; /* A_PADDING: 1 = same */
} Attr;

typedef struct {
    int rank; /* 1 or 3; 0 = unknown (after an error) */
    long long d[3];
} Shape;

struct Layer;
struct Graph;

typedef struct {
    const char *var; /* Keras variable name: kernel, bias, gamma, ... */
    int rank;
    long long shape[4];
    int trainable;
} WeightSpec;

#define MAX_WEIGHTS 4

typedef struct OpInfo {
    const char *name;       /* in .arch: conv2d */
    const char *keras_type; /* in the summary: Conv2D */
    const char *auto_name;  /* Keras's snake_case prefix: conv2d, re_lu */
    int min_inputs, max_inputs;
    int n_positional; /* arguments after the inputs that may be positional */
    ArgSpec args[MAX_ATTRS];
    /* Output shape from input shapes and attrs; reports errors, returns 0 on failure. */
    int (*shape)(struct Layer *l, struct Graph *g, Diag *d);
    /* Weight tensors in Keras order. */
    int (*weights)(const struct Layer *l, const struct Graph *g, WeightSpec *w);
    /* Multiply-accumulates (conv and dense only). */
    long long (*macs)(const struct Layer *l, const struct Graph *g);
} OpInfo;

const OpInfo *ops_find(const char *name);
int ops_arg_index(const OpInfo *op, const char *name);
const char *ops_act_name(Act a);
/* The op whose name is closest to `name` (a typo), or NULL. */
const char *ops_suggest(const char *name);

/* ---- graph.c: the IR, one flat graph of layers in program order ---- */

typedef struct Layer {
    const OpInfo *op; /* NULL: the input layer */
    char *name;
    Loc loc; /* the op name in the call */
    int n_in;
    int in[16];       /* input layers, indices into Graph.layers */
    char *in_var[16]; /* the variable each input came from, for notes */
    Loc in_loc[16];
    Attr attr[MAX_ATTRS];
    Loc attr_loc[MAX_ATTRS]; /* where each argument was given (the call if defaulted) */
    Shape shape;
    int n_weights;
    WeightSpec weights[MAX_WEIGHTS];
    long long params, trainable, macs;
    int aux_only; /* feeds only auxiliary outputs */
    int consumers;
} Layer;

typedef struct Graph {
    char *model;
    Layer *layers;
    int n, cap;
    int outputs[16], n_outputs;         /* main outputs */
    int aux_outputs[16], n_aux_outputs; /* auxiliary outputs */
    long long params, trainable, non_trainable, macs;
    long long aux_params; /* parameters only auxiliary heads use */
} Graph;

Layer *graph_add(Graph *g);
void graph_free(Graph *g);
int graph_find(const Graph *g, const char *name);
/* Shape helpers; elements() is checked against MAX_ELEMENTS by the caller. */
long long shape_elements(const Shape *s);
void shape_format(const Shape *s, char *buf, size_t size); /* (None, 28, 28, 6) */
void shape_plain(const Shape *s, char *buf, size_t size);  /* (28, 28, 6) */
/* Mark aux_only and count consumers; compute totals. */
void graph_finish(Graph *g);
/* Is layer i's attr `name` (by the op's table)? */
const Attr *layer_attr(const Layer *l, const char *name);

/* ---- elab.c: AST -> Graph ---- */

/* Returns 0 and fills g if the model is valid; errors go to d. */
int elab_model(const Node *root, Graph *g, Diag *d);

/* ---- plan.c: rewrites and the static arena ---- */

typedef struct Plan Plan;

/* ---- summary.c, emit_json.c, emit_dot.c ---- */

void summary_print(FILE *out, const Graph *g, const Plan *p);
void emit_json(FILE *out, const Graph *g, const Plan *p);
void emit_dot(FILE *out, const Graph *g);

/* ---- util.c ---- */

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xprintf(const char *fmt, ...);
/* 1,234,567 */
void fmt_thousands(long long v, char *buf, size_t size);
/* a*b and a+b into *r; 0 if the result would exceed limit */
int mul_limit(long long a, long long b, long long limit, long long *r);

#endif
