/*
 * test_reload.c — m_load_weights is all or nothing: a load that fails (a
 * missing file, a truncated file, a tensor of another shape, a wrong dtype)
 * returns a negative code with a message and leaves the weights loaded
 * before it exactly as they were, so inference gives the same bits.
 *
 * Built with the generated LeNet-5 (runtime-loaded weights), see Makefile.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnnrt.h"
#include "lenet5.h"

#define GOLDEN SRCDIR "/tests/fixtures/lenet5_golden.safetensors"

static float input[LENET5_INPUT_SIZE];

static void infer(float *out) {
    for (int i = 0; i < LENET5_INPUT_SIZE; i++) input[i] = (float)((i * 37) % 101) / 100.0f;
    lenet5_infer(input, out);
}

/* Copy the golden file into `path`, cut to `keep` bytes (all if negative). */
static void truncated_copy(const char *path, long keep) {
    FILE *in = fopen(GOLDEN, "rb"), *out = fopen(path, "wb");
    ck_assert(in && out);
    int c;
    for (long n = 0; (keep < 0 || n < keep) && (c = fgetc(in)) != EOF; n++) fputc(c, out);
    fclose(in);
    fclose(out);
}

static void expect_failed_load_keeps(const char *path, int code) {
    float before[LENET5_OUTPUT_SIZE], after[LENET5_OUTPUT_SIZE];
    ck_assert_int_eq(lenet5_load_weights(GOLDEN), 0);
    infer(before);
    int rc = lenet5_load_weights(path);
    ck_assert_int_eq(rc, code);
    ck_assert_ptr_nonnull(strstr(lenet5_strerror(rc), path));
    infer(after);
    ck_assert_mem_eq(before, after, sizeof before);
}

START_TEST(missing_file) {
    expect_failed_load_keeps("/nonexistent/lenet5.safetensors", CNN_E_OPEN);
}
END_TEST

START_TEST(truncated_file) {
    truncated_copy("reload_truncated.safetensors", 4000);
    expect_failed_load_keeps("reload_truncated.safetensors", CNN_E_FORMAT);
    remove("reload_truncated.safetensors");
}
END_TEST

START_TEST(missing_tensor) {
    /* A valid file holding one tensor of the ten. */
    static float data[84 * 10];
    cnn_tensor_spec spec = {"dense_2/kernel", 2, {84, 10}};
    const float *ptr = data;
    ck_assert_int_eq(cnn_st_write("reload_missing.safetensors", &spec, 1, &ptr), 0);
    expect_failed_load_keeps("reload_missing.safetensors", CNN_E_MISSING);
    ck_assert_ptr_nonnull(strstr(lenet5_strerror(CNN_E_MISSING), "conv2d/kernel"));
    remove("reload_missing.safetensors");
}
END_TEST

START_TEST(wrong_shape) {
    /* Every LeNet-5 tensor, but dense_2/kernel is (84, 9) instead of (84, 10). */
    static float data[400 * 120];
    static const cnn_tensor_spec specs[] = {{"conv2d/kernel", 4, {5, 5, 1, 6}},    {"conv2d/bias", 1, {6}},
                                            {"conv2d_1/kernel", 4, {5, 5, 6, 16}}, {"conv2d_1/bias", 1, {16}},
                                            {"dense/kernel", 2, {400, 120}},       {"dense/bias", 1, {120}},
                                            {"dense_1/kernel", 2, {120, 84}},      {"dense_1/bias", 1, {84}},
                                            {"dense_2/kernel", 2, {84, 9}},        {"dense_2/bias", 1, {10}}};
    const float *ptrs[10];
    for (int i = 0; i < 10; i++) ptrs[i] = data;
    ck_assert_int_eq(cnn_st_write("reload_shape.safetensors", specs, 10, ptrs), 0);
    expect_failed_load_keeps("reload_shape.safetensors", CNN_E_SHAPE);
    ck_assert_ptr_nonnull(strstr(lenet5_strerror(CNN_E_SHAPE), "dense_2/kernel"));
    remove("reload_shape.safetensors");
}
END_TEST

START_TEST(good_load_changes_weights) {
    float golden[LENET5_OUTPUT_SIZE], zeros[LENET5_OUTPUT_SIZE];
    ck_assert_int_eq(lenet5_load_weights(GOLDEN), 0);
    infer(golden);
    /* Keras-default weights with zero biases from cnncc --init-weights give another answer. */
    ck_assert_int_eq(lenet5_load_weights(BUILDDIR "/reload_init.safetensors"), 0);
    infer(zeros);
    ck_assert(memcmp(golden, zeros, sizeof golden) != 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("reload");
    TCase *tc = tcase_create("all or nothing");
    tcase_add_test(tc, missing_file);
    tcase_add_test(tc, truncated_file);
    tcase_add_test(tc, missing_tensor);
    tcase_add_test(tc, wrong_shape);
    tcase_add_test(tc, good_load_changes_weights);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
