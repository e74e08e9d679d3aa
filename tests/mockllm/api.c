/* The OpenAI-compatible endpoints: chat completions, embeddings and the model list. */
#define SL_LOG_MODULE "mockllm"
#include "mockllm.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/keyvalq_struct.h>

#include "log.h"
#include "rand.h"

#define MAX_INPUTS 2048 /* OpenAI's limit on embedding inputs per request */
#define INVALID    "invalid_request_error"

/* What a chat request asks for; strings point into the parsed body. */
struct chat_request {
    const char *model;
    const cJSON *messages;
    uint64_t prompt_hash; /* of the messages' text */
    size_t prompt_chars;
    int max_tokens; /* 0: no limit */
    bool stream;
    bool include_usage;
};

/* What an embeddings request asks for; strings point into the parsed body. */
struct embeddings_request {
    const char *model;
    const char **text; /* owned array */
    size_t n;
    size_t chars;
    bool base64;
};

/* Characters, not bytes: UTF-8 continuation bytes do not count. */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static void add_text(struct chat_request *c, const char *s)
{
    c->prompt_hash = mock_hash(c->prompt_hash, s, strlen(s));
    c->prompt_chars += utf8_chars(s);
}

/* Adds a message's text: a string, or the "text" of each part of an array. */
static int add_content(struct chat_request *c, const cJSON *content)
{
    const cJSON *part;

    if (!content || cJSON_IsNull(content))
        return 0;
    if (cJSON_IsString(content)) {
        add_text(c, content->valuestring);
        return 0;
    }
    if (!cJSON_IsArray(content))
        return SL_EINVAL;
    cJSON_ArrayForEach(part, content)
    {
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");

        if (cJSON_IsString(text))
            add_text(c, text->valuestring);
    }
    return 0;
}

static int parse_messages(struct chat_request *c, const cJSON *messages, char *err, size_t errlen)
{
    const cJSON *m;
    int i = 0;

    if (!cJSON_IsArray(messages) || !messages->child) {
        snprintf(err, errlen, "'messages' must be a non-empty array");
        return SL_EINVAL;
    }
    c->prompt_hash = MOCK_HASH_INIT;
    cJSON_ArrayForEach(m, messages)
    {
        if (!cJSON_IsObject(m)) {
            snprintf(err, errlen, "'messages[%d]' must be an object", i);
            return SL_EINVAL;
        }
        if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(m, "role"))) {
            snprintf(err, errlen, "'messages[%d].role' must be a string", i);
            return SL_EINVAL;
        }
        if (add_content(c, cJSON_GetObjectItemCaseSensitive(m, "content"))) {
            snprintf(err, errlen, "'messages[%d].content' must be a string or an array", i);
            return SL_EINVAL;
        }
        /* A separator, so that ["ab"] and ["a", "b"] are different prompts. */
        c->prompt_hash = mock_hash(c->prompt_hash, "", 1);
        i++;
    }
    c->messages = messages;
    return 0;
}

/* Reads an optional integer of at least 1 into *out, which is left alone when absent or null. */
static int opt_count(const cJSON *obj, const char *key, int *out, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 1) || v->valuedouble != floor(v->valuedouble)) {
        snprintf(err, errlen, "'%s' must be an integer of at least 1", key);
        return SL_EINVAL;
    }
    *out = v->valuedouble >= INT_MAX ? INT_MAX : (int)v->valuedouble;
    return 0;
}

/* Reads an optional boolean into *out, which is left alone when absent or null. */
static int opt_bool(const cJSON *obj, const char *key, const char *label, bool *out, char *err,
                    size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsBool(v)) {
        snprintf(err, errlen, "'%s' must be a boolean", label);
        return SL_EINVAL;
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

static int parse_model(const cJSON *root, const char **model, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "model");

    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "The request body must be a JSON object.");
        return SL_EINVAL;
    }
    if (!cJSON_IsString(v) || !*v->valuestring) {
        snprintf(err, errlen, "'model' must be a non-empty string");
        return SL_EINVAL;
    }
    *model = v->valuestring;
    return 0;
}

static int parse_chat(const cJSON *root, struct chat_request *c, char *err, size_t errlen)
{
    const cJSON *opts;
    int rc;

    if ((rc = parse_model(root, &c->model, err, errlen)) ||
        (rc = parse_messages(c, cJSON_GetObjectItemCaseSensitive(root, "messages"), err, errlen)) ||
        (rc = opt_count(root, "max_tokens", &c->max_tokens, err, errlen)) ||
        /* The newer name wins when a client sends both. */
        (rc = opt_count(root, "max_completion_tokens", &c->max_tokens, err, errlen)) ||
        (rc = opt_bool(root, "stream", "stream", &c->stream, err, errlen)))
        return rc;
    opts = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    if (!opts || cJSON_IsNull(opts))
        return 0;
    if (!cJSON_IsObject(opts)) {
        snprintf(err, errlen, "'stream_options' must be an object");
        return SL_EINVAL;
    }
    return opt_bool(opts, "include_usage", "stream_options.include_usage", &c->include_usage, err,
                    errlen);
}

static int parse_format(const cJSON *root, bool *base64, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "encoding_format");

    /* OpenAI's own clients ask for base64 unless told otherwise. */
    if (!v || cJSON_IsNull(v) || (cJSON_IsString(v) && strcmp(v->valuestring, "float") == 0))
        *base64 = false;
    else if (cJSON_IsString(v) && strcmp(v->valuestring, "base64") == 0)
        *base64 = true;
    else {
        snprintf(err, errlen, "'encoding_format' must be \"float\" or \"base64\"");
        return SL_EINVAL;
    }
    return 0;
}

static int parse_embeddings(const cJSON *root, struct embeddings_request *e, char *err,
                            size_t errlen)
{
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(root, "input"), *it;
    int rc;

    if ((rc = parse_model(root, &e->model, err, errlen)) ||
        (rc = parse_format(root, &e->base64, err, errlen)))
        return rc;
    e->n = cJSON_IsString(input) ? 1 : cJSON_IsArray(input) ? (size_t)cJSON_GetArraySize(input) : 0;
    if (e->n == 0 || e->n > MAX_INPUTS) {
        snprintf(err, errlen, "'input' must be a string or an array of 1 to %d strings",
                 MAX_INPUTS);
        return SL_EINVAL;
    }
    if (!(e->text = calloc(e->n, sizeof(*e->text)))) {
        snprintf(err, errlen, "out of memory");
        return SL_ENOMEM;
    }
    if (cJSON_IsString(input)) {
        e->text[0] = input->valuestring;
        e->chars = utf8_chars(input->valuestring);
        return 0;
    }
    e->n = 0;
    cJSON_ArrayForEach(it, input)
    {
        if (!cJSON_IsString(it)) {
            snprintf(err, errlen, "'input[%zu]' must be a string", e->n);
            return SL_EINVAL;
        }
        e->text[e->n++] = it->valuestring;
        e->chars += utf8_chars(it->valuestring);
    }
    return 0;
}

/* The generator for one request: the same seed, model and sequence number draw the same. */
static void request_rng(struct sl_rand *r, uint64_t seed, const char *model, uint64_t seq)
{
    uint64_t h = mock_hash(MOCK_HASH_INIT, model, strlen(model));

    sl_rand_seed(r, sl_rand_mix(seed ^ sl_rand_mix(h ^ sl_rand_mix(seq))));
}

static void send_fault(struct mock_server *srv, struct evhttp_request *req, enum mock_fault fault,
                       const struct mock_settings *s)
{
    if (s->retry_after_s > 0) {
        char v[16];

        snprintf(v, sizeof(v), "%d", s->retry_after_s);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", v);
    }
    if (fault == MOCK_FAULT_429)
        mock_send_error(srv, req, 429, "rate_limit_error", "rate_limit_exceeded",
                        "Rate limit reached (mockllm fault).");
    else if (fault == MOCK_FAULT_500)
        mock_send_error(srv, req, 500, "server_error", NULL,
                        "The server had an error while processing your request (mockllm fault).");
    else
        mock_send_error(srv, req, 503, "server_error", NULL,
                        "The engine is currently overloaded (mockllm fault).");
}

/* Finds the model's settings and draws the request's fault. Returns false when it has answered
 * the request itself: unknown model, or a 429/500/503 fault. */
static bool begin(struct mock_server *srv, struct evhttp_request *req, const char *model, bool chat,
                  struct mock_settings *s, struct sl_rand *rng, enum mock_fault *fault)
{
    uint64_t seq;

    if (mock_models_use(srv->models, model, s, &seq)) {
        mock_send_error(srv, req, 404, INVALID, "model_not_found",
                        "The model `%s` does not exist or you do not have access to it.", model);
        return false;
    }
    request_rng(rng, srv->cfg->seed, model, seq);
    *fault = mock_settings_fault(s, sl_rand_double(rng));
    /* Embeddings are never streamed: there is no stream to close midway. */
    if (!chat && *fault == MOCK_FAULT_CLOSE)
        *fault = MOCK_FAULT_NONE;
    mock_stats_fault(srv->stats, *fault);
    if (*fault == MOCK_FAULT_429 || *fault == MOCK_FAULT_500 || *fault == MOCK_FAULT_503) {
        send_fault(srv, req, *fault, s);
        return false;
    }
    return true;
}

/* Appends name as a JSON string literal to a fresh buffer and hands it over; NULL if too big. */
static char *json_string(const char *name)
{
    struct sl_buf b;
    char *out = NULL;

    sl_buf_init(&b, MOCK_BODY_MAX);
    if (mock_body_string(&b, name) == 0)
        out = sl_buf_take(&b, NULL);
    sl_buf_free(&b);
    return out;
}

static int answer_init(struct mock_answer *a, uint64_t seed, struct sl_rand *rng,
                       const struct chat_request *c, const struct mock_settings *s)
{
    snprintf(a->id, sizeof(a->id), "chatcmpl-mock-%016llx", (unsigned long long)sl_rand_u64(rng));
    a->created = (long long)time(NULL);
    a->text_seed = sl_rand_mix(seed ^ c->prompt_hash);
    a->prompt_tokens = mock_prompt_tokens(c->prompt_chars);
    a->length = c->max_tokens > 0 && c->max_tokens < s->output_tokens;
    a->words = a->tokens = a->length ? c->max_tokens : s->output_tokens;
    a->include_usage = c->include_usage;
    return (a->model_json = json_string(c->model)) ? 0 : SL_ENOMEM;
}

/* Turns a into the judge's verdict, or into a bad answer, as s says; u is the request's draw
 * for a bad answer. counted: the answer will be sent (not replaced by a malformed body). */
static int answer_quality(struct mock_server *srv, struct mock_answer *a,
                          const struct chat_request *c, const struct mock_settings *s, double u,
                          bool counted)
{
    char *text = NULL;
    int rc = 0;

    /* Only the judge and p_bad_hard read the prompt. */
    if ((s->judge || s->p_bad_hard > 0) && !(text = mock_last_user_text(c->messages)))
        return SL_ENOMEM;
    if (s->judge) {
        if (!(a->text = mock_judge_verdict(text))) {
            rc = SL_ENOMEM;
            goto out;
        }
        /* The verdict is whole whatever max_tokens says: a cut verdict tests nothing. */
        a->words = 0;
        a->length = false;
        a->tokens = mock_prompt_tokens(strlen(a->text));
        if (counted)
            mock_stats_judged(srv->stats);
    } else if (mock_answer_is_bad(s, text && mock_prompt_is_hard(text), u)) {
        a->lead = MOCK_BAD_LEAD;
        a->tokens += MOCK_BAD_LEAD_TOKENS;
        if (counted)
            mock_stats_bad_answer(srv->stats);
    }
out:
    free(text);
    return rc;
}

static enum mock_handled chat_plain(struct mock_server *srv, struct evhttp_request *req,
                                    const struct mock_answer *a, enum mock_fault fault,
                                    const struct mock_settings *s)
{
    struct sl_buf *b = &srv->scratch;
    int rc;

    /* As if the provider died halfway through generating. */
    if (fault == MOCK_FAULT_CLOSE)
        return mock_reply_drop(srv, req, s->ttft_ms + (int64_t)(a->tokens / 2) * s->itl_ms);
    sl_buf_reset(b);
    rc = fault == MOCK_FAULT_MALFORMED ? sl_buf_adds(b, MOCK_MALFORMED_CHAT) : mock_body_chat(b, a);
    if (rc || (rc = mock_stage_json(req, b->data, b->len))) {
        mock_send_error(srv, req, 500, "server_error", NULL, "mockllm: %s", sl_strerror(rc));
        return MOCK_ANSWERED;
    }
    return mock_reply_later(srv, req, 200, s->ttft_ms + (int64_t)a->tokens * s->itl_ms);
}

enum mock_handled mock_api_chat(struct mock_server *srv, struct evhttp_request *req,
                                const char *rest)
{
    struct chat_request c = {.model = NULL};
    struct mock_answer a = {.model_json = NULL};
    struct mock_settings s;
    struct sl_rand rng;
    enum mock_fault fault;
    enum mock_stream_mode mode;
    enum mock_handled done = MOCK_ANSWERED;
    char err[256];
    cJSON *root = mock_read_json(req);

    if (!root) {
        mock_send_error(srv, req, 400, INVALID, NULL,
                        "We could not parse the JSON body of your request.");
        goto out;
    }
    if (parse_chat(root, &c, err, sizeof(err))) {
        mock_send_error(srv, req, 400, INVALID, NULL, "%s", err);
        goto out;
    }
    if (!begin(srv, req, c.model, true, &s, &rng, &fault))
        goto out;
    if (fault == MOCK_FAULT_HANG) {
        done = mock_reply_hang(srv, req);
        goto out;
    }
    /* The bad-answer draw comes last, so that the fault and id draws are what they would be
     * without it. */
    if (answer_init(&a, srv->cfg->seed, &rng, &c, &s) ||
        answer_quality(srv, &a, &c, &s, sl_rand_double(&rng), fault != MOCK_FAULT_MALFORMED)) {
        mock_send_error(srv, req, 500, "server_error", NULL, "mockllm: out of memory");
        goto out;
    }
    if (!c.stream) {
        done = chat_plain(srv, req, &a, fault, &s);
        goto out;
    }
    mode = fault == MOCK_FAULT_MALFORMED ? MOCK_STREAM_MALFORMED
           : fault == MOCK_FAULT_CLOSE   ? MOCK_STREAM_CLOSE
                                         : MOCK_STREAM_NORMAL;
    done = mock_reply_stream(srv, req, &a, mode, s.ttft_ms, s.itl_ms);
out:
    mock_answer_free(&a);
    cJSON_Delete(root);
    return done;
}

static int build_embeddings(struct sl_buf *b, const struct embeddings_request *e,
                            const struct mock_settings *s, uint64_t seed)
{
    struct mock_embedding_set set = {
        .model_json = json_string(e->model),
        .text = e->text,
        .n = e->n,
        .dims = s->embedding_dims,
        .seed = seed,
        .base64 = e->base64,
        .prompt_tokens = mock_prompt_tokens(e->chars),
    };
    int rc = set.model_json ? mock_body_embeddings(b, &set) : SL_ENOMEM;

    free((char *)set.model_json);
    return rc;
}

enum mock_handled mock_api_embeddings(struct mock_server *srv, struct evhttp_request *req,
                                      const char *rest)
{
    struct embeddings_request e = {.text = NULL};
    struct sl_buf *b = &srv->scratch;
    struct mock_settings s;
    struct sl_rand rng;
    enum mock_fault fault;
    enum mock_handled done = MOCK_ANSWERED;
    char err[256];
    int rc;
    cJSON *root = mock_read_json(req);

    if (!root) {
        mock_send_error(srv, req, 400, INVALID, NULL,
                        "We could not parse the JSON body of your request.");
        goto out;
    }
    if (parse_embeddings(root, &e, err, sizeof(err))) {
        mock_send_error(srv, req, 400, INVALID, NULL, "%s", err);
        goto out;
    }
    if (!begin(srv, req, e.model, false, &s, &rng, &fault))
        goto out;
    if (fault == MOCK_FAULT_HANG) {
        done = mock_reply_hang(srv, req);
        goto out;
    }
    sl_buf_reset(b);
    rc = fault == MOCK_FAULT_MALFORMED ? sl_buf_adds(b, MOCK_MALFORMED_EMBEDDINGS)
                                       : build_embeddings(b, &e, &s, srv->cfg->seed);
    if (rc || (rc = mock_stage_json(req, b->data, b->len))) {
        mock_send_error(srv, req, 500, "server_error", NULL, "mockllm: %s", sl_strerror(rc));
        goto out;
    }
    /* Embeddings come in one piece: the time to the first token is the whole latency. */
    done = mock_reply_later(srv, req, 200, s.ttft_ms);
out:
    free(e.text);
    cJSON_Delete(root);
    return done;
}

enum mock_handled mock_api_models(struct mock_server *srv, struct evhttp_request *req,
                                  const char *rest)
{
    int rc;

    sl_buf_reset(&srv->scratch);
    if ((rc = mock_models_list(srv->models, &srv->scratch)))
        mock_send_error(srv, req, 500, "server_error", NULL, "mockllm: %s", sl_strerror(rc));
    else
        mock_send_json(req, 200, srv->scratch.data, srv->scratch.len);
    return MOCK_ANSWERED;
}
