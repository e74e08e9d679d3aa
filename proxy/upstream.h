/* libcurl's multi interface driven by a worker's libevent loop (the pattern of curl's
 * hiperfifo example), with a free list of easy handles so that connections, DNS and TLS
 * sessions are reused. One sl_upstream per worker thread, used only by that thread.
 * Easy handles come from sl_upstream_easy and go back with sl_upstream_release. */
#ifndef SL_UPSTREAM_H
#define SL_UPSTREAM_H

#include <curl/curl.h>
#include <event2/event.h>

#include "errors.h"

/* Called from the event loop when a transfer ends; priv is the easy handle's
 * CURLOPT_PRIVATE. The handle has been removed from the multi handle already. */
typedef void (*sl_upstream_done_fn)(void *priv, CURLcode result);

struct sl_upstream;

struct sl_upstream *sl_upstream_create(struct event_base *base, sl_upstream_done_fn done);
/* Cancels nothing: call it after every transfer has ended or been cancelled. */
void sl_upstream_destroy(struct sl_upstream *up);

/* An easy handle ready for options, reused when one is free. NULL when out of memory. */
CURL *sl_upstream_easy(struct sl_upstream *up);
/* Gives a handle that is not in a transfer back to the free list. */
void sl_upstream_release(struct sl_upstream *up, CURL *easy);

/* Starts the transfer configured on easy. */
int sl_upstream_start(struct sl_upstream *up, CURL *easy) SL_MUST_CHECK;
/* Stops a running transfer; its done callback is not called. */
void sl_upstream_cancel(struct sl_upstream *up, CURL *easy);

#endif
