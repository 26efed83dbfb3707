/*
 * refgraph.h — the graph of `cnncc --emit=json`, as the reference tools see it.
 *
 * Node 0 is the model input; node i (i >= 1) is layers[i-1] of the JSON, in
 * order (cnncc emits layers topologically).  Inputs are node indices.  The
 * weights of every node are listed with their Keras variable names and
 * shapes, and get consecutive offsets (in floats) in declaration order, the
 * order cnn_st_load returns them in.
 *
 * These are test tools: malformed graphs end the program with a message
 * (ref_die) instead of threading error codes through every function.
 */
#ifndef REFGRAPH_H
#define REFGRAPH_H

#include <stddef.h>

#include "refjson.h"

#define REF_MAX_RANK 4

typedef struct {
    char *variable;    /* "kernel", "bias", "gamma", ... */
    char *tensor_name; /* "LAYER/VARIABLE" */
    int rank;
    long long shape[REF_MAX_RANK];
    size_t count;  /* product of the shape */
    size_t offset; /* in floats, into the loaded block */
} ref_weight;

typedef struct {
    const char *name;
    const char *op; /* "input" for node 0 */
    int auxiliary;  /* feeds only auxiliary outputs */
    int rank;       /* 1 or 3 */
    int shape[3];   /* (H, W, C) or (N) */
    size_t size;    /* element count */
    int n_inputs;
    int *inputs;           /* node indices */
    const rj_value *attrs; /* the JSON "attrs" object (NULL for the input) */
    int n_weights;
    ref_weight *weights;
} ref_node;

typedef struct {
    rj_value *root;
    int n_nodes;
    ref_node *nodes;
    int n_outputs, n_aux_outputs;
    int *outputs, *aux_outputs; /* node indices */
    size_t weight_floats;       /* sum of all weight counts */
    int n_weight_tensors;
} ref_graph;

#if defined(__GNUC__)
#define REF_NORETURN __attribute__((noreturn, format(printf, 1, 2)))
#else
#define REF_NORETURN
#endif

/* Print "reference: MESSAGE" on stderr and exit with status 2. */
void ref_die(const char *fmt, ...) REF_NORETURN;
/* Whole file into a malloc'd buffer (NUL-terminated); *len its size. */
char *ref_read_file(const char *path, size_t *len);
void ref_graph_load(ref_graph *g, const char *path);
void ref_graph_free(ref_graph *g);
/* The weight with this variable name of node n, or NULL. */
const ref_weight *ref_find_weight(const ref_node *n, const char *variable);

/* Attribute accessors; they die when the attribute is missing or ill-typed. */
double ref_attr_number(const ref_node *n, const char *key);
int ref_attr_int(const ref_node *n, const char *key);
int ref_attr_bool(const ref_node *n, const char *key);
const char *ref_attr_string(const ref_node *n, const char *key);
/* Element i of an integer array attribute (i counts flat for [[a,b],[c,d]]). */
int ref_attr_int_at(const ref_node *n, const char *key, int i);
/* 1 when the attribute is JSON null. */
int ref_attr_is_null(const ref_node *n, const char *key);

/* splitmix64: the seeded generator of random_weights. */
unsigned long long ref_splitmix64(unsigned long long *state);
/* Uniform in [0, 1) with 24 random bits (exact in float). */
double ref_uniform01(unsigned long long *state);

#endif
