/* Internal interfaces of mockllm, the mock OpenAI-compatible provider used by tests and benches.
 * main() owns the config, the models table and the stats, and shares them with every server
 * thread; the table and the stats lock themselves. A server owns its event base and everything
 * on it, including the requests it is still answering. */
#ifndef MOCKLLM_H
#define MOCKLLM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <event2/http.h>
#include <pthread.h>
#include <sys/socket.h>

#include "buf.h"
#include "errors.h"

/* Largest response body we build (64 MiB), and largest request body we accept (16 MiB). */
#define MOCK_BODY_MAX    (64u << 20)
#define MOCK_REQUEST_MAX (16u << 20)

/* ---- program configuration (mockllm.c): filled before the threads start, then read-only ---- */

struct mock_config {
    const char *listen;      /* numeric HOST:PORT */
    const char *port_file;   /* where to write the bound port, or NULL */
    const char *config_path; /* models file, or NULL: every model name is accepted */
    const char *api_key;     /* MOCKLLM_API_KEY, or NULL: no authentication */
    uint64_t seed;
    int threads;
};

/* ---- model settings (models.c) ---- */

struct mock_settings {
    int ttft_ms;        /* delay before the first token */
    int itl_ms;         /* delay between tokens */
    int output_tokens;  /* answer length before max_tokens */
    int embedding_dims; /* length of each embedding vector */
    int retry_after_s;  /* Retry-After on 429/5xx faults; 0 sends none */
    double p_429, p_500, p_503, p_hang, p_close_mid_stream, p_malformed;
    /* Answer quality (quality.c), drawn apart from the faults: a chat answer is bad with
     * probability p_bad, and a hard prompt's also with p_bad_hard, independently. */
    double p_bad, p_bad_hard;
    bool judge; /* answers as the deterministic judge instead (default for "mock-judge") */
};

/* The model name that is a judge unless its settings say "judge": false. */
#define MOCK_JUDGE_MODEL "mock-judge"

/* Faults in order of precedence: one uniform draw is compared with their cumulative sums. */
enum mock_fault {
    MOCK_FAULT_NONE,
    MOCK_FAULT_429,
    MOCK_FAULT_500,
    MOCK_FAULT_503,
    MOCK_FAULT_HANG,
    MOCK_FAULT_MALFORMED,
    MOCK_FAULT_CLOSE,
    MOCK_FAULT_COUNT
};

struct mock_models;

/* An empty table that accepts every model name with the default settings. NULL if out of
 * memory. */
struct mock_models *mock_models_create(void);
void mock_models_destroy(struct mock_models *m);
/* Loads {"models": {NAME: SETTINGS}} from path; from then on unlisted names need a "*" entry.
 * On error writes "path: key: what is wrong" (or "path:line: ..." for bad JSON) to err; the
 * table may then be partly loaded, so the caller should give up. */
int mock_models_load(struct mock_models *m, const char *path, char *err,
                     size_t errlen) SL_MUST_CHECK;
/* Merges a SETTINGS object into model name, creating it from the "*" or built-in settings.
 * On error (SL_EINVAL, SL_ETOOBIG for too many models) writes "key: what is wrong" to err and
 * changes nothing. */
int mock_models_update(struct mock_models *m, const char *name, const cJSON *fields, char *err,
                       size_t errlen) SL_MUST_CHECK;
/* Copies the settings that apply to name into *s and takes its next request sequence number
 * (which seeds that request's random draws); counts the request. SL_ENOTFOUND if a config
 * file was loaded and neither name nor "*" is in it. */
int mock_models_use(struct mock_models *m, const char *name, struct mock_settings *s,
                    uint64_t *seq) SL_MUST_CHECK;
/* Appends the GET /v1/models body: the configured names, without "*". */
int mock_models_list(struct mock_models *m, struct sl_buf *b) SL_MUST_CHECK;
/* Adds NAME: requests for every model asked for since the last reset. SL_ENOMEM. */
int mock_models_add_counts(struct mock_models *m, cJSON *obj) SL_MUST_CHECK;
/* Zeroes the request counts and sequence numbers, so a test's draws do not depend on the
 * tests before it. */
void mock_models_reset_counts(struct mock_models *m);
/* The fault that the uniform draw u in [0, 1) picks under s. */
enum mock_fault mock_settings_fault(const struct mock_settings *s, double u);

/* ---- statistics (stats.c) ---- */

/* How a /v1 request ended: answered in full, abandoned because the client left, or dropped on
 * purpose (close_mid_stream). */
enum mock_outcome { MOCK_COMPLETED, MOCK_CANCELLED, MOCK_DROPPED };

struct mock_stats;

struct mock_stats *mock_stats_create(void);
void mock_stats_destroy(struct mock_stats *st);
/* Counts a /v1 request as started and remembers its Authorization header (NULL if none). */
void mock_stats_begin(struct mock_stats *st, const char *authorization);
/* Counts a started request as ended; call exactly once per mock_stats_begin. */
void mock_stats_end(struct mock_stats *st, enum mock_outcome outcome);
void mock_stats_fault(struct mock_stats *st, enum mock_fault fault);
/* Counts a chat answer made bad (p_bad, p_bad_hard), and a judge's verdict. */
void mock_stats_bad_answer(struct mock_stats *st);
void mock_stats_judged(struct mock_stats *st);
/* Zeroes every counter but in_flight, which counts requests still open. */
void mock_stats_reset(struct mock_stats *st);
/* The GET /mock/stats body, for the caller to free(); NULL if out of memory. */
char *mock_stats_json(struct mock_stats *st, struct mock_models *m);

/* ---- response bodies (body.c): pure functions of their arguments ---- */

#define MOCK_HASH_INIT 0xcbf29ce484222325ull

/* Everything a chat answer is made of, plain or streamed. Its content is one of: words drawn
 * from text_seed; the same words after a lead (a bad answer's apology); or a fixed text (a
 * judge's verdict). A stream sends the lead, and a fixed text, as one chunk each. */
struct mock_answer {
    char id[40];        /* "chatcmpl-mock-<hex>" */
    char *model_json;   /* owned: the model name as a JSON string literal, quotes included */
    long long created;  /* Unix time */
    uint64_t text_seed; /* from the seed and the prompt: picks the words */
    int prompt_tokens;
    int words;          /* words drawn (none with text) */
    const char *lead;   /* static text before the words, or NULL */
    char *text;         /* owned: the whole content instead of words, or NULL */
    int tokens;         /* completion tokens: the words, the lead's and the text's tokens */
    bool length;        /* max_tokens cut the answer: finish_reason "length" */
    bool include_usage; /* stream_options.include_usage */
};

void mock_answer_free(struct mock_answer *a);
/* FNV-1a: continues hash h over n bytes. */
uint64_t mock_hash(uint64_t h, const void *p, size_t n);
/* ceil(chars / 4), at least 1. */
int mock_prompt_tokens(size_t chars);
/* Appends s as a JSON string literal. */
int mock_body_string(struct sl_buf *b, const char *s) SL_MUST_CHECK;
/* Appends s escaped for the inside of a JSON string literal, without the quotes. */
int mock_body_escaped(struct sl_buf *b, const char *s) SL_MUST_CHECK;
/* Appends {"error":{"message","type","param":null,"code"}}; code may be NULL. */
int mock_body_error(struct sl_buf *b, const char *message, const char *type,
                    const char *code) SL_MUST_CHECK;
/* Appends a chat.completion object. */
int mock_body_chat(struct sl_buf *b, const struct mock_answer *a) SL_MUST_CHECK;
/* Content chunks a stream sends: one for the lead or the text, one per word, or a single empty
 * one for an empty answer. */
int mock_answer_chunks(const struct mock_answer *a);
/* Appends the SSE events of content chunks [from, to); the first carries the role. */
int mock_body_chunks(struct sl_buf *b, const struct mock_answer *a, int from, int to) SL_MUST_CHECK;
/* Appends the finish_reason chunk, the usage chunk if asked for, and [DONE]. */
int mock_body_stream_end(struct sl_buf *b, const struct mock_answer *a) SL_MUST_CHECK;

/* What an embeddings answer is made of. */
struct mock_embedding_set {
    const char *model_json;  /* JSON string literal */
    const char *const *text; /* the inputs */
    size_t n;
    int dims;
    uint64_t seed;
    bool base64; /* encoding_format "base64": little-endian float32, as OpenAI sends */
    int prompt_tokens;
};

/* Appends the embeddings list: unit vectors that depend only on the seed and each text. */
int mock_body_embeddings(struct sl_buf *b, const struct mock_embedding_set *e) SL_MUST_CHECK;

/* Bodies for the malformed fault: cut off, or not JSON where JSON belongs. */
#define MOCK_MALFORMED_CHAT "{\"id\":\"chatcmpl-mock\",\"choices\":[{\"message\":"
#define MOCK_MALFORMED_EMBEDDINGS                                                                  \
    "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"embedding\":["
#define MOCK_MALFORMED_STREAM "data: {\"choices\": [}\n\ndata: [DONE]\n\n"

/* ---- answer quality and the judge (quality.c): pure functions of their arguments ----
 *
 * A prompt is hard when its last user message (its text, or the text of its parts joined by
 * newlines) has at least MOCK_HARD_WORDS words (runs of non-blank characters), or contains,
 * ignoring ASCII case and at the start of a word, one of: prove, derive, explain why, step by
 * step, analyze, analyse, implement, optimize, optimise ("prove" matches "proves" but not
 * "improve"). A bad answer's content starts with MOCK_BAD_LEAD, then the usual words.
 *
 * The judge reads the last user message (the last of each opening tag in it, so that
 * instructions that name the tags may come first). With <answer_a>A</answer_a> and
 * <answer_b>B</answer_b> it compares: {"winner": "A"|"B"|"tie", "reason": "..."}, where an
 * answer is bad when, after leading blanks, it starts with MOCK_BAD_MARK; a good one beats a
 * bad one, and two good or two bad ones tie. Otherwise, with <answer>X</answer>, it grades:
 * {"score": 1, "reason": "..."} for a bad X, {"score": 5, ...} for a good one. Without either,
 * it answers plain text that is not JSON, so that callers can test an unparseable verdict. */

#define MOCK_BAD_LEAD        "Sorry, I cannot answer that precisely."
#define MOCK_BAD_MARK        "Sorry, I cannot answer that precisely"
#define MOCK_BAD_LEAD_TOKENS 6 /* its words */
#define MOCK_HARD_WORDS      40

/* The last user message's text, for the caller to free(): "" when there is none; NULL if out
 * of memory. messages is an array already validated by the chat parser. */
char *mock_last_user_text(const cJSON *messages);
bool mock_prompt_is_hard(const char *text);
/* Whether a chat answer is bad: the uniform draw u in [0, 1) against s's p_bad and, for a
 * hard prompt, p_bad_hard. */
bool mock_answer_is_bad(const struct mock_settings *s, bool hard, double u);
/* The judge's verdict on the last user message text, for the caller to free(); NULL if out of
 * memory. */
char *mock_judge_verdict(const char *text);

/* ---- HTTP server threads (server.c) ---- */

struct mock_reply;

struct mock_server {
    const struct mock_config *cfg; /* read-only, shared */
    struct mock_models *models;    /* shared */
    struct mock_stats *stats;      /* shared */
    struct event_base *base;       /* private from here on */
    struct evhttp *http;
    struct event *stop;         /* readable once main closes its pipe: leave the loop */
    struct sl_buf scratch;      /* bodies are built here, one at a time */
    struct evbuffer *chunk;     /* stream data on its way to evhttp */
    struct mock_reply *replies; /* replies still waiting (reply.c) */
    pthread_t thread;
    bool started;
    int port; /* port of the listener, once bound */
};

/* What a handler did with its request: answered it (maybe with an error), or handed it to
 * reply.c, which will account for it when it ends. */
enum mock_handled { MOCK_ANSWERED, MOCK_DEFERRED };

/* A server whose loop breaks once stop_fd becomes readable. NULL if out of memory. */
struct mock_server *mock_server_create(const struct mock_config *cfg, struct mock_models *models,
                                       struct mock_stats *stats, int stop_fd);
/* Frees srv after its thread has ended, cancelling the requests it still holds. */
void mock_server_destroy(struct mock_server *srv);
/* Listens on sa; reuse_port lets several servers share the port. SL_ESYS with errno set. */
int mock_server_listen(struct mock_server *srv, const struct sockaddr *sa, int salen,
                       bool reuse_port) SL_MUST_CHECK;
/* Runs the event loop on a new thread. SL_ESYS. */
int mock_server_start(struct mock_server *srv) SL_MUST_CHECK;
void mock_server_join(struct mock_server *srv);

/* The reason phrase for status (libevent's own table has no 429). */
const char *mock_reason(int status);
/* Sets Content-Type: application/json and appends json to the request's output buffer, ready
 * for evhttp_send_reply(req, status, reason, NULL). SL_ENOMEM. */
int mock_stage_json(struct evhttp_request *req, const char *json, size_t len) SL_MUST_CHECK;
/* Parses the request body as JSON; NULL if it is not (or memory is short). */
cJSON *mock_read_json(struct evhttp_request *req);
/* Sends a complete JSON response now. */
void mock_send_json(struct evhttp_request *req, int status, const char *json, size_t len);
/* Sends an OpenAI-shaped error now; code may be NULL. Uses srv->scratch. */
void mock_send_error(struct mock_server *srv, struct evhttp_request *req, int status,
                     const char *type, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* ---- the /v1 endpoints (api.c); rest is unused ---- */

enum mock_handled mock_api_chat(struct mock_server *srv, struct evhttp_request *req,
                                const char *rest);
enum mock_handled mock_api_embeddings(struct mock_server *srv, struct evhttp_request *req,
                                      const char *rest);
enum mock_handled mock_api_models(struct mock_server *srv, struct evhttp_request *req,
                                  const char *rest);

/* ---- replies that wait (reply.c) ----
 * Each takes over req: it is answered, dropped or cancelled later, exactly once, and counted
 * in the stats then. A client that goes away meanwhile is noticed and counted as cancelled. */

enum mock_stream_mode {
    MOCK_STREAM_NORMAL,
    MOCK_STREAM_MALFORMED, /* an invalid first event, then [DONE] */
    MOCK_STREAM_CLOSE      /* about half the chunks, then the connection is dropped */
};

/* Sends the response already staged on req (see mock_stage_json) after delay_ms; at once,
 * without a timer, when delay_ms is 0. */
enum mock_handled mock_reply_later(struct mock_server *srv, struct evhttp_request *req, int status,
                                   int64_t delay_ms);
/* Closes the connection without a response after delay_ms. */
enum mock_handled mock_reply_drop(struct mock_server *srv, struct evhttp_request *req,
                                  int64_t delay_ms);
/* Never answers. */
enum mock_handled mock_reply_hang(struct mock_server *srv, struct evhttp_request *req);
/* Streams a as server-sent events: headers now, the first chunk after ttft_ms, then one every
 * itl_ms (all at once when itl_ms is 0). Takes a->model_json and a->text. */
enum mock_handled mock_reply_stream(struct mock_server *srv, struct evhttp_request *req,
                                    struct mock_answer *a, enum mock_stream_mode mode, int ttft_ms,
                                    int itl_ms);
/* Cancels every waiting reply and closes its connection: for shutdown. */
void mock_reply_cancel_all(struct mock_server *srv);

#endif
