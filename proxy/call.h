/* A proxied call: one client request for /v1/chat/completions or /v1/embeddings, from
 * validation through upstream attempts (retries, fallback, circuit breakers, Retry-After)
 * to the response streamed or sent back. Calls are owned by their worker and recycled. */
#ifndef SL_CALL_H
#define SL_CALL_H

#include <curl/curl.h>
#include <event2/http.h>

struct sl_worker;
struct sl_call;

enum sl_endpoint { SL_ENDPOINT_CHAT, SL_ENDPOINT_EMBEDDINGS };

/* Handles the request; it answers it eventually, whatever happens. */
void sl_call_handle(struct sl_worker *w, struct evhttp_request *req, enum sl_endpoint kind);
/* The sl_upstream done callback for calls' transfers. */
void sl_call_upstream_done(void *priv, CURLcode result);
/* Frees a worker's pool of finished calls. */
void sl_call_pool_free(struct sl_worker *w);

#endif
