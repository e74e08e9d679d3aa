/* The wire format of configuration distribution, after the "clone" pattern of the ZeroMQ
 * guide. The controller holds a key-value state where every change bumps one sequence number:
 *   "config"     {"version": N, "document": {...}}: the configuration version to serve
 *   "clf/<sha>"  a classifier artifact (the trainer's JSON), named by its SHA-256 ("sha256:HEX"
 *                in documents); published before any config that names it
 * A proxy subscribes to the updates (PUB/SUB), then asks for a snapshot (DEALER to ROUTER:
 * SL_CLONE_ICANHAZ) and gets every live key (the frames of a message below) followed by
 * SL_CLONE_KTHXBAI carrying the snapshot's sequence; updates at or below it are skipped. The
 * controller publishes SL_CLONE_HUGZ with its current sequence every heartbeat, so a proxy
 * can tell a silent controller from a quiet one and a missed update from none. Beside the
 * state, outside the sequence (seq 0), it publishes SL_CLONE_SPEND every heartbeat: what each
 * proxy reported spending per team and how many proxies take keys, {"proxies": N, "teams":
 * {"TEAM": {"since": S, "by": {"LEDGER": usd}}}}.
 * A message is three frames: key, sequence (decimal text), body. Received messages own their
 * key and body until sl_clone_msg_free. */
#ifndef SL_CLONE_H
#define SL_CLONE_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"

#define SL_CLONE_ICANHAZ "ICANHAZ?"
#define SL_CLONE_KTHXBAI "KTHXBAI"
#define SL_CLONE_HUGZ    "HUGZ"
#define SL_CLONE_CONFIG  "config"
#define SL_CLONE_CLF     "clf/" /* followed by the classifier's "sha256:HEX" */
#define SL_CLONE_SPEND   "spend"

#define SL_CLONE_MAX_KEY  128
#define SL_CLONE_MAX_BODY (64u << 20)

struct sl_clone_msg {
    char key[SL_CLONE_MAX_KEY];
    uint64_t seq;
    char *body; /* NUL-terminated; "" when empty */
    size_t len;
};

/* Sends key, seq and body[0..len) as one three-frame message on a ZeroMQ socket. For a ROUTER
 * socket, send the peer's identity frame with ZMQ_SNDMORE first. flags (e.g. ZMQ_DONTWAIT)
 * apply to every frame. Returns 0 or SL_EIO (errno from ZeroMQ). */
int sl_clone_send(void *sock, const char *key, uint64_t seq, const char *body, size_t len,
                  int flags) SL_MUST_CHECK;
/* Receives one message (the frames after any identity frame the caller has read). Returns 0,
 * SL_EAGAIN when flags has ZMQ_DONTWAIT and nothing is waiting, SL_EIO on a socket error, or
 * SL_EPARSE for a malformed message (wrong frame count, key too long, bad sequence, body too
 * big); its remaining frames are consumed either way. */
int sl_clone_recv(void *sock, struct sl_clone_msg *m, int flags) SL_MUST_CHECK;
void sl_clone_msg_free(struct sl_clone_msg *m);

#endif
