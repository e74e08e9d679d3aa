/* Tests for sluicectl/table: columns line up, numbers align right, UTF-8 counts characters. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_table.h"

static char *printed;

static void print(const struct sl_ctl_table *t)
{
    size_t len = 0;
    FILE *out = open_memstream(&printed, &len);

    cr_assert_eq(sl_ctl_table_print(t, out), 0);
    fclose(out);
}

static void cleanup(void)
{
    free(printed);
    printed = NULL;
}

TestSuite(ctl_table, .fini = cleanup);

Test(ctl_table, columns_are_as_wide_as_their_widest_cell)
{
    struct sl_ctl_table *t = sl_ctl_table_create();

    sl_ctl_table_column(t, "team", SL_CTL_LEFT);
    sl_ctl_table_column(t, "requests", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "cost USD", SL_CTL_RIGHT);
    sl_ctl_table_cell(t, "search");
    sl_ctl_table_cellf(t, "%d", 12345);
    sl_ctl_table_cellf(t, "%.4f", 1.5);
    sl_ctl_table_cell(t, "ads-platform");
    sl_ctl_table_cellf(t, "%d", 7);
    sl_ctl_table_cellf(t, "%.4f", 123.25);
    print(t);
    sl_ctl_table_destroy(t);
    cr_assert_str_eq(printed, "team          requests  cost USD\n"
                              "search           12345    1.5000\n"
                              "ads-platform         7  123.2500\n");
}

Test(ctl_table, a_rule_spans_the_table_before_totals)
{
    struct sl_ctl_table *t = sl_ctl_table_create();

    sl_ctl_table_column(t, "a", SL_CTL_LEFT);
    sl_ctl_table_column(t, "n", SL_CTL_RIGHT);
    sl_ctl_table_cell(t, "x");
    sl_ctl_table_cell(t, "1");
    sl_ctl_table_rule(t);
    sl_ctl_table_cell(t, "total");
    sl_ctl_table_cell(t, "10");
    print(t);
    sl_ctl_table_destroy(t);
    cr_assert_str_eq(printed, "a       n\n"
                              "x       1\n"
                              "---------\n"
                              "total  10\n");
}

Test(ctl_table, no_trailing_blanks_and_null_is_a_dash)
{
    struct sl_ctl_table *t = sl_ctl_table_create();

    sl_ctl_table_column(t, "n", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "name", SL_CTL_LEFT);
    sl_ctl_table_cell(t, "1");
    sl_ctl_table_cell(t, NULL);
    sl_ctl_table_cell(t, "22");
    sl_ctl_table_cell(t, "longer name");
    print(t);
    sl_ctl_table_destroy(t);
    cr_assert_str_eq(printed, " n  name\n"
                              " 1  -\n"
                              "22  longer name\n");
}

Test(ctl_table, utf8_counts_characters_not_bytes)
{
    struct sl_ctl_table *t = sl_ctl_table_create();

    sl_ctl_table_column(t, "team", SL_CTL_LEFT);
    sl_ctl_table_column(t, "n", SL_CTL_RIGHT);
    sl_ctl_table_cell(t, "équipe"); /* 6 characters, 7 bytes */
    sl_ctl_table_cell(t, "1");
    sl_ctl_table_cell(t, "abcdef");
    sl_ctl_table_cell(t, "2");
    print(t);
    sl_ctl_table_destroy(t);
    cr_assert_str_eq(printed, "team    n\n"
                              "équipe  1\n"
                              "abcdef  2\n");
}

Test(ctl_table, cells_can_be_read_back)
{
    struct sl_ctl_table *t = sl_ctl_table_create();

    sl_ctl_table_column(t, "a", SL_CTL_LEFT);
    sl_ctl_table_column(t, "b", SL_CTL_LEFT);
    sl_ctl_table_cell(t, "1");
    sl_ctl_table_cell(t, "2");
    sl_ctl_table_cell(t, "3"); /* a second row, half filled */
    cr_assert_eq(sl_ctl_table_rows(t), 2);
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 1), "2");
    cr_assert_str_eq(sl_ctl_table_get(t, 1, 0), "3");
    cr_assert_str_eq(sl_ctl_table_get(t, 1, 1), "");
    cr_assert_null(sl_ctl_table_get(t, 2, 0));
    cr_assert_null(sl_ctl_table_get(t, 0, 2));
    sl_ctl_table_destroy(t);
}

Test(ctl_table, destroy_null_is_a_no_op)
{
    sl_ctl_table_destroy(NULL);
}
