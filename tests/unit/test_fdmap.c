/* Tests for proxy/fdmap: pointers kept per file descriptor. */
#include <criterion/criterion.h>

#include "fdmap.h"

Test(fdmap, an_empty_map_has_nothing_and_a_negative_descriptor_no_slot)
{
    struct sl_fdmap m = {0};

    cr_assert_null(sl_fdmap_get(&m, 0));
    cr_assert_null(sl_fdmap_get(&m, 100000));
    cr_assert_null(sl_fdmap_get(&m, -1));
    cr_assert_null(sl_fdmap_slot(&m, -1));
    cr_assert_eq(m.n, 0);
}

Test(fdmap, slots_keep_their_pointers_as_the_table_grows)
{
    struct sl_fdmap m = {0};
    int a, b;
    void **slot = sl_fdmap_slot(&m, 3);

    cr_assert_not_null(slot);
    cr_assert_null(*slot, "a new slot starts empty");
    *slot = &a;
    slot = sl_fdmap_slot(&m, 5000); /* grows past the first allocation */
    cr_assert_not_null(slot);
    cr_assert_null(*slot);
    *slot = &b;
    cr_assert_geq(m.n, 5001);
    cr_assert_eq(sl_fdmap_get(&m, 3), &a);
    cr_assert_eq(sl_fdmap_get(&m, 5000), &b);
    for (int fd = 0; fd < (int)m.n; fd++)
        if (fd != 3 && fd != 5000)
            cr_assert_null(sl_fdmap_get(&m, fd), "slot %d was never set", fd);
    sl_fdmap_free(&m);
    cr_assert_null(sl_fdmap_get(&m, 3));
    cr_assert_eq(m.n, 0);
}
