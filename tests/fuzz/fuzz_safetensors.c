/*
 * fuzz_safetensors.c — libFuzzer target for cnn_st_load.
 *
 * Each input is written to one scratch file (in /dev/shm when it exists,
 * to keep the loop in memory) and loaded twice: with the declared tensors
 * the unit test uses for tests/bad_weights/ (a (2, 3), b (3,)), and with
 * no declaration at all, which walks the extras list.  On success every
 * float is read so that ASan sees the whole block.
 *
 *   mkdir -p build/fuzz/corpus_safetensors
 *   clang -g -O1 -std=c99 -D_POSIX_C_SOURCE=200809L -fsanitize=fuzzer,address,undefined \
 *     -fno-sanitize-recover=all -Iruntime tests/fuzz/fuzz_safetensors.c \
 *     runtime/safetensors.c runtime/safetensors_write.c runtime/json_min.c \
 *     -o build/fuzz/fuzz_safetensors
 *   build/fuzz/fuzz_safetensors -dict=tests/fuzz/safetensors.dict -max_len=4096 \
 *     -max_total_time=600 -artifact_prefix=build/fuzz/ \
 *     build/fuzz/corpus_safetensors tests/fuzz/corpus_safetensors
 *
 * A crash leaves build/fuzz/crash-*: add it to tests/bad_weights/ with a
 * MANIFEST line (status and message), which test_safetensors replays.
 */
#include "cnnrt.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size);

static const cnn_tensor_spec specs[] = {
    {"a", 2, {2, 3, 0, 0}},
    {"b", 1, {3, 0, 0, 0}},
};

static char scratch[64];

static void remove_scratch(void) {
    unlink(scratch);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    int fd;
    (void)argc;
    (void)argv;
    strcpy(scratch, access("/dev/shm", W_OK) == 0 ? "/dev/shm/fuzz_st.XXXXXX" : "/tmp/fuzz_st.XXXXXX");
    fd = mkstemp(scratch);
    if (fd < 0) {
        perror("mkstemp");
        abort();
    }
    close(fd);
    atexit(remove_scratch);
    return 0;
}

static volatile float sink;

static void consume(const float *data, size_t count) {
    float sum = 0;
    size_t i;
    for (i = 0; i < count; i++) sum += data[i];
    sink = sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size) {
    FILE *f = fopen(scratch, "wb");
    float *data = NULL;
    int rc, i;
    if (!f || (size && fwrite(bytes, 1, size, f) != size) || fclose(f) != 0) abort();
    rc = cnn_st_load(scratch, specs, 2, &data);
    if (rc == CNN_OK) {
        consume(data, 9);
        cnn_st_free(data);
    } else if (data != NULL || strlen(cnn_st_strerror(rc)) == 0) {
        abort(); /* nothing returned on failure, and always a message */
    }
    data = NULL;
    rc = cnn_st_load(scratch, NULL, 0, &data);
    if (rc == CNN_OK) {
        for (i = 0; i < cnn_st_extra_count(); i++)
            if (!cnn_st_extra_name(i)) abort();
        cnn_st_free(data);
    } else if (data != NULL) {
        abort();
    }
    return 0;
}
