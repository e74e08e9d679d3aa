/* The controller's admin HTTP API (libevent evhttp on the main thread's event loop): versions,
 * rollbacks, rollout, classifiers, canaries and A/B splits, policy events. Every /admin/ request
 * needs the admin key ("Authorization: Bearer KEY" or "x-api-key: KEY"); GET /health does not.
 * Errors are OpenAI-shaped ({"error":{"message","type","param","code"}}). Every change that
 * makes a new version asks the bus to publish it. The endpoints are listed in api.c.
 *
 * Ownership: the API owns its evhttp and borrows base, cfg, vs and bus, which must outlive
 * it. */
#ifndef SL_API_H
#define SL_API_H

#include <event2/event.h>
#include <stddef.h>

#include "bus.h"
#include "ctrlconf.h"
#include "versions.h"

#define SL_API_MAX_BODY (64u << 20) /* a classifier artifact is about 0.5 MB */

struct sl_api;

/* Binds cfg's listen address on base. bus may be NULL (nothing is published: for tests). NULL
 * with "what is wrong" in err. */
struct sl_api *sl_api_create(struct event_base *base, const struct sl_ctrlconf *cfg,
                             struct sl_versions *vs, struct sl_bus *bus, char *err, size_t errlen);
/* The bound port (useful when cfg asked for port 0). */
int sl_api_port(const struct sl_api *api);
/* Closes the listening socket and any open connection. NULL is a no-op. */
void sl_api_destroy(struct sl_api *api);

#endif
