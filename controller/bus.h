/* The controller's ZeroMQ side: one thread owns every socket and runs a zmq_poll loop.
 *   snapshot (ROUTER, bound): a proxy asks [identity]["ICANHAZ?"][proxy id] and gets every live
 *     key of the clone state (common/clone.h): each "clf/sha256:..." the current version names,
 *     then "config", then "KTHXBAI" with the state's sequence.
 *   updates (PUB, bound): each new version as the keys it changes: the "clf/..." messages of
 *     classifiers it names that the state did not hold, then "config" ({"version":N,
 *     "document":{...}}); every message bumps the sequence by one. "HUGZ" with the current
 *     sequence every heartbeat_ms. The sequence starts at the wall clock in µs, so it grows
 *     across restarts too: a proxy that sees a HUGZ above its own sequence knows it missed
 *     something and asks for a snapshot again.
 *   reports (PULL, bound): one JSON frame per proxy report, {"v":1,"proxy":"ID","version":N,
 *     "applied_us":T,"error":null|"why"}, kept in memory per proxy (the latest 1000 versions'
 *     application times each, for propagation). A proxy that takes keys adds "ledger" (whose
 *     spending: host and data directory) and "spend" ({"TEAM": {"since", "usd"}}); every
 *     heartbeat the bus publishes every ledger's latest spending and how many report ("spend"
 *     in clone.h), so that each proxy counts the others' spending against a team's budget and
 *     takes its share of every limit. A ledger's spending is written to control.db at the
 *     heartbeat after it changed, and read back at start: a restarted controller still counts
 *     what a proxy that never reports again has spent.
 *   alerts (SUB, connected to every configured evaluator, "alert."): handed to sl_policy.
 *   an inproc pair that sl_bus_publish and sl_bus_destroy use to wake the thread.
 * A malformed message is dropped and logged (at most 10 a minute); it never stops the loop.
 *
 * Ownership: the bus owns its ZeroMQ context, sockets and thread; it borrows cfg and vs, which
 * must outlive it. sl_bus_publish, sl_bus_rollout_json and sl_bus_spend_json may be called
 * from any thread. */
#ifndef SL_BUS_H
#define SL_BUS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctrlconf.h"
#include "errors.h"
#include "versions.h"

struct sl_bus;

/* Creates the sockets and binds (or connects) every endpoint of cfg, and loads the current
 * version into the clone state; nothing runs yet. NULL with "what is wrong" in err. */
struct sl_bus *sl_bus_create(const struct sl_ctrlconf *cfg, struct sl_versions *vs, char *err,
                             size_t errlen);
/* Starts the bus thread (with every signal blocked in it). SL_ESYS when it cannot start. */
int sl_bus_start(struct sl_bus *bus) SL_MUST_CHECK;
/* Tells the bus thread that a version was committed: it publishes the current version when it
 * is not the one it published last. Never blocks for long; any thread. */
void sl_bus_publish(struct sl_bus *bus);
/* Stops and joins the thread, closes every socket (linger 0) and the context. NULL: no-op. */
void sl_bus_destroy(struct sl_bus *bus);

/* The proxies as reported, for GET /admin/rollout: [{"id", "version", "applied_us",
 * "propagation_ms" (when the proxy reported applying version; created_us is version's),
 * "alive", "last_seen_us", "error"}], sorted by id. *complete: every alive proxy runs version
 * or newer. A proxy is alive when it reported within 3 heartbeats. */
cJSON *sl_bus_rollout_json(struct sl_bus *bus, int64_t version, int64_t created_us, bool *complete);
/* Each team's spending over every ledger in its latest period: {"TEAM": {"since", "usd"}}. */
cJSON *sl_bus_spend_json(struct sl_bus *bus);

#endif
