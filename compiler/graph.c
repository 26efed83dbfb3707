/*
 * graph.c — the IR: one flat array of layers in program order, inputs
 * referring to earlier layers by index.  Blocks and repeats are gone by the
 * time a layer is added, so every later pass is a loop over this array.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnncc.h"

Layer *graph_add(Graph *g) {
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 64;
        g->layers = xrealloc(g->layers, sizeof(Layer) * (size_t)g->cap);
    }
    Layer *l = &g->layers[g->n++];
    memset(l, 0, sizeof *l);
    return l;
}

void graph_free(Graph *g) {
    for (int i = 0; i < g->n; i++) {
        free(g->layers[i].name);
        for (int j = 0; j < g->layers[i].n_in; j++) free(g->layers[i].in_var[j]);
    }
    free(g->layers);
    free(g->model);
    memset(g, 0, sizeof *g);
}

int graph_find(const Graph *g, const char *name) {
    for (int i = 0; i < g->n; i++)
        if (strcmp(g->layers[i].name, name) == 0) return i;
    return -1;
}

long long shape_elements(const Shape *s) {
    return s->rank == 3 ? s->d[0] * s->d[1] * s->d[2] : s->rank == 1 ? s->d[0] : 0;
}

void shape_format(const Shape *s, char *buf, size_t size) {
    if (s->rank == 3)
        snprintf(buf, size, "(None, %lld, %lld, %lld)", s->d[0], s->d[1], s->d[2]);
    else if (s->rank == 1)
        snprintf(buf, size, "(None, %lld)", s->d[0]);
    else
        snprintf(buf, size, "?");
}

void shape_plain(const Shape *s, char *buf, size_t size) {
    if (s->rank == 3)
        snprintf(buf, size, "(%lld, %lld, %lld)", s->d[0], s->d[1], s->d[2]);
    else
        snprintf(buf, size, "(%lld)", s->d[0]);
}

const Attr *layer_attr(const Layer *l, const char *name) {
    int i = l->op ? ops_arg_index(l->op, name) : -1;
    return i < 0 ? NULL : &l->attr[i];
}

/* Walk back from a set of outputs, marking what they need. */
static void mark_needed(const Graph *g, const int *outs, int n_outs, char *needed) {
    for (int i = 0; i < n_outs; i++) needed[outs[i]] = 1;
    for (int i = g->n - 1; i >= 0; i--)
        if (needed[i])
            for (int j = 0; j < g->layers[i].n_in; j++) needed[g->layers[i].in[j]] = 1;
}

void graph_finish(Graph *g) {
    char *main_needed = xcalloc((size_t)g->n, 1);
    mark_needed(g, g->outputs, g->n_outputs, main_needed);
    g->params = g->trainable = g->macs = g->aux_params = 0;
    for (int i = 0; i < g->n; i++) {
        Layer *l = &g->layers[i];
        l->consumers = 0;
        l->aux_only = !main_needed[i];
        g->params += l->params;
        g->trainable += l->trainable;
        g->macs += l->macs;
        if (l->aux_only) g->aux_params += l->params;
    }
    for (int i = 0; i < g->n; i++)
        for (int j = 0; j < g->layers[i].n_in; j++) g->layers[g->layers[i].in[j]].consumers++;
    g->non_trainable = g->params - g->trainable;
    free(main_needed);
}
