/* Tests for controller/versions: the first version from the file, commits with validation and
 * diffs, identical documents, optimistic concurrency, rollback, persistence, classifier
 * registration (a wrong feature-spec hash included), the policy's state and events. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classifier.h"
#include "sha256.h"
#include "versions.h"

static char dir[64], sluice[128], data[128], clf_path[128], clf2_path[128];
static struct sl_versions *vs;
static char err[1024];

#define TIERS                                                                                      \
    "\"tiers\": [{\"name\": \"small\", \"models\": [\"small\"]},"                                  \
    " {\"name\": \"large\", \"models\": [\"large\"]}]"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* A tiny artifact: no weights, one threshold. */
static void save_classifier(const char *path, double bias, double threshold)
{
    float *w = calloc(SL_FEATURES_DIM, sizeof(float));
    char e[256];

    cr_assert_not_null(w);
    cr_assert_eq(sl_classifier_save(path, w, bias, SL_MESSAGES_LAST_USER, &threshold, 1, NULL, NULL,
                                    e, sizeof(e)),
                 0, "%s", e);
    free(w);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *text = calloc(1, 1 << 22);

    cr_assert_not_null(f);
    *len = fread(text, 1, (1 << 22) - 1, f);
    fclose(f);
    return text;
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/sluice-test-versions-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(sluice, sizeof(sluice), "%s/sluice.json", dir);
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(clf_path, sizeof(clf_path), "%s/router.json", dir);
    snprintf(clf2_path, sizeof(clf2_path), "%s/other.json", dir);
    save_classifier(clf_path, -1, 0.5);
    save_classifier(clf2_path, -2, 0.25);
    write_file(sluice, "{\"providers\": {\"p\": {\"base_url\": \"http://127.0.0.1:9/v1\"}},\n"
                       " \"models\": {\"small\": {\"price\": {\"input\": 0.1, \"output\": 0.2},"
                       " \"deployments\": [{\"provider\": \"p\", \"model\": \"s\"}],"
                       " \"fallbacks\": [\"large\"]},\n"
                       "   \"large\": {\"price\": {\"input\": 1, \"output\": 2},"
                       " \"deployments\": [{\"provider\": \"p\", \"model\": \"l\"}]}},\n"
                       " \"routes\": {\"auto\": {\"classifier\": \"router.json\", " TIERS "}}}\n");
    vs = sl_versions_open(data, sluice, err, sizeof(err));
    cr_assert_not_null(vs, "%s", err);
}

static void teardown(void)
{
    char cmd[128];

    sl_versions_close(vs);
    vs = NULL;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(versions, .init = setup, .fini = teardown);

static cJSON *parse(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    cr_assert_not_null(j, "bad JSON in the test: %s", text);
    return j;
}

/* Commits text; returns the result code, the change in *ch (diff freed unless keep). */
static int commit(const char *text, int64_t base, struct sl_versions_change *ch)
{
    cJSON *doc = parse(text);
    int rc = sl_versions_commit(vs, doc, "tester", "testing", base, ch, err, sizeof(err));

    cJSON_Delete(doc);
    return rc;
}

static const char *diff_path(const cJSON *diff, int i)
{
    const cJSON *e = cJSON_GetArrayItem(diff, i);
    return cJSON_GetObjectItem(e, "path")->valuestring;
}

Test(versions, the_first_version_is_the_files_routes_and_fallbacks)
{
    struct sl_versions_entry e;
    char want[200];
    cJSON *doc = NULL;

    cr_assert_eq(sl_versions_current(vs, &doc), 1);
    cr_assert_str_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "routes"), "auto"),
                            "classifier")
            ->valuestring,
        "router.json");
    cr_assert_str_eq(
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "fallbacks"), "small"), 0)
            ->valuestring,
        "large");
    cJSON_Delete(doc);
    cr_assert_eq(sl_versions_get(vs, 1, true, &e), 0);
    cr_assert_str_eq(e.author, "controller");
    snprintf(want, sizeof(want), "initial: from %s", sluice);
    cr_assert_str_eq(e.reason, want);
    cr_assert_gt(e.created_us, 1700000000000000LL);
    cr_assert_not_null(e.document);
    sl_versions_entry_free(&e);
}

Test(versions, a_commit_makes_the_next_version_with_its_diff)
{
    struct sl_versions_change ch;
    struct sl_versions_entry e;
    const cJSON *d;

    cr_assert_eq(commit("{\"routes\": {\"auto\": {\"classifier\": \"router.json\", \"thresholds\":"
                        " [0.4], " TIERS "}}, \"fallbacks\": {\"small\": [\"large\"]}}",
                        0, &ch),
                 0, "%s", err);
    cr_assert_eq(ch.version, 2);
    cr_assert_not(ch.unchanged);
    cr_assert_eq(cJSON_GetArraySize(ch.diff), 1);
    d = cJSON_GetArrayItem(ch.diff, 0);
    cr_assert_str_eq(diff_path(ch.diff, 0), "routes.auto.thresholds");
    cr_assert_null(cJSON_GetObjectItem(d, "from"), "added: no from");
    cr_assert_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(d, "to"), 0)->valuedouble, 0.4);
    cJSON_Delete(ch.diff);
    cr_assert_eq(sl_versions_current(vs, NULL), 2);
    cr_assert_eq(sl_versions_get(vs, 2, false, &e), 0);
    cr_assert_str_eq(e.author, "tester");
    cr_assert_str_eq(e.reason, "testing");
    cr_assert_null(e.document);
    cr_assert_str_eq(diff_path(e.diff, 0), "routes.auto.thresholds");
    sl_versions_entry_free(&e);
    cr_assert_eq(sl_versions_get(vs, 3, false, &e), SL_ENOTFOUND);
}

Test(versions, an_invalid_document_is_refused_with_the_validation_message)
{
    struct sl_versions_change ch;

    cr_assert_eq(commit("{\"routes\": {\"auto\": {\"classifier\": \"router.json\", \"thresholds\":"
                        " [1.5], " TIERS "}}}",
                        0, &ch),
                 SL_EINVAL);
    cr_assert_str_eq(err, "document: routes.auto.thresholds: must be ascending numbers between 0 "
                          "and 1");
    cr_assert_eq(commit("{\"routes\": {}, \"extra\": 1}", 0, &ch), SL_EINVAL);
    cr_assert(strstr(err, "extra") != NULL, "%s", err);
    cr_assert_eq(
        commit("{\"routes\": {\"auto\": {\"classifier\": \"missing.json\", " TIERS "}}}", 0, &ch),
        SL_EINVAL);
    cr_assert(strncmp(err, "document: routes.auto.classifier: ", 34) == 0, "%s", err);
    cr_assert_eq(sl_versions_current(vs, NULL), 1, "nothing was stored");
}

Test(versions, an_identical_document_stores_nothing)
{
    struct sl_versions_change ch;
    cJSON *doc = NULL;

    sl_versions_current(vs, &doc);
    /* the same members in another order are the same document */
    cJSON_AddItemToObject(doc, "fallbacks", cJSON_DetachItemFromObject(doc, "fallbacks"));
    cr_assert_eq(sl_versions_commit(vs, doc, "tester", "again", 0, &ch, err, sizeof(err)), 0);
    cr_assert(ch.unchanged);
    cr_assert_eq(ch.version, 1);
    cr_assert_null(ch.diff);
    cr_assert_eq(sl_versions_current(vs, NULL), 1);
    cJSON_Delete(doc);
}

Test(versions, a_stale_base_version_is_a_conflict)
{
    struct sl_versions_change ch;

    cr_assert_eq(commit("{\"routes\": {}}", 1, &ch), 0, "%s", err);
    cJSON_Delete(ch.diff);
    cr_assert_eq(commit("{\"routes\": {}, \"fallbacks\": {}}", 1, &ch), SL_EAGAIN);
    cr_assert_str_eq(err, "base_version 1 is not the current version 2");
    cr_assert_eq(commit("{\"routes\": {}, \"fallbacks\": {}}", 2, &ch), 0, "%s", err);
    cr_assert_eq(ch.version, 3);
    cJSON_Delete(ch.diff);
}

Test(versions, a_rollback_commits_an_old_document_as_a_new_version)
{
    struct sl_versions_change ch;
    struct sl_versions_entry one;
    cJSON *doc = NULL;

    cr_assert_eq(commit("{\"routes\": {}}", 0, &ch), 0, "%s", err);
    cJSON_Delete(ch.diff);
    cr_assert_eq(sl_versions_get(vs, 1, true, &one), 0);
    cr_assert_eq(
        sl_versions_commit(vs, one.document, "tester", "rollback", 0, &ch, err, sizeof(err)), 0,
        "%s", err);
    cr_assert_eq(ch.version, 3);
    cr_assert_str_eq(diff_path(ch.diff, 0), "routes.auto", "restored whole");
    cJSON_Delete(ch.diff);
    sl_versions_current(vs, &doc);
    cr_assert(cJSON_Compare(doc, one.document, 1));
    cJSON_Delete(doc);
    sl_versions_entry_free(&one);
}

Test(versions, versions_survive_a_reopen)
{
    struct sl_versions_change ch;
    cJSON *doc = NULL;
    cJSON *list;

    cr_assert_eq(commit("{\"routes\": {}}", 0, &ch), 0, "%s", err);
    cJSON_Delete(ch.diff);
    sl_versions_close(vs);
    vs = sl_versions_open(data, sluice, err, sizeof(err));
    cr_assert_not_null(vs, "%s", err);
    cr_assert_eq(sl_versions_current(vs, &doc), 2, "no new initial version");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "routes")), 0);
    cJSON_Delete(doc);
    list = sl_versions_list_json(vs, 10);
    cr_assert_eq(cJSON_GetArraySize(list), 2);
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 0), "version")->valueint, 2,
                 "newest first");
    cJSON_Delete(list);
    list = sl_versions_list_json(vs, 1);
    cr_assert_eq(cJSON_GetArraySize(list), 1);
    cJSON_Delete(list);
}

Test(versions, a_classifier_is_registered_once_by_the_hash_of_its_bytes)
{
    size_t len;
    char *text = read_all(clf_path, &len), id[SL_VERSIONS_ID_LEN], hex[65], *body = NULL;
    bool existed = true;
    size_t blen = 0;
    cJSON *list;

    cr_assert_eq(
        sl_versions_register_classifier(vs, text, len, "first", id, &existed, err, sizeof(err)), 0,
        "%s", err);
    sl_sha256_hex(text, len, hex);
    cr_assert_eq(strncmp(id, "sha256:", 7), 0);
    cr_assert_str_eq(id + 7, hex);
    cr_assert_not(existed);
    cr_assert_eq(
        sl_versions_register_classifier(vs, text, len, "again", id, &existed, err, sizeof(err)), 0,
        "%s", err);
    cr_assert(existed);
    cr_assert_eq(sl_versions_classifier_body(vs, id, &body, &blen), 0);
    cr_assert_eq(blen, len);
    cr_assert_eq(memcmp(body, text, len), 0);
    free(body);
    cr_assert_eq(sl_versions_classifier_body(vs, "sha256:00", &body, &blen), SL_ENOTFOUND);
    list = sl_versions_classifiers_json(vs);
    cr_assert_eq(cJSON_GetArraySize(list), 1);
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 0), "note")->valuestring, "first",
                     "the first registration's note stays");
    cr_assert_str_eq(
        cJSON_GetObjectItem(cJSON_GetArrayItem(list, 0), "feature_spec_hash")->valuestring,
        sl_features_spec_hash());
    cJSON_Delete(list);
    free(text);
}

Test(versions, a_classifier_for_another_feature_spec_is_refused)
{
    size_t len;
    char *text = read_all(clf_path, &len), id[SL_VERSIONS_ID_LEN];
    char *at = strstr(text, sl_features_spec_hash());
    bool existed;
    cJSON *list;

    cr_assert_not_null(at);
    at[0] = at[0] == '0' ? '1' : '0';
    cr_assert_eq(
        sl_versions_register_classifier(vs, text, len, NULL, id, &existed, err, sizeof(err)),
        SL_EINVAL);
    cr_assert(strstr(err, "feature specification") != NULL, "%s", err);
    cr_assert_eq(sl_versions_register_classifier(vs, "{}", 2, NULL, id, &existed, err, sizeof(err)),
                 SL_EINVAL);
    list = sl_versions_classifiers_json(vs);
    cr_assert_eq(cJSON_GetArraySize(list), 0);
    cJSON_Delete(list);
    free(text);
}

Test(versions, a_document_may_name_a_registered_classifier_by_id)
{
    size_t len;
    char *text = read_all(clf2_path, &len), id[SL_VERSIONS_ID_LEN], doc[1024], **ids;
    struct sl_versions_change ch;
    double thr[4];
    size_t n;
    bool existed;
    cJSON *j;

    snprintf(doc, sizeof(doc),
             "{\"routes\": {\"auto\": {\"classifier\": \"sha256:%064d\", " TIERS "}}}", 0);
    cr_assert_eq(commit(doc, 0, &ch), SL_EINVAL);
    cr_assert(strstr(err, "is not registered") != NULL, "%s", err);
    cr_assert_eq(
        sl_versions_register_classifier(vs, text, len, NULL, id, &existed, err, sizeof(err)), 0,
        "%s", err);
    snprintf(doc, sizeof(doc), "{\"routes\": {\"auto\": {\"classifier\": \"%s\", " TIERS "}}}", id);
    cr_assert_eq(commit(doc, 0, &ch), 0, "%s", err);
    cJSON_Delete(ch.diff);
    /* the document names no thresholds: the classifier's own are the route's */
    cr_assert_eq(sl_versions_thresholds(vs, "auto", thr, 4, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_float_eq(thr[0], 0.25, 1e-12);
    cr_assert_eq(sl_versions_thresholds(vs, "nope", thr, 4, &n), SL_ENOTFOUND);
    j = parse(doc);
    ids = sl_versions_doc_classifiers(j);
    cr_assert_str_eq(ids[0], id);
    cr_assert_null(ids[1]);
    sl_versions_ids_free(ids);
    cJSON_Delete(j);
    free(text);
}

Test(versions, the_route_classifier_is_read_from_the_file_or_the_store)
{
    size_t len, blen;
    char *text = read_all(clf_path, &len), *body = NULL;

    cr_assert_eq(sl_versions_route_classifier(vs, "auto", &body, &blen, err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_eq(blen, len);
    cr_assert_eq(memcmp(body, text, len), 0);
    free(body);
    cr_assert_eq(sl_versions_route_classifier(vs, "nope", &body, &blen, err, sizeof(err)),
                 SL_ENOTFOUND);
    free(text);
}

Test(versions, the_diff_recurses_into_objects_and_compares_arrays_whole)
{
    cJSON *a = parse("{\"x\": {\"y\": 1, \"z\": [1, 2], \"gone\": true}, \"k\": \"v\"}");
    cJSON *b = parse("{\"x\": {\"y\": 2, \"z\": [1, 3], \"new\": null}, \"k\": \"v\"}");
    cJSON *d = sl_versions_diff(a, b);
    const cJSON *e;

    cr_assert_eq(cJSON_GetArraySize(d), 4);
    cr_assert_str_eq(diff_path(d, 0), "x.y");
    cr_assert_str_eq(diff_path(d, 1), "x.z");
    e = cJSON_GetArrayItem(d, 1);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(e, "from")), 2);
    cr_assert_str_eq(diff_path(d, 2), "x.gone");
    cr_assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(d, 2), "to"));
    cr_assert_str_eq(diff_path(d, 3), "x.new");
    cr_assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(d, 3), "from"));
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(d, 3), "to")));
    cJSON_Delete(d);
    d = sl_versions_diff(a, a);
    cr_assert_eq(cJSON_GetArraySize(d), 0);
    cJSON_Delete(d);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

static int edit_drop_routes(void *ctx, cJSON *doc, const struct sl_config *cfg, char *e,
                            size_t elen)
{
    int *seen = ctx;

    *seen = cfg && sl_config_route(cfg, "auto") != NULL;
    cJSON_DeleteItemFromObject(doc, "routes");
    cJSON_AddItemToObject(doc, "routes", cJSON_CreateObject());
    return 0;
}

static int edit_refuse(void *ctx, cJSON *doc, const struct sl_config *cfg, char *e, size_t elen)
{
    snprintf(e, elen, "no");
    return SL_ENOTFOUND;
}

static int edit_nothing(void *ctx, cJSON *doc, const struct sl_config *cfg, char *e, size_t elen)
{
    return 0;
}

Test(versions, update_edits_the_current_document_under_the_lock)
{
    struct sl_versions_change ch;
    int seen = 0;

    cr_assert_eq(sl_versions_update(vs, edit_refuse, NULL, "t", "r", &ch, err, sizeof(err)),
                 SL_ENOTFOUND);
    cr_assert_str_eq(err, "no");
    cr_assert_eq(sl_versions_update(vs, edit_nothing, NULL, "t", "r", &ch, err, sizeof(err)), 0);
    cr_assert(ch.unchanged);
    cr_assert_eq(sl_versions_update(vs, edit_drop_routes, &seen, "t", "r", &ch, err, sizeof(err)),
                 0, "%s", err);
    cr_assert(seen, "the edit sees the current configuration");
    cr_assert_eq(ch.version, 2);
    cr_assert_str_eq(diff_path(ch.diff, 0), "routes.auto");
    cJSON_Delete(ch.diff);
}

Test(versions, policy_state_and_events_are_stored)
{
    struct sl_versions_policy_row row;
    cJSON *events;
    const cJSON *e;

    cr_assert_eq(sl_versions_policy_get(vs, "auto", "small", &row), 0);
    cr_assert_eq(row.shift, 0);
    cr_assert_eq(row.route_last_us, 0);
    cr_assert_eq(sl_versions_policy_set(vs, "auto", "small",
                                        &(struct sl_versions_policy_row){
                                            .shift = 0.05,
                                            .alert_id = 7,
                                            .last_us = 1000,
                                            .restored_us = 500,
                                            .keep = true,
                                            .set_to = 0.25,
                                        }),
                 0);
    cr_assert_eq(
        sl_versions_policy_set(vs, "auto", "medium",
                               &(struct sl_versions_policy_row){.alert_id = 8, .last_us = 2000}),
        0);
    cr_assert_eq(sl_versions_policy_get(vs, "auto", "small", &row), 0);
    cr_assert_float_eq(row.shift, 0.05, 1e-12);
    cr_assert_eq(row.alert_id, 7);
    cr_assert_eq(row.last_us, 1000);
    cr_assert_eq(row.route_last_us, 2000, "the route's last step, any tier");
    cr_assert_eq(row.restored_us, 500);
    cr_assert(row.keep);
    cr_assert_float_eq(row.set_to, 0.25, 1e-12);
    cr_assert_eq(sl_versions_policy_get(vs, "auto", "medium", &row), 0);
    cr_assert_not(row.keep);
    cr_assert_eq(row.set_to, 0, "none written reads as unknown");
    cr_assert_eq(sl_versions_add_event(vs, "notify", NULL, NULL, 3, 0, "model alert"), 0);
    cr_assert_eq(sl_versions_add_event(vs, "adjust", "auto", "small", 7, 2, "lowered"), 0);
    events = sl_versions_events_json(vs, 10);
    cr_assert_eq(cJSON_GetArraySize(events), 2);
    e = cJSON_GetArrayItem(events, 0);
    cr_assert_str_eq(cJSON_GetObjectItem(e, "kind")->valuestring, "adjust");
    cr_assert_eq(cJSON_GetObjectItem(e, "version")->valueint, 2);
    e = cJSON_GetArrayItem(events, 1);
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(e, "route")));
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(e, "version")));
    cJSON_Delete(events);
}

/* sl_versions_ledgers_load's callback: "id=spend@last_us;" appended to ctx. */
static void append_ledger(void *ctx, const struct sl_versions_ledger *row)
{
    char *out = ctx;
    size_t n = strlen(out);

    snprintf(out + n, 512 - n, "%s=%s@%lld;", row->id, row->spend, (long long)row->last_us);
}

Test(versions, ledgers_keep_the_latest_spending_of_the_latest_reporters)
{
    struct sl_versions_ledger rows[] = {
        {"h1:/data", "{\"eng\":{\"since\":1,\"usd\":1}}", 100},
        {"h2:/data", "{\"eng\":{\"since\":1,\"usd\":2}}", 300},
        {"h3:/data", "{}", 200},
    };
    struct sl_versions_ledger again = {"h1:/data", "{\"eng\":{\"since\":1,\"usd\":5}}", 400};
    char out[512] = "";

    cr_assert_eq(sl_versions_ledgers_save(vs, rows, 3, 3), 0);
    cr_assert_eq(sl_versions_ledgers_save(vs, &again, 1, 2), 0);
    cr_assert_eq(sl_versions_ledgers_load(vs, append_ledger, out), 0);
    cr_assert_str_eq(out,
                     "h1:/data={\"eng\":{\"since\":1,\"usd\":5}}@400;"
                     "h2:/data={\"eng\":{\"since\":1,\"usd\":2}}@300;",
                     "h1 replaced, h3 (silent the longest) pruned to keep 2");
}

Test(versions, a_bad_static_file_is_refused_at_open)
{
    struct sl_versions *other;
    char path[160];

    snprintf(path, sizeof(path), "%s/bad.json", dir);
    write_file(path, "{\"providers\": {}, \"models\": {}}");
    other = sl_versions_open(data, path, err, sizeof(err));
    cr_assert_null(other);
    cr_assert(strstr(err, "providers") != NULL, "%s", err);
    write_file(path, "{\"providers\": {\"p\": {\"base_url\": \"http://x\"}}}");
    other = sl_versions_open(data, path, err, sizeof(err));
    cr_assert_null(other);
    cr_assert(strstr(err, "models") != NULL, "%s", err);
}

/* A version's "accounts": team t and one key, revoked at rev ("null": live). */
#define KEY_ID "key_0123456789abcdef"
#define ACCOUNTS(rev)                                                                              \
    "\"accounts\": {\"teams\": {\"t\": {\"limits\": {\"rpm\": 5}}}, \"keys\": {\"" KEY_ID          \
    "\": {\"team\": \"t\", \"sha256\": "                                                           \
    "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\", \"hint\": "             \
    "\"...abcd\", \"created\": 1700000000, \"revoked\": " rev "}}}"

/* The current document's accounts.keys.KEY_ID.revoked: -1 when the key is not there, 0 null. */
static double current_revoked(void)
{
    cJSON *doc = NULL;
    const cJSON *k, *r;
    double v = -1;

    sl_versions_current(vs, &doc);
    k = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "accounts"), "keys"),
                            KEY_ID);
    if (k) {
        r = cJSON_GetObjectItem(k, "revoked");
        v = cJSON_IsNumber(r) ? r->valuedouble : 0;
    }
    cJSON_Delete(doc);
    return v;
}

Test(versions, a_document_without_accounts_keeps_the_current_ones)
{
    struct sl_versions_change ch;
    cJSON *doc = NULL;

    cr_assert_eq(commit("{\"routes\": {}, " ACCOUNTS("null") "}", 0, &ch), 0, "%s", err);
    cJSON_Delete(ch.diff);
    cr_assert_eq(commit("{\"routes\": {}, \"fallbacks\": {}}", 0, &ch), 0, "%s", err);
    cr_assert_eq(ch.version, 3);
    cr_assert_eq(cJSON_GetArraySize(ch.diff), 1, "only the fallbacks changed");
    cr_assert_str_eq(diff_path(ch.diff, 0), "fallbacks");
    cJSON_Delete(ch.diff);
    sl_versions_current(vs, &doc);
    cr_assert_eq(
        cJSON_GetObjectItem(
            cJSON_GetObjectItem(
                cJSON_GetObjectItem(
                    cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "accounts"), "teams"), "t"),
                "limits"),
            "rpm")
            ->valueint,
        5);
    cJSON_Delete(doc);
    cr_assert_eq(current_revoked(), 0, "the key is still there, live");
    /* without accounts, the same routes and fallbacks are the same document */
    cr_assert_eq(commit("{\"routes\": {}, \"fallbacks\": {}}", 0, &ch), 0, "%s", err);
    cr_assert(ch.unchanged);
    /* a document with accounts replaces them whole: a live key may go */
    cr_assert_eq(
        commit("{\"routes\": {}, \"fallbacks\": {}, \"accounts\": {\"teams\": {}}}", 0, &ch), 0,
        "%s", err);
    cr_assert_eq(ch.version, 4);
    cJSON_Delete(ch.diff);
    cr_assert_eq(current_revoked(), -1);
}

Test(versions, a_rollback_to_a_version_before_a_key_keeps_the_key)
{
    struct sl_versions_change ch;
    struct sl_versions_entry one;
    const cJSON *routes;
    cJSON *doc = NULL;

    cr_assert_eq(
        commit("{\"routes\": {}, \"fallbacks\": {\"small\": [\"large\"]}, " ACCOUNTS("null") "}", 0,
               &ch),
        0, "%s", err);
    cJSON_Delete(ch.diff);
    cr_assert_eq(sl_versions_get(vs, 1, true, &one), 0);
    cr_assert_null(cJSON_GetObjectItem(one.document, "accounts"), "version 1 had no keys");
    cr_assert_eq(
        sl_versions_commit(vs, one.document, "tester", "rollback", 0, &ch, err, sizeof(err)), 0,
        "%s", err);
    sl_versions_entry_free(&one);
    cr_assert_eq(ch.version, 3);
    cr_assert_eq(cJSON_GetArraySize(ch.diff), 1);
    cr_assert_str_eq(diff_path(ch.diff, 0), "routes.auto", "the routes came back, nothing else");
    cJSON_Delete(ch.diff);
    sl_versions_current(vs, &doc);
    routes = cJSON_GetObjectItem(doc, "routes");
    cr_assert_not_null(cJSON_GetObjectItem(routes, "auto"));
    cJSON_Delete(doc);
    cr_assert_eq(current_revoked(), 0, "the key made since version 1 stays");
}

static int edit_unrevoke(void *ctx, cJSON *doc, const struct sl_config *cfg, char *e, size_t elen)
{
    cJSON *k = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "accounts"), "keys"), KEY_ID);

    cJSON_ReplaceItemInObject(k, "revoked", cJSON_CreateNull());
    return 0;
}

Test(versions, a_revoked_key_stays_revoked)
{
    struct sl_versions_change ch;
    const char *want = "document: accounts.keys." KEY_ID ": a revoked key stays revoked";

    cr_assert_eq(commit("{\"routes\": {}, " ACCOUNTS("null") "}", 0, &ch), 0, "%s", err);
    cJSON_Delete(ch.diff);
    cr_assert_eq(commit("{\"routes\": {}, " ACCOUNTS("1700000100") "}", 0, &ch), 0, "%s", err);
    cJSON_Delete(ch.diff);
    cr_assert_eq(ch.version, 3);

    cr_assert_eq(commit("{\"routes\": {}, " ACCOUNTS("null") "}", 0, &ch), SL_EINVAL);
    cr_assert_str_eq(err, want);
    err[0] = '\0';
    cr_assert_eq(commit("{\"routes\": {}, \"accounts\": {\"teams\": {\"t\": {}}}}", 0, &ch),
                 SL_EINVAL, "nor may it go");
    cr_assert_str_eq(err, want);
    err[0] = '\0';
    cr_assert_eq(sl_versions_update(vs, edit_unrevoke, NULL, "t", "r", &ch, err, sizeof(err)),
                 SL_EINVAL);
    cr_assert_str_eq(err, want);
    cr_assert_eq(sl_versions_current(vs, NULL), 3, "nothing was stored");
    cr_assert_eq(current_revoked(), 1700000100);

    /* a document without accounts keeps it revoked */
    cr_assert_eq(commit("{\"routes\": {}, \"fallbacks\": {}}", 0, &ch), 0, "%s", err);
    cJSON_Delete(ch.diff);
    cr_assert_eq(current_revoked(), 1700000100);
}
