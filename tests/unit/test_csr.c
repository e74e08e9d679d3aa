/* Tests for trainer/csr: rows go in as extracted and come out unchanged. */
#include <criterion/criterion.h>
#include <string.h>

#include "csr.h"

Test(csr, stores_rows_and_gives_them_back)
{
    struct sl_csr m;
    uint32_t i1[] = {3, 7, 100}, i2[] = {5};
    float v1[] = {1.5f, -2.0f, 0.25f}, v2[] = {4.0f};
    struct sl_features a = {i1, v1, 3, 3}, b = {i2, v2, 1, 1}, empty = {NULL, NULL, 0, 0}, r;

    sl_csr_init(&m);
    cr_assert_eq(sl_csr_add_row(&m, &a), 0);
    cr_assert_eq(sl_csr_add_row(&m, &empty), 0);
    cr_assert_eq(sl_csr_add_row(&m, &b), 0);
    cr_assert_eq(m.n_rows, 3);
    cr_assert_eq(m.nnz, 4);
    sl_csr_row(&m, 0, &r);
    cr_assert_eq(r.n, 3);
    cr_assert_eq(memcmp(r.idx, i1, sizeof(i1)), 0);
    cr_assert_eq(memcmp(r.val, v1, sizeof(v1)), 0);
    sl_csr_row(&m, 1, &r);
    cr_assert_eq(r.n, 0);
    sl_csr_row(&m, 2, &r);
    cr_assert_eq(r.n, 1);
    cr_assert_eq(r.idx[0], 5);
    cr_assert_float_eq(r.val[0], 4.0f, 0);
    sl_csr_free(&m);
}

Test(csr, grows_past_its_first_allocation)
{
    struct sl_csr m;
    uint32_t idx[50];
    float val[50];
    struct sl_features f = {idx, val, 50, 50}, r;

    for (int j = 0; j < 50; j++) {
        idx[j] = (uint32_t)(j * 3);
        val[j] = (float)j;
    }
    sl_csr_init(&m);
    for (int i = 0; i < 5000; i++)
        cr_assert_eq(sl_csr_add_row(&m, &f), 0);
    cr_assert_eq(m.nnz, 250000);
    sl_csr_row(&m, 4999, &r);
    cr_assert_eq(r.n, 50);
    cr_assert_eq(r.idx[49], 147);
    sl_csr_free(&m);
}
