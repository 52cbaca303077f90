/*
 * Unit tests for the bump allocator (core/arena.c): every allocation aligned for any type
 * and zero-filled, big requests in chunks of their own, the byte limit enforced with NULL
 * (never a crash), string helpers, and release leaving a reusable arena.
 */
#include "core/arena.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN 16

static int arena_setup(void **state)
{
    struct core_arena *a = malloc(sizeof(*a));
    if (!a)
        return -1;
    core_arena_init(a, 0);
    *state = a;
    return 0;
}

static int arena_teardown(void **state)
{
    struct core_arena *a = *state;
    core_arena_release(a);
    free(a);
    return 0;
}

static bool all_zero(const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i])
            return false;
    return true;
}

static size_t rounded(size_t n)
{
    if (n == 0)
        n = 1;
    return (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
}

static void test_arena_init_starts_empty(void **state)
{
    struct core_arena *a = *state;
    assert_null(a->head);
    assert_int_equal(a->used, 0);
    assert_int_equal(a->limit, 0);
}

static void test_arena_aligns_every_allocation_to_16_bytes(void **state)
{
    struct core_arena *a = *state;
    /* Odd sizes back to back: each one must still start on a 16-byte boundary. */
    for (size_t size = 0; size < 300; size++) {
        void *p = core_arena_alloc(a, size);
        assert_non_null(p);
        if ((uintptr_t)p % ALIGN != 0)
            fail_msg("allocation of %zu bytes at %p is not 16-byte aligned", size, p);
    }
    /* Across chunk boundaries too: 64 KiB chunks fill up after a few thousand of these. */
    for (size_t i = 0; i < 5000; i++) {
        void *p = core_arena_alloc(a, 1 + i % 37);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % ALIGN, 0);
    }
}

static void test_arena_allocations_are_zero_filled(void **state)
{
    struct core_arena *a = *state;
    /* Dirty memory, free it, and allocate again: fresh chunks may reuse the dirty bytes. */
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < 2000; i++) {
            size_t size = 1 + (i * 7) % 200;
            unsigned char *p = core_arena_alloc(a, size);
            assert_non_null(p);
            if (!all_zero(p, rounded(size)))
                fail_msg("round %d: allocation %zu of %zu bytes is not zero-filled", round, i,
                         size);
            memset(p, 0xA5, rounded(size));
        }
        core_arena_release(a);
    }
}

static void test_arena_counts_used_bytes_rounded_up(void **state)
{
    struct core_arena *a = *state;
    size_t expect = 0;
    const size_t sizes[] = {0, 1, 15, 16, 17, 31, 32, 33, 100, 1000};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        assert_non_null(core_arena_alloc(a, sizes[i]));
        expect += rounded(sizes[i]);
        assert_int_equal(a->used, expect);
    }
}

static void test_arena_zero_size_allocations_are_distinct(void **state)
{
    struct core_arena *a = *state;
    char *p = core_arena_alloc(a, 0);
    char *q = core_arena_alloc(a, 0);
    assert_non_null(p);
    assert_non_null(q);
    assert_ptr_not_equal(p, q);
}

static void test_arena_consecutive_small_allocations_do_not_overlap(void **state)
{
    struct core_arena *a = *state;
    unsigned char *prev = NULL;
    size_t prev_size = 0;
    for (size_t i = 0; i < 1000; i++) {
        size_t size = 1 + i % 50;
        unsigned char *p = core_arena_alloc(a, size);
        assert_non_null(p);
        memset(p, (int)(i & 0xFF), size);
        if (prev) {
            /* The previous block still holds its own pattern after this one was written. */
            for (size_t k = 0; k < prev_size; k++)
                assert_int_equal(prev[k], (i - 1) & 0xFF);
        }
        prev = p;
        prev_size = size;
    }
}

static void test_arena_large_blocks_are_usable_aligned_and_zeroed(void **state)
{
    struct core_arena *a = *state;
    const size_t sizes[] = {16 * 1024 + 1, 64 * 1024, 64 * 1024 + 1, 1 << 20, 10 << 20};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        unsigned char *p = core_arena_alloc(a, sizes[i]);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % ALIGN, 0);
        assert_true(all_zero(p, sizes[i]));
        memset(p, 0x5A, sizes[i]); /* ASan catches any byte past the block */
        assert_int_equal(p[sizes[i] - 1], 0x5A);
    }
}

static void test_arena_large_block_keeps_the_current_chunk_for_small_ones(void **state)
{
    struct core_arena *a = *state;
    char *small1 = core_arena_alloc(a, 16);
    assert_non_null(small1);
    /* Fill most of the first chunk so the big request does not fit in what is left. */
    assert_non_null(core_arena_alloc(a, 60 * 1024 - 16));
    char *big = core_arena_alloc(a, 32 * 1024);
    assert_non_null(big);
    char *small2 = core_arena_alloc(a, 16);
    assert_non_null(small2);
    /* small2 comes from the tail of the first chunk, right after the filler. */
    assert_ptr_equal(small2, small1 + 60 * 1024);
    size_t used = a->used;
    assert_int_equal(used, 16 + (60 * 1024 - 16) + 32 * 1024 + 16);
}

static void test_arena_limit_makes_allocation_return_null(void **state)
{
    (void)state;
    struct core_arena a;
    core_arena_init(&a, 1000);
    size_t ok = 0;
    while (core_arena_alloc(&a, 16))
        ok++;
    /* 62 * 16 = 992 fits; a 63rd block would make 1008 > 1000. */
    assert_int_equal(ok, 62);
    assert_int_equal(a.used, 992);
    assert_true(a.used <= a.limit);
    /* 8 bytes are left, but every request is rounded to 16 first: even 1 byte fails, and a
     * failed request changes nothing. */
    assert_null(core_arena_alloc(&a, 8));
    assert_null(core_arena_alloc(&a, 1));
    assert_int_equal(a.used, 992);
    core_arena_release(&a);
}

static void test_arena_limit_refuses_a_single_request_larger_than_the_limit(void **state)
{
    (void)state;
    struct core_arena a;
    core_arena_init(&a, 4096);
    assert_null(core_arena_alloc(&a, 4097));
    assert_null(core_arena_alloc(&a, (size_t)1 << 40));
    assert_int_equal(a.used, 0);
    assert_non_null(core_arena_alloc(&a, 4096));
    assert_null(core_arena_alloc(&a, 1));
    core_arena_release(&a);
}

static void test_arena_refuses_sizes_that_would_overflow(void **state)
{
    struct core_arena *a = *state;
    assert_null(core_arena_alloc(a, SIZE_MAX));
    assert_null(core_arena_alloc(a, SIZE_MAX - 1));
    assert_null(core_arena_alloc(a, SIZE_MAX - ALIGN + 1));
    assert_null(core_arena_strndup(a, "x", SIZE_MAX));
    assert_int_equal(a->used, 0);
    /* Still usable afterwards. */
    assert_non_null(core_arena_alloc(a, 10));
}

static void test_arena_strndup_copies_exactly_len_bytes(void **state)
{
    struct core_arena *a = *state;
    char *s = core_arena_strndup(a, "hello world", 5);
    assert_non_null(s);
    assert_string_equal(s, "hello");
    char *e = core_arena_strndup(a, "abc", 0);
    assert_non_null(e);
    assert_string_equal(e, "");
    /* Embedded NUL bytes are copied, not stopped at. */
    char *b = core_arena_strndup(a, "a\0b", 3);
    assert_non_null(b);
    assert_memory_equal(b, "a\0b", 4);
    /* A NULL source is fine when nothing is copied. */
    char *z = core_arena_strndup(a, NULL, 0);
    assert_non_null(z);
    assert_string_equal(z, "");
}

static void test_arena_strdup_copies_the_whole_string(void **state)
{
    struct core_arena *a = *state;
    const char *src = "gpuform stacks";
    char *s = core_arena_strdup(a, src);
    assert_non_null(s);
    assert_ptr_not_equal(s, src);
    assert_string_equal(s, src);
    assert_int_equal((uintptr_t)s % ALIGN, 0);
}

static void test_arena_printf_formats_into_the_arena(void **state)
{
    struct core_arena *a = *state;
    char *s = core_arena_printf(a, "%s '%s' has %d nodes (%.1f%%)", "workload", "train", 4, 12.5);
    assert_non_null(s);
    assert_string_equal(s, "workload 'train' has 4 nodes (12.5%)");
    char *e = core_arena_printf(a, "%s", "");
    assert_non_null(e);
    assert_string_equal(e, "");
}

static void test_arena_printf_handles_output_larger_than_a_chunk(void **state)
{
    struct core_arena *a = *state;
    size_t n = 200 * 1024;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'x', n);
    big[n] = '\0';
    char *s = core_arena_printf(a, "<%s>", big);
    free(big);
    assert_non_null(s);
    assert_int_equal(strlen(s), n + 2);
    assert_int_equal(s[0], '<');
    assert_int_equal(s[n + 1], '>');
    assert_int_equal(s[n / 2], 'x');
}

static void test_arena_string_helpers_return_null_past_the_limit(void **state)
{
    (void)state;
    struct core_arena a;
    core_arena_init(&a, 64);
    assert_non_null(core_arena_strdup(&a, "short"));
    assert_null(
        core_arena_strdup(&a, "this string is certainly longer than sixty-four bytes, yes"));
    assert_null(core_arena_printf(&a, "%0100d", 1));
    assert_null(core_arena_strndup(
        &a, "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz", 60));
    assert_int_equal(a.used, 6); /* strings are packed: "short" and its NUL */
    core_arena_release(&a);
}

static void test_arena_release_then_reuse(void **state)
{
    struct core_arena *a = *state;
    for (int i = 0; i < 100; i++)
        assert_non_null(core_arena_alloc(a, 1000));
    assert_non_null(core_arena_alloc(a, 1 << 20));
    assert_non_null(a->head);
    core_arena_release(a);
    assert_null(a->head);
    assert_int_equal(a->used, 0);
    /* Released twice is harmless. */
    core_arena_release(a);
    assert_null(a->head);
    char *s = core_arena_strdup(a, "again");
    assert_non_null(s);
    assert_string_equal(s, "again");
    assert_int_equal(a->used, 6);
}

static void test_arena_aligns_allocations_that_follow_a_string(void **state)
{
    struct core_arena *a = *state;
    assert_non_null(core_arena_strdup(a, "odd"));
    for (int i = 0; i < 1000; i++) {
        void *p = core_arena_alloc(a, 24);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        assert_non_null(core_arena_strndup(a, "xyz", (size_t)(i % 3) + 1));
    }
}

static void test_arena_release_keeps_the_limit(void **state)
{
    (void)state;
    struct core_arena a;
    core_arena_init(&a, 32);
    assert_non_null(core_arena_alloc(&a, 32));
    assert_null(core_arena_alloc(&a, 1));
    core_arena_release(&a);
    assert_int_equal(a.limit, 32);
    /* The budget is back after release. */
    assert_non_null(core_arena_alloc(&a, 32));
    assert_null(core_arena_alloc(&a, 1));
    core_arena_release(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_arena_init_starts_empty, arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(test_arena_aligns_every_allocation_to_16_bytes, arena_setup,
                                        arena_teardown),
        cmocka_unit_test_setup_teardown(test_arena_allocations_are_zero_filled, arena_setup,
                                        arena_teardown),
        cmocka_unit_test_setup_teardown(test_arena_counts_used_bytes_rounded_up, arena_setup,
                                        arena_teardown),
        cmocka_unit_test_setup_teardown(test_arena_zero_size_allocations_are_distinct, arena_setup,
                                        arena_teardown),
        cmocka_unit_test_setup_teardown(test_arena_consecutive_small_allocations_do_not_overlap,
                                        arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(test_arena_large_blocks_are_usable_aligned_and_zeroed,
                                        arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(
            test_arena_large_block_keeps_the_current_chunk_for_small_ones, arena_setup,
            arena_teardown),
        cmocka_unit_test(test_arena_limit_makes_allocation_return_null),
        cmocka_unit_test(test_arena_limit_refuses_a_single_request_larger_than_the_limit),
        cmocka_unit_test_setup_teardown(test_arena_refuses_sizes_that_would_overflow, arena_setup,
                                        arena_teardown),
        cmocka_unit_test_setup_teardown(test_arena_strndup_copies_exactly_len_bytes, arena_setup,
                                        arena_teardown),
        cmocka_unit_test_setup_teardown(test_arena_strdup_copies_the_whole_string, arena_setup,
                                        arena_teardown),
        cmocka_unit_test_setup_teardown(test_arena_printf_formats_into_the_arena, arena_setup,
                                        arena_teardown),
        cmocka_unit_test_setup_teardown(test_arena_printf_handles_output_larger_than_a_chunk,
                                        arena_setup, arena_teardown),
        cmocka_unit_test(test_arena_string_helpers_return_null_past_the_limit),
        cmocka_unit_test_setup_teardown(test_arena_aligns_allocations_that_follow_a_string,
                                        arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(test_arena_release_then_reuse, arena_setup, arena_teardown),
        cmocka_unit_test(test_arena_release_keeps_the_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
