/* The alert policy: a pure decision, then a version, the policy's state and an event. */
#include "policy.h"

#define SL_LOG_MODULE "policy"
#include "log.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GAP   0.001 /* the least distance kept between neighbouring thresholds, and from 0 and 1 */
#define EPS   1e-9  /* below this a shift or a step is nothing */
#define ROUND 1e6   /* thresholds are written with 6 decimals, to keep documents readable */

static size_t tier_index(const struct sl_route *r, const char *tier)
{
    size_t k = 0;

    while (k < r->n_tiers && strcmp(r->tiers[k].name, tier) != 0)
        k++;
    return k;
}

static void decide_raised(const struct sl_policy_alert *a, const struct sl_route *r,
                          const struct sl_versions_policy_row *st, int64_t now_us,
                          struct sl_policy_decision *d)
{
    const struct sl_route_policy *p;
    double room, floor_at, to;
    int64_t wait_us;
    bool recurred;
    size_t k;

    d->action = SL_POLICY_NOTIFY;
    if (!a->route || !a->tier) {
        snprintf(d->why, sizeof(d->why), "alert #%lld is not about a route's tier",
                 (long long)a->id);
        return;
    }
    if (!r) {
        snprintf(d->why, sizeof(d->why), "alert #%lld: route %s is not in the current version",
                 (long long)a->id, a->route);
        return;
    }
    if ((k = tier_index(r, a->tier)) == r->n_tiers) {
        snprintf(d->why, sizeof(d->why), "alert #%lld: %s has no tier called %s", (long long)a->id,
                 a->route, a->tier);
        return;
    }
    if (k + 1 == r->n_tiers) {
        snprintf(d->why, sizeof(d->why),
                 "alert #%lld: %s/%s is the premium tier; no tier above it to send traffic to",
                 (long long)a->id, a->route, a->tier);
        return;
    }
    p = &r->policy;
    if (!p->adjust) {
        snprintf(d->why, sizeof(d->why), "alert #%lld on %s/%s: the route's policy is notify",
                 (long long)a->id, a->route, a->tier);
        return;
    }
    d->action = SL_POLICY_HELD;
    d->tier = k;
    d->from = d->to = r->thresholds[k];
    if (st->alert_id == a->id && st->shift > EPS) {
        /* the same alert delivered twice moves nothing twice */
        d->action = SL_POLICY_NONE;
        snprintf(d->why, sizeof(d->why), "alert #%lld on %s/%s: already adjusted for it",
                 (long long)a->id, a->route, a->tier);
        return;
    }
    wait_us = st->route_last_us + (int64_t)p->cooldown_s * 1000000 - now_us;
    if (st->route_last_us && wait_us > 0) {
        snprintf(d->why, sizeof(d->why),
                 "alert #%lld on %s/%s: held, the route's cool-down has %lld s left",
                 (long long)a->id, a->route, a->tier, (long long)((wait_us + 999999) / 1000000));
        return;
    }
    room = p->ceiling - st->shift;
    floor_at = (k ? r->thresholds[k - 1] : 0) + GAP;
    to = d->from - (p->step < room ? p->step : room);
    if (to < floor_at)
        to = floor_at;
    to = round(to * ROUND) / ROUND;
    if (to < floor_at)
        to = ceil(floor_at * ROUND) / ROUND;
    if (room <= EPS || d->from - to <= EPS) {
        snprintf(d->why, sizeof(d->why),
                 "alert #%lld on %s/%s: held, no room left (threshold %g, shift %g of ceiling %g)",
                 (long long)a->id, a->route, a->tier, d->from, st->shift, p->ceiling);
        return;
    }
    d->action = SL_POLICY_ADJUST;
    d->to = to;
    d->next.shift = st->shift + (d->from - to);
    d->next.alert_id = a->id;
    d->next.last_us = now_us;
    d->next.set_to = to;
    /* A drift back within the cool-down after a restore: its cause persists, and restoring
     * again at the next resolution would only start the cycle over. */
    recurred = st->shift <= EPS && st->restored_us &&
               now_us - st->restored_us < (int64_t)p->cooldown_s * 1000000;
    d->next.keep = st->keep || recurred;
    snprintf(d->why, sizeof(d->why),
             "alert #%lld on %s/%s: threshold %zu lowered from %g to %g (shift %g of %g)%s",
             (long long)a->id, a->route, a->tier, k, d->from, d->to, d->next.shift, p->ceiling,
             recurred ? "; the drift came back within the cool-down after the last restore, so "
                        "this shift stays when the alert resolves (edit the threshold to undo it)"
                      : "");
}

static void decide_resolved(const struct sl_policy_alert *a, const struct sl_route *r,
                            const struct sl_versions_policy_row *st, int64_t now_us,
                            struct sl_policy_decision *d)
{
    double ceil_at, to;
    size_t k;

    d->action = SL_POLICY_NONE;
    if (!a->route || !a->tier || st->shift <= EPS) {
        snprintf(d->why, sizeof(d->why), "alert #%lld resolved: nothing to restore",
                 (long long)a->id);
        return;
    }
    d->action = SL_POLICY_NOTIFY;
    if (!r || (k = tier_index(r, a->tier)) + 1 >= r->n_tiers) {
        d->next = (struct sl_versions_policy_row){.alert_id = a->id, .last_us = st->last_us};
        snprintf(d->why, sizeof(d->why),
                 "alert #%lld resolved: %s/%s is no longer a cheaper tier of the current "
                 "version; its shift of %g is forgotten",
                 (long long)a->id, a->route, a->tier, st->shift);
        return;
    }
    d->tier = k;
    d->from = d->to = r->thresholds[k];
    if (st->keep) {
        snprintf(d->why, sizeof(d->why),
                 "alert #%lld resolved on %s/%s: threshold %zu stays at %g (shift %g), since the "
                 "drift came back after the last restore; edit the threshold to undo it",
                 (long long)a->id, a->route, a->tier, k, d->from, st->shift);
        return;
    }
    d->next = (struct sl_versions_policy_row){.alert_id = a->id, .last_us = st->last_us};
    ceil_at = (k + 2 < r->n_tiers ? r->thresholds[k + 1] : 1) - GAP;
    to = d->from + st->shift;
    if (to > ceil_at)
        to = ceil_at;
    to = round(to * ROUND) / ROUND;
    if (to > ceil_at)
        to = floor(ceil_at * ROUND) / ROUND;
    if (to - d->from <= EPS) {
        snprintf(d->why, sizeof(d->why),
                 "alert #%lld resolved on %s/%s: no room to raise threshold %zu (%g); its shift "
                 "of %g is forgotten",
                 (long long)a->id, a->route, a->tier, k, d->from, st->shift);
        return;
    }
    d->action = SL_POLICY_RESTORE;
    d->to = to;
    d->next.restored_us = now_us;
    d->next.set_to = to;
    snprintf(d->why, sizeof(d->why),
             "alert #%lld resolved on %s/%s: threshold %zu restored from %g to %g",
             (long long)a->id, a->route, a->tier, k, d->from, d->to);
}

void sl_policy_decide(const struct sl_policy_alert *a, const struct sl_route *r,
                      const struct sl_versions_policy_row *st, int64_t now_us,
                      struct sl_policy_decision *d)
{
    struct sl_versions_policy_row cur = *st;
    size_t k;

    memset(d, 0, sizeof(*d));
    /* A threshold someone else moved since the policy set it (a new version by hand) makes
     * the policy's shift meaningless: start afresh from the threshold as it is. */
    if (r && a->tier && (k = tier_index(r, a->tier)) + 1 < r->n_tiers && cur.set_to > 0 &&
        fabs(r->thresholds[k] - cur.set_to) > 1e-6) {
        cur.shift = 0;
        cur.keep = false;
        cur.set_to = 0;
    }
    d->next = cur;
    if (a->raised)
        decide_raised(a, r, &cur, now_us, d);
    else
        decide_resolved(a, r, &cur, now_us, d);
}

/* The edit of sl_versions_update: decides against the current version under its lock, and
 * writes the route's thresholds when they move. */
struct edit {
    const struct sl_policy_alert *alert;
    const struct sl_versions_policy_row *state;
    int64_t now_us;
    struct sl_policy_decision d;
};

static int edit_thresholds(void *ctx, cJSON *doc, const struct sl_config *cfg, char *err,
                           size_t errlen)
{
    struct edit *e = ctx;
    const struct sl_route *r =
        cfg && e->alert->route ? sl_config_route(cfg, e->alert->route) : NULL;
    cJSON *route, *arr;

    sl_policy_decide(e->alert, r, e->state, e->now_us, &e->d);
    if (e->d.action != SL_POLICY_ADJUST && e->d.action != SL_POLICY_RESTORE)
        return 0; /* the document stays as it is: nothing is committed */
    route = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "routes"),
                                             e->alert->route);
    if (!cJSON_IsObject(route)) {
        snprintf(err, errlen, "route %s is not an object", e->alert->route);
        return SL_EINVAL;
    }
    /* explicit: the document may have taken the classifier's thresholds until now */
    if (!(arr = cJSON_CreateArray()))
        abort();
    for (size_t i = 0; i + 1 < r->n_tiers; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateNumber(i == e->d.tier ? e->d.to : r->thresholds[i]));
    cJSON_DeleteItemFromObjectCaseSensitive(route, "thresholds");
    cJSON_AddItemToObject(route, "thresholds", arr);
    return 0;
}

static bool same_state(const struct sl_versions_policy_row *x,
                       const struct sl_versions_policy_row *y)
{
    return x->shift == y->shift && x->alert_id == y->alert_id && x->last_us == y->last_us &&
           x->restored_us == y->restored_us && x->keep == y->keep && x->set_to == y->set_to;
}

/* A string member, NULL when null or absent; false when it has another type. */
static bool opt_string(const cJSON *o, const char *name, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

    *out = cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
    return !v || cJSON_IsNull(v) || cJSON_IsString(v);
}

int sl_policy_on_alert(struct sl_versions *vs, const char *topic, const char *body, size_t len,
                       int64_t now_us, int64_t *version)
{
    struct sl_versions_policy_row st = {0};
    struct sl_policy_alert a = {0};
    struct sl_versions_change ch = {0};
    struct edit e = {.alert = &a, .state = &st, .now_us = now_us};
    cJSON *root = cJSON_ParseWithLength(body, len);
    const cJSON *v, *id;
    char reason[512], err[1024];
    const char *kind = NULL;
    int rc = SL_EPARSE;

    *version = 0;
    v = cJSON_GetObjectItemCaseSensitive(root, "v");
    id = cJSON_GetObjectItemCaseSensitive(root, "id");
    if (!cJSON_IsObject(root) || !cJSON_IsNumber(v) || v->valuedouble != 1 || !cJSON_IsNumber(id) ||
        id->valuedouble < 1 || id->valuedouble > 9e15 || !opt_string(root, "route", &a.route) ||
        !opt_string(root, "tier", &a.tier))
        goto out;
    if (strcmp(topic, "alert.raised") == 0)
        a.raised = true;
    else if (strcmp(topic, "alert.resolved") != 0)
        goto out;
    a.id = (int64_t)id->valuedouble;
    if (a.route && a.tier && (rc = sl_versions_policy_get(vs, a.route, a.tier, &st)))
        goto out;
    if (a.raised)
        snprintf(reason, sizeof(reason), "alert #%lld raised: %s/%s pass rate drift",
                 (long long)a.id, a.route ? a.route : "-", a.tier ? a.tier : "-");
    else
        snprintf(reason, sizeof(reason), "alert #%lld resolved: %s/%s", (long long)a.id,
                 a.route ? a.route : "-", a.tier ? a.tier : "-");
    rc = sl_versions_update(vs, edit_thresholds, &e, "policy", reason, &ch, err, sizeof(err));
    if (rc) {
        /* the policy made a version that does not build: a bug, or a file changed under us */
        sl_error("alert #%lld: the policy's version was refused: %s", (long long)a.id, err);
        rc = rc == SL_EIO ? SL_EIO : 0;
        goto out;
    }
    switch (e.d.action) {
    case SL_POLICY_NONE:
        sl_debug("%s", e.d.why);
        break;
    case SL_POLICY_NOTIFY:
        kind = "notify";
        sl_warn("%s", e.d.why);
        break;
    case SL_POLICY_HELD:
        kind = "held";
        sl_info("%s", e.d.why);
        break;
    case SL_POLICY_ADJUST:
    case SL_POLICY_RESTORE:
        kind = e.d.action == SL_POLICY_ADJUST ? "adjust" : "restore";
        *version = ch.unchanged ? 0 : ch.version;
        sl_warn("%s: version %lld", e.d.why, (long long)*version);
        break;
    }
    if (a.route && a.tier && !same_state(&e.d.next, &st))
        rc = sl_versions_policy_set(vs, a.route, a.tier, &e.d.next);
    if (kind && sl_versions_add_event(vs, kind, a.route, a.tier, a.id, *version, e.d.why))
        rc = SL_EIO;
out:
    cJSON_Delete(ch.diff);
    cJSON_Delete(root);
    return rc;
}
