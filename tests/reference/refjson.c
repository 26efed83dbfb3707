/*
 * refjson.c — recursive-descent JSON reader producing a tree (refjson.h).
 *
 * Strings support the standard escapes; \uXXXX is encoded as UTF-8
 * (surrogate pairs joined).  Numbers are validated against the JSON grammar
 * and converted with strtod.  Not fast, not clever: the graphs are small.
 */
#include "refjson.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct parser {
    const char *text;
    size_t len;
    size_t pos;
    const char *error;
    size_t error_pos;
};

static rj_value *parse_value(struct parser *p, int depth);

static void *fail(struct parser *p, const char *what) {
    if (!p->error) {
        p->error = what;
        p->error_pos = p->pos;
    }
    return NULL;
}

static void skip_ws(struct parser *p) {
    while (p->pos < p->len && (p->text[p->pos] == ' ' || p->text[p->pos] == '\t' || p->text[p->pos] == '\n' ||
                               p->text[p->pos] == '\r'))
        p->pos++;
}

static int peek(struct parser *p) {
    return p->pos < p->len ? (unsigned char)p->text[p->pos] : -1;
}

static rj_value *new_value(enum rj_kind kind) {
    rj_value *v = calloc(1, sizeof *v);
    if (v) v->kind = kind;
    return v;
}

static int append_item(rj_value *v, char *key, rj_value *item) {
    char **keys = realloc(v->keys, (v->count + 1) * sizeof *keys);
    if (!keys) return -1;
    v->keys = keys;
    rj_value **items = realloc(v->items, (v->count + 1) * sizeof *items);
    if (!items) return -1;
    v->items = items;
    v->keys[v->count] = key;
    v->items[v->count] = item;
    v->count++;
    return 0;
}

static int hex4(struct parser *p, unsigned *out) {
    unsigned value = 0;
    for (int i = 0; i < 4; i++) {
        int c = peek(p);
        value <<= 4;
        if (c >= '0' && c <= '9')
            value |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            value |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            value |= (unsigned)(c - 'A' + 10);
        else
            return -1;
        p->pos++;
    }
    *out = value;
    return 0;
}

static size_t put_utf8(char *out, unsigned cp) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A string starting at the opening quote; returns a malloc'd copy. */
static char *parse_string(struct parser *p) {
    p->pos++; /* opening quote */
    /* The decoded text is never longer than the source text. */
    char *out = malloc(p->len - p->pos + 1);
    size_t n = 0;
    if (!out) return fail(p, "out of memory");
    for (;;) {
        int c = peek(p);
        if (c < 0) {
            free(out);
            return fail(p, "unterminated string");
        }
        if (c < 0x20) {
            free(out);
            return fail(p, "control character in string");
        }
        p->pos++;
        if (c == '"') break;
        if (c != '\\') {
            out[n++] = (char)c;
            continue;
        }
        int e = peek(p);
        p->pos++;
        switch (e) {
        case '"': out[n++] = '"'; break;
        case '\\': out[n++] = '\\'; break;
        case '/': out[n++] = '/'; break;
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'n': out[n++] = '\n'; break;
        case 'r': out[n++] = '\r'; break;
        case 't': out[n++] = '\t'; break;
        case 'u': {
            unsigned cp, low;
            if (hex4(p, &cp) < 0) {
                free(out);
                return fail(p, "bad \\u escape");
            }
            if (cp >= 0xD800 && cp < 0xDC00) {
                if (peek(p) != '\\' || p->pos + 1 >= p->len || p->text[p->pos + 1] != 'u') {
                    free(out);
                    return fail(p, "lone surrogate");
                }
                p->pos += 2;
                if (hex4(p, &low) < 0 || low < 0xDC00 || low >= 0xE000) {
                    free(out);
                    return fail(p, "bad surrogate pair");
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            } else if (cp >= 0xDC00 && cp < 0xE000) {
                free(out);
                return fail(p, "lone surrogate");
            }
            if (cp == 0) {
                free(out);
                return fail(p, "NUL in string");
            }
            n += put_utf8(out + n, cp);
            break;
        }
        default: free(out); return fail(p, "bad escape");
        }
    }
    out[n] = '\0';
    return out;
}

static int is_digit(int c) {
    return c >= '0' && c <= '9';
}

static rj_value *parse_number(struct parser *p) {
    size_t start = p->pos;
    if (peek(p) == '-') p->pos++;
    if (peek(p) == '0') {
        p->pos++;
    } else if (is_digit(peek(p))) {
        while (is_digit(peek(p))) p->pos++;
    } else {
        return fail(p, "bad number");
    }
    if (peek(p) == '.') {
        p->pos++;
        if (!is_digit(peek(p))) return fail(p, "bad number");
        while (is_digit(peek(p))) p->pos++;
    }
    if (peek(p) == 'e' || peek(p) == 'E') {
        p->pos++;
        if (peek(p) == '+' || peek(p) == '-') p->pos++;
        if (!is_digit(peek(p))) return fail(p, "bad number");
        while (is_digit(peek(p))) p->pos++;
    }
    char buf[64];
    size_t n = p->pos - start;
    if (n >= sizeof buf) return fail(p, "number too long");
    memcpy(buf, p->text + start, n);
    buf[n] = '\0';
    rj_value *v = new_value(RJ_NUMBER);
    if (!v) return fail(p, "out of memory");
    v->number = strtod(buf, NULL);
    return v;
}

static int match_word(struct parser *p, const char *word) {
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->text + p->pos, word, n) != 0) return 0;
    p->pos += n;
    return 1;
}

/* '[' or '{' already seen at p->pos. */
static rj_value *parse_container(struct parser *p, int depth, int is_object) {
    rj_value *v = new_value(is_object ? RJ_OBJECT : RJ_ARRAY);
    if (!v) return fail(p, "out of memory");
    char close = is_object ? '}' : ']';
    p->pos++;
    skip_ws(p);
    if (peek(p) == close) {
        p->pos++;
        return v;
    }
    for (;;) {
        char *key = NULL;
        skip_ws(p);
        if (is_object) {
            if (peek(p) != '"') {
                rj_free(v);
                return fail(p, "expected a key");
            }
            key = parse_string(p);
            if (!key) {
                rj_free(v);
                return NULL;
            }
            skip_ws(p);
            if (peek(p) != ':') {
                free(key);
                rj_free(v);
                return fail(p, "expected ':'");
            }
            p->pos++;
        }
        rj_value *item = parse_value(p, depth + 1);
        if (!item || append_item(v, key, item) < 0) {
            free(key);
            rj_free(item);
            rj_free(v);
            return fail(p, "out of memory");
        }
        skip_ws(p);
        if (peek(p) == ',') {
            p->pos++;
            continue;
        }
        if (peek(p) == close) {
            p->pos++;
            return v;
        }
        rj_free(v);
        return fail(p, is_object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static rj_value *parse_value(struct parser *p, int depth) {
    if (depth > RJ_MAX_DEPTH) return fail(p, "nesting too deep");
    skip_ws(p);
    int c = peek(p);
    if (c == '{' || c == '[') return parse_container(p, depth, c == '{');
    if (c == '"') {
        char *s = parse_string(p);
        if (!s) return NULL;
        rj_value *v = new_value(RJ_STRING);
        if (!v) {
            free(s);
            return fail(p, "out of memory");
        }
        v->text = s;
        return v;
    }
    if (c == '-' || is_digit(c)) return parse_number(p);
    int truth = match_word(p, "true");
    if (truth || match_word(p, "false")) {
        rj_value *v = new_value(RJ_BOOL);
        if (!v) return fail(p, "out of memory");
        v->number = truth;
        return v;
    }
    if (match_word(p, "null")) {
        rj_value *v = new_value(RJ_NULL);
        return v ? v : fail(p, "out of memory");
    }
    return fail(p, "unexpected character");
}

rj_value *rj_parse(const char *text, size_t len, const char **error, size_t *error_pos) {
    struct parser p = {text, len, 0, NULL, 0};
    rj_value *v = parse_value(&p, 0);
    if (v) {
        skip_ws(&p);
        if (p.pos != p.len) {
            rj_free(v);
            v = fail(&p, "trailing characters");
        }
    }
    if (!v) {
        *error = p.error ? p.error : "parse error";
        *error_pos = p.error_pos;
    }
    return v;
}

void rj_free(rj_value *v) {
    if (!v) return;
    for (size_t i = 0; i < v->count; i++) {
        if (v->keys) free(v->keys[i]);
        rj_free(v->items[i]);
    }
    free(v->keys);
    free(v->items);
    free(v->text);
    free(v);
}

const rj_value *rj_get(const rj_value *v, const char *key) {
    if (!v || v->kind != RJ_OBJECT) return NULL;
    for (size_t i = 0; i < v->count; i++)
        if (strcmp(v->keys[i], key) == 0) return v->items[i];
    return NULL;
}

const rj_value *rj_at(const rj_value *v, size_t i) {
    if (!v || v->kind != RJ_ARRAY || i >= v->count) return NULL;
    return v->items[i];
}
