/*
 * refjson.h — a tiny JSON tree reader for the reference tools.
 *
 * The test tools read the graph printed by `cnncc --emit=json`.  The
 * runtime's json_min only knows the integers-and-strings subset of
 * safetensors headers, and the reference must not share code with the
 * thing it checks anyway, so this is a separate, deliberately simple
 * recursive parser: the whole document becomes a tree of rj_value nodes.
 * Depth is limited (RJ_MAX_DEPTH) so malformed input cannot exhaust the
 * stack.  Errors are reported as a message and a byte offset.
 */
#ifndef REFJSON_H
#define REFJSON_H

#include <stddef.h>

#define RJ_MAX_DEPTH 64

enum rj_kind {
    RJ_NULL,   /* null */
    RJ_BOOL,   /* true / false, in number (1 or 0) */
    RJ_NUMBER, /* any JSON number, as a double */
    RJ_STRING, /* text, NUL-terminated (embedded NULs rejected) */
    RJ_ARRAY,  /* items[0..count) */
    RJ_OBJECT  /* keys[i] -> items[i], in document order */
};

typedef struct rj_value {
    enum rj_kind kind;
    double number;
    char *text;
    size_t count;
    char **keys;
    struct rj_value **items;
} rj_value;

/* Parse text[0..len).  NULL on error with *error / *error_pos set. */
rj_value *rj_parse(const char *text, size_t len, const char **error, size_t *error_pos);
void rj_free(rj_value *v);
/* Member of an object by key, or NULL (also when v is not an object). */
const rj_value *rj_get(const rj_value *v, const char *key);
/* Item i of an array, or NULL. */
const rj_value *rj_at(const rj_value *v, size_t i);

#endif
