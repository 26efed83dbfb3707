/*
 * test_safetensors.c — the weights loader and writer (runtime/safetensors*.c).
 *
 * Files are built byte by byte here, independently of cnn_st_write, so the
 * reader is tested against the format rather than against our own writer.
 * The bad-file table is the corpus: each entry is a header (or whole raw
 * file) with the exact status and a substring of the message it must give,
 * and every failure must leave *data untouched.  tests/bad_weights/ holds
 * the inputs the fuzzer found interesting, replayed from its manifest.
 */
#include "cnnrt.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef SRCDIR
#define SRCDIR "."
#endif

static char scratch_dir[64];

static const char *scratch(const char *name) {
    static char path[4][256];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, sizeof path[0], "%s/%s", scratch_dir, name);
    return p;
}

static void write_bytes(const char *path, const void *bytes, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert(n == 0 || fwrite(bytes, 1, n, f) == n);
    ck_assert(fclose(f) == 0);
}

/* A file with an explicit header length, header text and `data_len` data bytes. */
static void write_st_len(const char *path, uint64_t header_len, const char *header, size_t header_bytes,
                         const unsigned char *data, size_t data_len) {
    unsigned char *file = malloc(8 + header_bytes + data_len + 1);
    int b;
    ck_assert(file != NULL);
    for (b = 0; b < 8; b++) file[b] = (unsigned char)(header_len >> (8 * b));
    memcpy(file + 8, header, header_bytes);
    if (data_len) memcpy(file + 8 + header_bytes, data, data_len);
    write_bytes(path, file, 8 + header_bytes + data_len);
    free(file);
}

static void write_st(const char *path, const char *header, const unsigned char *data, size_t data_len) {
    write_st_len(path, strlen(header), header, strlen(header), data, data_len);
}

static unsigned char *read_whole(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long n;
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    buf = malloc((size_t)n + 1);
    ck_assert(buf != NULL);
    ck_assert((long)fread(buf, 1, (size_t)n, f) == n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Files in the scratch directory whose names start with `prefix`. */
static int count_files(const char *prefix) {
    DIR *dir = opendir(scratch_dir);
    struct dirent *ent;
    int n = 0;
    ck_assert(dir != NULL);
    while ((ent = readdir(dir)) != NULL)
        if (!strncmp(ent->d_name, prefix, strlen(prefix))) n++;
    closedir(dir);
    return n;
}

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ---- the bad-file corpus ---------------------------------------------- */

static const cnn_tensor_spec two_specs[] = {
    {"a", 2, {2, 3, 0, 0}},
    {"b", 1, {3, 0, 0, 0}},
};

#define A_OK "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}"
#define B_OK "\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[24,36]}"
#define B_AT(shape, begin, end)                                                                              \
    "\"b\":{\"dtype\":\"F32\",\"shape\":[" shape "],\"data_offsets\":[" begin "," end "]}"
#define A_WITH(key, value)                                                                                   \
    "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]," key ":" value "}," B_OK "}"
#define WITH_NAME(name)                                                                                      \
    "{" A_OK "," B_OK ",\"" name "\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[36,40]}}", 40

struct bad_case {
    const char *header; /* NULL: `raw` is the whole file */
    size_t data_len;
    int code;
    const char *message;
    const char *raw;
    size_t raw_len;
};

#define RAW(bytes, code, message)                                                                            \
    { NULL, 0, code, message, bytes, sizeof bytes - 1 }

static const struct bad_case bad_cases[] = {
    RAW("", CNN_E_FORMAT, "0 bytes, too short for the 8-byte header length"),
    RAW("\x02\0\0\0\0", CNN_E_FORMAT, "too short"),
    RAW("\0\0\0\0\0\x01\0\0{}", CNN_E_LIMIT, "header length 1099511627776 exceeds the limit"),
    RAW("\xff\xff\xff\xff\xff\xff\xff\xff{}", CNN_E_LIMIT,
        "header length 18446744073709551615 exceeds the limit"),
    RAW("\x01\xe1\xf5\x05\0\0\0\0{}", CNN_E_LIMIT, "header length 100000001 exceeds the limit of 100000000"),
    RAW("\x64\0\0\0\0\0\0\0{}      ", CNN_E_FORMAT, "header length 100 exceeds the 8 bytes after it"),
    RAW("\0\0\0\0\0\0\0\0", CNN_E_FORMAT, "header does not start with '{'"),
    {"[]", 0, CNN_E_FORMAT, "does not start with '{'", NULL, 0},
    {" {}", 0, CNN_E_FORMAT, "does not start with '{'", NULL, 0},
    {"{\"a\":{\"dtype\":\"F32\",}}", 0, CNN_E_FORMAT, "byte 28: expected a string key", NULL, 0},
    {"{\"a", 0, CNN_E_FORMAT, "unterminated string", NULL, 0},
    {"{" A_OK, 24, CNN_E_FORMAT, "unexpected end of header", NULL, 0},
    {"{}x", 0, CNN_E_FORMAT, "trailing characters after the JSON object", NULL, 0},
    RAW("\x08\0\0\0\0\0\0\0{}\0\0\0\0\0\0", CNN_E_FORMAT, "byte 10: trailing characters"), /* NUL padding */
    {"{" A_OK "," B_OK ",}", 36, CNN_E_FORMAT, "expected a string key", NULL, 0},
    {"{\"a\" " A_OK "}", 24, CNN_E_FORMAT, "expected ':'", NULL, 0},
    {"{" A_OK " " B_OK "}", 36, CNN_E_FORMAT, "expected ',' or '}'", NULL, 0},
    {"{\"a\":5}", 0, CNN_E_FORMAT, "expected '{'", NULL, 0},
    {"{\"a\":true}", 0, CNN_E_FORMAT, "expected '{'", NULL, 0},
    {"{" A_OK "," B_OK ",\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[36,36]}}", 36, CNN_E_FORMAT,
     "duplicate tensor 'a'", NULL, 0},
    {"{" A_OK ",\"b\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[24,36]}}", 36,
     CNN_E_FORMAT, "tensor 'b' has a duplicate key 'dtype'", NULL, 0},
    {"{\"__metadata__\":{\"k\":\"1\",\"j\":\"2\",\"k\":\"3\"}," A_OK "," B_OK "}", 36, CNN_E_FORMAT,
     "duplicate key 'k' in __metadata__", NULL, 0},
    {"{\"__metadata__\":{}," A_OK ",\"__metadata__\":{}," B_OK "}", 36, CNN_E_FORMAT,
     "duplicate key '__metadata__'", NULL, 0},
    {"{\"__metadata__\":{\"k\":1}," A_OK "," B_OK "}", 36, CNN_E_FORMAT, "expected a string", NULL, 0},
    {"{\"__metadata__\":{\"k\":{\"x\":\"y\"}}," A_OK "," B_OK "}", 36, CNN_E_FORMAT, "expected a string",
     NULL, 0},
    {"{\"a\":{\"dtype\":\"I64\",\"shape\":[2,3],\"data_offsets\":[0,48]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[48,60]}}",
     60, CNN_E_DTYPE, "tensor 'a' has dtype 'I64'; only F32, F16 and BF16", NULL, 0},
    {"{" A_OK "," B_OK ",\"step\":{\"dtype\":\"F33\",\"shape\":[],\"data_offsets\":[36,44]}}", 44,
     CNN_E_DTYPE, "tensor 'step' has dtype 'F33'", NULL, 0},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[0,24]}," B_OK "}", 36, CNN_E_SHAPE,
     "x.safetensors: tensor 'a' has shape (3, 2), expected (2, 3)", NULL, 0},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]}," B_OK "}", 36, CNN_E_SHAPE,
     "tensor 'a' has shape (6,), expected (2, 3)", NULL, 0},
    {"{" A_OK "," B_AT("1,3", "24", "36") "}", 36, CNN_E_SHAPE, "tensor 'b' has shape (1, 3), expected (3,)",
     NULL, 0},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,2,3],\"data_offsets\":[0,24]}," B_OK "}", 36, CNN_E_SHAPE,
     "tensor 'a' has shape (1, 1, 1, 2, ...), expected (2, 3)", NULL, 0},
    {"{" A_OK "}", 24, CNN_E_MISSING, "x.safetensors: tensor 'b' is missing", NULL, 0},
    {"{" A_OK ",\"B\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[24,36]}}", 36, CNN_E_MISSING,
     "tensor 'b' is missing", NULL, 0},
    {"{}", 0, CNN_E_MISSING, "tensor 'a' is missing", NULL, 0},
    {"{" A_OK "," B_OK "}", 30, CNN_E_FORMAT,
     "tensor 'b' has data_offsets [24, 36] beyond the 30-byte data area", NULL, 0},
    {"{" A_OK "," B_AT("3", "24", "18446744073709551615") "}", 36, CNN_E_FORMAT, "beyond the 36-byte", NULL,
     0},
    {"{" A_OK "," B_AT("0", "36", "24") "}", 36, CNN_E_FORMAT,
     "data_offsets [36, 24] that end before they begin", NULL, 0},
    {"{" A_OK "," B_AT("4", "24", "36") "}", 36, CNN_E_FORMAT,
     "tensor 'b' of shape (4,) in F32 needs 16 bytes, but data_offsets [24, 36] hold 12", NULL, 0},
    {"{\"a\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,24]}," B_OK "}", 36, CNN_E_FORMAT,
     "in F16 needs 12 bytes", NULL, 0},
    {"{" A_OK "," B_AT("3", "12", "24") "}", 24, CNN_E_FORMAT,
     "tensor 'b' [12, 24] overlaps tensor 'a' [0, 24]", NULL, 0},
    {"{" A_OK "," B_AT("0", "12", "12") "}", 24, CNN_E_FORMAT, "tensor 'b' [12, 12] overlaps tensor 'a'",
     NULL, 0},
    {"{" A_OK "," B_AT("3", "28", "40") "}", 40, CNN_E_FORMAT,
     "bytes [24, 28) of the data area belong to no tensor", NULL, 0},
    {"{" A_OK "," B_OK "}", 40, CNN_E_FORMAT, "bytes [36, 40) of the data area belong to no tensor", NULL, 0},
    {"{" A_OK "," B_AT("4294967296,4294967296,2", "24", "36") "}", 36, CNN_E_FORMAT,
     "tensor 'b' has a shape whose size overflows 64 bits", NULL, 0},
    {"{" A_OK "," B_AT("4294967296,4294967296,0", "24", "24") "}", 24, CNN_E_FORMAT, "overflows 64 bits",
     NULL, 0},
    {"{" A_OK "," B_AT("4611686018427387904", "24", "36") "}", 36, CNN_E_FORMAT, "overflows 64 bits", NULL,
     0},
    {"{" A_OK "," B_AT("9223372036854775808,0", "24", "24") "}", 24, CNN_E_FORMAT, "overflows 64 bits", NULL,
     0},
    {"{" A_OK "," B_AT("-3", "24", "36") "}", 36, CNN_E_FORMAT, "negative number", NULL, 0},
    {"{" A_OK "," B_AT("3.0", "24", "36") "}", 36, CNN_E_FORMAT, "number is not an integer", NULL, 0},
    {"{" A_OK "," B_AT("3e0", "24", "36") "}", 36, CNN_E_FORMAT, "number is not an integer", NULL, 0},
    {"{" A_OK "," B_AT("03", "24", "36") "}", 36, CNN_E_FORMAT, "leading zero", NULL, 0},
    {"{" A_OK "," B_AT("NaN", "24", "36") "}", 36, CNN_E_FORMAT, "expected a non-negative integer", NULL, 0},
    {"{" A_OK "," B_AT("3", "24", "18446744073709551616") "}", 36, CNN_E_FORMAT, "integer overflows 64 bits",
     NULL, 0},
    {"{" A_OK "," B_AT("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[3", "24", "36") "}", 36, CNN_E_FORMAT,
     "expected a non-negative integer", NULL, 0},
    {"{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]",
     0, CNN_E_FORMAT, "expected '{'", NULL, 0},
    {"{\"a\":{\"dtype\":{\"dtype\":{\"dtype\":{}}}}}", 0, CNN_E_FORMAT, "expected a string", NULL, 0},
    {"{" A_OK "," B_OK ",\"c\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[36]}}", 40, CNN_E_FORMAT,
     "tensor 'c' has 1 data_offsets, expected 2", NULL, 0},
    {"{" A_OK "," B_OK ",\"c\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[36,40,44]}}", 40,
     CNN_E_FORMAT, "tensor 'c' has more than 2 data_offsets", NULL, 0},
    {"{" A_OK ",\"b\":{\"dtype\":\"F32\",\"shape\":[3]}}", 36, CNN_E_FORMAT,
     "tensor 'b' has no 'data_offsets'", NULL, 0},
    {A_WITH("\"offsets\"", "[0,1]"), 36, CNN_E_FORMAT, "tensor 'a' has an unknown key 'offsets'", NULL, 0},
    {WITH_NAME("c\x01"), CNN_E_FORMAT, "control character in string", NULL, 0},
    {WITH_NAME("c\xff"), CNN_E_FORMAT, "invalid UTF-8 in string", NULL, 0},
    {WITH_NAME("c\xc0\xaf"), CNN_E_FORMAT, "invalid UTF-8 in string", NULL, 0},
    {WITH_NAME("c\xed\xa0\x80"), CNN_E_FORMAT, "invalid UTF-8 in string", NULL, 0},
    {WITH_NAME("c\xf4\x90\x80\x80"), CNN_E_FORMAT, "invalid UTF-8 in string", NULL, 0},
    {WITH_NAME("c\\ud800"), CNN_E_FORMAT, "unpaired surrogate", NULL, 0},
    {WITH_NAME("c\\udc00\\ud800"), CNN_E_FORMAT, "unpaired surrogate", NULL, 0},
    {WITH_NAME("c\\u00"), CNN_E_FORMAT, "bad \\u escape", NULL, 0},
    {WITH_NAME("c\\u0000"), CNN_E_FORMAT, "NUL character in string", NULL, 0},
    {WITH_NAME("c\\x"), CNN_E_FORMAT, "bad escape in string", NULL, 0},
};

START_TEST(test_bad_case) {
    const struct bad_case *bc = &bad_cases[_i];
    const char *path = scratch("x.safetensors");
    float sentinel, *data = &sentinel;
    unsigned char zeros[64] = {0};
    int rc;
    ck_assert(bc->data_len <= sizeof zeros);
    if (bc->header)
        write_st(path, bc->header, zeros, bc->data_len);
    else
        write_bytes(path, bc->raw, bc->raw_len);
    rc = cnn_st_load(path, two_specs, 2, &data);
    ck_assert_msg(rc == bc->code, "case %d: status %d, expected %d (%s)", _i, rc, bc->code,
                  cnn_st_strerror(rc));
    ck_assert_msg(strstr(cnn_st_strerror(rc), bc->message) != NULL, "case %d: message '%s' lacks '%s'", _i,
                  cnn_st_strerror(rc), bc->message);
    ck_assert_msg(!strncmp(cnn_st_strerror(rc), path, strlen(path)) &&
                      cnn_st_strerror(rc)[strlen(path)] == ':',
                  "case %d: message '%s' does not start with the file", _i, cnn_st_strerror(rc));
    ck_assert_msg(data == &sentinel, "case %d: *data was written on failure", _i);
}
END_TEST

START_TEST(test_open_errors) {
    float sentinel, *data = &sentinel;
    int rc = cnn_st_load(scratch("does-not-exist.safetensors"), two_specs, 2, &data);
    ck_assert_int_eq(rc, CNN_E_OPEN);
    ck_assert_ptr_nonnull(strstr(cnn_st_strerror(rc), "does-not-exist.safetensors: cannot open: "));
    rc = cnn_st_load(scratch_dir, two_specs, 2, &data);
    ck_assert_int_eq(rc, CNN_E_OPEN);
    ck_assert_ptr_nonnull(strstr(cnn_st_strerror(rc), "not a regular file"));
    ck_assert_int_eq(mkfifo(scratch("fifo"), 0600), 0); /* must not block waiting for a writer */
    ck_assert_int_eq(cnn_st_load(scratch("fifo"), two_specs, 2, &data), CNN_E_OPEN);
    ck_assert_ptr_nonnull(strstr(cnn_st_strerror(CNN_E_OPEN), "fifo: not a regular file"));
    ck_assert_int_eq(cnn_st_load(NULL, two_specs, 2, &data), CNN_E_OPEN);
    ck_assert_int_eq(cnn_st_load(scratch("x"), NULL, 2, &data), CNN_E_OPEN);
    ck_assert_int_eq(cnn_st_load(scratch("x"), two_specs, 2, NULL), CNN_E_OPEN);
    ck_assert_ptr_eq(data, &sentinel);
}
END_TEST

/* A spec list the file cannot satisfy because the spec itself is wrong. */
START_TEST(test_bad_specs) {
    static const cnn_tensor_spec rank5[] = {{"a", 5, {2, 3, 0, 0}}};
    static const cnn_tensor_spec noname[] = {{NULL, 1, {3, 0, 0, 0}}};
    float sentinel, *data = &sentinel;
    unsigned char zeros[36] = {0};
    const char *path = scratch("specs.safetensors");
    write_st(path, "{" A_OK "," B_OK "}", zeros, 36);
    ck_assert_int_eq(cnn_st_load(path, rank5, 1, &data), CNN_E_SHAPE);
    ck_assert_ptr_nonnull(strstr(cnn_st_strerror(CNN_E_SHAPE), "rank 5"));
    ck_assert_int_eq(cnn_st_load(path, noname, 1, &data), CNN_E_MISSING);
    ck_assert_ptr_eq(data, &sentinel);
}
END_TEST

/* Each file in tests/bad_weights/ with its expected status and message. */
START_TEST(test_bad_weights_dir) {
    static const struct {
        const char *name;
        int code;
    } codes[] = {
        {"E_OPEN", CNN_E_OPEN},   {"E_FORMAT", CNN_E_FORMAT},
        {"E_DTYPE", CNN_E_DTYPE}, {"E_MISSING", CNN_E_MISSING},
        {"E_SHAPE", CNN_E_SHAPE}, {"E_NOMEM", CNN_E_NOMEM},
        {"E_LIMIT", CNN_E_LIMIT}, {"OK", CNN_OK},
    };
    char line[512], path[512], file[128], code_name[32], message[256];
    FILE *manifest;
    DIR *dir;
    struct dirent *ent;
    int listed = 0, present = 0;
    snprintf(path, sizeof path, "%s/tests/bad_weights/MANIFEST", SRCDIR);
    manifest = fopen(path, "r");
    ck_assert_msg(manifest != NULL, "cannot open %s", path);
    while (fgets(line, sizeof line, manifest)) {
        float sentinel, *data = &sentinel;
        int code = 1, rc, k;
        message[0] = '\0';
        if (line[0] == '#' || line[0] == '\n') continue;
        ck_assert_msg(sscanf(line, "%127s %31s %255[^\n]", file, code_name, message) >= 2, "bad line: %s",
                      line);
        for (k = 0; k < (int)(sizeof codes / sizeof codes[0]); k++)
            if (!strcmp(codes[k].name, code_name)) code = codes[k].code;
        ck_assert_msg(code != 1, "unknown status %s", code_name);
        snprintf(path, sizeof path, "%s/tests/bad_weights/%s", SRCDIR, file);
        rc = cnn_st_load(path, two_specs, 2, &data);
        ck_assert_msg(rc == code, "%s: status %d, expected %s (%s)", file, rc, code_name,
                      cnn_st_strerror(rc));
        ck_assert_msg(strstr(cnn_st_strerror(rc), message) != NULL, "%s: message '%s' lacks '%s'", file,
                      cnn_st_strerror(rc), message);
        if (rc == CNN_OK)
            cnn_st_free(data);
        else
            ck_assert_ptr_eq(data, &sentinel);
        rc = cnn_st_load(path, NULL, 0, &data); /* must not crash either */
        if (rc == CNN_OK) cnn_st_free(data);
        listed++;
    }
    fclose(manifest);
    snprintf(path, sizeof path, "%s/tests/bad_weights", SRCDIR);
    dir = opendir(path);
    ck_assert(dir != NULL);
    while ((ent = readdir(dir)) != NULL)
        if (ent->d_name[0] != '.' && strcmp(ent->d_name, "MANIFEST")) present++;
    closedir(dir);
    ck_assert_msg(listed == present, "MANIFEST lists %d files, the directory holds %d", listed, present);
}
END_TEST

/* ---- reading good files ---------------------------------------------- */

static void put_f32(unsigned char *p, float f) {
    uint32_t u = bits_of(f);
    int b;
    for (b = 0; b < 4; b++) p[b] = (unsigned char)(u >> (8 * b));
}

START_TEST(test_read_declaration_order) {
    /* b comes first in the file, a first in the declaration */
    const char *header = "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"\\u00e9\"},\n"
                         "  \"b\" : {\"shape\": [3], \"dtype\": \"F32\", \"data_offsets\": [0, 12]},\n"
                         "\t\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[12,36]}}    ";
    unsigned char bytes[36];
    float *data = NULL;
    int i;
    for (i = 0; i < 9; i++) put_f32(bytes + 4 * i, (float)i + 0.5f);
    write_st(scratch("order.safetensors"), header, bytes, sizeof bytes);
    ck_assert_int_eq(cnn_st_load(scratch("order.safetensors"), two_specs, 2, &data), CNN_OK);
    for (i = 0; i < 6; i++) ck_assert_float_eq(data[i], (float)(i + 3) + 0.5f);
    for (i = 0; i < 3; i++) ck_assert_float_eq(data[6 + i], (float)i + 0.5f);
    ck_assert_int_eq(cnn_st_extra_count(), 0);
    cnn_st_free(data);
}
END_TEST

START_TEST(test_extras_and_escapes) {
    static const cnn_tensor_spec specs[] = {{"conv2d/kernel", 0, {0, 0, 0, 0}}};
    const char *header = "{\"z\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                         "\"conv2d\\/k\\u0065rnel\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[4,8]},"
                         "\"\\ud83d\\ude00\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[8,8]},"
                         "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]}}";
    unsigned char bytes[8];
    float *data = NULL;
    put_f32(bytes, 1.0f);
    put_f32(bytes + 4, -2.25f);
    write_st(scratch("extras.safetensors"), header, bytes, sizeof bytes);
    ck_assert_int_eq(cnn_st_load(scratch("extras.safetensors"), specs, 1, &data), CNN_OK);
    ck_assert_float_eq(data[0], -2.25f);
    ck_assert_int_eq(cnn_st_extra_count(), 3);
    /* byte order of the names */
    ck_assert_str_eq(cnn_st_extra_name(0), "e");
    ck_assert_str_eq(cnn_st_extra_name(1), "z");
    ck_assert_str_eq(cnn_st_extra_name(2), "\xf0\x9f\x98\x80");
    ck_assert_ptr_null(cnn_st_extra_name(3));
    ck_assert_ptr_null(cnn_st_extra_name(-1));
    cnn_st_free(data);
    /* a failed load keeps the list of the last successful one */
    ck_assert_int_eq(cnn_st_load(scratch("missing"), specs, 1, &data), CNN_E_OPEN);
    ck_assert_int_eq(cnn_st_extra_count(), 3);
    /* no specs: everything is extra */
    ck_assert_int_eq(cnn_st_load(scratch("extras.safetensors"), NULL, 0, &data), CNN_OK);
    ck_assert_int_eq(cnn_st_extra_count(), 4);
    cnn_st_free(data);
}
END_TEST

START_TEST(test_empty_file_ok) {
    float *data = NULL;
    write_st(scratch("empty.safetensors"), "{}      ", NULL, 0);
    ck_assert_int_eq(cnn_st_load(scratch("empty.safetensors"), NULL, 0, &data), CNN_OK);
    ck_assert_ptr_nonnull(data);
    ck_assert_int_eq(cnn_st_extra_count(), 0);
    cnn_st_free(data);
}
END_TEST

/* Independent definitions: value = (-1)^s * significand * 2^exponent. */
static float f16_reference(unsigned h) {
    int sign = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    float v;
    if (e == 31)
        v = m ? NAN : INFINITY;
    else if (e == 0)
        v = ldexpf((float)m, -24);
    else
        v = ldexpf((float)(1024 + m), e - 25);
    return sign ? -v : v;
}

static float bf16_reference(unsigned h) {
    int sign = h >> 15, e = (h >> 7) & 255, m = h & 127;
    float v;
    if (e == 255)
        v = m ? NAN : INFINITY;
    else if (e == 0)
        v = ldexpf((float)m, -133);
    else
        v = ldexpf((float)(128 + m), e - 134);
    return sign ? -v : v;
}

/* All 65536 values of a 16-bit dtype, in one tensor; returns the floats. */
static float *load_all_halves(const char *dtype) {
    static const cnn_tensor_spec spec[] = {{"h", 1, {65536, 0, 0, 0}}};
    char header[128];
    unsigned char *bytes = malloc(2 * 65536);
    float *data = NULL;
    unsigned h;
    ck_assert(bytes != NULL);
    for (h = 0; h < 65536; h++) {
        bytes[2 * h] = (unsigned char)(h & 0xFF);
        bytes[2 * h + 1] = (unsigned char)(h >> 8);
    }
    snprintf(header, sizeof header,
             "{\"h\":{\"dtype\":\"%s\",\"shape\":[65536],\"data_offsets\":[0,131072]}}", dtype);
    write_st(scratch("halves.safetensors"), header, bytes, 2 * 65536);
    free(bytes);
    ck_assert_int_eq(cnn_st_load(scratch("halves.safetensors"), spec, 1, &data), CNN_OK);
    return data;
}

static void check_halves(const float *data, float (*reference)(unsigned)) {
    unsigned h;
    for (h = 0; h < 65536; h++) {
        float want = reference(h);
        if (isnan(want))
            ck_assert_msg(isnan(data[h]) && signbit(data[h]) == signbit(want), "0x%04x: %g, expected NaN", h,
                          (double)data[h]);
        else
            ck_assert_msg(bits_of(data[h]) == bits_of(want), "0x%04x: %a, expected %a", h, (double)data[h],
                          (double)want);
    }
}

START_TEST(test_f16_exact) {
    float *data = load_all_halves("F16");
    check_halves(data, f16_reference);
    /* spot values, written out */
    ck_assert(data[0x0001] == 5.9604644775390625e-08f); /* smallest subnormal, 2^-24 */
    ck_assert(data[0x03ff] == 6.097555160522461e-05f);  /* largest subnormal */
    ck_assert(data[0x0400] == 6.103515625e-05f);        /* smallest normal, 2^-14 */
    ck_assert(data[0x3c00] == 1.0f);
    ck_assert(data[0x3555] == 0.333251953125f);
    ck_assert(data[0xc000] == -2.0f);
    ck_assert(data[0x7bff] == 65504.0f);
    ck_assert(isinf(data[0x7c00]) && data[0x7c00] > 0);
    ck_assert(isinf(data[0xfc00]) && data[0xfc00] < 0);
    ck_assert(isnan(data[0x7e00]) && isnan(data[0x7c01]));
    ck_assert_uint_eq(bits_of(data[0x7e00]), 0x7fc00000u); /* quiet NaN keeps its payload */
    ck_assert_uint_eq(bits_of(data[0x8000]), 0x80000000u); /* -0 */
    ck_assert_uint_eq(bits_of(data[0x8001]), 0xb3800000u); /* -2^-24 */
    cnn_st_free(data);
}
END_TEST

START_TEST(test_bf16_exact) {
    float *data = load_all_halves("BF16");
    unsigned h;
    check_halves(data, bf16_reference);
    for (h = 0; h < 65536; h++) /* BF16 is the top half of a float32, NaN payloads included */
        ck_assert_uint_eq(bits_of(data[h]), (uint32_t)h << 16);
    ck_assert(data[0x3f80] == 1.0f);
    ck_assert(data[0x0001] == ldexpf(1.0f, -133)); /* subnormal */
    ck_assert(isinf(data[0x7f80]) && isinf(data[0xff80]));
    cnn_st_free(data);
}
END_TEST

START_TEST(test_mixed_dtypes) {
    static const cnn_tensor_spec specs[] = {
        {"w16", 1, {2, 0, 0, 0}}, {"w32", 1, {1, 0, 0, 0}}, {"wb", 1, {3, 0, 0, 0}}};
    const char *header = "{\"w32\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                         "\"w16\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[4,8]},"
                         "\"wb\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[8,14]}}";
    /* 1.5f; F16 -1.0, 0.5; BF16 1.0, -3.0, 2^-126 */
    static const unsigned char bytes[14] = {0,    0,    0xc0, 0x3f, 0x00, 0xbc, 0x00,
                                            0x38, 0x80, 0x3f, 0x40, 0xc0, 0x80, 0x00};
    float *data = NULL;
    write_st(scratch("mixed.safetensors"), header, bytes, sizeof bytes);
    ck_assert_int_eq(cnn_st_load(scratch("mixed.safetensors"), specs, 3, &data), CNN_OK);
    ck_assert(data[0] == -1.0f && data[1] == 0.5f && data[2] == 1.5f);
    ck_assert(data[3] == 1.0f && data[4] == -3.0f && data[5] == ldexpf(1.0f, -126));
    cnn_st_free(data);
}
END_TEST

/* 64-bit offsets: a small tensor after 3 GiB of (sparse) data. */
START_TEST(test_offsets_beyond_4gb) {
    static const cnn_tensor_spec spec[] = {{"tail", 1, {2, 0, 0, 0}}};
    const char *header =
        "{\"big\":{\"dtype\":\"F32\",\"shape\":[1073741824],\"data_offsets\":[0,4294967296]},"
        "\"tail\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4294967296,4294967304]}}";
    const char *path = scratch("big.safetensors");
    uint64_t data_start = 8 + strlen(header);
    unsigned char tail[8];
    float *data = NULL;
    int fd;
    write_st(path, header, NULL, 0);
    put_f32(tail, 3.25f);
    put_f32(tail + 4, -7.0f);
    fd = open(path, O_WRONLY);
    ck_assert(fd >= 0);
    if (ftruncate(fd, (off_t)(data_start + 4294967304ull)) < 0 ||
        pwrite(fd, tail, 8, (off_t)(data_start + 4294967296ull)) != 8) {
        close(fd);
        unlink(path);
        ck_abort_msg("cannot make a sparse 4 GiB file: %s", strerror(errno));
    }
    close(fd);
    ck_assert_int_eq(cnn_st_load(path, spec, 1, &data), CNN_OK);
    unlink(path);
    ck_assert(data[0] == 3.25f && data[1] == -7.0f);
    ck_assert_int_eq(cnn_st_extra_count(), 1);
    cnn_st_free(data);
}
END_TEST

/* ---- writing --------------------------------------------------------- */

START_TEST(test_write_reference_bytes) {
    /* The example of the reference implementation's tests. */
    static const cnn_tensor_spec spec[] = {{"attn0", 4, {1, 1, 2, 3}}};
    static const float values[6] = {0, 1, 2, 3, 4, 5};
    const float *data[1] = {values};
    const char *json = "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}       ";
    unsigned char expected[8 + 72 + 24] = {72};
    unsigned char *got;
    size_t len;
    int i;
    ck_assert_uint_eq(strlen(json), 72);
    memcpy(expected + 8, json, 72);
    for (i = 0; i < 6; i++) put_f32(expected + 80 + 4 * i, values[i]);
    ck_assert_int_eq(cnn_st_write(scratch("ref.safetensors"), spec, 1, data), CNN_OK);
    got = read_whole(scratch("ref.safetensors"), &len);
    ck_assert_uint_eq(len, sizeof expected);
    ck_assert_mem_eq(got, expected, sizeof expected);
    free(got);
}
END_TEST

START_TEST(test_round_trip) {
    static const cnn_tensor_spec specs[] = {
        {"conv2d/kernel", 4, {2, 3, 1, 2}},
        {"conv2d/bias", 1, {2, 0, 0, 0}},
        {"scalar", 0, {0, 0, 0, 0}},
        {"empty", 2, {4, 0, 0, 0}},
        {"quote\"back\\slash/tab\tend", 1, {3, 0, 0, 0}},
        {"\xc3\xbcnicode", 3, {1, 2, 2, 0}},
    };
    float kernel[12], bias[2] = {-0.0f, 1e-45f}, scalar = 3.0f, three[3], four[4];
    const float *data[6] = {kernel, bias, &scalar, NULL, three, four};
    cnn_tensor_spec reversed[6];
    float *loaded = NULL;
    unsigned char *file;
    size_t len;
    uint64_t header_len = 0;
    int i, b;
    for (i = 0; i < 12; i++) kernel[i] = (float)i / 7.0f - 0.8f;
    three[0] = INFINITY;
    three[1] = -INFINITY;
    three[2] = float_of(0x7fc12345u); /* a NaN with a payload */
    for (i = 0; i < 4; i++) four[i] = (float)(i * i) * 1e30f;
    ck_assert_int_eq(cnn_st_write(scratch("rt.safetensors"), specs, 6, data), CNN_OK);

    file = read_whole(scratch("rt.safetensors"), &len);
    for (b = 7; b >= 0; b--) header_len = header_len << 8 | file[b];
    ck_assert_uint_eq(header_len % 8, 0);
    ck_assert_uint_eq(len, 8 + header_len + 4 * (12 + 2 + 1 + 3 + 4));
    ck_assert_int_eq(file[8], '{');
    free(file);

    for (i = 0; i < 6; i++) reversed[i] = specs[5 - i];
    ck_assert_int_eq(cnn_st_load(scratch("rt.safetensors"), reversed, 6, &loaded), CNN_OK);
    ck_assert_int_eq(cnn_st_extra_count(), 0);
    ck_assert_mem_eq(loaded, four, sizeof four);
    ck_assert_mem_eq(loaded + 4, three, sizeof three);
    ck_assert_mem_eq(loaded + 7, &scalar, sizeof scalar);
    ck_assert_mem_eq(loaded + 8, bias, sizeof bias);
    ck_assert_mem_eq(loaded + 10, kernel, sizeof kernel);
    cnn_st_free(loaded);
}
END_TEST

START_TEST(test_write_rejects_bad_specs) {
    static const float one[4] = {1, 2, 3, 4};
    const float *data[2] = {one, one};
    const char *path = scratch("bad-specs.safetensors");
    cnn_tensor_spec specs[2] = {{"a", 1, {4, 0, 0, 0}}, {"a", 1, {4, 0, 0, 0}}};
    ck_assert_int_eq(cnn_st_write(path, specs, 2, data), CNN_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(cnn_st_strerror(CNN_E_FORMAT), "duplicate tensor 'a'"));
    specs[1].name = "__metadata__";
    ck_assert_int_eq(cnn_st_write(path, specs, 2, data), CNN_E_FORMAT);
    specs[1].name = "bad\xff";
    ck_assert_int_eq(cnn_st_write(path, specs, 2, data), CNN_E_FORMAT);
    specs[1].name = "b";
    specs[1].rank = 5;
    ck_assert_int_eq(cnn_st_write(path, specs, 2, data), CNN_E_SHAPE);
    specs[1].rank = 1;
    specs[1].shape[0] = -4;
    ck_assert_int_eq(cnn_st_write(path, specs, 2, data), CNN_E_SHAPE);
    specs[1].rank = 3;
    specs[1].shape[0] = specs[1].shape[1] = specs[1].shape[2] = 1ll << 40;
    ck_assert_int_eq(cnn_st_write(path, specs, 2, data), CNN_E_LIMIT);
    specs[1].rank = 1;
    specs[1].shape[0] = 4;
    data[1] = NULL;
    ck_assert_int_eq(cnn_st_write(path, specs, 2, data), CNN_E_MISSING);
    ck_assert_int_eq(access(path, F_OK), -1);
    ck_assert_int_eq(count_files("bad-specs"), 0);
}
END_TEST

static const cnn_tensor_spec one_spec[] = {{"w", 1, {4, 0, 0, 0}}};
static const float one_values[4] = {1, 2, 3, 4};

START_TEST(test_write_unwritable_places) {
    const float *data[1] = {one_values};
    char path[300];
    write_bytes(scratch("plain-file"), "x", 1);
    snprintf(path, sizeof path, "%s/no-such-dir/w.safetensors", scratch_dir);
    ck_assert_int_eq(cnn_st_write(path, one_spec, 1, data), CNN_E_OPEN);
    ck_assert_ptr_nonnull(strstr(cnn_st_strerror(CNN_E_OPEN), "cannot create a temporary file"));
    snprintf(path, sizeof path, "%s/plain-file/w.safetensors", scratch_dir);
    ck_assert_int_eq(cnn_st_write(path, one_spec, 1, data), CNN_E_OPEN);
    /* rename over a non-empty directory fails after the data is written */
    ck_assert_int_eq(mkdir(scratch("target-dir"), 0755), 0);
    write_bytes(scratch("target-dir/keep"), "k", 1);
    ck_assert_int_eq(cnn_st_write(scratch("target-dir"), one_spec, 1, data), CNN_E_OPEN);
    ck_assert_ptr_nonnull(strstr(cnn_st_strerror(CNN_E_OPEN), "cannot rename over the file"));
    ck_assert_int_eq(count_files("target-dir"), 1); /* no temporary file left */
}
END_TEST

/* Non-root only: a directory we may not write to. */
START_TEST(test_write_readonly_dir) {
    const float *data[1] = {one_values};
    unsigned char *before, *after;
    size_t len_before, len_after;
    char path[300];
    if (geteuid() == 0) return; /* root writes anywhere; the file-size limit test covers this case */
    ck_assert_int_eq(mkdir(scratch("ro"), 0755), 0);
    snprintf(path, sizeof path, "%s/ro/w.safetensors", scratch_dir);
    write_bytes(path, "old contents", 12);
    ck_assert_int_eq(chmod(scratch("ro"), 0555), 0);
    ck_assert_int_eq(cnn_st_write(path, one_spec, 1, data), CNN_E_OPEN);
    ck_assert_int_eq(chmod(scratch("ro"), 0755), 0);
    before = (unsigned char *)"old contents";
    len_before = 12;
    after = read_whole(path, &len_after);
    ck_assert_uint_eq(len_after, len_before);
    ck_assert_mem_eq(after, before, len_before);
    free(after);
}
END_TEST

/* A write that fails halfway (file size limit) leaves the old file and no temporary. */
START_TEST(test_write_fails_midway) {
    static const cnn_tensor_spec big[] = {{"w", 1, {100000, 0, 0, 0}}};
    float *values = calloc(100000, sizeof(float));
    const float *data[1];
    const char *path = scratch("midway.safetensors");
    int rc;
    struct rlimit old, limit;
    unsigned char *after;
    size_t len;
    ck_assert(values != NULL);
    data[0] = values;
    write_bytes(path, "old contents", 12);
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    limit = old;
    limit.rlim_cur = 4096;
    signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &limit), 0);
    rc = cnn_st_write(path, big, 1, data);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_DFL);
    ck_assert_int_eq(rc, CNN_E_OPEN);
    ck_assert_ptr_nonnull(strstr(cnn_st_strerror(CNN_E_OPEN), "cannot write the file"));
    after = read_whole(path, &len);
    ck_assert_uint_eq(len, 12);
    ck_assert_mem_eq(after, "old contents", 12);
    ck_assert_int_eq(count_files("midway.safetensors"), 1);
    free(after);
    free(values);
}
END_TEST

START_TEST(test_write_replaces_keeping_mode) {
    const float *data[1] = {one_values};
    const char *path = scratch("replace.safetensors");
    float *loaded = NULL;
    struct stat sb;
    write_bytes(path, "old contents", 12);
    ck_assert_int_eq(chmod(path, 0640), 0);
    ck_assert_int_eq(cnn_st_write(path, one_spec, 1, data), CNN_OK);
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0640);
    ck_assert_int_eq(count_files("replace.safetensors"), 1);
    ck_assert_int_eq(cnn_st_load(path, one_spec, 1, &loaded), CNN_OK);
    ck_assert_mem_eq(loaded, one_values, sizeof one_values);
    cnn_st_free(loaded);
}
END_TEST

START_TEST(test_generic_messages) {
    ck_assert_str_eq(cnn_st_strerror(CNN_OK), "success");
    ck_assert_str_eq(cnn_st_strerror(CNN_E_NOMEM), "out of memory");
    ck_assert_str_eq(cnn_st_strerror(12345), "unknown error");
}
END_TEST

static Suite *safetensors_suite(void) {
    Suite *s = suite_create("safetensors");
    TCase *bad = tcase_create("bad files"), *read = tcase_create("read"), *write = tcase_create("write");
    tcase_add_loop_test(bad, test_bad_case, 0, (int)(sizeof bad_cases / sizeof bad_cases[0]));
    tcase_add_test(bad, test_open_errors);
    tcase_add_test(bad, test_bad_specs);
    tcase_add_test(bad, test_bad_weights_dir);
    tcase_add_test(read, test_read_declaration_order);
    tcase_add_test(read, test_extras_and_escapes);
    tcase_add_test(read, test_empty_file_ok);
    tcase_add_test(read, test_f16_exact);
    tcase_add_test(read, test_bf16_exact);
    tcase_add_test(read, test_mixed_dtypes);
    tcase_add_test(read, test_offsets_beyond_4gb);
    tcase_set_timeout(read, 60);
    tcase_add_test(write, test_write_reference_bytes);
    tcase_add_test(write, test_round_trip);
    tcase_add_test(write, test_write_rejects_bad_specs);
    tcase_add_test(write, test_write_unwritable_places);
    tcase_add_test(write, test_write_readonly_dir);
    tcase_add_test(write, test_write_fails_midway);
    tcase_add_test(write, test_write_replaces_keeping_mode);
    tcase_add_test(write, test_generic_messages);
    suite_add_tcase(s, bad);
    suite_add_tcase(s, read);
    suite_add_tcase(s, write);
    return s;
}

/* Remove the scratch directory, one level of subdirectories deep. */
static void remove_tree(const char *path) {
    DIR *dir = opendir(path);
    struct dirent *ent;
    char child[512];
    if (!dir) return;
    while ((ent = readdir(dir)) != NULL) {
        if (!strcmp(ent->d_name, ".") || !strcmp(ent->d_name, "..")) continue;
        snprintf(child, sizeof child, "%s/%s", path, ent->d_name);
        if (unlink(child) < 0) remove_tree(child);
    }
    closedir(dir);
    rmdir(path);
}

int main(void) {
    SRunner *runner;
    int failed;
    strcpy(scratch_dir, "/tmp/test_safetensors.XXXXXX");
    if (!mkdtemp(scratch_dir)) {
        perror("mkdtemp");
        return 1;
    }
    runner = srunner_create(safetensors_suite());
    srunner_run_all(runner, CK_ENV);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    remove_tree(scratch_dir);
    return failed ? 1 : 0;
}
