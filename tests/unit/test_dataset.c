/* Tests for trainer/dataset: both JSONL formats, splits, filters, a file:line message for each
 * kind of bad line, the labels of an eval.db, and writing rows back as JSONL. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset.h"
#include "evaldb.h"

static char path[64];
static char *errors;
static size_t errors_len;
static FILE *errf;

static void setup(void)
{
    int fd;

    strcpy(path, "/tmp/sl_test_dataset_XXXXXX");
    fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    errf = open_memstream(&errors, &errors_len);
}

static void teardown(void)
{
    fclose(errf);
    free(errors);
    unlink(path);
}

static void write_text(const char *text)
{
    FILE *fp = fopen(path, "w");
    cr_assert_not_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* Loads text as a file into d; returns sl_dataset_load's result, errors in `errors`. */
static int load(struct sl_dataset *d, const char *text, const char *source)
{
    int rc;

    fclose(errf); /* a fresh error stream for each load */
    free(errors);
    errors = NULL;
    errf = open_memstream(&errors, &errors_len);
    write_text(text);
    sl_dataset_init(d);
    rc = sl_dataset_load(d, path, source, errf);
    fflush(errf);
    return rc;
}

TestSuite(dataset, .init = setup, .fini = teardown);

Test(dataset, reads_the_routellm_format)
{
    struct sl_dataset d;
    const char *text =
        "{\"id\":\"a\",\"prompt\":\"What is 2+2?\",\"source\":\"routellm_gsm8k\","
        "\"category\":\"math\",\"score_scale\":\"binary\",\"score_weak\":0,\"score_strong\":1,"
        "\"label_strong_needed\":1,\"split\":\"dev\",\"contaminated\":false,\"extra\":{}}\n"
        "{\"prompt\":\"Write a poem\",\"source\":\"routellm_mtbench\",\"category\":\"writing\","
        "\"score_scale\":\"judge_1_10\",\"score_weak\":6.5,\"score_strong\":9,"
        "\"label_strong_needed\":0,\"split\":\"test\",\"contaminated\":false}\n";

    cr_assert_eq(load(&d, text, NULL), 0, "%s", errors);
    cr_assert_eq(d.n, 2);
    cr_assert_str_eq(d.rows[0].prompt, "What is 2+2?");
    cr_assert_eq(d.rows[0].label, 1);
    cr_assert_eq(d.rows[0].split, SL_SPLIT_DEV);
    cr_assert_str_eq(d.rows[0].source, "routellm_gsm8k");
    cr_assert_str_eq(d.rows[0].category, "math");
    cr_assert(d.rows[0].has_scores);
    cr_assert_float_eq(d.rows[0].score_weak, 0.0, 1e-12);
    cr_assert_float_eq(d.rows[0].score_strong, 1.0, 1e-12);
    /* Judge grades are divided by 10. */
    cr_assert_float_eq(d.rows[1].score_weak, 0.65, 1e-12);
    cr_assert_float_eq(d.rows[1].score_strong, 0.9, 1e-12);
    cr_assert_eq(d.rows[1].split, SL_SPLIT_TEST);
    cr_assert_eq(d.rows[1].line, 2);
    sl_dataset_free(&d);
}

Test(dataset, drops_contaminated_rows)
{
    struct sl_dataset d;
    const char *text = "{\"prompt\":\"a\",\"label_strong_needed\":0,\"contaminated\":true}\n"
                       "{\"prompt\":\"b\",\"label_strong_needed\":1,\"contaminated\":false}\n";

    cr_assert_eq(load(&d, text, NULL), 0, "%s", errors);
    cr_assert_eq(d.n, 1);
    cr_assert_str_eq(d.rows[0].prompt, "b");
    cr_assert_eq(d.n_contaminated, 1);
    sl_dataset_free(&d);
}

Test(dataset, reads_the_plain_format_with_prompt_or_messages)
{
    struct sl_dataset d;
    const char *text = "{\"prompt\":\"hello\",\"label\":0}\n"
                       "\n"
                       "{\"messages\":[{\"role\":\"user\",\"content\":\"prove it\"}],\"label\":1,"
                       "\"category\":\"proof\"}\n";

    cr_assert_eq(load(&d, text, NULL), 0, "%s", errors);
    cr_assert_eq(d.n, 2);
    cr_assert_str_eq(d.rows[0].prompt, "hello");
    cr_assert_null(d.rows[0].messages);
    cr_assert_null(d.rows[1].prompt);
    cr_assert(cJSON_IsArray(d.rows[1].messages));
    cr_assert_eq(d.rows[1].label, 1);
    cr_assert_eq(d.rows[1].line, 3, "blank lines still count");
    cr_assert_str_eq(d.rows[1].category, "proof");
    cr_assert_str_eq(d.rows[0].category, "");
    cr_assert(!d.rows[0].has_scores);
    sl_dataset_free(&d);
}

Test(dataset, a_file_without_splits_is_all_training_rows)
{
    struct sl_dataset d;

    cr_assert_eq(load(&d, "{\"prompt\":\"a\",\"label\":0}\n{\"prompt\":\"b\",\"label\":1}\n", NULL),
                 0);
    cr_assert_eq(d.rows[0].split, SL_SPLIT_TRAIN);
    cr_assert_eq(d.rows[1].split, SL_SPLIT_TRAIN);
    sl_dataset_free(&d);
}

Test(dataset, keeps_only_the_chosen_source)
{
    struct sl_dataset d;
    const char *text = "{\"prompt\":\"a\",\"label\":0,\"source\":\"x\"}\n"
                       "{\"prompt\":\"b\",\"label\":1,\"source\":\"y\"}\n"
                       "{\"prompt\":\"c\",\"label\":1}\n";

    cr_assert_eq(load(&d, text, "y"), 0);
    cr_assert_eq(d.n, 1);
    cr_assert_str_eq(d.rows[0].prompt, "b");
    cr_assert_eq(d.n_other_source, 2);
    sl_dataset_free(&d);
}

Test(dataset, interns_sources_and_categories)
{
    struct sl_dataset d;
    const char *text = "{\"prompt\":\"a\",\"label\":0,\"category\":\"law\"}\n"
                       "{\"prompt\":\"b\",\"label\":1,\"category\":\"art\"}\n"
                       "{\"prompt\":\"c\",\"label\":1,\"category\":\"law\"}\n";

    cr_assert_eq(load(&d, text, NULL), 0);
    cr_assert_eq(d.rows[0].category, d.rows[2].category, "same string, same pointer");
    cr_assert_neq(d.rows[0].category, d.rows[1].category);
    sl_dataset_free(&d);
}

/* One bad line among good ones: the message names the file and the line. */
static void expect_bad(const char *bad_line, const char *message)
{
    struct sl_dataset d;
    char text[1024], expected[512];

    snprintf(text, sizeof(text), "{\"prompt\":\"fine\",\"label\":0}\n%s\n", bad_line);
    cr_assert_eq(load(&d, text, NULL), SL_EPARSE, "accepted: %s", bad_line);
    snprintf(expected, sizeof(expected), "%s:2: %s\n", path, message);
    cr_assert_str_eq(errors, expected);
    cr_assert_eq(d.n, 1, "the good row is kept");
    sl_dataset_free(&d);
}

Test(dataset, reports_invalid_json)
{
    expect_bad("{\"prompt\": \"x\", \"label\": }", "invalid JSON near byte 26");
}

Test(dataset, reports_text_after_the_value)
{
    expect_bad("{\"prompt\":\"x\",\"label\":1} x", "invalid JSON: text after the value at byte 26");
}

Test(dataset, reports_a_line_that_is_not_an_object)
{
    expect_bad("[1, 2]", "not a JSON object");
}

Test(dataset, reports_a_missing_label)
{
    expect_bad("{\"prompt\":\"x\"}", "missing field \"label\" (or \"label_strong_needed\")");
}

Test(dataset, reports_a_label_that_is_not_0_or_1)
{
    expect_bad("{\"prompt\":\"x\",\"label\":2}", "field \"label\" is 2, not 0 or 1");
    expect_bad("{\"prompt\":\"x\",\"label_strong_needed\":0.5}",
               "field \"label_strong_needed\" is 0.5, not 0 or 1");
}

Test(dataset, reports_a_label_of_the_wrong_type)
{
    expect_bad("{\"prompt\":\"x\",\"label\":\"1\"}", "field \"label\" is not a number");
}

Test(dataset, reports_a_missing_prompt)
{
    expect_bad("{\"label\":1}", "missing field \"prompt\" (or \"messages\")");
}

Test(dataset, reports_a_prompt_of_the_wrong_type)
{
    expect_bad("{\"prompt\":42,\"label\":1}", "field \"prompt\" is not a string");
}

Test(dataset, reports_messages_that_are_not_an_array)
{
    expect_bad("{\"messages\":{\"role\":\"user\"},\"label\":1}",
               "field \"messages\" is not an array");
}

Test(dataset, reports_both_prompt_and_messages)
{
    expect_bad("{\"prompt\":\"x\",\"messages\":[],\"label\":1}",
               "both \"prompt\" and \"messages\": give one");
}

Test(dataset, reports_an_unknown_split)
{
    expect_bad("{\"prompt\":\"x\",\"label\":1,\"split\":\"valid\"}",
               "field \"split\" is \"valid\", not train, dev or test");
}

Test(dataset, reports_a_category_of_the_wrong_type)
{
    expect_bad("{\"prompt\":\"x\",\"label\":1,\"category\":3}",
               "field \"category\" is not a string");
}

Test(dataset, reports_bad_scores)
{
    expect_bad("{\"prompt\":\"x\",\"label\":1,\"score_weak\":1}",
               "field \"score_weak\" without \"score_strong\"");
    expect_bad("{\"prompt\":\"x\",\"label\":1,\"score_weak\":0,\"score_strong\":\"1\"}",
               "field \"score_strong\" is not a number");
    expect_bad("{\"prompt\":\"x\",\"label\":1,\"score_weak\":0,\"score_strong\":7}",
               "field \"score_strong\" is 7, outside [0, 1]");
    expect_bad("{\"prompt\":\"x\",\"label\":1,\"score_weak\":0,\"score_strong\":1,"
               "\"score_scale\":\"stars\"}",
               "field \"score_scale\" is \"stars\", not binary or judge_1_10");
}

Test(dataset, reports_every_bad_line)
{
    struct sl_dataset d;
    char expected[512];

    cr_assert_eq(load(&d, "{\"label\":1}\n{\"prompt\":\"ok\",\"label\":1}\nnope\n", NULL),
                 SL_EPARSE);
    snprintf(expected, sizeof(expected),
             "%s:1: missing field \"prompt\" (or \"messages\")\n%s:3: invalid JSON near byte 1\n",
             path, path);
    cr_assert_str_eq(errors, expected);
    sl_dataset_free(&d);
}

Test(dataset, reports_a_missing_file)
{
    struct sl_dataset d;

    sl_dataset_init(&d);
    cr_assert_eq(sl_dataset_load(&d, "/nonexistent/data.jsonl", NULL, errf), SL_EIO);
    fflush(errf);
    cr_assert_str_eq(errors, "/nonexistent/data.jsonl: cannot open: No such file or directory\n");
    sl_dataset_free(&d);
}

Test(dataset, selects_rows_by_split)
{
    struct sl_dataset d;
    enum sl_split dev = SL_SPLIT_DEV;
    size_t *rows, n;

    cr_assert_eq(load(&d,
                      "{\"prompt\":\"a\",\"label\":0,\"split\":\"train\"}\n"
                      "{\"prompt\":\"b\",\"label\":0,\"split\":\"dev\"}\n"
                      "{\"prompt\":\"c\",\"label\":0,\"split\":\"dev\"}\n",
                      NULL),
                 0);
    cr_assert_eq(sl_dataset_select(&d, &dev, &rows, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(rows[0], 1);
    cr_assert_eq(rows[1], 2);
    free(rows);
    cr_assert_eq(sl_dataset_select(&d, NULL, &rows, &n), 0);
    cr_assert_eq(n, 3);
    free(rows);
    sl_dataset_free(&d);
}

Test(dataset, quality_comes_from_scores_or_else_from_the_label)
{
    struct sl_example scored = {.has_scores = true, .score_weak = 0.25, .score_strong = 0.75};
    struct sl_example needs_premium = {.label = 1}, fine_on_cheap = {.label = 0};
    double w, s;

    sl_dataset_quality(&scored, &w, &s);
    cr_assert_float_eq(w, 0.25, 1e-12);
    cr_assert_float_eq(s, 0.75, 1e-12);
    sl_dataset_quality(&needs_premium, &w, &s);
    cr_assert_float_eq(w, 0.0, 1e-12, "a label-1 row on the cheap tier is a quality loss");
    cr_assert_float_eq(s, 1.0, 1e-12);
    sl_dataset_quality(&fine_on_cheap, &w, &s);
    cr_assert_float_eq(w, 1.0, 1e-12);
}

Test(dataset, extracts_the_same_features_as_the_extractor)
{
    struct sl_dataset d;
    struct sl_features a, b;
    char *buf = NULL;
    size_t cap = 0;

    cr_assert_eq(load(&d, "{\"prompt\":\"Why is the sky blue?\",\"label\":0}\n", NULL), 0);
    sl_features_init(&a);
    sl_features_init(&b);
    cr_assert_eq(sl_dataset_features(&d.rows[0], SL_MESSAGES_LAST_USER, &a, &buf, &cap), 0);
    cr_assert_eq(sl_features_extract(&b, "Why is the sky blue?", 20, 1), 0);
    cr_assert_eq(a.n, b.n);
    cr_assert_eq(memcmp(a.idx, b.idx, a.n * sizeof(*a.idx)), 0);
    cr_assert_eq(memcmp(a.val, b.val, a.n * sizeof(*a.val)), 0);
    free(buf);
    sl_features_free(&a);
    sl_features_free(&b);
    sl_dataset_free(&d);
}

/* ---- eval.db labels ---- */

static char evaldir[64], evalpath[128];
static sqlite3 *evaldb;

/* Samples and their shadow verdicts (the labels view reads those only):
 *   1 r-loss   auto  win, then loss           -> one row, label 1, scores 1/2 and 1/2
 *   2 r-tie    auto  tie                      -> label 0, scores 1 and 1
 *   3 r-none   code  judge only               -> no row
 *   4 r-empty  auto  loss, prompt ""          -> dropped, counted
 *   5 r-multi  code  win; a conversation      -> label 0, scores 1 and 0, messages kept whole */
static const char eval_fixture[] =
    "INSERT INTO samples(id, request_id, received_ms, ts_ms, route, tier, prompt) VALUES"
    " (1, 'r-loss', 0, 1, 'auto', 'small',"
    "  '[{\"role\":\"user\",\"content\":\"Prove Fermat''s little theorem.\"}]'),"
    " (2, 'r-tie', 0, 2, 'auto', 'small', '[{\"role\":\"user\",\"content\":\"hi\"}]'),"
    " (3, 'r-none', 0, 3, 'code', 'small', '[{\"role\":\"user\",\"content\":\"x\"}]'),"
    " (4, 'r-empty', 0, 4, 'auto', 'small', ''),"
    " (5, 'r-multi', 0, 5, 'code', 'small', '[{\"role\":\"system\",\"content\":\"Be brief.\"},"
    "  {\"role\":\"user\",\"content\":\"Name a colour.\"},"
    "  {\"role\":\"assistant\",\"content\":\"Red.\"},"
    "  {\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Another one.\"}]}]');"
    "INSERT INTO results(sample_id, scorer, ts_ms, pass, verdict) VALUES"
    " (1, 'shadow', 0, NULL, 'win'), (1, 'shadow', 0, NULL, 'loss'), (2, 'shadow', 0, 1, 'tie'),"
    " (3, 'judge', 0, 1, NULL), (4, 'shadow', 0, 0, 'loss'), (5, 'shadow', 0, 1, 'win'),"
    " (5, 'rules', 0, 0, NULL);";

static void eval_setup(void)
{
    char err[256] = "";

    setup();
    snprintf(evaldir, sizeof(evaldir), "/tmp/sl_test_dataset_eval_XXXXXX");
    cr_assert_not_null(mkdtemp(evaldir));
    snprintf(evalpath, sizeof(evalpath), "%s/eval.db", evaldir);
    evaldb = sl_evaldb_open(evalpath, false, err, sizeof(err));
    cr_assert_not_null(evaldb, "%s", err);
    cr_assert_eq(sqlite3_exec(evaldb, eval_fixture, NULL, NULL, NULL), SQLITE_OK, "%s",
                 sqlite3_errmsg(evaldb));
}

static void eval_teardown(void)
{
    char p[160];
    const char *suffix[] = {"", "-wal", "-shm", "-journal"};

    sqlite3_close(evaldb);
    for (size_t i = 0; i < sizeof(suffix) / sizeof(*suffix); i++) {
        snprintf(p, sizeof(p), "%s%s", evalpath, suffix[i]);
        unlink(p);
    }
    rmdir(evaldir);
    teardown();
}

TestSuite(dataset_evaldb, .init = eval_setup, .fini = eval_teardown);

/* Loads the fixture's eval.db into d; errors in `errors`. */
static int load_evaldb(struct sl_dataset *d, const char *source)
{
    int rc;

    fclose(errf);
    free(errors);
    errors = NULL;
    errf = open_memstream(&errors, &errors_len);
    sl_dataset_init(d);
    rc = sl_dataset_load_evaldb(d, evalpath, source, errf);
    fflush(errf);
    return rc;
}

Test(dataset_evaldb, one_row_per_labelled_sample)
{
    struct sl_dataset d;
    const struct sl_example *e;

    cr_assert_eq(load_evaldb(&d, NULL), 0, "%s", errors);
    cr_assert_eq(d.n, 3);
    cr_assert_eq(d.n_no_prompt, 1);
    cr_assert_eq(d.n_files, 1);
    cr_assert_str_eq(d.files[0], evalpath);
    e = &d.rows[0];
    cr_assert_str_eq(e->id, "r-loss");
    cr_assert_eq(e->label, 1, "a loss in any shadow run: premium needed");
    cr_assert_eq(e->line, 1);
    cr_assert_str_eq(e->category, "auto");
    cr_assert_str_eq(e->source, "");
    cr_assert_null(e->prompt);
    cr_assert(cJSON_IsArray(e->messages));
    cr_assert_eq(e->split, sl_dataset_evaldb_split("r-loss"));
    cr_assert_str_eq(d.rows[1].id, "r-tie");
    cr_assert_eq(d.rows[1].label, 0);
    cr_assert_str_eq(d.rows[2].id, "r-multi");
    cr_assert_eq(d.rows[2].label, 0);
    /* Each tier's quality: the share of runs in which its answer was not the worse one. */
    static const double weak[] = {0.5, 1, 1}, strong[] = {0.5, 1, 0};
    for (size_t i = 0; i < 3; i++) {
        cr_assert(d.rows[i].has_scores, "row %zu", i);
        cr_assert_float_eq(d.rows[i].score_weak, weak[i], 1e-12, "row %zu", i);
        cr_assert_float_eq(d.rows[i].score_strong, strong[i], 1e-12, "row %zu", i);
    }
    cr_assert_eq(d.rows[2].line, 5);
    cr_assert_str_eq(d.rows[2].category, "code");
    cr_assert_eq(cJSON_GetArraySize(d.rows[2].messages), 4);
    sl_dataset_free(&d);
}

Test(dataset_evaldb, features_are_the_last_user_messages_as_the_proxy_sees_them)
{
    struct sl_dataset d;
    struct sl_features a, b;
    char *buf = NULL;
    size_t cap = 0;

    cr_assert_eq(load_evaldb(&d, NULL), 0, "%s", errors);
    sl_features_init(&a);
    sl_features_init(&b);
    cr_assert_eq(sl_dataset_features(&d.rows[2], SL_MESSAGES_LAST_USER, &a, &buf, &cap), 0);
    /* The last user message's text, in a conversation of 4 turns. */
    cr_assert_eq(sl_features_extract(&b, "Another one.", 12, 4), 0);
    cr_assert_eq(a.n, b.n);
    cr_assert_eq(memcmp(a.idx, b.idx, a.n * sizeof(*a.idx)), 0);
    cr_assert_eq(memcmp(a.val, b.val, a.n * sizeof(*a.val)), 0);
    free(buf);
    sl_features_free(&a);
    sl_features_free(&b);
    sl_dataset_free(&d);
}

Test(dataset_evaldb, a_source_filter_keeps_only_source_none)
{
    struct sl_dataset d;

    cr_assert_eq(load_evaldb(&d, "routellm_mmlu"), 0);
    cr_assert_eq(d.n, 0);
    cr_assert_eq(d.n_other_source, 4);
    sl_dataset_free(&d);
    cr_assert_eq(load_evaldb(&d, ""), 0);
    cr_assert_eq(d.n, 3);
    sl_dataset_free(&d);
}

Test(dataset_evaldb, reports_a_prompt_that_is_not_messages)
{
    struct sl_dataset d;

    cr_assert_eq(sqlite3_exec(evaldb,
                              "UPDATE samples SET prompt = '{\"role\":\"user\"}' WHERE id = 2;"
                              "UPDATE samples SET prompt = 'not json' WHERE id = 5;",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    cr_assert_eq(load_evaldb(&d, NULL), SL_EPARSE);
    cr_assert_eq(d.n, 1, "the good rows are kept");
    cr_assert_not_null(strstr(errors, ": sample 2: the prompt is not a JSON array of messages\n"),
                       "%s", errors);
    cr_assert_not_null(strstr(errors, ": sample 5: the prompt is not"), "%s", errors);
    cr_assert_eq(strncmp(errors, evalpath, strlen(evalpath)), 0, "%s", errors);
    sl_dataset_free(&d);
}

Test(dataset_evaldb, reports_a_missing_database)
{
    struct sl_dataset d;

    sl_dataset_init(&d);
    cr_assert_eq(sl_dataset_load_evaldb(&d, "/nonexistent/eval.db", NULL, errf), SL_EIO);
    fflush(errf);
    cr_assert_not_null(strstr(errors, "/nonexistent/eval.db: cannot open"), "%s", errors);
    sl_dataset_free(&d);
}

Test(dataset_evaldb, splits_are_stable_and_about_80_10_10)
{
    size_t count[3] = {0};
    char id[32];

    for (int i = 0; i < 10000; i++) {
        snprintf(id, sizeof(id), "req_%016x", (unsigned)i * 2654435761u);
        count[sl_dataset_evaldb_split(id)]++;
    }
    cr_assert(count[SL_SPLIT_TRAIN] > 7700 && count[SL_SPLIT_TRAIN] < 8300, "%zu",
              count[SL_SPLIT_TRAIN]);
    cr_assert(count[SL_SPLIT_DEV] > 800 && count[SL_SPLIT_DEV] < 1200, "%zu", count[SL_SPLIT_DEV]);
    cr_assert(count[SL_SPLIT_TEST] > 800 && count[SL_SPLIT_TEST] < 1200, "%zu",
              count[SL_SPLIT_TEST]);
    /* The same id, the same split, in any run. */
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof(id), "req_%d", i);
        cr_assert_eq(sl_dataset_evaldb_split(id), sl_dataset_evaldb_split(id));
    }
}

Test(dataset_evaldb, rows_are_selected_by_split)
{
    struct sl_dataset d;
    enum sl_split want = sl_dataset_evaldb_split("r-tie");
    size_t *rows, n;

    sl_dataset_init(&d);
    cr_assert_eq(sl_dataset_load_rows(&d, evalpath, true, NULL, &want, &rows, &n, errf), 0);
    cr_assert_geq(n, 1);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(d.rows[rows[i]].split, want);
    free(rows);
    sl_dataset_free(&d);
}

/* Rows that load_evaldb or load gave, compared field by field. */
static void assert_same_rows(const struct sl_dataset *a, const struct sl_dataset *b)
{
    cr_assert_eq(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const struct sl_example *x = &a->rows[i], *y = &b->rows[i];

        cr_assert((!x->id && !y->id) || (x->id && y->id && !strcmp(x->id, y->id)), "row %zu", i);
        cr_assert((!x->prompt && !y->prompt) ||
                      (x->prompt && y->prompt && !strcmp(x->prompt, y->prompt)),
                  "row %zu", i);
        cr_assert(cJSON_Compare(x->messages, y->messages, true) || (!x->messages && !y->messages),
                  "row %zu", i);
        cr_assert_eq(x->label, y->label, "row %zu", i);
        cr_assert_eq(x->split, y->split, "row %zu", i);
        cr_assert_str_eq(x->category, y->category, "row %zu", i);
        cr_assert_str_eq(x->source, y->source, "row %zu", i);
        cr_assert_eq(x->has_scores, y->has_scores, "row %zu", i);
        cr_assert_float_eq(x->score_weak, y->score_weak, 1e-12, "row %zu", i);
        cr_assert_float_eq(x->score_strong, y->score_strong, 1e-12, "row %zu", i);
    }
}

/* Writes d as JSONL to the scratch file `path` and reads it back into back. */
static void round_trip(const struct sl_dataset *d, struct sl_dataset *back)
{
    FILE *fp = fopen(path, "w");

    cr_assert_not_null(fp);
    cr_assert_eq(sl_dataset_write_jsonl(fp, d, NULL, 0), 0);
    fclose(fp);
    sl_dataset_init(back);
    cr_assert_eq(sl_dataset_load(back, path, NULL, errf), 0, "%s", errors);
}

Test(dataset_evaldb, written_labels_read_back_as_the_same_rows)
{
    struct sl_dataset d, back;
    char line[512];
    FILE *fp;

    cr_assert_eq(load_evaldb(&d, NULL), 0, "%s", errors);
    round_trip(&d, &back);
    assert_same_rows(&d, &back);
    fp = fopen(path, "r");
    cr_assert_not_null(fgets(line, sizeof(line), fp));
    fclose(fp);
    cr_assert_str_eq(line,
                     "{\"id\":\"r-loss\",\"messages\":[{\"role\":\"user\",\"content\":"
                     "\"Prove Fermat's little theorem.\"}],\"label\":1,\"category\":"
                     "\"auto\",\"split\":\"train\",\"score_weak\":0.5,\"score_strong\":0.5}\n");
    sl_dataset_free(&back);
    sl_dataset_free(&d);
}

Test(dataset, written_rows_read_back_as_the_same_rows)
{
    struct sl_dataset d, back;

    cr_assert_eq(load(&d,
                      "{\"id\":\"a-1\",\"prompt\":\"Tell me a \\\"joke\\\".\",\"label\":0,"
                      "\"category\":\"chitchat\",\"split\":\"dev\"}\n"
                      "{\"prompt\":\"x\",\"label_strong_needed\":1,\"source\":\"mt\","
                      "\"score_weak\":2,\"score_strong\":9,\"score_scale\":\"judge_1_10\"}\n"
                      "{\"id\":7,\"messages\":[{\"role\":\"user\",\"content\":\"hey\"}],"
                      "\"label\":1,\"split\":\"test\"}\n",
                      NULL),
                 0, "%s", errors);
    cr_assert_str_eq(d.rows[0].id, "a-1");
    cr_assert_null(d.rows[2].id, "only string ids are kept");
    round_trip(&d, &back);
    assert_same_rows(&d, &back);
    cr_assert_float_eq(back.rows[1].score_weak, 0.2, 1e-12);
    sl_dataset_free(&back);
    sl_dataset_free(&d);
}
