/* What the controller does when an evaluator raises or resolves a quality alert on a route's
 * tier. sl_policy_decide is the whole decision, a pure function; sl_policy_on_alert applies it
 * to control.db (a new version, the policy's state, an event). Nothing here keeps state of its
 * own: the policy's memory is the policy table of sl_versions.
 *
 * Raised on route R, tier T: when R is not in the current version, T is R's last (premium)
 * tier, the alert has no tier, or R's policy is "notify": notify only. Otherwise, with k the
 * index of T, thresholds[k] separates T from the tier above it (a score below it stays on T),
 * so lowering it sends more traffic toward premium: it is lowered by the policy's step, but the
 * total shift recorded for (R, T) never exceeds the ceiling and the threshold stays at or
 * above thresholds[k-1] + 0.001 (0.001 for k = 0). The step is held during the cool-down after
 * the policy's last step on R, and when there is no room left.
 * Resolved on (R, T) with a recorded shift: thresholds[k] goes back up by the shift (at most to
 * thresholds[k+1] - 0.001, or 0.999), and the shift is forgotten; no cool-down applies.
 * Hysteresis: a drift raised again within the cool-down after a restore means its cause
 * persists, and restoring at every resolution would make the threshold swing with each alert.
 * That step is taken as usual but marked to keep: at its resolution the threshold stays
 * (notify only), until someone edits it. A threshold that differs from what the policy last
 * wrote (a version made by hand) resets the policy's state for that tier: shift 0, no keep. */
#ifndef SL_POLICY_H
#define SL_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "errors.h"
#include "versions.h"

enum sl_policy_action {
    SL_POLICY_NONE,    /* nothing to do or record (a resolution with nothing to restore) */
    SL_POLICY_NOTIFY,  /* record and log, change nothing */
    SL_POLICY_HELD,    /* a step was due but is held (cool-down, ceiling, no room) */
    SL_POLICY_ADJUST,  /* lower thresholds[tier] to `to` */
    SL_POLICY_RESTORE, /* raise thresholds[tier] back to `to` */
};

/* An alert as the evaluator publishes it; strings are borrowed. */
struct sl_policy_alert {
    bool raised; /* false: resolved */
    int64_t id;
    const char *route; /* NULL when the alert has none */
    const char *tier;  /* NULL when the alert has none */
};

struct sl_policy_decision {
    enum sl_policy_action action;
    size_t tier;                        /* the tier's index k (ADJUST, RESTORE) */
    double from, to;                    /* thresholds[k] before and after (ADJUST, RESTORE) */
    struct sl_versions_policy_row next; /* the (route, tier)'s state after the decision */
    char why[256];                      /* one line for the log and the event */
};

/* Decides what to do about alert a. r is the alert's route in the current version (NULL when
 * it is not there), st the policy's state for (route, tier), now_us the time (Unix µs). */
void sl_policy_decide(const struct sl_policy_alert *a, const struct sl_route *r,
                      const struct sl_versions_policy_row *st, int64_t now_us,
                      struct sl_policy_decision *d);

/* Handles one message from an evaluator's PUB socket: topic "alert.raised" or "alert.resolved"
 * and the alert's JSON body[0..len) ({"v":1,"id","route","tier",...}). Decides, commits a new
 * version (author "policy") when thresholds move, stores the policy's state and an event.
 * *version is the committed version, or 0 when none was. Returns 0, SL_EPARSE for a malformed
 * message (nothing done; the caller logs it), SL_EIO when control.db cannot be written. */
int sl_policy_on_alert(struct sl_versions *vs, const char *topic, const char *body, size_t len,
                       int64_t now_us, int64_t *version) SL_MUST_CHECK;

#endif
