/*
 * json_min.h — a strict pull reader for the JSON of safetensors headers.
 *
 * Internal to libcnnrt.  The caller drives the reader with the schema it
 * expects (object of objects of strings and integer arrays), so the nesting
 * depth is the caller's: a bracket where the schema wants a string or an
 * integer is an error, and there is no recursion to exhaust.
 *
 * Accepted: objects, arrays, strings (escapes, \u with surrogate pairs,
 * UTF-8 validated, no NUL), and non-negative integers that fit 64 bits.
 * Rejected: true/false/null, fractions, exponents, signs, leading zeros,
 * trailing commas, and anything after the top-level value but whitespace.
 * Duplicate keys are the caller's to detect (it knows which keys matter).
 *
 * Every function returns -1 once an error is recorded; the first error
 * (a static message and its byte position) stays in the reader.
 */
#ifndef JSON_MIN_H
#define JSON_MIN_H

#include <stddef.h>
#include <stdint.h>

struct json_reader {
    char *text; /* strings are decoded in place and NUL-terminated */
    size_t len;
    size_t pos;
    const char *error; /* first error, or NULL */
    size_t error_pos;  /* byte offset in text of the first error */
};

void json_init(struct json_reader *r, char *text, size_t len);
/* Record an error at the current position; returns -1. */
int json_fail(struct json_reader *r, const char *what);
/* Consume '{' or '[' (after whitespace).  0 or -1. */
int json_open(struct json_reader *r, char bracket);
/* Inside an object: 1 with *key set (the ':' consumed, the value next),
 * 0 after the closing '}', -1 on error.  *index counts members; start at 0. */
int json_next_member(struct json_reader *r, size_t *index, char **key);
/* Inside an array: 1 when an element follows, 0 after ']', -1 on error. */
int json_next_element(struct json_reader *r, size_t *index);
/* A string value, decoded in place.  0 or -1. */
int json_string(struct json_reader *r, char **out);
/* A non-negative integer.  0 or -1. */
int json_uint(struct json_reader *r, uint64_t *out);
/* Length of the well-formed UTF-8 sequence at s (at most `avail` bytes), or 0. */
size_t json_utf8_length(const unsigned char *s, size_t avail);
/* Only whitespace may remain.  0 or -1. */
int json_finish(struct json_reader *r);

#endif
