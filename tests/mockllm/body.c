/* Deterministic response bodies: answer text, chat completions and their SSE chunks,
 * embeddings and OpenAI-shaped errors. */
#include "mockllm.h"

#include "json.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rand.h"

/* Plain words that need no JSON escaping: each token is one of them. */
static const char *const vocab[] = {
    "the",    "a",      "mock",   "model",  "answer", "token",  "gateway", "request",
    "stream", "quick",  "brown",  "fox",    "jumps",  "over",   "lazy",    "dog",
    "river",  "stone",  "light",  "cloud",  "paper",  "green",  "silver",  "orange",
    "north",  "south",  "water",  "fire",   "earth",  "wind",   "simple",  "careful",
    "steady", "bright", "quiet",  "rapid",  "small",  "large",  "early",   "later",
    "first",  "second", "third",  "again",  "always", "never",  "often",   "maybe",
    "and",    "or",     "but",    "with",   "from",   "into",   "under",   "above",
    "system", "signal", "packet", "buffer", "socket", "kernel", "thread",  "cache",
};

#define NVOCAB (sizeof(vocab) / sizeof(vocab[0]))

void mock_answer_free(struct mock_answer *a)
{
    free(a->model_json);
    free(a->text);
    a->model_json = NULL;
    a->text = NULL;
}

uint64_t mock_hash(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;

    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

int mock_prompt_tokens(size_t chars)
{
    size_t t = (chars + 3) / 4;

    return t < 1 ? 1 : t > INT_MAX ? INT_MAX : (int)t;
}

int mock_body_escaped(struct sl_buf *b, const char *s)
{
    const char *run = s;
    int rc = 0;

    /* Copy runs of plain bytes in one go; UTF-8 passes through. */
    for (; !rc && *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        rc = sl_buf_add(b, run, (size_t)(s - run));
        if (!rc)
            rc = c == '"' || c == '\\' ? sl_buf_addf(b, "\\%c", c) : sl_buf_addf(b, "\\u%04x", c);
        run = s + 1;
    }
    return rc ? rc : sl_buf_add(b, run, (size_t)(s - run));
}

int mock_body_string(struct sl_buf *b, const char *s)
{
    int rc = sl_buf_add(b, "\"", 1);

    if (!rc)
        rc = mock_body_escaped(b, s);
    return rc ? rc : sl_buf_add(b, "\"", 1);
}

int mock_body_error(struct sl_buf *b, const char *message, const char *type, const char *code)
{
    return sl_json_add_error(b, type, code, NULL, message);
}

/* Word i, with a space after all but the last, so that the chunks add up to the text. */
static int add_word(struct sl_buf *b, const struct mock_answer *a, int i)
{
    const char *w = vocab[sl_rand_mix(a->text_seed + (uint64_t)i) % NVOCAB];

    return sl_buf_addf(b, i + 1 < a->words ? "%s " : "%s", w);
}

/* The content of chunk i (see mock_answer_chunks), escaped for a JSON string. */
static int add_chunk(struct sl_buf *b, const struct mock_answer *a, int i)
{
    if (a->text)
        return i == 0 ? mock_body_escaped(b, a->text) : 0;
    if (a->lead) {
        if (i == 0)
            return sl_buf_addf(b, a->words > 0 ? "%s " : "%s", a->lead);
        i--;
    }
    return i < a->words ? add_word(b, a, i) : 0;
}

static const char *finish_reason(const struct mock_answer *a)
{
    return a->length ? "length" : "stop";
}

static int add_usage(struct sl_buf *b, const struct mock_answer *a)
{
    return sl_buf_addf(b,
                       "\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%d,"
                       "\"total_tokens\":%lld}",
                       a->prompt_tokens, a->tokens, (long long)a->prompt_tokens + a->tokens);
}

int mock_body_chat(struct sl_buf *b, const struct mock_answer *a)
{
    int rc = sl_buf_addf(b,
                         "{\"id\":\"%s\",\"object\":\"chat.completion\",\"created\":%lld,"
                         "\"model\":%s,\"choices\":[{\"index\":0,\"message\":{\"role\":"
                         "\"assistant\",\"content\":\"",
                         a->id, a->created, a->model_json);

    for (int i = 0, n = mock_answer_chunks(a); !rc && i < n; i++)
        rc = add_chunk(b, a, i);
    if (!rc)
        rc = sl_buf_addf(b, "\"},\"finish_reason\":\"%s\"}],", finish_reason(a));
    if (!rc)
        rc = add_usage(b, a);
    return rc ? rc : sl_buf_adds(b, "}");
}

int mock_answer_chunks(const struct mock_answer *a)
{
    int n = a->text ? 1 : (a->lead ? 1 : 0) + a->words;

    return n > 0 ? n : 1;
}

/* The start of every chunk event, up to and including "model":...,  */
static int chunk_head(struct sl_buf *b, const struct mock_answer *a)
{
    return sl_buf_addf(b,
                       "data: {\"id\":\"%s\",\"object\":\"chat.completion.chunk\","
                       "\"created\":%lld,\"model\":%s,",
                       a->id, a->created, a->model_json);
}

int mock_body_chunks(struct sl_buf *b, const struct mock_answer *a, int from, int to)
{
    int rc = 0;

    for (int i = from; !rc && i < to; i++) {
        rc = chunk_head(b, a);
        if (!rc)
            rc = sl_buf_addf(b, "\"choices\":[{\"index\":0,\"delta\":{%s\"content\":\"",
                             i == 0 ? "\"role\":\"assistant\"," : "");
        if (!rc)
            rc = add_chunk(b, a, i);
        if (!rc)
            rc = sl_buf_adds(b, "\"},\"finish_reason\":null}]}\n\n");
    }
    return rc;
}

int mock_body_stream_end(struct sl_buf *b, const struct mock_answer *a)
{
    int rc = chunk_head(b, a);

    if (!rc)
        rc =
            sl_buf_addf(b, "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"%s\"}]}\n\n",
                        finish_reason(a));
    if (!rc && a->include_usage) {
        rc = chunk_head(b, a);
        if (!rc)
            rc = sl_buf_adds(b, "\"choices\":[],");
        if (!rc)
            rc = add_usage(b, a);
        if (!rc)
            rc = sl_buf_adds(b, "}\n\n");
    }
    return rc ? rc : sl_buf_adds(b, "data: [DONE]\n\n");
}

/* Component d of the unnormalised vector for a text whose mixed hash is h: in [-1, 1). */
static double component(uint64_t h, int d)
{
    return (double)(sl_rand_mix(h + (uint64_t)d) >> 11) * 0x1.0p-52 - 1.0;
}

/* Streams bytes out as base64, three at a time. */
struct b64 {
    unsigned char in[3];
    int n;
};

static int b64_flush(struct sl_buf *b, struct b64 *e)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char *in = e->in;
    char out[4];

    if (e->n == 0)
        return 0;
    if (e->n < 3)
        memset(in + e->n, 0, (size_t)(3 - e->n));
    out[0] = abc[in[0] >> 2];
    out[1] = abc[((in[0] & 3) << 4) | (in[1] >> 4)];
    out[2] = e->n > 1 ? abc[((in[1] & 15) << 2) | (in[2] >> 6)] : '=';
    out[3] = e->n > 2 ? abc[in[2] & 63] : '=';
    e->n = 0;
    return sl_buf_add(b, out, 4);
}

static int b64_float(struct sl_buf *b, struct b64 *e, float f)
{
    uint32_t u;
    int rc = 0;

    memcpy(&u, &f, sizeof(u));
    /* Little-endian whatever the host, as OpenAI's clients expect. */
    for (int i = 0; !rc && i < 4; i++) {
        e->in[e->n++] = (unsigned char)(u >> (8 * i));
        if (e->n == 3)
            rc = b64_flush(b, e);
    }
    return rc;
}

static int add_vector(struct sl_buf *b, const struct mock_embedding_set *e, const char *text)
{
    uint64_t h = sl_rand_mix(e->seed ^ mock_hash(MOCK_HASH_INIT, text, strlen(text)));
    struct b64 enc = {.n = 0};
    double norm = 0;
    int rc;

    for (int d = 0; d < e->dims; d++)
        norm += component(h, d) * component(h, d);
    /* Unit length, like OpenAI's, so that cosine similarity is a dot product. */
    norm = norm > 0 ? sqrt(norm) : 1;
    rc = sl_buf_adds(b, e->base64 ? "\"" : "[");
    for (int d = 0; !rc && d < e->dims; d++) {
        float v = (float)(component(h, d) / norm);

        if (e->base64)
            rc = b64_float(b, &enc, v);
        else
            rc = sl_buf_addf(b, d ? ",%.9g" : "%.9g", (double)v);
    }
    if (!rc && e->base64)
        rc = b64_flush(b, &enc);
    return rc ? rc : sl_buf_adds(b, e->base64 ? "\"" : "]");
}

int mock_body_embeddings(struct sl_buf *b, const struct mock_embedding_set *e)
{
    int rc = sl_buf_adds(b, "{\"object\":\"list\",\"data\":[");

    for (size_t i = 0; !rc && i < e->n; i++) {
        rc = sl_buf_addf(
            b, "%s{\"object\":\"embedding\",\"index\":%zu,\"embedding\":", i ? "," : "", i);
        if (!rc)
            rc = add_vector(b, e, e->text[i]);
        if (!rc)
            rc = sl_buf_adds(b, "}");
    }
    if (!rc)
        rc = sl_buf_addf(b, "],\"model\":%s,\"usage\":{\"prompt_tokens\":%d,\"total_tokens\":%d}}",
                         e->model_json, e->prompt_tokens, e->prompt_tokens);
    return rc;
}
