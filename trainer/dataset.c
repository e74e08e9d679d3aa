/* Labelled datasets: JSONL parsing and validation with file:line errors, the labels of
 * eval.db, writing JSONL back, feature extraction. */
#include "dataset.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "evaldb.h"
#include "rand.h"

void sl_dataset_init(struct sl_dataset *d)
{
    memset(d, 0, sizeof(*d));
}

static void example_free(struct sl_example *e)
{
    free(e->id);
    free(e->prompt);
    cJSON_Delete(e->messages);
}

void sl_dataset_free(struct sl_dataset *d)
{
    for (size_t i = 0; i < d->n; i++)
        example_free(&d->rows[i]);
    free(d->rows);
    for (size_t i = 0; i < d->n_files; i++)
        free(d->files[i]);
    free(d->files);
    for (size_t i = 0; i < d->n_names; i++)
        free(d->names[i]);
    free(d->names);
    memset(d, 0, sizeof(*d));
}

int sl_dataset_split_parse(const char *s, enum sl_split *out)
{
    if (strcmp(s, "train") == 0)
        *out = SL_SPLIT_TRAIN;
    else if (strcmp(s, "dev") == 0)
        *out = SL_SPLIT_DEV;
    else if (strcmp(s, "test") == 0)
        *out = SL_SPLIT_TEST;
    else
        return SL_EINVAL;
    return 0;
}

const char *sl_dataset_split_name(enum sl_split s)
{
    switch (s) {
    case SL_SPLIT_TRAIN:
        return "train";
    case SL_SPLIT_DEV:
        return "dev";
    case SL_SPLIT_TEST:
        return "test";
    }
    return "?";
}

/* Sources and categories repeat on every row: keep one copy of each, so that rows can be
 * grouped by comparing pointers. Files list rows of one category together, so the last hit
 * is checked first. */
static const char *intern(struct sl_dataset *d, const char *s)
{
    if (d->last_name < d->n_names && strcmp(d->names[d->last_name], s) == 0)
        return d->names[d->last_name];
    for (size_t i = 0; i < d->n_names; i++) {
        if (strcmp(d->names[i], s) == 0) {
            d->last_name = i;
            return d->names[i];
        }
    }
    if (d->n_names == d->cap_names) {
        size_t cap = d->cap_names ? 2 * d->cap_names : 16;
        char **p = realloc(d->names, cap * sizeof(*p));
        if (!p)
            return NULL;
        d->names = p;
        d->cap_names = cap;
    }
    char *copy = strdup(s);
    if (!copy)
        return NULL;
    d->last_name = d->n_names;
    d->names[d->n_names++] = copy;
    return copy;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return SL_EPARSE;
}

/* Reads an optional string member into *out (NULL when absent or null). */
static int opt_string(const cJSON *o, const char *key, const char **out, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    *out = NULL;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v))
        return fail(err, errlen, "field \"%s\" is not a string", key);
    *out = v->valuestring;
    return 0;
}

static int parse_label(const cJSON *o, int *label, char *err, size_t errlen)
{
    const char *key = "label_strong_needed";
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    if (!v) {
        key = "label";
        v = cJSON_GetObjectItemCaseSensitive(o, key);
    }
    if (!v)
        return fail(err, errlen, "missing field \"label\" (or \"label_strong_needed\")");
    if (!cJSON_IsNumber(v))
        return fail(err, errlen, "field \"%s\" is not a number", key);
    if (v->valuedouble != 0.0 && v->valuedouble != 1.0)
        return fail(err, errlen, "field \"%s\" is %g, not 0 or 1", key, v->valuedouble);
    *label = v->valuedouble == 1.0;
    return 0;
}

static int parse_scores(const cJSON *o, struct sl_example *row, char *err, size_t errlen)
{
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "score_weak");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "score_strong");
    const char *scale = NULL;
    double div = 1.0, hi = 1.0;
    int rc;

    if ((!w || cJSON_IsNull(w)) && (!s || cJSON_IsNull(s)))
        return 0;
    if (!w || cJSON_IsNull(w))
        return fail(err, errlen, "field \"score_strong\" without \"score_weak\"");
    if (!s || cJSON_IsNull(s))
        return fail(err, errlen, "field \"score_weak\" without \"score_strong\"");
    if (!cJSON_IsNumber(w))
        return fail(err, errlen, "field \"score_weak\" is not a number");
    if (!cJSON_IsNumber(s))
        return fail(err, errlen, "field \"score_strong\" is not a number");
    if ((rc = opt_string(o, "score_scale", &scale, err, errlen)) != 0)
        return rc;
    if (scale && strcmp(scale, "judge_1_10") == 0) {
        div = 10.0;
        hi = 10.0;
    } else if (scale && strcmp(scale, "binary") != 0) {
        return fail(err, errlen, "field \"score_scale\" is \"%s\", not binary or judge_1_10",
                    scale);
    }
    if (!(w->valuedouble >= 0 && w->valuedouble <= hi))
        return fail(err, errlen, "field \"score_weak\" is %g, outside [0, %g]", w->valuedouble, hi);
    if (!(s->valuedouble >= 0 && s->valuedouble <= hi))
        return fail(err, errlen, "field \"score_strong\" is %g, outside [0, %g]", s->valuedouble,
                    hi);
    row->has_scores = true;
    row->score_weak = w->valuedouble / div;
    row->score_strong = s->valuedouble / div;
    return 0;
}

int sl_dataset_parse_line(struct sl_dataset *d, const char *text, size_t len, const char *source,
                          struct sl_example *row, enum sl_dataset_fate *fate, char *err,
                          size_t errlen)
{
    cJSON *o = NULL;
    const cJSON *v, *prompt, *messages, *id;
    const char *end = NULL, *src = NULL, *cat = NULL, *split = NULL;
    int rc = 0;

    memset(row, 0, sizeof(*row));
    *fate = SL_ROW_KEEP;
    o = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (!o) {
        size_t at = end && end >= text ? (size_t)(end - text) : 0;
        rc = fail(err, errlen, "invalid JSON near byte %zu", at + 1);
        goto out;
    }
    for (; end < text + len; end++) {
        if (*end != ' ' && *end != '\t' && *end != '\r' && *end != '\n') {
            rc = fail(err, errlen, "invalid JSON: text after the value at byte %zu",
                      (size_t)(end - text) + 1);
            goto out;
        }
    }
    if (!cJSON_IsObject(o)) {
        rc = fail(err, errlen, "not a JSON object");
        goto out;
    }
    v = cJSON_GetObjectItemCaseSensitive(o, "contaminated");
    if (v && !cJSON_IsBool(v) && !cJSON_IsNull(v)) {
        rc = fail(err, errlen, "field \"contaminated\" is not true or false");
        goto out;
    }
    if ((rc = opt_string(o, "source", &src, err, errlen)) != 0)
        goto out;
    if (cJSON_IsTrue(v)) {
        *fate = SL_ROW_CONTAMINATED; /* dropped, not wrong */
        goto out;
    }
    if (source && strcmp(source, src ? src : "") != 0) {
        *fate = SL_ROW_OTHER_SOURCE;
        goto out;
    }
    if ((rc = parse_label(o, &row->label, err, errlen)) != 0)
        goto out;
    prompt = cJSON_GetObjectItemCaseSensitive(o, "prompt");
    messages = cJSON_GetObjectItemCaseSensitive(o, "messages");
    if (prompt && messages) {
        rc = fail(err, errlen, "both \"prompt\" and \"messages\": give one");
        goto out;
    }
    if (!prompt && !messages) {
        rc = fail(err, errlen, "missing field \"prompt\" (or \"messages\")");
        goto out;
    }
    if (prompt && !cJSON_IsString(prompt)) {
        rc = fail(err, errlen, "field \"prompt\" is not a string");
        goto out;
    }
    if (messages && !cJSON_IsArray(messages)) {
        rc = fail(err, errlen, "field \"messages\" is not an array");
        goto out;
    }
    if ((rc = opt_string(o, "category", &cat, err, errlen)) != 0)
        goto out;
    if ((rc = opt_string(o, "split", &split, err, errlen)) != 0)
        goto out;
    row->split = SL_SPLIT_TRAIN;
    if (split && sl_dataset_split_parse(split, &row->split) != 0) {
        rc = fail(err, errlen, "field \"split\" is \"%s\", not train, dev or test", split);
        goto out;
    }
    if ((rc = parse_scores(o, row, err, errlen)) != 0)
        goto out;
    row->source = intern(d, src ? src : "");
    row->category = intern(d, cat ? cat : "");
    if (!row->source || !row->category) {
        rc = SL_ENOMEM;
        goto out;
    }
    /* Ids are only carried along (routellm's are strings too): another type is no error. */
    id = cJSON_GetObjectItemCaseSensitive(o, "id");
    if (cJSON_IsString(id) && !(row->id = strdup(id->valuestring))) {
        rc = SL_ENOMEM;
        goto out;
    }
    if (prompt) {
        row->prompt = strdup(prompt->valuestring);
        if (!row->prompt) {
            rc = SL_ENOMEM;
            goto out;
        }
    } else {
        row->messages = cJSON_DetachItemFromObjectCaseSensitive(o, "messages");
    }
out:
    if (rc == SL_ENOMEM)
        fail(err, errlen, "out of memory");
    if (rc != 0) {
        example_free(row);
        memset(row, 0, sizeof(*row));
    }
    cJSON_Delete(o);
    return rc;
}

static int add_row(struct sl_dataset *d, const struct sl_example *row)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 1024;
        struct sl_example *p = realloc(d->rows, cap * sizeof(*p));
        if (!p)
            return SL_ENOMEM;
        d->rows = p;
        d->cap = cap;
    }
    d->rows[d->n++] = *row;
    return 0;
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

/* Remembers path as the next file; its rows refer to it by index. */
static int add_file(struct sl_dataset *d, const char *path)
{
    char **files = realloc(d->files, (d->n_files + 1) * sizeof(*files));

    if (!files)
        return SL_ENOMEM;
    d->files = files;
    if (!(d->files[d->n_files] = strdup(path)))
        return SL_ENOMEM;
    d->n_files++;
    return 0;
}

int sl_dataset_load(struct sl_dataset *d, const char *path, const char *source, FILE *errors)
{
    FILE *fp = NULL;
    char *line = NULL;
    size_t cap = 0, lineno = 0, bad = 0;
    ssize_t len;
    char err[256];
    int rc;

    if ((rc = add_file(d, path)) != 0)
        return rc;

    fp = fopen(path, "r");
    if (!fp) {
        fprintf(errors, "%s: cannot open: %s\n", path, strerror(errno));
        rc = SL_EIO;
        goto out;
    }
    while ((len = getline(&line, &cap, fp)) >= 0) {
        struct sl_example row;
        enum sl_dataset_fate fate;

        lineno++;
        if (blank(line, (size_t)len))
            continue;
        rc = sl_dataset_parse_line(d, line, (size_t)len, source, &row, &fate, err, sizeof(err));
        if (rc == SL_EPARSE) {
            fprintf(errors, "%s:%zu: %s\n", path, lineno, err);
            bad++;
            continue;
        }
        if (rc != 0)
            goto out;
        if (fate != SL_ROW_KEEP) {
            d->n_contaminated += fate == SL_ROW_CONTAMINATED;
            d->n_other_source += fate == SL_ROW_OTHER_SOURCE;
            continue;
        }
        row.file = (unsigned)(d->n_files - 1);
        row.line = lineno;
        if ((rc = add_row(d, &row)) != 0) {
            example_free(&row);
            goto out;
        }
    }
    if (ferror(fp)) {
        fprintf(errors, "%s: read error: %s\n", path, strerror(errno));
        rc = SL_EIO;
        goto out;
    }
    rc = bad ? SL_EPARSE : 0;
out:
    free(line);
    if (fp)
        fclose(fp);
    return rc;
}

enum sl_split sl_dataset_evaldb_split(const char *request_id)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    unsigned bucket;

    for (const unsigned char *p = (const unsigned char *)request_id; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    /* FNV's low bits vary little between ids that differ in their last characters. */
    bucket = (unsigned)(sl_rand_mix(h) % 100);
    return bucket < 80 ? SL_SPLIT_TRAIN : bucket < 90 ? SL_SPLIT_DEV : SL_SPLIT_TEST;
}

/* One row per sample that shadow runs judged, read from the verdicts as the labels view of
 * eval.db reads them: the sample needed the premium tier if any run found the cheap answer
 * lost. Each tier's quality is the share of runs in which its answer was not the worse one:
 * the cheap tier's unless it lost, the premium tier's unless the cheap one won. */
#define LABELS_SQL                                                                                 \
    "SELECT s.id, s.request_id, s.route, s.prompt, MAX(r.verdict = 'loss'),"                       \
    " AVG(r.verdict <> 'loss'), AVG(r.verdict <> 'win')"                                           \
    " FROM results r JOIN samples s ON s.id = r.sample_id"                                         \
    " WHERE r.scorer = 'shadow' AND r.verdict IS NOT NULL"                                         \
    " GROUP BY s.id ORDER BY s.id"

/* Makes row (which the caller frees, whatever happens) from the current labels row of st;
 * *keep is false for a sample without a prompt. SL_EPARSE, reported to errors, for a prompt
 * that is not an array of messages; SL_ENOMEM. */
static int evaldb_row(struct sl_dataset *d, sqlite3_stmt *st, const char *path, FILE *errors,
                      struct sl_example *row, bool *keep)
{
    const char *reqid = (const char *)sqlite3_column_text(st, 1);
    const char *route = (const char *)sqlite3_column_text(st, 2);
    const char *prompt = (const char *)sqlite3_column_text(st, 3);

    memset(row, 0, sizeof(*row));
    *keep = prompt && *prompt;
    if (!*keep) {
        d->n_no_prompt++;
        return 0;
    }
    row->messages = cJSON_ParseWithOpts(prompt, NULL, true);
    if (!cJSON_IsArray(row->messages)) {
        fprintf(errors, "%s: sample %lld: the prompt is not a JSON array of messages\n", path,
                (long long)sqlite3_column_int64(st, 0));
        return SL_EPARSE;
    }
    row->label = sqlite3_column_int(st, 4) != 0;
    row->has_scores = true;
    row->score_weak = sqlite3_column_double(st, 5);
    row->score_strong = sqlite3_column_double(st, 6);
    row->split = sl_dataset_evaldb_split(reqid ? reqid : "");
    row->source = intern(d, "");
    row->category = intern(d, route ? route : "");
    row->id = reqid ? strdup(reqid) : NULL;
    row->file = (unsigned)(d->n_files - 1);
    row->line = (size_t)sqlite3_column_int64(st, 0);
    return !row->source || !row->category || (reqid && !row->id) ? SL_ENOMEM : 0;
}

int sl_dataset_load_evaldb(struct sl_dataset *d, const char *path, const char *source, FILE *errors)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char msg[512];
    size_t bad = 0;
    int rc, step;

    if ((rc = add_file(d, path)) != 0)
        return rc;
    if (!(db = sl_evaldb_open(path, true, msg, sizeof(msg)))) {
        fprintf(errors, "%s\n", msg);
        return SL_EIO;
    }
    if (sqlite3_prepare_v2(db, LABELS_SQL, -1, &st, NULL) != SQLITE_OK) {
        rc = SL_EIO;
        goto out;
    }
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct sl_example row;
        bool keep;

        /* Every row's source is "": another one keeps none. */
        if (source && *source) {
            d->n_other_source++;
            continue;
        }
        rc = evaldb_row(d, st, path, errors, &row, &keep);
        if (rc == 0 && keep && (rc = add_row(d, &row)) == 0)
            continue; /* d owns the row now */
        example_free(&row);
        bad += rc == SL_EPARSE;
        if (rc != 0 && rc != SL_EPARSE)
            goto out;
    }
    rc = step != SQLITE_DONE ? SL_EIO : bad ? SL_EPARSE : 0;
out:
    if (rc == SL_EIO)
        fprintf(errors, "%s: %s\n", path, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

int sl_dataset_load_from(struct sl_dataset *d, const char *path, bool eval_db, const char *source,
                         FILE *errors)
{
    return eval_db ? sl_dataset_load_evaldb(d, path, source, errors)
                   : sl_dataset_load(d, path, source, errors);
}

int sl_dataset_load_many(struct sl_dataset *d, const char *const *data, size_t n_data,
                         const char *const *eval_dbs, size_t n_eval_dbs, const char *source,
                         FILE *errors)
{
    int rc = 0, bad = 0;

    for (size_t i = 0; i < n_data + n_eval_dbs; i++) {
        bool eval_db = i >= n_data;

        rc = sl_dataset_load_from(d, eval_db ? eval_dbs[i - n_data] : data[i], eval_db, source,
                                  errors);
        if (rc == SL_EPARSE)
            bad = 1;
        else if (rc != 0)
            return rc;
    }
    return bad ? SL_EPARSE : 0;
}

/* One row as a JSON object in the plain format; NULL when out of memory. The messages are
 * referenced, not copied: the object must be deleted before the row. */
static cJSON *row_json(const struct sl_example *e)
{
    cJSON *o = cJSON_CreateObject();
    bool ok = o != NULL;

    if (ok && e->id)
        ok = cJSON_AddStringToObject(o, "id", e->id) != NULL;
    if (ok && e->prompt)
        ok = cJSON_AddStringToObject(o, "prompt", e->prompt) != NULL;
    else if (ok)
        ok = cJSON_AddItemReferenceToObject(o, "messages", e->messages);
    ok = ok && cJSON_AddNumberToObject(o, "label", e->label);
    if (ok && *e->category)
        ok = cJSON_AddStringToObject(o, "category", e->category) != NULL;
    if (ok && *e->source)
        ok = cJSON_AddStringToObject(o, "source", e->source) != NULL;
    ok = ok && cJSON_AddStringToObject(o, "split", sl_dataset_split_name(e->split));
    if (ok && e->has_scores)
        ok = cJSON_AddNumberToObject(o, "score_weak", e->score_weak) &&
             cJSON_AddNumberToObject(o, "score_strong", e->score_strong);
    if (!ok) {
        cJSON_Delete(o);
        o = NULL;
    }
    return o;
}

int sl_dataset_write_jsonl(FILE *fp, const struct sl_dataset *d, const size_t *rows, size_t n)
{
    int rc = 0;

    if (!rows)
        n = d->n;
    for (size_t k = 0; k < n && rc == 0; k++) {
        cJSON *o = row_json(&d->rows[rows ? rows[k] : k]);
        char *text = o ? cJSON_PrintUnformatted(o) : NULL;

        if (!text)
            rc = SL_ENOMEM;
        else if (fputs(text, fp) == EOF || fputc('\n', fp) == EOF)
            rc = SL_EIO;
        free(text);
        cJSON_Delete(o);
    }
    return rc;
}

int sl_dataset_features(const struct sl_example *row, enum sl_features_messages which,
                        struct sl_features *f, char **buf, size_t *bufcap)
{
    if (row->prompt)
        return sl_features_extract(f, row->prompt, strlen(row->prompt), 1);
    return sl_features_from_messages(f, row->messages, which, buf, bufcap);
}

int sl_dataset_select(const struct sl_dataset *d, const enum sl_split *split, size_t **rows,
                      size_t *n)
{
    size_t *r = malloc((d->n ? d->n : 1) * sizeof(*r)), m = 0;

    if (!r)
        return SL_ENOMEM;
    for (size_t i = 0; i < d->n; i++)
        if (!split || d->rows[i].split == *split)
            r[m++] = i;
    *rows = r;
    *n = m;
    return 0;
}

void sl_dataset_quality(const struct sl_example *row, double *q_weak, double *q_strong)
{
    if (row->has_scores) {
        *q_weak = row->score_weak;
        *q_strong = row->score_strong;
    } else {
        *q_weak = row->label ? 0.0 : 1.0;
        *q_strong = 1.0;
    }
}

double sl_dataset_target(const struct sl_example *row, enum sl_target kind)
{
    double q_weak, q_strong;

    if (kind == SL_TARGET_LABEL)
        return row->label != 0;
    sl_dataset_quality(row, &q_weak, &q_strong);
    return (1.0 + q_strong - q_weak) / 2.0;
}

const char *sl_dataset_target_name(enum sl_target kind)
{
    return kind == SL_TARGET_GAIN ? "gain" : "label";
}

int sl_dataset_target_parse(const char *s, enum sl_target *out)
{
    if (strcmp(s, "label") == 0)
        *out = SL_TARGET_LABEL;
    else if (strcmp(s, "gain") == 0)
        *out = SL_TARGET_GAIN;
    else
        return SL_EINVAL;
    return 0;
}

int sl_dataset_load_rows(struct sl_dataset *d, const char *path, bool eval_db, const char *source,
                         const enum sl_split *split, size_t **rows, size_t *n, FILE *err)
{
    int rc = sl_dataset_load_from(d, path, eval_db, source, err);

    if (rc == 0)
        rc = sl_dataset_select(d, split, rows, n);
    if (rc == 0 && *n == 0) {
        fprintf(err, "%s: no rows in split %s\n", path,
                split ? sl_dataset_split_name(*split) : "all");
        rc = SL_EINVAL;
    }
    return rc;
}
