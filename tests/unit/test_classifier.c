/* Tests for common/classifier: the router model's artifact, validation and scoring. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "classifier.h"

static char dir[64];
static char path[128];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/sl_classifier_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/model.json", dir);
}

static void teardown(void)
{
    char p[160];

    unlink(path);
    snprintf(p, sizeof(p), "%s.tmp", path);
    unlink(p);
    rmdir(dir);
}

TestSuite(classifier, .init = setup, .fini = teardown);

static bool exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static void write_text(const char *text)
{
    FILE *fp = fopen(path, "w");
    cr_assert_not_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* Writes an artifact: the valid one, with `field` replaced by `value` (a JSON text; NULL
 * drops the field). */
static void write_model(const char *field, const char *value)
{
    const char *keys[] = {"v", "feature_spec_hash", "messages", "bias", "weights", "thresholds"};
    char hash[32], *vals[6];
    char buf[4096] = "{";

    snprintf(hash, sizeof(hash), "\"%s\"", sl_features_spec_hash());
    vals[0] = "1";
    vals[1] = hash;
    vals[2] = "\"system_last\"";
    vals[3] = "-1.5";
    vals[4] = "{\"dim\":262176,\"idx\":[3,262144],\"val\":[0.5,-2]}";
    vals[5] = "[0.25,0.75]";
    for (int i = 0; i < 6; i++) {
        const char *v = vals[i];
        if (field && !strcmp(field, keys[i]))
            v = value;
        if (!v)
            continue;
        if (buf[1])
            strcat(buf, ",\n");
        snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "\"%s\": %s", keys[i], v);
    }
    strcat(buf, "}\n");
    write_text(buf);
}

static void assert_refused(const char *want)
{
    char err[512] = "";
    struct sl_classifier *c = sl_classifier_load(path, err, sizeof(err));

    cr_assert_null(c, "loaded although it should fail with: %s", want);
    cr_assert_eq(strncmp(err, path, strlen(path)), 0, "error does not name the file: %s", err);
    cr_assert_not_null(strstr(err, want), "error \"%s\" does not say \"%s\"", err, want);
}

Test(classifier, loads_a_valid_artifact)
{
    char err[256] = "";
    struct sl_classifier *c;

    write_model(NULL, NULL);
    c = sl_classifier_load(path, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    cr_assert_eq(c->messages, SL_MESSAGES_SYSTEM_LAST);
    cr_assert_eq(c->bias, -1.5);
    cr_assert_eq(c->w[3], 0.5f);
    cr_assert_eq(c->w[SL_FEATURES_HASHED], -2.0f);
    cr_assert_eq(c->w[4], 0.0f);
    cr_assert_eq(c->n_thresholds, 2);
    cr_assert_eq(c->thresholds[1], 0.75);
    cr_assert_str_eq(c->path, path);
    cr_assert_null(c->meta);
    sl_classifier_destroy(c);
    sl_classifier_destroy(NULL);
}

Test(classifier, score_is_the_logistic_of_the_dot_product)
{
    struct sl_classifier *c;
    struct sl_features f = {0};
    uint32_t idx[] = {3, SL_FEATURES_HASHED};
    float val[] = {2.0f, 0.25f};
    char err[256];

    write_model(NULL, NULL);
    c = sl_classifier_load(path, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    f.idx = idx;
    f.val = val;
    f.n = 2;
    /* -1.5 + 0.5 * 2 - 2 * 0.25 = -1 */
    cr_assert_float_eq(sl_classifier_score(c, &f), 1 / (1 + exp(1.0)), 1e-15);
    f.n = 0;
    cr_assert_float_eq(sl_classifier_score(c, &f), 1 / (1 + exp(1.5)), 1e-15);
    sl_classifier_destroy(c);
}

/* The score is one chain of additions in index order, whatever the loop does around it (it
 * prefetches weights ahead): scores, thresholds and evaluations then stay bit for bit the same.
 * The terms below cancel so that any other order gives another sum. */
Test(classifier, score_adds_the_terms_in_index_order)
{
    float *w = calloc(SL_FEATURES_DIM, sizeof(*w));
    struct sl_classifier c = {.w = w, .bias = 0.25};
    uint32_t idx[400];
    float val[400];
    struct sl_features f = {.idx = idx, .val = val, .n = 400};
    double z = c.bias;

    cr_assert_not_null(w);
    for (size_t i = 0; i < 400; i++) {
        static const float terms[] = {1e16f, 1.0f, -1e16f, 1.0f};
        idx[i] = (uint32_t)(i * 650 + 3);
        w[idx[i]] = i % 2 ? 0.5f : 2.0f;
        val[i] = terms[i % 4] / w[idx[i]];
        z += (double)w[idx[i]] * val[i];
    }
    /* in order: 1e16 swallows the bias and each 1, cancels, and the last 1 is left */
    cr_assert_eq(z, 1.0);
    cr_assert_eq(sl_classifier_score(&c, &f), 1 / (1 + exp(-1.0)));
    free(w);
}

Test(classifier, save_then_load_gives_identical_scores)
{
    const char *prompts[] = {"What is the capital of France?\nA. Paris\nB. Rome\nAnswer:",
                             "Write a haiku about autumn, in exactly 3 lines.", ""};
    float *w = calloc(SL_FEATURES_DIM, sizeof(*w));
    double th[] = {0.2, 0.5, 0.9};
    cJSON *training = cJSON_Parse("{\"data\":\"routellm\",\"l2\":0.001}");
    cJSON *metrics = cJSON_Parse("{\"apgr\":0.7}");
    struct sl_classifier mem = {.w = w, .bias = 0.123456789012345678};
    struct sl_classifier *c;
    struct sl_features f;
    char err[256] = "";

    /* Values that need all nine significant digits of a float. */
    for (size_t i = 0; i < SL_FEATURES_DIM; i += 7)
        w[i] = (float)(sin((double)i) * 3.0e-3 / (1 + i % 13));
    cr_assert_eq(sl_classifier_save(path, w, mem.bias, SL_MESSAGES_ALL, th, 3, training, metrics,
                                    err, sizeof(err)),
                 0, "%s", err);
    cr_assert(exists(path));
    c = sl_classifier_load(path, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    cr_assert_eq(memcmp(c->w, w, SL_FEATURES_DIM * sizeof(*w)), 0);
    cr_assert_eq(c->bias, mem.bias);
    cr_assert_eq(c->messages, SL_MESSAGES_ALL);
    cr_assert_eq(c->n_thresholds, 3);
    cr_assert_eq(memcmp(c->thresholds, th, sizeof(th)), 0);
    cr_assert(cJSON_Compare(cJSON_GetObjectItem(c->meta, "training"), training, 1));
    cr_assert(cJSON_Compare(cJSON_GetObjectItem(c->meta, "metrics"), metrics, 1));
    sl_features_init(&f);
    for (size_t i = 0; i < sizeof(prompts) / sizeof(*prompts); i++) {
        cr_assert_eq(sl_features_extract(&f, prompts[i], strlen(prompts[i]), 1), 0);
        cr_assert_eq(sl_classifier_score(c, &f), sl_classifier_score(&mem, &f));
    }
    sl_features_free(&f);
    sl_classifier_destroy(c);
    cJSON_Delete(training);
    cJSON_Delete(metrics);
    free(w);
}

Test(classifier, saved_artifact_lists_only_nonzero_weights_in_order)
{
    float *w = calloc(SL_FEATURES_DIM, sizeof(*w));
    char err[256] = "", *text;
    cJSON *root, *idx;
    FILE *fp;
    long n;

    w[SL_FEATURES_DIM - 1] = 1.5f;
    w[10] = -0.25f;
    cr_assert_eq(sl_classifier_save(path, w, 0, SL_MESSAGES_LAST_USER, NULL, 0, NULL, NULL, err,
                                    sizeof(err)),
                 0, "%s", err);
    fp = fopen(path, "r");
    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    rewind(fp);
    text = calloc(1, (size_t)n + 1);
    cr_assert_eq(fread(text, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    root = cJSON_Parse(text);
    idx = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "weights"), "idx");
    cr_assert_eq(cJSON_GetArraySize(idx), 2);
    cr_assert_eq(cJSON_GetArrayItem(idx, 0)->valueint, 10);
    cr_assert_eq(cJSON_GetArrayItem(idx, 1)->valueint, SL_FEATURES_DIM - 1);
    cr_assert_str_eq(cJSON_GetObjectItem(root, "messages")->valuestring, "last_user");
    cr_assert_null(cJSON_GetObjectItem(root, "training"));
    cJSON_Delete(root);
    free(text);
    free(w);
}

Test(classifier, refuses_a_model_for_another_feature_specification)
{
    char err[512] = "";

    write_model("feature_spec_hash", "\"0123456789abcdef\"");
    cr_assert_null(sl_classifier_load(path, err, sizeof(err)));
    cr_assert_not_null(strstr(err, "0123456789abcdef"), "%s", err);
    cr_assert_not_null(strstr(err, sl_features_spec_hash()), "%s", err);
    cr_assert_not_null(strstr(err, "retrain"), "%s", err);
}

Test(classifier, refuses_unreadable_and_malformed_files)
{
    assert_refused("cannot read"); /* no file yet */
    write_text("{\n  \"v\": 1,\n  \"bias\": ,\n}\n");
    assert_refused("line 3: malformed JSON");
    write_text("");
    assert_refused("malformed JSON");
    write_text("[1, 2]");
    assert_refused("not a JSON object");
}

Test(classifier, refuses_missing_and_mistyped_fields)
{
    const char *fields[] = {"v", "feature_spec_hash", "messages", "bias", "weights", "thresholds"};
    char want[64];

    for (size_t i = 0; i < sizeof(fields) / sizeof(*fields); i++) {
        write_model(fields[i], NULL);
        snprintf(want, sizeof(want), "missing \"%s\"", fields[i]);
        assert_refused(want);
        write_model(fields[i], "true");
        snprintf(want, sizeof(want), "\"%s\" must be", fields[i]);
        assert_refused(want);
    }
}

Test(classifier, refuses_other_versions_and_unknown_messages)
{
    write_model("v", "2");
    assert_refused("this build reads version 1");
    write_model("messages", "\"everything\"");
    assert_refused("\"messages\" is \"everything\"");
}

Test(classifier, refuses_bad_weights)
{
    write_model("weights", "{\"dim\":1000,\"idx\":[],\"val\":[]}");
    assert_refused("weights.dim is 1000");
    write_model("weights", "{\"idx\":[],\"val\":[]}");
    assert_refused("missing \"dim\"");
    write_model("weights", "{\"dim\":262176,\"idx\":[1,2],\"val\":[0.5]}");
    assert_refused("weights.idx has 2 entries but weights.val has 1");
    write_model("weights", "{\"dim\":262176,\"idx\":[262176],\"val\":[0.5]}");
    assert_refused("weights.idx[0] is not an index");
    write_model("weights", "{\"dim\":262176,\"idx\":[-1],\"val\":[0.5]}");
    assert_refused("weights.idx[0] is not an index");
    write_model("weights", "{\"dim\":262176,\"idx\":[1.5],\"val\":[0.5]}");
    assert_refused("weights.idx[0] is not an index");
    write_model("weights", "{\"dim\":262176,\"idx\":[5,5],\"val\":[0.5,1]}");
    assert_refused("weights.idx[1] is not above");
    write_model("weights", "{\"dim\":262176,\"idx\":[5],\"val\":[1e999]}");
    assert_refused("weights.val[0] is not a finite number");
    write_model("weights", "{\"dim\":262176,\"idx\":[5],\"val\":[1e300]}");
    assert_refused("weights.val[0] is not a finite number"); /* overflows a float */
    write_model("weights", "{\"dim\":262176,\"idx\":[5],\"val\":[\"x\"]}");
    assert_refused("weights.val[0] is not a finite number");
}

Test(classifier, refuses_a_non_finite_bias)
{
    write_model("bias", "-1e999");
    assert_refused("\"bias\" is not a finite number");
}

Test(classifier, refuses_thresholds_outside_0_1_or_out_of_order)
{
    write_model("thresholds", "[0.5, 0.4]");
    assert_refused("thresholds[1]");
    write_model("thresholds", "[0, 0.4]");
    assert_refused("thresholds[0]");
    write_model("thresholds", "[0.5, 1]");
    assert_refused("thresholds[1]");
    write_model("thresholds", "[\"0.5\"]");
    assert_refused("thresholds[0]");
}

Test(classifier, accepts_no_thresholds_and_keeps_metadata)
{
    char err[256] = "";
    struct sl_classifier *c;
    char text[1024];

    snprintf(text, sizeof(text),
             "{\"v\":1,\"feature_spec_hash\":\"%s\",\"messages\":\"all\",\"bias\":0,"
             "\"weights\":{\"dim\":262176,\"idx\":[],\"val\":[]},\"thresholds\":[],"
             "\"metrics\":{\"apgr\":0.75}}",
             sl_features_spec_hash());
    write_text(text);
    c = sl_classifier_load(path, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    cr_assert_eq(c->n_thresholds, 0);
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(c->meta, "metrics"), "apgr")->valuedouble,
                 0.75);
    cr_assert_null(cJSON_GetObjectItem(c->meta, "training"));
    sl_classifier_destroy(c);

    snprintf(text, sizeof(text),
             "{\"v\":1,\"feature_spec_hash\":\"%s\",\"messages\":\"all\",\"bias\":0,"
             "\"weights\":{\"dim\":262176,\"idx\":[],\"val\":[]},\"thresholds\":[],"
             "\"training\":[1]}",
             sl_features_spec_hash());
    write_text(text);
    assert_refused("\"training\" must be an object");
}

Test(classifier, save_into_a_missing_directory_leaves_nothing)
{
    float *w = calloc(SL_FEATURES_DIM, sizeof(*w));
    char err[256] = "", missing[160], tmp[170];
    int rc;

    snprintf(missing, sizeof(missing), "%s/no/such/dir/model.json", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", missing);
    rc = sl_classifier_save(missing, w, 0, SL_MESSAGES_LAST_USER, NULL, 0, NULL, NULL, err,
                            sizeof(err));
    cr_assert_lt(rc, 0);
    cr_assert_not_null(strstr(err, "model.json"), "%s", err);
    cr_assert_not(exists(missing));
    cr_assert_not(exists(tmp));
    free(w);
}

Test(classifier, save_refuses_what_load_would_refuse_and_leaves_nothing)
{
    float *w = calloc(SL_FEATURES_DIM, sizeof(*w));
    double bad_th[] = {0.6, 0.3};
    char err[256] = "", tmp[160];

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    w[7] = NAN;
    cr_assert_lt(
        sl_classifier_save(path, w, 0, SL_MESSAGES_ALL, NULL, 0, NULL, NULL, err, sizeof(err)), 0);
    cr_assert_not_null(strstr(err, "weight 7"), "%s", err);
    w[7] = 0;
    cr_assert_lt(
        sl_classifier_save(path, w, 0, SL_MESSAGES_ALL, bad_th, 2, NULL, NULL, err, sizeof(err)),
        0);
    cr_assert_not_null(strstr(err, "thresholds"), "%s", err);
    cr_assert_lt(sl_classifier_save(path, w, INFINITY, SL_MESSAGES_ALL, NULL, 0, NULL, NULL, err,
                                    sizeof(err)),
                 0);
    cr_assert_not(exists(path));
    cr_assert_not(exists(tmp));
    free(w);
}

Test(classifier, save_replaces_an_existing_model_whole)
{
    float *w = calloc(SL_FEATURES_DIM, sizeof(*w));
    char err[256] = "";
    struct sl_classifier *c;

    write_text("old contents");
    w[1] = 1;
    cr_assert_eq(
        sl_classifier_save(path, w, 2, SL_MESSAGES_ALL, NULL, 0, NULL, NULL, err, sizeof(err)), 0,
        "%s", err);
    c = sl_classifier_load(path, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    cr_assert_eq(c->bias, 2);
    cr_assert_eq(c->w[1], 1);
    sl_classifier_destroy(c);
    free(w);
}

/* Reads back the artifact write_model wrote, as a controller's message would carry it. */
static char *model_text(size_t *len)
{
    FILE *fp = fopen(path, "r");
    char *t = calloc(1, 8192);

    cr_assert_not_null(fp);
    *len = fread(t, 1, 8191, fp);
    fclose(fp);
    return t;
}

Test(classifier, parses_an_artifact_in_memory_by_its_length_only)
{
    char err[256] = "", *text;
    size_t len;
    struct sl_classifier *c;

    write_model(NULL, NULL);
    text = model_text(&len);
    text[len] = 'x'; /* a byte past the length must not be read */
    c = sl_classifier_parse("sha256:ab", text, len, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    cr_assert_eq(c->w[3], 0.5f);
    cr_assert_str_eq(c->path, "sha256:ab");
    sl_classifier_destroy(c);
    memcpy(text + len, " ]", 2); /* but text inside the length is */
    cr_assert_null(sl_classifier_parse("sha256:ab", text, len + 2, err, sizeof(err)));
    cr_assert_not_null(strstr(err, "sha256:ab: line"), "%s", err);
    free(text);
}

Test(classifier, the_last_reference_frees)
{
    char err[256] = "";
    struct sl_classifier *c;

    write_model(NULL, NULL);
    c = sl_classifier_load(path, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    cr_assert_eq(sl_classifier_ref(c), c);
    cr_assert_eq(c->refs, 2);
    sl_classifier_destroy(c);
    cr_assert_eq(c->refs, 1, "still alive for the other holder");
    cr_assert_eq(c->w[3], 0.5f);
    sl_classifier_destroy(c); /* freed: the sanitizer build would report a leak otherwise */
}
