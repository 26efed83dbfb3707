/*
 * refgraph.c — load the JSON graph into ref_graph (refgraph.h).
 */
#include "refgraph.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ref_die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("reference: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    if (!p) ref_die("out of memory");
    return p;
}

char *ref_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) ref_die("cannot open %s", path);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) ref_die("out of memory");
    for (;;) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        cap *= 2;
        char *bigger = realloc(buf, cap + 1);
        if (!bigger) ref_die("out of memory");
        buf = bigger;
    }
    if (ferror(f)) ref_die("cannot read %s", path);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static const rj_value *need(const rj_value *v, const char *key, enum rj_kind kind, const char *where) {
    const rj_value *m = rj_get(v, key);
    if (!m || m->kind != kind) ref_die("graph: %s: missing or ill-typed \"%s\"", where, key);
    return m;
}

static int as_int(const rj_value *v, const char *where) {
    if (!v || v->kind != RJ_NUMBER || v->number != (double)(long long)v->number ||
        v->number < -2147483647.0 || v->number > 2147483647.0)
        ref_die("graph: %s: expected an integer", where);
    return (int)v->number;
}

static void read_shape(ref_node *n, const rj_value *shape) {
    if (shape->count != 1 && shape->count != 3)
        ref_die("graph: %s: rank %zu (only 1 and 3 exist)", n->name, shape->count);
    n->rank = (int)shape->count;
    n->size = 1;
    for (int i = 0; i < n->rank; i++) {
        n->shape[i] = as_int(shape->items[i], n->name);
        if (n->shape[i] <= 0) ref_die("graph: %s: non-positive dimension", n->name);
        n->size *= (size_t)n->shape[i];
    }
}

static int find_node(const ref_graph *g, int before, const char *name) {
    for (int i = 0; i < before; i++)
        if (strcmp(g->nodes[i].name, name) == 0) return i;
    return -1;
}

static void read_weights(ref_graph *g, ref_node *n, const rj_value *weights) {
    n->n_weights = (int)weights->count;
    n->weights = xcalloc(weights->count, sizeof *n->weights);
    for (size_t i = 0; i < weights->count; i++) {
        ref_weight *w = &n->weights[i];
        const rj_value *shape = weights->items[i];
        w->variable = weights->keys[i];
        if (shape->kind != RJ_ARRAY || shape->count < 1 || shape->count > REF_MAX_RANK)
            ref_die("graph: %s/%s: bad weight shape", n->name, w->variable);
        w->rank = (int)shape->count;
        w->count = 1;
        for (int d = 0; d < w->rank; d++) {
            w->shape[d] = as_int(shape->items[d], n->name);
            if (w->shape[d] <= 0) ref_die("graph: %s/%s: bad weight shape", n->name, w->variable);
            w->count *= (size_t)w->shape[d];
        }
        size_t len = strlen(n->name) + 1 + strlen(w->variable) + 1;
        w->tensor_name = xcalloc(len, 1);
        snprintf(w->tensor_name, len, "%s/%s", n->name, w->variable);
        w->offset = g->weight_floats;
        g->weight_floats += w->count;
        g->n_weight_tensors++;
    }
}

static void read_layer(ref_graph *g, int index, const rj_value *layer) {
    ref_node *n = &g->nodes[index];
    n->name = need(layer, "name", RJ_STRING, "layer")->text;
    n->op = need(layer, "op", RJ_STRING, n->name)->text;
    const rj_value *aux = rj_get(layer, "auxiliary");
    n->auxiliary = aux && aux->kind == RJ_BOOL && aux->number != 0;
    read_shape(n, need(layer, "shape", RJ_ARRAY, n->name));
    const rj_value *inputs = need(layer, "inputs", RJ_ARRAY, n->name);
    n->n_inputs = (int)inputs->count;
    n->inputs = xcalloc(inputs->count, sizeof *n->inputs);
    for (size_t i = 0; i < inputs->count; i++) {
        const rj_value *in = inputs->items[i];
        if (in->kind != RJ_STRING) ref_die("graph: %s: input is not a name", n->name);
        n->inputs[i] = find_node(g, index, in->text);
        if (n->inputs[i] < 0) ref_die("graph: %s: input '%s' not defined before it", n->name, in->text);
    }
    n->attrs = need(layer, "attrs", RJ_OBJECT, n->name);
    read_weights(g, n, need(layer, "weights", RJ_OBJECT, n->name));
    if (find_node(g, index, n->name) >= 0) ref_die("graph: duplicate name '%s'", n->name);
}

static int *read_names(const ref_graph *g, const rj_value *list, int *count) {
    int *out = xcalloc(list->count, sizeof *out);
    for (size_t i = 0; i < list->count; i++) {
        if (list->items[i]->kind != RJ_STRING) ref_die("graph: output is not a name");
        out[i] = find_node(g, g->n_nodes, list->items[i]->text);
        if (out[i] < 0) ref_die("graph: unknown output '%s'", list->items[i]->text);
    }
    *count = (int)list->count;
    return out;
}

void ref_graph_load(ref_graph *g, const char *path) {
    size_t len;
    char *text = ref_read_file(path, &len);
    const char *error;
    size_t error_pos;
    memset(g, 0, sizeof *g);
    g->root = rj_parse(text, len, &error, &error_pos);
    if (!g->root) ref_die("%s: JSON error at byte %zu: %s", path, error_pos, error);
    free(text);

    const rj_value *inputs = need(g->root, "inputs", RJ_ARRAY, "model");
    const rj_value *layers = need(g->root, "layers", RJ_ARRAY, "model");
    if (inputs->count != 1) ref_die("graph: exactly one input expected, got %zu", inputs->count);
    g->n_nodes = (int)layers->count + 1;
    g->nodes = xcalloc((size_t)g->n_nodes, sizeof *g->nodes);
    ref_node *in = &g->nodes[0];
    in->name = need(inputs->items[0], "name", RJ_STRING, "input")->text;
    in->op = "input";
    read_shape(in, need(inputs->items[0], "shape", RJ_ARRAY, "input"));
    for (size_t i = 0; i < layers->count; i++) read_layer(g, (int)i + 1, layers->items[i]);
    g->outputs = read_names(g, need(g->root, "outputs", RJ_ARRAY, "model"), &g->n_outputs);
    g->aux_outputs = read_names(g, need(g->root, "auxiliary_outputs", RJ_ARRAY, "model"), &g->n_aux_outputs);
}

void ref_graph_free(ref_graph *g) {
    for (int i = 0; i < g->n_nodes; i++) {
        for (int w = 0; w < g->nodes[i].n_weights; w++) free(g->nodes[i].weights[w].tensor_name);
        free(g->nodes[i].weights);
        free(g->nodes[i].inputs);
    }
    free(g->nodes);
    free(g->outputs);
    free(g->aux_outputs);
    rj_free(g->root);
    memset(g, 0, sizeof *g);
}

const ref_weight *ref_find_weight(const ref_node *n, const char *variable) {
    for (int i = 0; i < n->n_weights; i++)
        if (strcmp(n->weights[i].variable, variable) == 0) return &n->weights[i];
    return NULL;
}

static const rj_value *attr(const ref_node *n, const char *key) {
    const rj_value *v = rj_get(n->attrs, key);
    if (!v) ref_die("graph: %s (%s): missing attribute \"%s\"", n->name, n->op, key);
    return v;
}

double ref_attr_number(const ref_node *n, const char *key) {
    const rj_value *v = attr(n, key);
    if (v->kind != RJ_NUMBER) ref_die("graph: %s: attribute \"%s\" is not a number", n->name, key);
    return v->number;
}

int ref_attr_int(const ref_node *n, const char *key) {
    return as_int(attr(n, key), n->name);
}

int ref_attr_bool(const ref_node *n, const char *key) {
    const rj_value *v = attr(n, key);
    if (v->kind != RJ_BOOL) ref_die("graph: %s: attribute \"%s\" is not a boolean", n->name, key);
    return v->number != 0;
}

const char *ref_attr_string(const ref_node *n, const char *key) {
    const rj_value *v = attr(n, key);
    if (v->kind != RJ_STRING) ref_die("graph: %s: attribute \"%s\" is not a string", n->name, key);
    return v->text;
}

int ref_attr_int_at(const ref_node *n, const char *key, int i) {
    const rj_value *v = attr(n, key);
    if (v->kind != RJ_ARRAY || v->count == 0)
        ref_die("graph: %s: attribute \"%s\" is not an array", n->name, key);
    if (v->items[0]->kind == RJ_ARRAY) { /* [[a, b], [c, d]] */
        const rj_value *row = rj_at(v, (size_t)i / 2);
        return as_int(rj_at(row, (size_t)i % 2), n->name);
    }
    return as_int(rj_at(v, (size_t)i), n->name);
}

int ref_attr_is_null(const ref_node *n, const char *key) {
    return attr(n, key)->kind == RJ_NULL;
}

unsigned long long ref_splitmix64(unsigned long long *state) {
    unsigned long long z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

double ref_uniform01(unsigned long long *state) {
    return (double)(ref_splitmix64(state) >> 40) / 16777216.0;
}
