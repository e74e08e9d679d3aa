/* Aligned text tables: cells are kept until printing, when the column widths are known. */
#include "ctl_table.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define COLUMN_GAP 2

struct column {
    char *header;
    enum sl_ctl_align align;
};

struct row {
    char **cell; /* ncols entries, NULL until filled */
    bool rule;   /* a line of dashes above this row */
};

struct sl_ctl_table {
    struct column *col;
    size_t ncols;
    struct row *row;
    size_t nrows, cap;
    size_t next;       /* the next cell's column in the last row; ncols when it is full */
    bool rule_pending; /* sl_ctl_table_rule was called: the next row gets it */
    bool failed;       /* an allocation failed */
};

struct sl_ctl_table *sl_ctl_table_create(void)
{
    struct sl_ctl_table *t = calloc(1, sizeof(*t));
    return t;
}

void sl_ctl_table_destroy(struct sl_ctl_table *t)
{
    if (!t)
        return;
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++)
            free(t->row[r].cell[c]);
        free(t->row[r].cell);
    }
    for (size_t c = 0; c < t->ncols; c++)
        free(t->col[c].header);
    free(t->row);
    free(t->col);
    free(t);
}

void sl_ctl_table_column(struct sl_ctl_table *t, const char *header, enum sl_ctl_align align)
{
    struct column *col;
    char *h;

    assert(t->nrows == 0); /* a column after cells would leave the rows short */
    if (t->failed)
        return;
    col = realloc(t->col, (t->ncols + 1) * sizeof(*col));
    h = strdup(header);
    if (!col || !h) {
        if (col)
            t->col = col;
        free(h);
        t->failed = true;
        return;
    }
    t->col = col;
    t->col[t->ncols].header = h;
    t->col[t->ncols].align = align;
    t->ncols++;
    t->next = t->ncols;
}

/* Starts a new row; false when out of memory. */
static bool new_row(struct sl_ctl_table *t)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        struct row *row = realloc(t->row, cap * sizeof(*row));
        if (!row)
            return false;
        t->row = row;
        t->cap = cap;
    }
    t->row[t->nrows].cell = calloc(t->ncols, sizeof(char *));
    if (!t->row[t->nrows].cell)
        return false;
    t->row[t->nrows].rule = t->rule_pending;
    t->rule_pending = false;
    t->nrows++;
    t->next = 0;
    return true;
}

/* Takes ownership of text (heap, or NULL after a failed allocation). */
static void put(struct sl_ctl_table *t, char *text)
{
    if (!text || t->failed || t->ncols == 0 || (t->next == t->ncols && !new_row(t))) {
        free(text);
        t->failed = true;
        return;
    }
    t->row[t->nrows - 1].cell[t->next++] = text;
}

void sl_ctl_table_cell(struct sl_ctl_table *t, const char *text)
{
    put(t, strdup(text ? text : "-"));
}

void sl_ctl_table_cellf(struct sl_ctl_table *t, const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    put(t, s);
}

void sl_ctl_table_percent(struct sl_ctl_table *t, double fraction)
{
    if (isnan(fraction))
        sl_ctl_table_cell(t, NULL);
    else
        sl_ctl_table_cellf(t, "%.1f%%", 100 * fraction);
}

void sl_ctl_table_rule(struct sl_ctl_table *t)
{
    t->rule_pending = true;
}

size_t sl_ctl_table_rows(const struct sl_ctl_table *t)
{
    return t->nrows;
}

const char *sl_ctl_table_get(const struct sl_ctl_table *t, size_t row, size_t col)
{
    if (row >= t->nrows || col >= t->ncols)
        return NULL;
    return t->row[row].cell[col] ? t->row[row].cell[col] : "";
}

/* Characters, not bytes: UTF-8 continuation bytes do not count. */
static size_t width(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void pad(FILE *out, size_t n, char c)
{
    while (n-- > 0)
        fputc(c, out);
}

static void print_line(const struct sl_ctl_table *t, const size_t *w, char *const *text, FILE *out)
{
    size_t last = t->ncols - 1;

    for (size_t c = 0; c < t->ncols; c++) {
        const char *s = text[c] ? text[c] : "";
        size_t gap = w[c] - width(s);

        if (c > 0)
            pad(out, COLUMN_GAP, ' ');
        if (t->col[c].align == SL_CTL_RIGHT)
            pad(out, gap, ' ');
        fputs(s, out);
        if (t->col[c].align == SL_CTL_LEFT && c < last)
            pad(out, gap, ' ');
    }
    fputc('\n', out);
}

int sl_ctl_table_print(const struct sl_ctl_table *t, FILE *out)
{
    size_t *w = NULL, total = 0;
    char **headers = NULL;
    int rc = 0;

    if (t->failed) {
        rc = SL_ENOMEM;
        goto out;
    }
    if (t->ncols == 0)
        goto out;
    w = calloc(t->ncols, sizeof(*w));
    headers = calloc(t->ncols, sizeof(*headers));
    if (!w || !headers) {
        rc = SL_ENOMEM;
        goto out;
    }
    for (size_t c = 0; c < t->ncols; c++) {
        headers[c] = t->col[c].header;
        w[c] = width(headers[c]);
        for (size_t r = 0; r < t->nrows; r++)
            if (t->row[r].cell[c] && width(t->row[r].cell[c]) > w[c])
                w[c] = width(t->row[r].cell[c]);
        total += w[c] + (c > 0 ? COLUMN_GAP : 0);
    }
    print_line(t, w, headers, out);
    for (size_t r = 0; r < t->nrows; r++) {
        if (t->row[r].rule) {
            pad(out, total, '-');
            fputc('\n', out);
        }
        print_line(t, w, t->row[r].cell, out);
    }
    if (ferror(out))
        rc = SL_EIO;
out:
    free(headers);
    free(w);
    return rc;
}
