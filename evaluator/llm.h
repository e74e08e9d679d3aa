/* OpenAI-compatible chat calls for the evaluator's scorers, over libcurl's multi interface:
 * at most `concurrency` calls in flight, a timeout per attempt, and retries with exponential
 * backoff (or the server's Retry-After) on 429, 5xx, timeouts and connection errors.
 *
 * Single-threaded: the owner's loop calls sl_llm_poll, which also waits on the owner's file
 * descriptors, so one thread serves both. sl_llm_submit copies the body; the url and api_key
 * it is given must outlive the call (they come from the configuration). Each call's done
 * callback runs exactly once, from sl_llm_poll, sl_llm_stop or sl_llm_destroy, and may submit
 * new calls; the reply it gets is valid only during the callback. */
#ifndef SL_LLM_H
#define SL_LLM_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#include "errors.h"

enum sl_llm_status {
    SL_LLM_OK,        /* a 2xx answer with a chat completion in it */
    SL_LLM_FAILED,    /* error says why; the attempts are used up or the failure is final */
    SL_LLM_CANCELLED, /* stopped before it could finish (shutdown): no verdict either way */
};

struct sl_llm_reply {
    enum sl_llm_status status;
    const char *content; /* OK: the first choice's message content ("" when null) */
    long http_status;    /* the last attempt's, 0 when it got no response */
    int attempts;
    char error[160]; /* FAILED: what went wrong, never payload text */
};

typedef void (*sl_llm_done_fn)(void *arg, const struct sl_llm_reply *reply);

struct sl_llm_options {
    int concurrency;  /* calls in flight at once, >= 1 */
    long timeout_ms;  /* per attempt */
    int retries;      /* attempts after the first */
    long max_queue;   /* calls waiting for a slot before sl_llm_submit refuses */
    long max_backoff; /* longest wait before a retry, ms (a Retry-After is capped at 3x this) */
};

struct sl_llm;

/* NULL when out of memory or curl cannot start. */
struct sl_llm *sl_llm_create(const struct sl_llm_options *o);
/* Cancels every call (their callbacks run with SL_LLM_CANCELLED), then frees. NULL: no-op. */
void sl_llm_destroy(struct sl_llm *llm);

/* Queues a POST of body[0..len) (JSON) to url, with "Authorization: Bearer api_key" when
 * api_key is not NULL. An urgent call goes ahead of every waiting one and past max_queue: it
 * is the second step of work already begun. SL_ETOOBIG when max_queue calls wait (done will
 * not run), SL_EINVAL after sl_llm_stop, SL_ENOMEM. */
int sl_llm_submit(struct sl_llm *llm, const char *url, const char *api_key, const char *body,
                  size_t len, bool urgent, sl_llm_done_fn done, void *arg) SL_MUST_CHECK;

/* Waits up to timeout_ms (0: not at all) until a transfer can progress, one of fds[0..n) is
 * ready (their revents are set, as curl_multi_poll does) or a retry is due; then advances the
 * transfers, runs the callbacks of the calls that ended and starts waiting ones. */
int sl_llm_poll(struct sl_llm *llm, struct curl_waitfd *fds, unsigned n,
                int timeout_ms) SL_MUST_CHECK;

/* Cancels every call that is not in flight, now and from here on (a retry included): their
 * callbacks run with SL_LLM_CANCELLED. Calls in flight may still finish in sl_llm_poll. */
void sl_llm_stop(struct sl_llm *llm);

/* Calls in flight now. */
size_t sl_llm_in_flight(const struct sl_llm *llm);
/* Calls waiting for a slot or for their retry. */
size_t sl_llm_waiting(const struct sl_llm *llm);

#endif
