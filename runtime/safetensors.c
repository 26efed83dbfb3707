/*
 * safetensors.c — the weights loader: cnn_st_load and its error reporting.
 *
 * A weights file comes from anywhere, so the loader trusts nothing in it and
 * decides before it allocates the result.  It reads the 8-byte header length
 * and the JSON header (both bounded by the file size), parses the header
 * into a table of entries, and checks the table as a whole:
 *
 *   1. syntax and schema, in file order (json_min.c does the bytes): each
 *      tensor is {"dtype": S, "shape": [N...], "data_offsets": [B, E]}
 *      and nothing else; "__metadata__" is an object of strings, ignored;
 *      per tensor, B <= E <= data size and, for F32/F16/BF16, the shape
 *      product times the dtype size equals E - B (all checked for overflow);
 *   2. no duplicate key anywhere (sorting the names);
 *   3. the tensors tile the data area exactly: no overlap, and no hole —
 *      holes and trailing bytes are errors, as in the reference
 *      implementation (its "MetadataIncompleteBuffer"), so every byte of
 *      a file we accept belongs to a tensor;
 *   4. every dtype is F32, F16 or BF16;
 *   5. every declared tensor is present with exactly its declared shape.
 *
 * The first failing check decides the code and the message.  Only then is
 * the one block of floats allocated and filled in declaration order with
 * pread at 64-bit offsets; F16 and BF16 are read into the upper half of
 * their own destination and widened forward in place, so no staging copy
 * of the data is ever made.  The header and the entry table are temporary
 * and freed before returning; nothing is written to *data on failure.
 *
 * The last error message and the list of extra tensors are process-wide
 * state: like strerror, these functions are not thread-safe.
 */
#ifndef _FILE_OFFSET_BITS
#define _FILE_OFFSET_BITS 64 /* off_t for files over 2 GB on 32-bit hosts */
#endif
#include "cnnrt.h"
#include "json_min.h"
#include "st_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum st_dtype { DT_F32, DT_F16, DT_BF16, DT_OTHER };

struct st_entry {
    const char *name; /* decoded in place in the header */
    const char *dtype_name;
    int dtype; /* enum st_dtype */
    int rank;  /* may exceed CNN_MAX_RANK; dims holds the first ones */
    long long dims[CNN_MAX_RANK];
    uint64_t count;      /* product of all dims */
    uint64_t begin, end; /* data_offsets, relative to the data area */
    int used;            /* matched by a declared tensor */
};

struct st_file {
    char shown[ST_SHOW_MAX]; /* the path, printable */
    int fd;
    uint64_t size;
    uint64_t header_len;
    uint64_t data_size;
    char *header;
    struct st_entry *entries;
    size_t n_entries, cap_entries;
    char **meta_keys;
    size_t n_meta, cap_meta;
    int has_meta;
};

static char last_message[1024];
static int last_code;
static char **extra_names; /* one block: pointers, NULL, then the strings */
static int extra_count;

int st_fail(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    last_code = code;
    return code;
}

char *st_show(char buf[ST_SHOW_MAX], const char *text) {
    size_t n = strlen(text), i;
    int cut = n > ST_SHOW_MAX - 1;
    if (cut) {
        n = ST_SHOW_MAX - 4;
        while (n > 0 && ((unsigned char)text[n] & 0xC0u) == 0x80u) n--; /* do not split a UTF-8 sequence */
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        buf[i] = (c < 0x20 || c == 0x7F) ? '?' : (char)c;
    }
    strcpy(buf + n, cut ? "..." : "");
    return buf;
}

const char *cnn_st_strerror(int code) {
    if (code == last_code && code != CNN_OK && last_message[0]) return last_message;
    switch (code) {
    case CNN_OK: return "success";
    case CNN_E_OPEN: return "cannot open or read the weights file";
    case CNN_E_FORMAT: return "not a valid safetensors file";
    case CNN_E_DTYPE: return "a tensor has an unsupported dtype";
    case CNN_E_MISSING: return "a declared tensor is missing";
    case CNN_E_SHAPE: return "a declared tensor has another shape";
    case CNN_E_NOMEM: return "out of memory";
    case CNN_E_LIMIT: return "the file exceeds a documented limit";
    default: return "unknown error";
    }
}

int cnn_st_extra_count(void) {
    return extra_count;
}

const char *cnn_st_extra_name(int i) {
    return i >= 0 && i < extra_count ? extra_names[i] : NULL;
}

/* "(5, 5, 3, 6)", "(3,)", "()"; dims beyond the stored ones print as "...". */
static char *format_shape(char *buf, size_t cap, const long long *dims, int rank) {
    size_t used = 0;
    int i;
    buf[0] = '\0';
    used += (size_t)snprintf(buf, cap, "(");
    for (i = 0; i < rank && used < cap; i++) {
        if (i == CNN_MAX_RANK) {
            snprintf(buf + used, cap - used, ", ...");
            used += 5;
            break;
        }
        used += (size_t)snprintf(buf + used, cap - used, i ? ", %lld" : "%lld", dims[i]);
    }
    if (used < cap) snprintf(buf + used, cap - used, rank == 1 ? ",)" : ")");
    return buf;
}

/* n bytes at offset, or -1 (errno 0 at an unexpected end of file). */
static int read_at(int fd, void *buf, uint64_t n, uint64_t offset) {
    char *p = buf;
    while (n > 0) {
        size_t chunk = n > (1u << 30) ? (1u << 30) : (size_t)n;
        ssize_t got = pread(fd, p, chunk, (off_t)offset);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            if (got == 0) errno = 0;
            return -1;
        }
        p += got;
        n -= (uint64_t)got;
        offset += (uint64_t)got;
    }
    return 0;
}

static int read_failed(const struct st_file *st, const char *what) {
    return st_fail(CNN_E_OPEN, "%s: cannot read %s: %s", st->shown, what,
                   errno ? strerror(errno) : "unexpected end of file");
}

static int open_file(struct st_file *st, const char *path) {
    struct stat sb;
    st->fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* a FIFO must not block */
    if (st->fd < 0) return st_fail(CNN_E_OPEN, "%s: cannot open: %s", st->shown, strerror(errno));
    if (fstat(st->fd, &sb) < 0) return st_fail(CNN_E_OPEN, "%s: cannot stat: %s", st->shown, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return st_fail(CNN_E_OPEN, "%s: not a regular file", st->shown);
    st->size = (uint64_t)sb.st_size;
    return CNN_OK;
}

static int read_header(struct st_file *st) {
    unsigned char len_bytes[8];
    int i;
    if (st->size < 8)
        return st_fail(CNN_E_FORMAT, "%s: file is %llu bytes, too short for the 8-byte header length",
                       st->shown, (unsigned long long)st->size);
    if (read_at(st->fd, len_bytes, 8, 0) < 0) return read_failed(st, "the header length");
    for (i = 7; i >= 0; i--) st->header_len = (st->header_len << 8) | len_bytes[i];
    if (st->header_len > CNN_ST_MAX_HEADER)
        return st_fail(CNN_E_LIMIT, "%s: header length %llu exceeds the limit of %u bytes", st->shown,
                       (unsigned long long)st->header_len, CNN_ST_MAX_HEADER);
    if (st->header_len > st->size - 8)
        return st_fail(CNN_E_FORMAT,
                       "%s: header length %llu exceeds the %llu bytes after it (truncated file?)", st->shown,
                       (unsigned long long)st->header_len, (unsigned long long)(st->size - 8));
    st->data_size = st->size - 8 - st->header_len;
    st->header = malloc((size_t)st->header_len + 1);
    if (!st->header)
        return st_fail(CNN_E_NOMEM, "%s: cannot allocate %llu bytes for the header", st->shown,
                       (unsigned long long)st->header_len + 1);
    if (read_at(st->fd, st->header, st->header_len, 8) < 0) return read_failed(st, "the header");
    st->header[st->header_len] = '\0';
    return CNN_OK;
}

static int json_error(const struct st_file *st, const struct json_reader *r) {
    return st_fail(CNN_E_FORMAT, "%s: bad JSON header at byte %llu: %s", st->shown,
                   (unsigned long long)(8 + r->error_pos), r->error ? r->error : "syntax error");
}

/* `array` (of *cap elements of `size` bytes) with room for one more, or NULL. */
static void *grow(void *array, size_t *cap, size_t count, size_t size) {
    size_t new_cap = *cap ? *cap * 2 : 16;
    if (count < *cap) return array;
    if (new_cap > SIZE_MAX / size || !(array = realloc(array, new_cap * size))) return NULL;
    *cap = new_cap;
    return array;
}

static int table_full(const struct st_file *st) {
    return st_fail(CNN_E_NOMEM, "%s: out of memory for the header's table", st->shown);
}

static int parse_dtype(const struct st_file *st, struct json_reader *r, struct st_entry *e) {
    char *dtype;
    if (json_string(r, &dtype) < 0) return json_error(st, r);
    e->dtype_name = dtype;
    e->dtype = !strcmp(e->dtype_name, "F32")    ? DT_F32
               : !strcmp(e->dtype_name, "F16")  ? DT_F16
               : !strcmp(e->dtype_name, "BF16") ? DT_BF16
                                                : DT_OTHER;
    return CNN_OK;
}

static int parse_shape(const struct st_file *st, struct json_reader *r, struct st_entry *e) {
    char name[ST_SHOW_MAX];
    size_t index = 0;
    int more;
    e->count = 1;
    if (json_open(r, '[') < 0) return json_error(st, r);
    while ((more = json_next_element(r, &index)) == 1) {
        uint64_t dim;
        if (json_uint(r, &dim) < 0) return json_error(st, r);
        if (dim > INT64_MAX || (dim && e->count > UINT64_MAX / dim))
            return st_fail(CNN_E_FORMAT, "%s: tensor '%s' has a shape whose size overflows 64 bits",
                           st->shown, st_show(name, e->name));
        e->count *= dim;
        if (e->rank < CNN_MAX_RANK) e->dims[e->rank] = (long long)dim;
        e->rank++; /* at most the header length, which is below INT_MAX */
    }
    return more < 0 ? json_error(st, r) : CNN_OK;
}

static int parse_offsets(const struct st_file *st, struct json_reader *r, struct st_entry *e) {
    char name[ST_SHOW_MAX];
    uint64_t offsets[2];
    size_t index = 0;
    int more;
    if (json_open(r, '[') < 0) return json_error(st, r);
    while ((more = json_next_element(r, &index)) == 1) {
        if (index > 2)
            return st_fail(CNN_E_FORMAT, "%s: tensor '%s' has more than 2 data_offsets", st->shown,
                           st_show(name, e->name));
        if (json_uint(r, &offsets[index - 1]) < 0) return json_error(st, r);
    }
    if (more < 0) return json_error(st, r);
    if (index != 2)
        return st_fail(CNN_E_FORMAT, "%s: tensor '%s' has %zu data_offsets, expected 2", st->shown,
                       st_show(name, e->name), index);
    e->begin = offsets[0];
    e->end = offsets[1];
    return CNN_OK;
}

/* Offsets inside the data area and, for known dtypes, matching the shape. */
static int check_entry(const struct st_file *st, const struct st_entry *e) {
    char name[ST_SHOW_MAX], shape[128];
    uint64_t elem = e->dtype == DT_F32 ? 4 : 2;
    unsigned long long b = e->begin, en = e->end;
    if (e->begin > e->end)
        return st_fail(CNN_E_FORMAT,
                       "%s: tensor '%s' has data_offsets [%llu, %llu] that end before they begin", st->shown,
                       st_show(name, e->name), b, en);
    if (e->end > st->data_size)
        return st_fail(CNN_E_FORMAT,
                       "%s: tensor '%s' has data_offsets [%llu, %llu] beyond the %llu-byte data area",
                       st->shown, st_show(name, e->name), b, en, (unsigned long long)st->data_size);
    if (e->dtype == DT_OTHER)
        return CNN_OK; /* reported as CNN_E_DTYPE once the layout is known to be sound */
    if (e->count > UINT64_MAX / elem)
        return st_fail(CNN_E_FORMAT, "%s: tensor '%s' has a shape whose size overflows 64 bits", st->shown,
                       st_show(name, e->name));
    if (e->count * elem != e->end - e->begin)
        return st_fail(
            CNN_E_FORMAT,
            "%s: tensor '%s' of shape %s in %s needs %llu bytes, but data_offsets [%llu, %llu] hold %llu",
            st->shown, st_show(name, e->name), format_shape(shape, sizeof shape, e->dims, e->rank),
            e->dtype_name, (unsigned long long)(e->count * elem), b, en, en - b);
    return CNN_OK;
}

static int parse_tensor(struct st_file *st, struct json_reader *r, const char *tensor_name) {
    static const char *const keys[3] = {"dtype", "shape", "data_offsets"};
    char name[ST_SHOW_MAX], shown_key[ST_SHOW_MAX];
    struct st_entry e, *bigger;
    size_t index = 0;
    unsigned seen = 0;
    char *key;
    int more, k, rc;
    memset(&e, 0, sizeof e);
    e.name = tensor_name;
    if (json_open(r, '{') < 0) return json_error(st, r);
    while ((more = json_next_member(r, &index, &key)) == 1) {
        for (k = 0; k < 3 && strcmp(key, keys[k]); k++)
            ;
        if (k == 3 || (seen & (1u << k)))
            return st_fail(CNN_E_FORMAT, "%s: tensor '%s' has %s key '%s'", st->shown, st_show(name, e.name),
                           k == 3 ? "an unknown" : "a duplicate", st_show(shown_key, key));
        seen |= 1u << k;
        rc = k == 0 ? parse_dtype(st, r, &e) : k == 1 ? parse_shape(st, r, &e) : parse_offsets(st, r, &e);
        if (rc != CNN_OK) return rc;
    }
    if (more < 0) return json_error(st, r);
    for (k = 0; k < 3; k++)
        if (!(seen & (1u << k)))
            return st_fail(CNN_E_FORMAT, "%s: tensor '%s' has no '%s'", st->shown, st_show(name, e.name),
                           keys[k]);
    if ((rc = check_entry(st, &e)) != CNN_OK) return rc;
    if (!(bigger = grow(st->entries, &st->cap_entries, st->n_entries, sizeof e))) return table_full(st);
    st->entries = bigger;
    st->entries[st->n_entries++] = e;
    return CNN_OK;
}

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "__metadata__": an object of strings, kept only to refuse duplicate keys. */
static int parse_metadata(struct st_file *st, struct json_reader *r) {
    char key_shown[ST_SHOW_MAX];
    size_t index = 0, i;
    char *key, *value, **bigger;
    int more;
    if (st->has_meta++) return st_fail(CNN_E_FORMAT, "%s: duplicate key '__metadata__'", st->shown);
    if (json_open(r, '{') < 0) return json_error(st, r);
    while ((more = json_next_member(r, &index, &key)) == 1) {
        if (json_string(r, &value) < 0) return json_error(st, r);
        if (!(bigger = grow(st->meta_keys, &st->cap_meta, st->n_meta, sizeof key))) return table_full(st);
        st->meta_keys = bigger;
        st->meta_keys[st->n_meta++] = key;
    }
    if (more < 0) return json_error(st, r);
    if (st->n_meta > 1) qsort(st->meta_keys, st->n_meta, sizeof key, compare_strings);
    for (i = 1; i < st->n_meta; i++)
        if (!strcmp(st->meta_keys[i - 1], st->meta_keys[i]))
            return st_fail(CNN_E_FORMAT, "%s: duplicate key '%s' in __metadata__", st->shown,
                           st_show(key_shown, st->meta_keys[i]));
    return CNN_OK;
}

static int parse_header(struct st_file *st) {
    struct json_reader r;
    size_t index = 0;
    char *key;
    int more, rc;
    if (st->header_len == 0 || st->header[0] != '{')
        return st_fail(CNN_E_FORMAT, "%s: header does not start with '{'", st->shown);
    json_init(&r, st->header, (size_t)st->header_len);
    json_open(&r, '{');
    while ((more = json_next_member(&r, &index, &key)) == 1) {
        rc = strcmp(key, "__metadata__") ? parse_tensor(st, &r, key) : parse_metadata(st, &r);
        if (rc != CNN_OK) return rc;
    }
    if (more < 0 || json_finish(&r) < 0) return json_error(st, &r);
    return CNN_OK;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(((const struct st_entry *)a)->name, ((const struct st_entry *)b)->name);
}

static int compare_offsets(const void *a, const void *b) {
    const struct st_entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Sorts the entries by name, which match_specs relies on. */
static int check_duplicates(struct st_file *st) {
    char name[ST_SHOW_MAX];
    size_t i;
    if (st->n_entries > 1) qsort(st->entries, st->n_entries, sizeof *st->entries, compare_names);
    for (i = 1; i < st->n_entries; i++)
        if (!strcmp(st->entries[i - 1].name, st->entries[i].name))
            return st_fail(CNN_E_FORMAT, "%s: duplicate tensor '%s'", st->shown,
                           st_show(name, st->entries[i].name));
    return CNN_OK;
}

/* The tensors must tile the data area: sorted by offset, each begins where the last ended. */
static int check_layout(struct st_file *st) {
    char a[ST_SHOW_MAX], b[ST_SHOW_MAX];
    const struct st_entry *prev = NULL;
    uint64_t covered = 0;
    size_t i;
    if (st->n_entries > 1) qsort(st->entries, st->n_entries, sizeof *st->entries, compare_offsets);
    for (i = 0; i < st->n_entries; i++) {
        const struct st_entry *e = &st->entries[i];
        if (e->begin < covered)
            return st_fail(CNN_E_FORMAT, "%s: tensor '%s' [%llu, %llu] overlaps tensor '%s' [%llu, %llu]",
                           st->shown, st_show(a, e->name), (unsigned long long)e->begin,
                           (unsigned long long)e->end, st_show(b, prev->name),
                           (unsigned long long)prev->begin, (unsigned long long)prev->end);
        if (e->begin > covered) break;
        covered = e->end;
        prev = e;
    }
    if (covered != st->data_size)
        return st_fail(CNN_E_FORMAT,
                       "%s: bytes [%llu, %llu) of the data area belong to no tensor (holes are not allowed)",
                       st->shown, (unsigned long long)covered,
                       (unsigned long long)(i < st->n_entries ? st->entries[i].begin : st->data_size));
    if (st->n_entries > 1) qsort(st->entries, st->n_entries, sizeof *st->entries, compare_names);
    return CNN_OK;
}

static int check_dtypes(const struct st_file *st) {
    char name[ST_SHOW_MAX], dtype[ST_SHOW_MAX];
    size_t i;
    for (i = 0; i < st->n_entries; i++)
        if (st->entries[i].dtype == DT_OTHER)
            return st_fail(CNN_E_DTYPE,
                           "%s: tensor '%s' has dtype '%s'; only F32, F16 and BF16 are supported", st->shown,
                           st_show(name, st->entries[i].name), st_show(dtype, st->entries[i].dtype_name));
    return CNN_OK;
}

static struct st_entry *find_entry(const struct st_file *st, const char *name) {
    struct st_entry key;
    memset(&key, 0, sizeof key);
    key.name = name;
    if (st->n_entries == 0) return NULL;
    return bsearch(&key, st->entries, st->n_entries, sizeof key, compare_names);
}

static int same_shape(const cnn_tensor_spec *spec, const struct st_entry *e) {
    int i;
    if (spec->rank != e->rank) return 0;
    for (i = 0; i < e->rank; i++)
        if (spec->shape[i] != e->dims[i]) return 0;
    return 1;
}

/* Every declared tensor present with its shape; *total = floats needed. */
static int match_specs(struct st_file *st, const cnn_tensor_spec *specs, int n_specs, size_t *total) {
    char name[ST_SHOW_MAX], want[128], have[128];
    int i;
    *total = 0;
    for (i = 0; i < n_specs; i++) {
        const cnn_tensor_spec *spec = &specs[i];
        struct st_entry *e;
        if (!spec->name) return st_fail(CNN_E_MISSING, "%s: declared tensor #%d has no name", st->shown, i);
        if (spec->rank < 0 || spec->rank > CNN_MAX_RANK)
            return st_fail(CNN_E_SHAPE, "%s: declared tensor '%s' has rank %d, outside 0..%d", st->shown,
                           st_show(name, spec->name), spec->rank, CNN_MAX_RANK);
        e = find_entry(st, spec->name);
        if (!e)
            return st_fail(CNN_E_MISSING, "%s: tensor '%s' is missing", st->shown, st_show(name, spec->name));
        if (!same_shape(spec, e))
            return st_fail(CNN_E_SHAPE, "%s: tensor '%s' has shape %s, expected %s", st->shown,
                           st_show(name, spec->name), format_shape(have, sizeof have, e->dims, e->rank),
                           format_shape(want, sizeof want, spec->shape, spec->rank));
        if (e->count > (SIZE_MAX / sizeof(float)) - *total)
            return st_fail(CNN_E_LIMIT, "%s: the declared tensors do not fit in memory", st->shown);
        *total += (size_t)e->count;
        e->used = 1;
    }
    return CNN_OK;
}

static float f16_to_f32(unsigned h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu, bits;
    float f;
    if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (mant << 13); /* inf, or NaN keeping its payload */
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign; /* signed zero */
    } else {
        /* subnormal: mant * 2^-24; shift until the implicit bit appears */
        exp = 113;
        while (!(mant & 0x400u)) {
            mant <<= 1;
            exp--;
        }
        bits = sign | (exp << 23) | ((mant & 0x3FFu) << 13);
    }
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Widen `count` little-endian elements, in place (see the file comment). */
static void convert(float *out, int dtype, uint64_t count) {
    const unsigned char *bytes = (const unsigned char *)out;
    uint64_t i;
    if (dtype == DT_F32) {
        for (i = 0; i < count; i++) {
            const unsigned char *b = bytes + 4 * i;
            uint32_t bits = b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
            memcpy(&out[i], &bits, sizeof bits);
        }
        return;
    }
    bytes += 2 * count;
    for (i = 0; i < count; i++) {
        unsigned half = bytes[2 * i] | (unsigned)bytes[2 * i + 1] << 8;
        if (dtype == DT_F16) {
            out[i] = f16_to_f32(half);
        } else {
            uint32_t bits = (uint32_t)half << 16;
            memcpy(&out[i], &bits, sizeof bits);
        }
    }
}

static int read_tensors(struct st_file *st, const cnn_tensor_spec *specs, int n_specs, size_t total,
                        float **block) {
    char name[ST_SHOW_MAX];
    float *at;
    int i;
    *block = malloc((total ? total : 1) * sizeof(float));
    if (!*block)
        return st_fail(CNN_E_NOMEM, "%s: cannot allocate %zu floats for the weights", st->shown, total);
    at = *block;
    for (i = 0; i < n_specs; i++) {
        const struct st_entry *e = find_entry(st, specs[i].name);
        uint64_t bytes = e->end - e->begin;
        char *dst = (char *)at + (e->dtype == DT_F32 ? 0 : bytes);
        if (read_at(st->fd, dst, bytes, 8 + st->header_len + e->begin) < 0)
            return read_failed(st, st_show(name, e->name));
        convert(at, e->dtype, e->count);
        at += e->count;
    }
    return CNN_OK;
}

/* Replace the list of extra tensors (those no spec used). */
static int keep_extras(const struct st_file *st) {
    size_t n = 0, bytes = 0, i;
    char **names, *text;
    for (i = 0; i < st->n_entries; i++)
        if (!st->entries[i].used) {
            n++;
            bytes += strlen(st->entries[i].name) + 1; /* the header bounds the sum */
        }
    if (n > (size_t)INT32_MAX) return st_fail(CNN_E_LIMIT, "%s: too many tensors", st->shown);
    names = malloc((n + 1) * sizeof *names + bytes);
    if (!names) return st_fail(CNN_E_NOMEM, "%s: out of memory for the extra tensors' names", st->shown);
    text = (char *)(names + n + 1);
    n = 0;
    for (i = 0; i < st->n_entries; i++)
        if (!st->entries[i].used) {
            size_t len = strlen(st->entries[i].name) + 1;
            names[n++] = memcpy(text, st->entries[i].name, len);
            text += len;
        }
    names[n] = NULL;
    free(extra_names);
    extra_names = names;
    extra_count = (int)n;
    return CNN_OK;
}

int cnn_st_load(const char *path, const cnn_tensor_spec *specs, int n_specs, float **data) {
    struct st_file st;
    float *block = NULL;
    size_t total = 0;
    int rc;
    if (!path || !data || n_specs < 0 || (n_specs > 0 && !specs))
        return st_fail(CNN_E_OPEN, "cnn_st_load: invalid arguments");
    memset(&st, 0, sizeof st);
    st.fd = -1;
    st_show(st.shown, path);
    rc = open_file(&st, path);
    if (rc == CNN_OK) rc = read_header(&st);
    if (rc == CNN_OK) rc = parse_header(&st);
    if (rc == CNN_OK) rc = check_duplicates(&st);
    if (rc == CNN_OK) rc = check_layout(&st);
    if (rc == CNN_OK) rc = check_dtypes(&st);
    if (rc == CNN_OK) rc = match_specs(&st, specs, n_specs, &total);
    if (rc == CNN_OK) rc = read_tensors(&st, specs, n_specs, total, &block);
    if (rc == CNN_OK) rc = keep_extras(&st);
    if (rc == CNN_OK)
        *data = block;
    else
        free(block);
    if (st.fd >= 0) close(st.fd);
    free(st.header);
    free(st.entries);
    free(st.meta_keys);
    return rc;
}

void cnn_st_free(float *data) {
    free(data);
}
