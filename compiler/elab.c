/*
 * elab.c — elaboration: from the syntax tree to the flat graph.
 *
 * The tree is executed like a tiny program.  Statements run in order in a
 * scope of variables; a block call runs the block's body in a fresh scope
 * holding its parameters; `repeat` runs its body N times.  Every op call
 * becomes one Layer, checked on the spot against its row in ops.c: the
 * arguments (positional in Keras's order, keywords, defaults), then the
 * output shape and the weights.  Checking the call where it happens lets
 * errors point at the line that is wrong and name the shapes involved.
 *
 * A name in value position is a variable if one is in scope, else a symbol
 * (`relu`, `same`); whether a tensor was wanted is the op's business.
 * Layers get Keras 2 names: the op's snake_case prefix, then _1, _2, ...;
 * explicit names inside a block call get the call's name as a prefix.
 * Work is bounded (MAX_LAYERS, MAX_NESTING, a statement budget), so no
 * input can make this pass run away.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnncc.h"

#define MAX_STEPS 10000000LL /* statements executed, all repeats unrolled */

/* V_POISON is the value of a call that failed: its users stay quiet. */
typedef enum { V_NONE, V_INT, V_FLOAT, V_STR, V_SYM, V_BOOL, V_TUPLE, V_TENSOR, V_POISON } ValKind;

typedef struct Val {
    ValKind kind;
    long long i;
    double f;
    const char *s; /* V_STR, V_SYM: borrowed from the AST */
    struct Val *elems;
    int n;     /* V_TUPLE: owned elements */
    int layer; /* V_TENSOR */
    Loc loc;
    const char *var; /* the variable a tensor was read from */
} Val;

typedef struct {
    const char *name;
    Val val;
    const Node *def; /* where it was assigned, for "never used" */
    int used;
} Binding;

typedef struct {
    Binding *b;
    int n, cap;
} Scope;

typedef struct {
    char *key;
    long long next;
} Counter;

typedef struct {
    Graph *g;
    Diag *d;
    const Node *root;
    const Node *stack[MAX_NESTING]; /* active block calls */
    int depth;
    char *prefix; /* of explicit names: "inception_3a_" or "" */
    Counter *counters;
    int n_counters;
    char **names; /* open-addressing set of layer names */
    size_t names_cap;
    long long steps;
    int aborted; /* a limit was hit: stop at once */
    int n_inputs;
    int has_output_stmt; /* "no output" is then not the problem */
} Elab;

static void exec_stmts(Elab *e, const Node *stmts, Scope *sc);
static Val eval(Elab *e, const Node *n, Scope *sc);

/* ---- values ---- */

static void val_free(Val *v) {
    for (int i = 0; i < v->n; i++) val_free(&v->elems[i]);
    free(v->elems);
    v->elems = NULL;
    v->n = 0;
}

static Val val_copy(const Val *v) {
    Val c = *v;
    if (v->kind == V_TUPLE) {
        c.elems = xcalloc((size_t)v->n, sizeof(Val));
        for (int i = 0; i < v->n; i++) c.elems[i] = val_copy(&v->elems[i]);
    }
    return c;
}

static void val_describe(const Val *v, char *buf, size_t size) {
    switch (v->kind) {
    case V_INT: snprintf(buf, size, "%lld", v->i); break;
    case V_FLOAT: snprintf(buf, size, "%g", v->f); break;
    case V_STR: snprintf(buf, size, "\"%.40s\"", v->s); break;
    case V_SYM: snprintf(buf, size, "'%.40s'", v->s); break;
    case V_BOOL: snprintf(buf, size, "%s", v->i ? "true" : "false"); break;
    case V_TUPLE: snprintf(buf, size, "a tuple of %d", v->n); break;
    case V_TENSOR: snprintf(buf, size, "a tensor"); break;
    default: snprintf(buf, size, "nothing"); break;
    }
}

/* ---- scopes ---- */

static Binding *scope_find(Scope *sc, const char *name) {
    for (int i = sc->n - 1; i >= 0; i--)
        if (strcmp(sc->b[i].name, name) == 0) return &sc->b[i];
    return NULL;
}

static void warn_unused(Elab *e, Binding *b) {
    if (b->used || b->val.kind != V_TENSOR || !b->def || b->def->warned) return;
    ((Node *)b->def)->warned = 1;
    diag_warning(e->d, b->def->loc, "variable '%s' is assigned but never used", b->name);
}

static void scope_set(Elab *e, Scope *sc, const char *name, Val v, const Node *def) {
    Binding *b = scope_find(sc, name);
    if (b) {
        warn_unused(e, b);
        val_free(&b->val);
    } else {
        if (sc->n == sc->cap) {
            sc->cap = sc->cap ? sc->cap * 2 : 16;
            sc->b = xrealloc(sc->b, sizeof(Binding) * (size_t)sc->cap);
        }
        b = &sc->b[sc->n++];
        b->name = name;
    }
    b->val = v;
    b->def = def;
    b->used = 0;
}

static void scope_end(Elab *e, Scope *sc) {
    for (int i = 0; i < sc->n; i++) {
        if (!e->aborted && !diag_too_many(e->d)) warn_unused(e, &sc->b[i]);
        val_free(&sc->b[i].val);
    }
    free(sc->b);
}

/* ---- names ---- */

static size_t name_hash(const char *s) {
    size_t h = 1469598103934665603u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

/* Insert into the set of layer names; 0 if already there. */
static int names_insert(Elab *e, char *name) {
    if ((size_t)e->g->n * 2 + 2 > e->names_cap) {
        size_t cap = e->names_cap ? e->names_cap * 2 : 256;
        char **t = xcalloc(cap, sizeof(char *));
        for (size_t i = 0; i < e->names_cap; i++) {
            if (!e->names[i]) continue;
            size_t j = name_hash(e->names[i]) & (cap - 1);
            while (t[j]) j = (j + 1) & (cap - 1);
            t[j] = e->names[i];
        }
        free(e->names);
        e->names = t;
        e->names_cap = cap;
    }
    size_t j = name_hash(name) & (e->names_cap - 1);
    for (; e->names[j]; j = (j + 1) & (e->names_cap - 1))
        if (strcmp(e->names[j], name) == 0) return 0;
    e->names[j] = name;
    return 1;
}

/* Keras's uniquifying counter: key, key_1, key_2, ... */
static char *auto_name(Elab *e, const char *key) {
    for (int i = 0; i < e->n_counters; i++)
        if (strcmp(e->counters[i].key, key) == 0) {
            return xprintf("%s_%lld", key, e->counters[i].next++);
        }
    e->counters = xrealloc(e->counters, sizeof(Counter) * (size_t)(e->n_counters + 1));
    e->counters[e->n_counters].key = xstrdup(key);
    e->counters[e->n_counters].next = 1;
    e->n_counters++;
    return xstrdup(key);
}

/* ---- limits ---- */

static int step(Elab *e, Loc loc) {
    if (e->aborted) return 0;
    if (++e->steps > MAX_STEPS) {
        diag_error(e->d, loc, "more than %lld statements executed after unrolling; the model is too large",
                   MAX_STEPS);
        e->aborted = 1;
        return 0;
    }
    if (diag_too_many(e->d)) {
        e->aborted = 1;
        return 0;
    }
    return 1;
}

/* ---- arguments ---- */

static int is_int(const Val *v, long long min) {
    return v->kind == V_INT && v->i >= min;
}

static int sym_is(const Val *v, const char *s) {
    return (v->kind == V_SYM || v->kind == V_STR) && strcmp(v->s, s) == 0;
}

static int parse_act(const Val *v, Act *a) {
    for (int i = ACT_LINEAR; i <= ACT_SOFTMAX; i++)
        if (sym_is(v, ops_act_name((Act)i))) {
            *a = (Act)i;
            return 1;
        }
    return 0;
}

/* Convert a checked value to an Attr of the given type; 0 if it does not fit. */
static int to_attr(const Val *v, ArgType t, Attr *a) {
    memset(a, 0, sizeof *a);
    a->set = 1;
    switch (t) {
    case A_INT:
    case A_INT_POS0:
        if (!is_int(v, t == A_INT ? 1 : 0)) return 0;
        a->i[0] = v->i;
        return 1;
    case A_INT2:
        if (is_int(v, 1)) {
            a->i[0] = a->i[1] = v->i;
            return 1;
        }
        if (v->kind != V_TUPLE || v->n != 2 || !is_int(&v->elems[0], 1) || !is_int(&v->elems[1], 1)) return 0;
        a->i[0] = v->elems[0].i;
        a->i[1] = v->elems[1].i;
        return 1;
    case A_FLOAT:
        if (v->kind != V_INT && v->kind != V_FLOAT) return 0;
        a->f = v->kind == V_INT ? (double)v->i : v->f;
        return 1;
    case A_FLOAT_OPT:
        if (sym_is(v, "none") || sym_is(v, "None")) {
            a->set = 0;
            return 1;
        }
        return to_attr(v, A_FLOAT, a);
    case A_BOOL:
        if (v->kind != V_BOOL) return 0;
        a->i[0] = v->i;
        return 1;
    case A_PADDING: a->same = sym_is(v, "same"); return a->same || sym_is(v, "valid");
    case A_ACTIVATION: return parse_act(v, &a->act);
    case A_AXIS:
        if (v->kind != V_INT) return 0;
        a->i[0] = v->i;
        return 1;
    case A_PAD4:
        if (is_int(v, 0)) {
            a->i[0] = a->i[1] = a->i[2] = a->i[3] = v->i;
            return 1;
        }
        if (v->kind != V_TUPLE || v->n != 2) return 0;
        if (is_int(&v->elems[0], 0) && is_int(&v->elems[1], 0)) {
            a->i[0] = a->i[1] = v->elems[0].i;
            a->i[2] = a->i[3] = v->elems[1].i;
            return 1;
        }
        for (int k = 0; k < 2; k++) {
            const Val *p = &v->elems[k];
            if (p->kind != V_TUPLE || p->n != 2 || !is_int(&p->elems[0], 0) || !is_int(&p->elems[1], 0))
                return 0;
            a->i[2 * k] = p->elems[0].i;
            a->i[2 * k + 1] = p->elems[1].i;
        }
        return 1;
    }
    return 0;
}

static const char *type_words(ArgType t) {
    switch (t) {
    case A_INT: return "an integer >= 1";
    case A_INT_POS0: return "an integer >= 0";
    case A_INT2: return "an integer >= 1 or a pair of them";
    case A_FLOAT: return "a number";
    case A_FLOAT_OPT: return "a number or none";
    case A_BOOL: return "true or false";
    case A_PADDING: return "valid or same";
    case A_ACTIVATION: return "one of linear, relu, relu6, tanh, sigmoid, softmax";
    case A_PAD4: return "an integer >= 0, (h, w) or ((top, bottom), (left, right))";
    case A_AXIS: return "an axis";
    }
    return "?";
}

/* Defaults are written as source text in the table; "pool_size" copies it. */
static void default_attr(const OpInfo *op, int idx, Attr *attrs) {
    const ArgSpec *s = &op->args[idx];
    Attr *a = &attrs[idx];
    memset(a, 0, sizeof *a);
    if (strcmp(s->dflt, "pool_size") == 0) {
        *a = attrs[ops_arg_index(op, "pool_size")];
        return;
    }
    Val v = {V_SYM, 0, 0, s->dflt, NULL, 0, 0, {0, 0, 0}, NULL};
    char *end;
    if (strcmp(s->dflt, "true") == 0 || strcmp(s->dflt, "false") == 0) {
        v.kind = V_BOOL;
        v.i = s->dflt[0] == 't';
    } else if (s->type == A_FLOAT) {
        v.kind = V_FLOAT;
        v.f = strtod(s->dflt, &end);
    } else if ((s->dflt[0] >= '0' && s->dflt[0] <= '9') || s->dflt[0] == '-') {
        v.kind = V_INT;
        v.i = strtoll(s->dflt, &end, 10);
    }
    to_attr(&v, s->type, a);
}

/* ---- op calls ---- */

typedef struct {
    const Node *node; /* the argument as written */
    Val val;
} Arg;

static int check_tensor(Elab *e, const Arg *a, const char *what, const char *callee) {
    if (a->val.kind == V_TENSOR) return 1;
    if (a->val.kind == V_POISON) return 0;
    if (a->val.kind == V_SYM)
        diag_error(e->d, a->node->loc, "undefined variable '%s'", a->val.s);
    else if (a->val.kind != V_NONE) {
        char buf[64];
        val_describe(&a->val, buf, sizeof buf);
        diag_error(e->d, a->node->loc, "%s of %s must be a tensor, got %s", what, callee, buf);
    }
    return 0;
}

static void report_bad_arg(Elab *e, const OpInfo *op, const ArgSpec *s, const Arg *a) {
    const Val *v = &a->val;
    Loc loc = a->node->kind == N_KWARG ? a->node->kids->loc : a->node->loc;
    char buf[64];
    val_describe(v, buf, sizeof buf);
    int symbolic = v->kind == V_SYM || v->kind == V_STR;
    if (symbolic && s->type == A_ACTIVATION)
        diag_error(e->d, loc, "unknown activation '%s'; use %s", v->s, type_words(s->type) + 7);
    else if (symbolic && s->type == A_PADDING)
        diag_error(e->d, loc, "unknown padding '%s'; use valid or same", v->s);
    else if (v->kind == V_SYM && s->type != A_FLOAT_OPT)
        diag_error(e->d, loc, "undefined variable '%s' (for '%s' of %s)", v->s, s->name, op->name);
    else
        diag_error(e->d, loc, "%s: '%s' must be %s, got %s", op->name, s->name, type_words(s->type), buf);
}

/* Name of a new layer: explicit (with the block prefix) or automatic. */
static char *layer_name(Elab *e, const OpInfo *op, const Arg *name_arg) {
    if (name_arg) return xprintf("%s%s", e->prefix, name_arg->val.s);
    return auto_name(e, op->auto_name);
}

/* Names end up in C comments, tensor names and DOT labels: keep them plain. */
static int valid_name(const char *s) {
    if (!*s || strlen(s) > 200) return 0;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '.' || *s == '-')) return 0;
    return 1;
}

static int take_name_arg(Elab *e, const Node *kw, Val *v, const Arg **slot, Arg *store) {
    if (v->kind != V_STR || !valid_name(v->s)) {
        diag_error(e->d, kw->loc, "name= must be a non-empty string of letters, digits, '_', '.' or '-'");
        return 0;
    }
    store->node = kw;
    store->val = *v;
    *slot = store;
    return 1;
}

static Val call_op(Elab *e, const Node *call, const OpInfo *op, Scope *sc) {
    Val result = {V_NONE, 0, 0, NULL, NULL, 0, 0, call->loc, NULL};
    Arg inputs[16], given[MAX_ATTRS], name_store;
    const Arg *name_arg = NULL;
    int n_inputs = 0, n_pos = 0, ok = 1, have[MAX_ATTRS] = {0}, seen_kw = 0;

    for (const Node *a = call->kids; a && !e->aborted; a = a->next) {
        if (a->kind == N_KWARG) {
            seen_kw = 1;
            Val v = eval(e, a->kids, sc);
            if (strcmp(a->str, "name") == 0) {
                ok &= take_name_arg(e, a, &v, &name_arg, &name_store);
                continue;
            }
            int idx = ops_arg_index(op, a->str);
            if (idx < 0) {
                diag_error(e->d, a->loc, "unknown argument '%s' for %s", a->str, op->name);
                ok = 0;
            } else if (have[idx]) {
                diag_error(e->d, a->loc, "argument '%s' of %s given twice", a->str, op->name);
                ok = 0;
            } else {
                have[idx] = 1;
                given[idx].node = a;
                given[idx].val = v;
                continue;
            }
            val_free(&v);
            continue;
        }
        Val v = eval(e, a, sc);
        if (seen_kw) {
            diag_error(e->d, a->loc, "positional argument after a keyword argument");
            ok = 0;
            val_free(&v);
            continue;
        }
        int variadic = op->max_inputs > 1;
        if (variadic || n_inputs < op->min_inputs) {
            if (n_inputs == 16) {
                diag_error(e->d, a->loc, "%s takes at most 16 inputs", op->name);
                ok = 0;
                val_free(&v);
                continue;
            }
            inputs[n_inputs].node = a;
            inputs[n_inputs++].val = v;
        } else if (n_pos < op->n_positional) {
            have[n_pos] = 1;
            given[n_pos].node = a;
            given[n_pos++].val = v;
        } else {
            diag_error(e->d, a->loc, "too many positional arguments to %s (it takes %d after the input)",
                       op->name, op->n_positional);
            ok = 0;
            val_free(&v);
        }
    }
    if (e->aborted) ok = 0;
    if (ok && n_inputs < op->min_inputs) {
        diag_error(e->d, call->loc, "%s needs %s%d input tensor%s, got %d", op->name,
                   op->max_inputs > op->min_inputs ? "at least " : "", op->min_inputs,
                   op->min_inputs > 1 ? "s" : "", n_inputs);
        ok = 0;
    }
    for (int i = 0; i < n_inputs; i++) ok &= check_tensor(e, &inputs[i], "input", op->name);

    /* Arguments: given ones converted, missing ones defaulted or reported. */
    Attr attrs[MAX_ATTRS];
    memset(attrs, 0, sizeof attrs);
    for (int i = 0; i < MAX_ATTRS && op->args[i].name; i++) {
        const ArgSpec *s = &op->args[i];
        if (have[i]) {
            if (given[i].val.kind == V_POISON) {
                ok = 0;
            } else if (!to_attr(&given[i].val, s->type, &attrs[i])) {
                report_bad_arg(e, op, s, &given[i]);
                ok = 0;
            }
        } else if (!s->dflt) {
            if (ok) diag_error(e->d, call->loc, "%s: missing argument '%s'", op->name, s->name);
            ok = 0;
        } else {
            default_attr(op, i, attrs);
        }
    }

    if (ok && e->g->n >= MAX_LAYERS) {
        diag_error(e->d, call->loc, "more than %d layers after unrolling", MAX_LAYERS);
        e->aborted = 1;
        ok = 0;
    }
    if (ok) {
        Layer *l = graph_add(e->g);
        int index = e->g->n - 1;
        l->op = op;
        l->loc = call->loc;
        l->name = layer_name(e, op, name_arg);
        memcpy(l->attr, attrs, sizeof attrs);
        for (int i = 0; i < MAX_ATTRS; i++)
            l->attr_loc[i] = !have[i]                         ? call->loc
                             : given[i].node->kind == N_KWARG ? given[i].node->kids->loc
                                                              : given[i].node->loc;
        int poisoned = 0;
        for (int i = 0; i < n_inputs; i++) {
            l->in[i] = inputs[i].val.layer;
            l->in_var[i] = xstrdup(inputs[i].val.var ? inputs[i].val.var : e->g->layers[l->in[i]].name);
            l->in_loc[i] = inputs[i].node->loc;
            poisoned |= e->g->layers[l->in[i]].shape.rank == 0;
        }
        l->n_in = n_inputs;
        if (!names_insert(e, l->name)) {
            diag_error(e->d, call->loc, "duplicate layer name '%s'", l->name);
            int prev = graph_find(e->g, l->name);
            if (prev >= 0 && prev != index)
                diag_note(e->d, e->g->layers[prev].loc, "'%s' was first defined here", l->name);
        }
        /* After an error upstream the shape is unknown: stay quiet. */
        if (!poisoned && op->shape(l, e->g, e->d) && op->weights) {
            l->n_weights = op->weights(l, e->g, l->weights);
            for (int w = 0; w < l->n_weights; w++) {
                long long n = 1;
                for (int k = 0; k < l->weights[w].rank; k++)
                    if (!mul_limit(n, l->weights[w].shape[k], MAX_ELEMENTS, &n)) n = MAX_ELEMENTS + 1;
                if (n > MAX_ELEMENTS) {
                    diag_error(e->d, call->loc, "%s '%s': weight '%s' exceeds the limit of %lld elements",
                               op->name, l->name, l->weights[w].var, MAX_ELEMENTS);
                    l->shape.rank = 0;
                    break;
                }
                l->params += n;
                if (l->weights[w].trainable) l->trainable += n;
            }
        }
        if (l->shape.rank && op->macs) l->macs = op->macs(l, e->g);
        result.kind = V_TENSOR;
        result.layer = index;
    } else {
        result.kind = V_POISON;
    }
    for (int i = 0; i < n_inputs; i++) val_free(&inputs[i].val);
    for (int i = 0; i < MAX_ATTRS; i++)
        if (have[i]) val_free(&given[i].val);
    return result;
}

/* ---- block calls ---- */

static const Node *find_block(Elab *e, const char *name) {
    for (const Node *s = e->root->kids; s; s = s->next)
        if (s->kind == N_BLOCK && strcmp(s->str, name) == 0) return s;
    return NULL;
}

static Val call_block(Elab *e, const Node *call, const Node *blk, Scope *sc) {
    Val result = {V_NONE, 0, 0, NULL, NULL, 0, 0, call->loc, NULL};
    for (int i = 0; i < e->depth; i++)
        if (e->stack[i] == blk) {
            diag_error(e->d, call->loc, "block '%s' calls itself; recursion is not allowed", blk->str);
            diag_note(e->d, blk->loc, "block '%s' is defined here", blk->str);
            result.kind = V_POISON;
            return result;
        }
    if (e->depth == MAX_NESTING) {
        diag_error(e->d, call->loc, "block calls nested deeper than %d", MAX_NESTING);
        e->aborted = 1;
        return result;
    }
    /* Arguments are evaluated in the caller's scope. */
    Scope inner = {NULL, 0, 0};
    const Node *param = blk->params;
    const Node *name_kw = NULL;
    int n_args = 0, ok = 1;
    for (const Node *a = call->kids; a; a = a->next) {
        if (a->kind == N_KWARG) {
            if (strcmp(a->str, "name") != 0) {
                diag_error(
                    e->d, a->loc,
                    "unknown argument '%s' for block '%s' (a block takes positional arguments and name=)",
                    a->str, blk->str);
                ok = 0;
            } else {
                name_kw = a;
            }
            continue;
        }
        n_args++;
        Val v = eval(e, a, sc);
        if (param) {
            scope_set(e, &inner, param->str, v, NULL);
            param = param->next;
        } else {
            val_free(&v);
        }
    }
    int n_params = ast_count(blk->params);
    if (n_args != n_params) {
        diag_error(e->d, call->loc, "block '%s' takes %d argument%s, %d given", blk->str, n_params,
                   n_params == 1 ? "" : "s", n_args);
        diag_note(e->d, blk->loc, "block '%s' is defined here", blk->str);
        ok = 0;
    }
    char *call_name = NULL;
    if (name_kw) {
        if (name_kw->kids->kind != N_STRING || !valid_name(name_kw->kids->str)) {
            diag_error(e->d, name_kw->loc,
                       "name= must be a non-empty string of letters, digits, '_', '.' or '-'");
            ok = 0;
        } else {
            call_name = xprintf("%s%s", e->prefix, name_kw->kids->str);
        }
    }
    if (!ok || e->aborted) {
        free(call_name);
        scope_end(e, &inner);
        result.kind = V_POISON;
        return result;
    }
    if (!call_name) call_name = auto_name(e, blk->str);
    char *saved_prefix = e->prefix;
    e->prefix = xprintf("%s_", call_name);
    free(call_name);
    e->stack[e->depth++] = blk;

    int errors_before = e->d->errors;
    exec_stmts(e, blk->kids, &inner);
    if (!e->aborted) {
        result = eval(e, blk->ret, &inner);
        if (result.kind == V_SYM) {
            diag_error(e->d, blk->ret->loc, "undefined variable '%s'", result.s);
        } else if (result.kind != V_TENSOR && result.kind != V_NONE && result.kind != V_POISON) {
            diag_error(e->d, blk->ret->loc, "block '%s' must return a tensor", blk->str);
        }
        if (result.kind != V_TENSOR) {
            val_free(&result);
            result.kind = V_POISON;
        }
    }
    if (e->d->errors > errors_before && !e->aborted)
        diag_note(e->d, call->loc, "in the call of block '%s' here", blk->str);

    e->depth--;
    free(e->prefix);
    e->prefix = saved_prefix;
    scope_end(e, &inner);
    result.var = NULL;
    return result;
}

/* ---- expressions ---- */

static Val eval(Elab *e, const Node *n, Scope *sc) {
    Val v = {V_NONE, 0, 0, NULL, NULL, 0, 0, n->loc, NULL};
    if (e->aborted) return v;
    switch (n->kind) {
    case N_INT:
        v.kind = V_INT;
        v.i = n->ival;
        break;
    case N_FLOAT:
        v.kind = V_FLOAT;
        v.f = n->fval;
        break;
    case N_STRING:
        v.kind = V_STR;
        v.s = n->str;
        break;
    case N_BOOL:
        v.kind = V_BOOL;
        v.i = n->ival;
        break;
    case N_TUPLE:
        v.kind = V_TUPLE;
        v.n = ast_count(n->kids);
        v.elems = xcalloc((size_t)v.n, sizeof(Val));
        {
            int i = 0;
            for (const Node *k = n->kids; k; k = k->next) v.elems[i++] = eval(e, k, sc);
        }
        break;
    case N_NAME: {
        Binding *b = scope_find(sc, n->str);
        if (!b) {
            v.kind = V_SYM;
            v.s = n->str;
            break;
        }
        b->used = 1;
        v = val_copy(&b->val);
        v.loc = n->loc;
        if (v.kind == V_TENSOR) v.var = b->name;
        break;
    }
    case N_CALL: {
        const OpInfo *op = ops_find(n->str);
        const Node *blk = op ? NULL : find_block(e, n->str);
        if (op) return call_op(e, n, op, sc);
        if (blk) return call_block(e, n, blk, sc);
        const char *hint = ops_suggest(n->str);
        if (hint)
            diag_error(e->d, n->loc, "unknown op '%s'; did you mean '%s'?", n->str, hint);
        else
            diag_error(e->d, n->loc, "unknown op '%s'", n->str);
        v.kind = V_POISON;
        /* Evaluate the arguments anyway: their errors are worth reporting. */
        for (const Node *a = n->kids; a; a = a->next) {
            Val t = eval(e, a->kind == N_KWARG ? a->kids : a, sc);
            val_free(&t);
        }
        break;
    }
    default: break;
    }
    return v;
}

/* ---- statements ---- */

static void check_annotation(Elab *e, const Node *tuple, const Layer *l) {
    long long want[4];
    int n = 0, ok = 1;
    for (const Node *k = tuple->kids; k; k = k->next) {
        if (n == 0 && k->kind == N_NAME && strcmp(k->str, "None") == 0) continue; /* (None, H, W, C) */
        if (k->kind != N_INT || n == 3) {
            ok = 0;
            break;
        }
        want[n++] = k->ival;
    }
    if (!ok || (n != 1 && n != 3)) {
        diag_error(e->d, tuple->loc, "a shape annotation is (H, W, C) or (N) with integers");
        return;
    }
    if (l->shape.rank == 0) return;
    Shape s = {n, {want[0], n > 1 ? want[1] : 0, n > 2 ? want[2] : 0}};
    if (s.rank == l->shape.rank && memcmp(s.d, l->shape.d, sizeof(long long) * (size_t)n) == 0) return;
    char got[96], exp[96];
    shape_plain(&l->shape, got, sizeof got);
    shape_plain(&s, exp, sizeof exp);
    diag_error(e->d, tuple->loc, "shape check failed: expected %s, got %s from %s '%s'", exp, got,
               l->op ? l->op->name : "input", l->name);
}

static void exec_input(Elab *e, const Node *s, Scope *sc) {
    if (e->depth > 0) {
        diag_error(e->d, s->loc, "'input' is only allowed at the top level");
        return;
    }
    if (++e->n_inputs > 1) {
        diag_error(e->d, s->loc, "only one input is supported; '%s' is a second one", s->str);
        return;
    }
    Shape shape = {0, {0, 0, 0}};
    int n = 0, ok = 1;
    for (const Node *k = s->kids->kids; k; k = k->next) {
        if (k->kind != N_INT || k->ival < 1 || n == 3)
            ok = 0;
        else
            shape.d[n++] = k->ival;
    }
    shape.rank = n;
    long long total = 1;
    if (!ok || (n != 1 && n != 3)) {
        if (ok || n == 3)
            diag_error(e->d, s->kids->loc, "input must have rank 1 or 3: (N) or (H, W, C)");
        else
            diag_error(e->d, s->kids->loc, "input dimensions must be positive integers");
        shape.rank = 0;
    } else if (!mul_limit(shape.d[0], n == 3 ? shape.d[1] : 1, MAX_ELEMENTS, &total) ||
               !mul_limit(total, n == 3 ? shape.d[2] : 1, MAX_ELEMENTS, &total)) {
        diag_error(e->d, s->kids->loc, "input of more than %lld elements exceeds the limit", MAX_ELEMENTS);
        shape.rank = 0;
    }
    Layer *l = graph_add(e->g);
    l->name = xstrdup(s->str);
    l->loc = s->loc;
    l->shape = shape;
    names_insert(e, l->name);
    Val v = {V_TENSOR, 0, 0, NULL, NULL, 0, e->g->n - 1, s->loc, NULL};
    scope_set(e, sc, s->str, v, s);
}

static void exec_assign(Elab *e, const Node *s, Scope *sc) {
    const Node *expr = s->kids, *shape = expr->next;
    if (expr->kind != N_CALL && expr->kind != N_NAME) {
        diag_error(e->d, expr->loc, "expected a layer call or a variable after '='");
        return;
    }
    Val v = eval(e, expr, sc);
    if (v.kind == V_SYM) {
        diag_error(e->d, expr->loc, "undefined variable '%s'", v.s);
        v.kind = V_POISON;
    }
    if (v.kind == V_POISON) {
        scope_set(e, sc, s->str, v, NULL);
        return;
    }
    if (v.kind != V_TENSOR) {
        if (v.kind != V_NONE) diag_error(e->d, expr->loc, "expected a tensor after '='");
        val_free(&v);
        return;
    }
    if (shape) check_annotation(e, shape, &e->g->layers[v.layer]);
    v.var = NULL;
    scope_set(e, sc, s->str, v, s);
}

static void exec_output(Elab *e, const Node *s, Scope *sc) {
    if (e->depth > 0) {
        diag_error(e->d, s->loc, "'output' is only allowed at the top level");
        return;
    }
    e->has_output_stmt = 1;
    for (const Node *k = s->kids; k; k = k->next) {
        Binding *b = scope_find(sc, k->str);
        if (b && b->val.kind == V_POISON) continue;
        if (!b || b->val.kind != V_TENSOR) {
            diag_error(e->d, k->loc, "undefined variable '%s' in output", k->str);
            continue;
        }
        b->used = 1;
        int *list = s->ival ? e->g->aux_outputs : e->g->outputs;
        int *count = s->ival ? &e->g->n_aux_outputs : &e->g->n_outputs;
        if (*count == 16) {
            diag_error(e->d, k->loc, "more than 16 outputs");
            return;
        }
        list[(*count)++] = b->val.layer;
    }
}

static void exec_stmts(Elab *e, const Node *stmts, Scope *sc) {
    for (const Node *s = stmts; s && step(e, s->loc); s = s->next) {
        switch (s->kind) {
        case N_INPUT: exec_input(e, s, sc); break;
        case N_ASSIGN: exec_assign(e, s, sc); break;
        case N_OUTPUT: exec_output(e, s, sc); break;
        case N_REPEAT:
            if (s->ival < 1) {
                diag_error(e->d, s->loc, "repeat count must be at least 1, got %lld", s->ival);
                break;
            }
            for (long long i = 0; i < s->ival && !e->aborted; i++) exec_stmts(e, s->kids, sc);
            break;
        case N_BLOCK:
            if (e->depth > 0 || stmts != e->root->kids)
                diag_error(e->d, s->loc, "block '%s' must be defined at the top level", s->str);
            break;
        case N_EXPECT: break; /* checked after the totals are known */
        default: break;
        }
    }
}

/* ---- the model ---- */

static void check_blocks(Elab *e) {
    for (const Node *s = e->root->kids; s; s = s->next) {
        if (s->kind != N_BLOCK) continue;
        if (ops_find(s->str)) diag_error(e->d, s->loc, "block '%s' has the name of an op", s->str);
        const Node *first = find_block(e, s->str);
        if (first != s) {
            diag_error(e->d, s->loc, "block '%s' is already defined", s->str);
            diag_note(e->d, first->loc, "the first definition is here");
        }
        for (const Node *p = s->params; p; p = p->next)
            for (const Node *q = p->next; q; q = q->next)
                if (strcmp(p->str, q->str) == 0)
                    diag_error(e->d, q->loc, "parameter '%s' of block '%s' appears twice", q->str, s->str);
    }
}

static void check_expects(Elab *e) {
    for (const Node *s = e->root->kids; s; s = s->next) {
        if (s->kind != N_EXPECT) continue;
        long long actual;
        if (strcmp(s->str, "params") == 0)
            actual = e->g->params;
        else if (strcmp(s->str, "trainable") == 0)
            actual = e->g->trainable;
        else if (strcmp(s->str, "non_trainable") == 0)
            actual = e->g->non_trainable;
        else {
            diag_error(e->d, s->loc, "unknown expectation '%s'; use params, trainable or non_trainable",
                       s->str);
            continue;
        }
        if (actual != s->ival) {
            char a[32], w[32];
            fmt_thousands(actual, a, sizeof a);
            fmt_thousands(s->ival, w, sizeof w);
            diag_error(e->d, s->loc, "expect %s failed: expected %s, got %s", s->str, w, a);
        }
    }
}

int elab_model(const Node *root, Graph *g, Diag *d) {
    Elab e;
    memset(&e, 0, sizeof e);
    memset(g, 0, sizeof *g);
    e.g = g;
    e.d = d;
    e.root = root;
    e.prefix = xstrdup("");
    g->model = xstrdup(root->str);

    check_blocks(&e);
    Scope top = {NULL, 0, 0};
    exec_stmts(&e, root->kids, &top);
    if (!e.aborted && e.n_inputs == 0) diag_error(d, root->loc, "model '%s' has no input", root->str);
    if (!e.aborted && g->n_outputs == 0 && e.n_inputs > 0 && !e.has_output_stmt)
        diag_error(d, root->loc, "model '%s' has no output; add an 'output' statement", root->str);
    if (!e.aborted && d->errors == 0) {
        graph_finish(g);
        check_expects(&e);
    }
    scope_end(&e, &top);

    for (int i = 0; i < e.n_counters; i++) free(e.counters[i].key);
    free(e.counters);
    free(e.names);
    free(e.prefix);
    return d->errors == 0 ? 0 : -1;
}
