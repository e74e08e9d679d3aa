/* The sample wire message: encoding by hand (the proxy's side, no tree), decoding with cJSON
 * (the evaluator's side, where every field is checked). */
#include "sample.h"

#include "json.h"
#include "redact.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add_str(struct sl_buf *b, const char *key, const char *v)
{
    int rc = sl_buf_addf(b, ",\"%s\":", key);
    return rc ? rc : *v ? sl_json_add_string(b, v) : sl_buf_adds(b, "null");
}

int sl_sample_encode(const struct sl_sample *s, struct sl_buf *b)
{
    int rc = sl_buf_addf(b, "{\"v\":%d,\"ts_ms\":%lld", SL_SAMPLE_VERSION, (long long)s->ts_ms);

    rc = rc ? rc : add_str(b, "request_id", s->request_id);
    rc = rc ? rc : add_str(b, "team", s->team);
    rc = rc ? rc : add_str(b, "route", s->route);
    rc = rc ? rc : add_str(b, "tier", s->tier);
    rc = rc ? rc : sl_buf_addf(b, ",\"tier_index\":%d", s->tier_index);
    rc = rc ? rc : add_str(b, "premium_tier", s->premium_tier);
    rc = rc ? rc : add_str(b, "model", s->model);
    rc = rc ? rc : add_str(b, "deployment", s->deployment);
    rc = rc ? rc : add_str(b, "arm", s->arm);
    rc = rc ? rc : sl_buf_addf(b, ",\"score\":%.17g,\"thresholds\":[", s->score);
    for (int i = 0; i < s->n_thresholds && rc == 0; i++)
        rc = sl_buf_addf(b, "%s%.17g", i ? "," : "", s->thresholds[i]);
    rc = rc ? rc
            : sl_buf_addf(b, "],\"config_version\":%lld,\"status\":%d",
                          (long long)s->config_version, s->status);
    rc = rc ? rc : add_str(b, "error", s->error);
    rc = rc ? rc
            : sl_buf_addf(b, ",\"json_mode\":%s,\"messages\":", s->json_mode ? "true" : "false");
    rc = rc ? rc : sl_buf_adds(b, s->messages && *s->messages ? s->messages : "[]");
    rc = rc ? rc : sl_buf_adds(b, ",\"answer\":");
    rc = rc ? rc : sl_json_add_string(b, s->answer ? s->answer : "");
    rc = rc ? rc : add_str(b, "finish_reason", s->finish_reason);
    rc = rc ? rc
            : sl_buf_addf(b, ",\"latency_ms\":%lld,\"tokens_in\":%lld,\"tokens_out\":%lld",
                          (long long)s->latency_ms, (long long)s->tokens_in,
                          (long long)s->tokens_out);
    if (rc == 0)
        rc = s->cost_usd >= 0 ? sl_buf_addf(b, ",\"cost_usd\":%.10g}", s->cost_usd)
                              : sl_buf_adds(b, ",\"cost_usd\":null}");
    return rc;
}

/* Decoding: each getter checks one member and records the first problem. */
struct reader {
    const cJSON *root;
    char *err;
    size_t errlen;
    bool failed;
};

static void bad(struct reader *r, const char *key, const char *what)
{
    if (!r->failed)
        snprintf(r->err, r->errlen, "%s: %s", key, what);
    r->failed = true;
}

/* A string member (null and absent read as "" when optional) copied into out[size]. */
static void get_str(struct reader *r, const char *key, bool required, char *out, size_t size)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->root, key);

    out[0] = '\0';
    if (cJSON_IsString(v) && required && !v->valuestring[0]) {
        bad(r, key, "must not be empty");
    } else if (cJSON_IsString(v)) {
        if (strlen(v->valuestring) >= size)
            bad(r, key, "too long");
        else
            memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
    } else if (required || (v && !cJSON_IsNull(v))) {
        bad(r, key, required ? "required string" : "must be a string or null");
    }
}

static double get_num(struct reader *r, const char *key, double min, double max, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->root, key);

    if (!v || cJSON_IsNull(v))
        return dflt;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < min ||
        v->valuedouble > max) {
        bad(r, key, "must be a number in range");
        return dflt;
    }
    return v->valuedouble;
}

int sl_sample_decode(const char *text, size_t len, struct sl_sample *s, char *err, size_t errlen)
{
    cJSON *root = cJSON_ParseWithLength(text, len);
    struct reader r = {root, err, errlen, false};
    const cJSON *v, *it;

    memset(s, 0, sizeof(*s));
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "not a JSON object");
        cJSON_Delete(root);
        return SL_EPARSE;
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "v");
    if (!cJSON_IsNumber(v) || v->valuedouble != SL_SAMPLE_VERSION)
        bad(&r, "v", "unsupported schema version (this evaluator reads 1)");
    s->ts_ms = (int64_t)get_num(&r, "ts_ms", 0, 1e15, -1);
    if (s->ts_ms < 0)
        bad(&r, "ts_ms", "required");
    get_str(&r, "request_id", true, s->request_id, sizeof(s->request_id));
    get_str(&r, "team", false, s->team, sizeof(s->team));
    get_str(&r, "route", true, s->route, sizeof(s->route));
    get_str(&r, "tier", true, s->tier, sizeof(s->tier));
    s->tier_index = (int)get_num(&r, "tier_index", 0, 64, 0);
    get_str(&r, "premium_tier", true, s->premium_tier, sizeof(s->premium_tier));
    get_str(&r, "model", false, s->model, sizeof(s->model));
    get_str(&r, "deployment", false, s->deployment, sizeof(s->deployment));
    get_str(&r, "arm", false, s->arm, sizeof(s->arm));
    s->score = get_num(&r, "score", 0, 1, 0);
    v = cJSON_GetObjectItemCaseSensitive(root, "thresholds");
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) > SL_SAMPLE_MAX_THRESHOLDS)
        bad(&r, "thresholds", "must be an array of at most 8 numbers");
    cJSON_ArrayForEach(it, v)
    {
        if (!cJSON_IsNumber(it))
            bad(&r, "thresholds", "must hold numbers");
        else if (s->n_thresholds < SL_SAMPLE_MAX_THRESHOLDS)
            s->thresholds[s->n_thresholds++] = it->valuedouble;
    }
    s->config_version = (int64_t)get_num(&r, "config_version", 0, 9e15, 0);
    s->status = (int)get_num(&r, "status", 100, 599, 0);
    if (!s->status)
        bad(&r, "status", "required");
    get_str(&r, "error", false, s->error, sizeof(s->error));
    v = cJSON_GetObjectItemCaseSensitive(root, "json_mode");
    if (v && !cJSON_IsBool(v))
        bad(&r, "json_mode", "must be true or false");
    s->json_mode = cJSON_IsTrue(v);
    v = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!cJSON_IsArray(v))
        bad(&r, "messages", "required array");
    else if (!r.failed && !(s->messages = cJSON_PrintUnformatted(v)))
        bad(&r, "messages", "out of memory");
    v = cJSON_GetObjectItemCaseSensitive(root, "answer");
    if (!cJSON_IsString(v))
        bad(&r, "answer", "required string");
    else if (!r.failed && !(s->answer = strdup(v->valuestring)))
        bad(&r, "answer", "out of memory");
    get_str(&r, "finish_reason", false, s->finish_reason, sizeof(s->finish_reason));
    s->latency_ms = (int64_t)get_num(&r, "latency_ms", 0, 1e12, 0);
    s->tokens_in = (int64_t)get_num(&r, "tokens_in", -1, 1e12, -1);
    s->tokens_out = (int64_t)get_num(&r, "tokens_out", -1, 1e12, -1);
    s->cost_usd = get_num(&r, "cost_usd", -1, 1e9, -1);
    cJSON_Delete(root);
    if (r.failed) {
        sl_sample_free(s);
        return SL_EPARSE;
    }
    return 0;
}

void sl_sample_free(struct sl_sample *s)
{
    cJSON_free(s->messages);
    free(s->answer);
    s->messages = s->answer = NULL;
}

char *sl_sample_answer(const char *text, size_t len, bool is_text, char *finish, size_t finish_size)
{
    struct sl_buf content;
    char *out = NULL;

    if (is_text || !text)
        return sl_redact_copy(text ? text : "", text ? len : 0);
    sl_buf_init(&content, len + 1); /* the content is never longer than its JSON */
    if (sl_json_chat_text(text, len, &content, finish, finish_size) == 0)
        out = sl_redact_copy(content.data ? content.data : "", content.len);
    sl_buf_free(&content);
    return out;
}
