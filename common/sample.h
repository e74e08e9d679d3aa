/* A sampled call, as the proxy sends it to evaluators over ZeroMQ: one JSON object with a
 * schema version ("v": 1). The proxy fills a struct sl_sample and encodes it; the evaluator
 * decodes and validates it. A decoded sample owns its heap strings (messages, answer);
 * sl_sample_free releases them. */
#ifndef SL_SAMPLE_H
#define SL_SAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "errors.h"
#include "reqid.h"

#define SL_SAMPLE_VERSION        1
#define SL_SAMPLE_MAX_THRESHOLDS 8

struct sl_sample {
    int64_t ts_ms; /* when the call arrived, Unix ms */
    char request_id[SL_REQID_MAX + 1];
    char team[64];
    char route[64];
    char tier[64];         /* the tier that answered */
    int tier_index;        /* its position in the route, 0 = cheapest */
    char premium_tier[64]; /* the route's last tier */
    char model[64];        /* the alias that answered */
    char deployment[128];
    char arm[32]; /* A/B arm, "" when none */
    double score; /* the classifier's score */
    double thresholds[SL_SAMPLE_MAX_THRESHOLDS];
    int n_thresholds;
    int64_t config_version;
    int status;     /* HTTP status the client got */
    char error[48]; /* its error code, "" on success */
    bool json_mode; /* the client asked for JSON (response_format json_object/json_schema) */
    char *messages; /* the request's "messages" array as JSON text, strings redacted */
    char *answer;   /* the answer's text, redacted; "" when there is none */
    char finish_reason[24]; /* "stop", "length", ... or "" */
    int64_t latency_ms;
    int64_t tokens_in, tokens_out; /* -1: unknown */
    double cost_usd;               /* < 0: unknown or unpriced */
};

/* Appends the JSON encoding of s to out. */
int sl_sample_encode(const struct sl_sample *s, struct sl_buf *out) SL_MUST_CHECK;
/* Parses and validates one message text[0..len) into *s (zeroed first). On failure returns
 * SL_EPARSE with "what is wrong" in err, and *s holds nothing to free. */
int sl_sample_decode(const char *text, size_t len, struct sl_sample *s, char *err,
                     size_t errlen) SL_MUST_CHECK;
void sl_sample_free(struct sl_sample *s);

/* The redacted text of an answer, as the payload log and samples keep it: text[0..len) as it
 * is when is_text (a stream's assembled text), else the content of the chat completion it
 * holds (its finish_reason copied into finish[finish_size] when finish is not NULL). A heap
 * string, or NULL when the completion is not JSON or memory runs out. */
char *sl_sample_answer(const char *text, size_t len, bool is_text, char *finish,
                       size_t finish_size);

#endif
