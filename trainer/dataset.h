/* Labelled prompts for the trainer, read from JSONL files in one of two formats:
 *   routellm: {"prompt", "label_strong_needed", "source", "category", "split", "contaminated",
 *              "score_weak", "score_strong", "score_scale": "binary" | "judge_1_10", ...}
 *   plain:    {"prompt": "..." | "messages": [...], "label": 0 | 1, optional "id", "category",
 *              "split", "source", "score_weak", "score_strong", "score_scale"}
 * or from the shadow verdicts of the evaluator's eval.db (common/evaldb.h): see
 * sl_dataset_load_evaldb. sl_dataset_write_jsonl writes rows back in the plain
 * format. A struct sl_dataset (init/free) owns every row, string and messages array in it. */
#ifndef SL_DATASET_H
#define SL_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "errors.h"
#include "features.h"

enum sl_split { SL_SPLIT_TRAIN, SL_SPLIT_DEV, SL_SPLIT_TEST };

struct sl_example {
    char *id;             /* the row's "id" (a sample's request id), or NULL */
    char *prompt;         /* the prompt text, or NULL when the row gave messages */
    cJSON *messages;      /* the row's "messages" array, or NULL */
    int label;            /* 1: the premium tier is needed */
    enum sl_split split;  /* a row without "split" is a training row */
    const char *source;   /* interned in the dataset; "" when absent */
    const char *category; /* interned in the dataset; "" when absent */
    bool has_scores;      /* score_weak and score_strong were given */
    double score_weak;    /* the cheap tier's quality on this prompt, in [0, 1] */
    double score_strong;  /* the premium tier's, in [0, 1] (judge grades are divided by 10) */
    unsigned file;        /* index into sl_dataset.files */
    size_t line;          /* 1-based line in that file; for eval.db, the sample's id */
};

struct sl_dataset {
    struct sl_example *rows; /* read-only */
    size_t n;                /* read-only */
    char **files;            /* read-only: the paths loaded, in order */
    size_t n_files;          /* read-only */
    size_t n_contaminated;   /* read-only: rows dropped for "contaminated": true */
    size_t n_other_source;   /* read-only: rows dropped by the source filter */
    size_t n_no_prompt;      /* read-only: eval.db samples dropped for having no prompt */
    size_t cap;              /* private */
    char **names;            /* private: interned sources and categories */
    size_t n_names, cap_names, last_name;
};

/* What sl_dataset_parse_line decided about a well-formed row. */
enum sl_dataset_fate { SL_ROW_KEEP, SL_ROW_CONTAMINATED, SL_ROW_OTHER_SOURCE };

void sl_dataset_init(struct sl_dataset *d);
void sl_dataset_free(struct sl_dataset *d);

/* Appends the rows of the JSONL file at path, skipping blank lines, rows marked
 * "contaminated": true, and, when source is not NULL, rows of any other source. Every bad
 * line is reported to errors as "path:line: what is wrong"; then the function returns
 * SL_EPARSE and d keeps only the good rows. SL_EIO (reported as "path: ...") when the file
 * cannot be read, SL_ENOMEM. */
int sl_dataset_load(struct sl_dataset *d, const char *path, const char *source,
                    FILE *errors) SL_MUST_CHECK;

/* Appends the labelled samples of the eval.db at path, opened read-only: one row per sample
 * with shadow verdicts (several on one sample make one row, labelled 1 when any of them was a
 * loss, as in eval.db's labels view). Its scores are the shares of verdicts in which the cheap
 * answer did not lose, score_weak, and did not win, score_strong: a loss is 0 and 1, a tie 1
 * and 1, a win 1 and 0. A row's messages are the sample's prompt (the request's messages, so
 * that features are extracted as the proxy extracts them), its id the request id, its
 * category the route, its source "" (so a source filter other than "" keeps none), its line
 * the sample's id. Its split is drawn from its request id: sl_dataset_evaldb_split. Samples
 * without a prompt (NULL or "") are dropped and counted in n_no_prompt. A prompt that is not
 * a JSON array is reported to errors as "path: sample N: what is wrong"; then the function
 * returns SL_EPARSE and d keeps the good rows. SL_EIO ("path: ...") when the file cannot be
 * read, SL_ENOMEM. */
int sl_dataset_load_evaldb(struct sl_dataset *d, const char *path, const char *source,
                           FILE *errors) SL_MUST_CHECK;

/* The split of an eval.db sample: a hash of its request id, so that a sample keeps its split
 * from one run, and one database, to the next: 80% train, 10% dev, 10% test. */
enum sl_split sl_dataset_evaldb_split(const char *request_id);

/* Appends path as sl_dataset_load_evaldb when eval_db, else as sl_dataset_load. */
int sl_dataset_load_from(struct sl_dataset *d, const char *path, bool eval_db, const char *source,
                         FILE *errors) SL_MUST_CHECK;

/* Appends the JSONL files data[0..n_data), then the eval.dbs eval_dbs[0..n_eval_dbs), as
 * sl_dataset_load_from. A file with bad lines does not stop the others, so that all the bad
 * lines are reported at once; then SL_EPARSE. Stops at the first other error. */
int sl_dataset_load_many(struct sl_dataset *d, const char *const *data, size_t n_data,
                         const char *const *eval_dbs, size_t n_eval_dbs, const char *source,
                         FILE *errors) SL_MUST_CHECK;

/* Writes rows rows[0..n) of d (all rows when rows is NULL) to fp as JSONL in the plain format:
 * {"id", "prompt" or "messages", "label", "category", "source", "split", "score_weak",
 * "score_strong"}, leaving out an id, category and source that are absent or "" and scores
 * that are absent, so that sl_dataset_load reads back the same rows. SL_EIO, SL_ENOMEM. */
int sl_dataset_write_jsonl(FILE *fp, const struct sl_dataset *d, const size_t *rows,
                           size_t n) SL_MUST_CHECK;

/* Parses one line of JSON into row (which then owns its prompt or messages) and says in
 * *fate whether to keep it. On failure writes what is wrong (without a file:line prefix) into
 * err and returns SL_EPARSE. Strings are interned in d, but row is not added to d. */
int sl_dataset_parse_line(struct sl_dataset *d, const char *text, size_t len, const char *source,
                          struct sl_example *row, enum sl_dataset_fate *fate, char *err,
                          size_t errlen) SL_MUST_CHECK;

/* Extracts row's features into f: its prompt as one turn, or its messages as selected by
 * which. buf/bufcap is scratch space as for sl_features_from_messages. */
int sl_dataset_features(const struct sl_example *row, enum sl_features_messages which,
                        struct sl_features *f, char **buf, size_t *bufcap) SL_MUST_CHECK;

/* Sets *rows (malloc'ed, the caller frees it) to the indices of d's rows in split, or of all
 * rows when split is NULL, and *n to their count. SL_ENOMEM. */
int sl_dataset_select(const struct sl_dataset *d, const enum sl_split *split, size_t **rows,
                      size_t *n) SL_MUST_CHECK;

/* Loads path (an eval.db when eval_db, else JSONL; one source when source != NULL) and
 * selects the rows of split (all when split is NULL), as sl_dataset_load_from then
 * sl_dataset_select; an empty selection is an error, reported on err as "path: no rows in
 * split S". */
int sl_dataset_load_rows(struct sl_dataset *d, const char *path, bool eval_db, const char *source,
                         const enum sl_split *split, size_t **rows, size_t *n,
                         FILE *err) SL_MUST_CHECK;

/* The quality each tier gives row: its scores when it has them, else from its label (the cheap
 * tier fails exactly the rows labelled 1: q_weak = 1 - label, q_strong = 1). */
void sl_dataset_quality(const struct sl_example *row, double *q_weak, double *q_strong);

/* What the router is fitted to predict for a row, a number in [0, 1]:
 *   label: the label, 1 when the premium tier is needed;
 *   gain:  (1 + q_strong - q_weak) / 2, the premium tier's gain in quality over the cheap
 *          tier's mapped onto [0, 1] (sl_dataset_quality), for rows with both tiers' scores.
 * A label says only whether the gain is +1. The gain also tells a prompt that the cheap tier
 * answers and the premium tier gets wrong (gain -1) from one both answer alike (gain 0); a
 * router that ranks prompts by the expected gain is what APGR rewards. */
enum sl_target { SL_TARGET_LABEL, SL_TARGET_GAIN };

double sl_dataset_target(const struct sl_example *row, enum sl_target kind);
const char *sl_dataset_target_name(enum sl_target kind);
/* Parses "label" or "gain"; SL_EINVAL otherwise. */
int sl_dataset_target_parse(const char *s, enum sl_target *out) SL_MUST_CHECK;

/* Parses "train", "dev" or "test"; SL_EINVAL otherwise. */
int sl_dataset_split_parse(const char *s, enum sl_split *out) SL_MUST_CHECK;
const char *sl_dataset_split_name(enum sl_split s);

#endif
