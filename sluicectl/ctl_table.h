/* Aligned text tables for people: columns with a header and an alignment, cells filled row by
 * row, printed with every column as wide as its widest cell (UTF-8 counted in characters).
 * The table copies every string it is given; sl_ctl_table_destroy frees them. An allocation
 * failure is remembered and reported by sl_ctl_table_print, so filling needs no checks. */
#ifndef SL_CTL_TABLE_H
#define SL_CTL_TABLE_H

#include <stddef.h>
#include <stdio.h>

#include "errors.h"

enum sl_ctl_align { SL_CTL_LEFT, SL_CTL_RIGHT };

struct sl_ctl_table;

/* An empty table; NULL when out of memory. */
struct sl_ctl_table *sl_ctl_table_create(void);
/* NULL is a no-op. */
void sl_ctl_table_destroy(struct sl_ctl_table *t);

/* Adds a column; every column must be added before the first cell. */
void sl_ctl_table_column(struct sl_ctl_table *t, const char *header, enum sl_ctl_align align);
/* Fills the next cell, left to right; a row full of cells starts the next row. NULL prints
 * as "-". */
void sl_ctl_table_cell(struct sl_ctl_table *t, const char *text);
void sl_ctl_table_cellf(struct sl_ctl_table *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Fills the next cell with fraction as a percentage, one decimal; NaN (unknown) prints as "-". */
void sl_ctl_table_percent(struct sl_ctl_table *t, double fraction);
/* Draws a line of dashes above the next row (before a totals row). */
void sl_ctl_table_rule(struct sl_ctl_table *t);

/* The number of rows, and one cell's text ("" past the filled cells; NULL out of range). */
size_t sl_ctl_table_rows(const struct sl_ctl_table *t);
const char *sl_ctl_table_get(const struct sl_ctl_table *t, size_t row, size_t col);

/* Prints the header and the rows, columns two spaces apart, no trailing blanks.
 * SL_ENOMEM when an earlier call ran out of memory (nothing printed), SL_EIO on a write
 * error. */
int sl_ctl_table_print(const struct sl_ctl_table *t, FILE *out) SL_MUST_CHECK;

#endif
