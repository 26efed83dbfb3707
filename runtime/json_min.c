/*
 * json_min.c — the strict JSON pull reader declared in json_min.h.
 *
 * A safetensors header is attacker-controlled text of up to 100 MB, so the
 * reader never allocates, never recurses, and checks every index against
 * the length before reading.  Strings are decoded in place: an escape is
 * never shorter than the UTF-8 it stands for, so the write position never
 * passes the read position, and the NUL terminator lands at the latest on
 * the closing quote, which has already been consumed.
 */
#include "json_min.h"

void json_init(struct json_reader *r, char *text, size_t len) {
    r->text = text;
    r->len = len;
    r->pos = 0;
    r->error = NULL;
    r->error_pos = 0;
}

int json_fail(struct json_reader *r, const char *what) {
    if (!r->error) {
        r->error = what;
        r->error_pos = r->pos;
    }
    return -1;
}

/* Next significant byte (0..255) without consuming it, or -1 at the end. */
static int peek(struct json_reader *r) {
    while (r->pos < r->len) {
        unsigned char c = (unsigned char)r->text[r->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return c;
        r->pos++;
    }
    return -1;
}

static int expect(struct json_reader *r, char c, const char *what) {
    if (r->error) return -1;
    if (peek(r) != (unsigned char)c) return json_fail(r, peek(r) < 0 ? "unexpected end of header" : what);
    r->pos++;
    return 0;
}

int json_open(struct json_reader *r, char bracket) {
    return expect(r, bracket, bracket == '{' ? "expected '{'" : "expected '['");
}

/* Shared by objects and arrays: 1 if another item follows, 0 at `close`. */
static int next_item(struct json_reader *r, size_t *index, char close, const char *what) {
    int c;
    if (r->error) return -1;
    c = peek(r);
    if (c == (unsigned char)close) {
        r->pos++;
        return 0;
    }
    if (*index > 0) {
        if (c != ',') return json_fail(r, c < 0 ? "unexpected end of header" : what);
        r->pos++;
    }
    (*index)++;
    return 1;
}

int json_next_member(struct json_reader *r, size_t *index, char **key) {
    int more = next_item(r, index, '}', "expected ',' or '}'");
    if (more <= 0) return more;
    if (peek(r) != '"') return json_fail(r, "expected a string key");
    if (json_string(r, key) < 0 || expect(r, ':', "expected ':'") < 0) return -1;
    return 1;
}

int json_next_element(struct json_reader *r, size_t *index) {
    return next_item(r, index, ']', "expected ',' or ']'");
}

static int hex4(const char *s, unsigned *out) {
    unsigned v = 0;
    int i;
    for (i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

size_t json_utf8_length(const unsigned char *s, size_t avail) {
    size_t n, i;
    unsigned cp;
    if (s[0] < 0x80) return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        n = 2;
        cp = s[0] & 0x1Fu;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        n = 3;
        cp = s[0] & 0x0Fu;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        n = 4;
        cp = s[0] & 0x07u;
    } else {
        return 0;
    }
    if (n > avail) return 0;
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xC0u) != 0x80u) return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
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

/* A \u escape at r->pos (just after the backslash and 'u'); appends at *w. */
static int unicode_escape(struct json_reader *r, size_t *w) {
    unsigned cp, low;
    if (r->len - r->pos < 4 || hex4(r->text + r->pos, &cp) < 0) return json_fail(r, "bad \\u escape");
    r->pos += 4;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return json_fail(r, "unpaired surrogate in \\u escape");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (r->len - r->pos < 6 || r->text[r->pos] != '\\' || r->text[r->pos + 1] != 'u' ||
            hex4(r->text + r->pos + 2, &low) < 0 || low < 0xDC00 || low > 0xDFFF)
            return json_fail(r, "unpaired surrogate in \\u escape");
        r->pos += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    if (cp == 0) return json_fail(r, "NUL character in string");
    *w += put_utf8(r->text + *w, cp);
    return 0;
}

static int simple_escape(char c, char *out) {
    switch (c) {
    case '"': *out = '"'; return 0;
    case '\\': *out = '\\'; return 0;
    case '/': *out = '/'; return 0;
    case 'b': *out = '\b'; return 0;
    case 'f': *out = '\f'; return 0;
    case 'n': *out = '\n'; return 0;
    case 'r': *out = '\r'; return 0;
    case 't': *out = '\t'; return 0;
    default: return -1;
    }
}

int json_string(struct json_reader *r, char **out) {
    size_t w;
    if (expect(r, '"', "expected a string") < 0) return -1;
    *out = r->text + r->pos;
    w = r->pos;
    for (;;) {
        unsigned char c;
        size_t n;
        if (r->pos >= r->len) return json_fail(r, "unterminated string");
        c = (unsigned char)r->text[r->pos];
        if (c == '"') break;
        if (c < 0x20) return json_fail(r, "control character in string");
        if (c == '\\') {
            if (r->len - r->pos < 2) return json_fail(r, "unterminated string");
            r->pos += 2;
            if (r->text[r->pos - 1] == 'u') {
                if (unicode_escape(r, &w) < 0) return -1;
            } else if (simple_escape(r->text[r->pos - 1], r->text + w) < 0) {
                r->pos--;
                return json_fail(r, "bad escape in string");
            } else {
                w++;
            }
            continue;
        }
        n = json_utf8_length((const unsigned char *)r->text + r->pos, r->len - r->pos);
        if (n == 0) return json_fail(r, "invalid UTF-8 in string");
        while (n-- > 0) r->text[w++] = r->text[r->pos++];
    }
    r->pos++; /* the closing quote; w <= its index */
    r->text[w] = '\0';
    return 0;
}

int json_uint(struct json_reader *r, uint64_t *out) {
    uint64_t v = 0;
    int c;
    if (r->error) return -1;
    c = peek(r);
    if (c == '-') return json_fail(r, "negative number");
    if (c < '0' || c > '9')
        return json_fail(r, c < 0 ? "unexpected end of header" : "expected a non-negative integer");
    if (c == '0' && r->pos + 1 < r->len && r->text[r->pos + 1] >= '0' && r->text[r->pos + 1] <= '9')
        return json_fail(r, "number with a leading zero");
    while (r->pos < r->len && r->text[r->pos] >= '0' && r->text[r->pos] <= '9') {
        unsigned d = (unsigned)(r->text[r->pos] - '0');
        if (v > (UINT64_MAX - d) / 10) return json_fail(r, "integer overflows 64 bits");
        v = v * 10 + d;
        r->pos++;
    }
    if (r->pos < r->len && (r->text[r->pos] == '.' || r->text[r->pos] == 'e' || r->text[r->pos] == 'E'))
        return json_fail(r, "number is not an integer");
    *out = v;
    return 0;
}

int json_finish(struct json_reader *r) {
    if (r->error) return -1;
    if (peek(r) >= 0) return json_fail(r, "trailing characters after the JSON object");
    return 0;
}
