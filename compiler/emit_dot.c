/*
 * emit_dot.c — the graph as Graphviz DOT: one box per layer with its name,
 * Keras type and output shape; auxiliary-only layers dashed.
 */
#include <stdio.h>

#include "cnncc.h"

static void dot_id(FILE *out, const char *s) {
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

void emit_dot(FILE *out, const Graph *g) {
    fputs("digraph ", out);
    dot_id(out, g->model);
    fputs(" {\n  rankdir=TB;\n  node [shape=box, fontname=\"Helvetica\", fontsize=10];\n", out);
    for (int i = 0; i < g->n; i++) {
        const Layer *l = &g->layers[i];
        char shape[96];
        shape_format(&l->shape, shape, sizeof shape);
        fputs("  ", out);
        dot_id(out, l->name);
        fprintf(out, " [label=\"%s\\n%s\\n%s", l->name, l->op ? l->op->keras_type : "InputLayer", shape);
        if (l->params) fprintf(out, "\\n%lld params", l->params);
        fprintf(out, "\"%s];\n", l->aux_only ? ", style=dashed" : "");
    }
    for (int i = 0; i < g->n; i++)
        for (int j = 0; j < g->layers[i].n_in; j++) {
            fputs("  ", out);
            dot_id(out, g->layers[g->layers[i].in[j]].name);
            fputs(" -> ", out);
            dot_id(out, g->layers[i].name);
            fputs(";\n", out);
        }
    fputs("}\n", out);
}
