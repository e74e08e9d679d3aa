/* The admin API. Endpoints (all under the admin key but /health):
 *   GET  /health                          {"status":"ok","version":N}
 *   GET  /admin/config                    {"version":N,"document":{...}}
 *   PUT  /admin/config                    {"document","reason"?,"author"?,"base_version"?}
 *   GET  /admin/versions?limit=N          {"data":[{"version","author","created_us","reason",
 *                                         "diff"}]}, newest first
 *   GET  /admin/versions/N                the same for one version, with its "document"
 *   POST /admin/rollback                  {"version":N}: N's document as a new version
 *   GET  /admin/rollout?version=N         what every proxy runs
 *   POST /admin/classifiers?note=TEXT     the artifact as the body: registers it
 *   GET  /admin/classifiers               {"data":[{"id","feature_spec_hash","registered_us",
 *                                         "note","metrics"?}]}
 *   GET  /admin/classifiers/ID            the artifact
 *   GET  /admin/routes/NAME/classifier    the artifact the route uses now
 *   POST /admin/routes/NAME/canary        {"classifier","weight","sticky"?,"thresholds"?}
 *   POST /admin/routes/NAME/promote       {"arm"} or {"classifier","thresholds"?}
 *   POST /admin/routes/NAME/ab/stop       {"arm"}
 *   PUT  /admin/routes/NAME/ab            the route's A/B split
 *   GET  /admin/events?limit=N            {"data":[...]}: what the alert policy did
 *   POST /admin/teams                     {"name","limits"?,"budget"?,"log_payloads"?}: sets
 *                                         or replaces the team; 200 its description + "version"
 *   GET  /admin/teams                     {"data":[{"name","limits","budget","log_payloads",
 *                                         "spent_usd"?,"period_start"?}]}: spending over
 *                                         every proxy, once proxies reported it
 *   POST /admin/keys                      {"team","name"?,"limits"?}: 201 the key's
 *                                         description + "key" (the secret, shown only here)
 *                                         + "version"; 404 team_not_found
 *   GET  /admin/keys?team=NAME            {"data":[{"id","team","name","hint","created",
 *                                         "revoked","limits"}]}, oldest first
 *   DELETE /admin/keys/ID                 revokes: 200 the description + "version" (once
 *                                         revoked, again is harmless); 404 key_not_found
 *   POST /admin/keys/import               {"accounts":{"teams","keys"}} as a version holds
 *                                         them: sets the teams, adds the keys not there (201
 *                                         {"version","teams","keys"}); 409 conflict for a key
 *                                         whose id or sha256 another key has
 * A change answers 201 {"version":N,"diff":[...]}, or 200 {"version":N,"unchanged":true} when
 * it would not change the current document; teams and keys answer as the proxy's admin API
 * does, plus "version". Every change takes "author" (default "admin") and "reason" (default:
 * what it does). A rollback restores routes and fallbacks, never teams and keys. */
#include "api.h"
#include "auth.h"

#define SL_LOG_MODULE "api"
#include "buf.h"
#include "clock.h"
#include "json.h"
#include "jsonconf.h"
#include "log.h"
#include "portfile.h"
#include "sha256.h"
#include "teams.h"

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#define MAX_SEGMENTS  8
#define DEFAULT_LIMIT 50
#define MAX_LIMIT     1000
#define MAX_AUTHOR    200
#define MAX_REASON    2000

struct sl_api {
    const struct sl_ctrlconf *cfg;
    struct sl_versions *vs;
    struct sl_bus *bus;
    struct evhttp *http;
    int port;
};

/* One request being answered. */
struct call {
    struct sl_api *api;
    struct evhttp_request *req;
    enum evhttp_cmd_type cmd;
    char *seg[MAX_SEGMENTS]; /* the decoded path segments */
    int n_seg;
    struct evkeyvalq query;
};

/* ---- replies ---- */

static void send_body(struct call *c, int status, const char *type, const char *text, size_t len)
{
    struct evbuffer *body = evbuffer_new();

    if (body)
        evbuffer_add(body, text, len);
    evhttp_add_header(evhttp_request_get_output_headers(c->req), "Content-Type", type);
    evhttp_send_reply(c->req, status, NULL, body);
    if (body)
        evbuffer_free(body);
}

/* Sends doc (taken) as the JSON body. */
static void send_json(struct call *c, int status, cJSON *doc)
{
    char *text = cJSON_PrintUnformatted(doc);

    if (!text)
        abort(); /* out of memory */
    send_body(c, status, "application/json", text, strlen(text));
    cJSON_free(text);
    cJSON_Delete(doc);
}

/* Sends {"error":{"message","type","param","code"}}. */
static void send_error(struct call *c, int status, const char *type, const char *code,
                       const char *param, const char *message)
{
    struct sl_buf b;

    sl_buf_init(&b, 8192);
    if (sl_json_add_error(&b, type, code, param, message))
        abort(); /* out of memory */
    send_body(c, status, "application/json", b.data, b.len);
    sl_buf_free(&b);
}

static void bad_request(struct call *c, const char *param, const char *message)
{
    send_error(c, 400, "invalid_request_error", "invalid_request", param, message);
}

static void not_found(struct call *c, const char *message)
{
    send_error(c, 404, "invalid_request_error", "not_found", NULL, message);
}

static void internal_error(struct call *c, const char *message)
{
    send_error(c, 500, "server_error", "internal_error", NULL, message);
}

/* Sends {"data": data} (taken), or 500 when data is NULL (control.db could not be read). */
static void send_list(struct call *c, cJSON *data)
{
    cJSON *out;

    if (!data)
        return internal_error(c, "control.db cannot be read.");
    out = cJSON_CreateObject();
    cJSON_AddItemToObject(out, "data", data);
    send_json(c, 200, out);
}

/* False, after answering 405, unless the request's method is one of want (GET takes HEAD). */
static bool allow(struct call *c, int want, const char *names)
{
    int cmd = c->cmd == EVHTTP_REQ_HEAD ? EVHTTP_REQ_GET : c->cmd;
    char msg[128];

    if (cmd & want)
        return true;
    evhttp_add_header(evhttp_request_get_output_headers(c->req), "Allow", names);
    snprintf(msg, sizeof(msg), "Use %s for this endpoint.", names);
    send_error(c, 405, "invalid_request_error", "method_not_allowed", NULL, msg);
    return false;
}

/* ---- request parts ---- */

/* The client's key: "Authorization: Bearer KEY" or "x-api-key: KEY"; NULL when neither. */
static const char *secret(struct evhttp_request *req, size_t *len)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);

    return sl_auth_key(evhttp_find_header(h, "Authorization"), evhttp_find_header(h, "x-api-key"),
                       len);
}

static bool authorized(struct call *c)
{
    const char *key = c->api->cfg->admin_key;
    size_t len = 0;
    const char *given = secret(c->req, &len);
    char msg[256];

    if (!key) {
        snprintf(msg, sizeof(msg),
                 "The admin API is off: start the controller with its admin key in the "
                 "environment variable %s.",
                 c->api->cfg->admin_key_env);
        send_error(c, 403, "permission_error", "admin_disabled", NULL, msg);
        return false;
    }
    if (!given || !sl_sha256_secret_equal(given, len, key)) {
        send_error(c, 401, "invalid_request_error", "invalid_api_key", NULL,
                   "The admin API needs the admin key as a Bearer token.");
        return false;
    }
    return true;
}

/* The request body as a JSON object; NULL after answering 400. The caller deletes it. */
static cJSON *json_body(struct call *c)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(c->req);
    size_t n = evbuffer_get_length(in);
    const char *text = n ? (const char *)evbuffer_pullup(in, -1) : NULL;
    cJSON *root = text ? cJSON_ParseWithLength(text, n) : NULL;

    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        bad_request(c, NULL, "The request body must be a JSON object.");
        return NULL;
    }
    return root;
}

/* An optional whole number in [min, max] from text (a query parameter); false when bad. */
static bool parse_whole(const char *text, long long min, long long max, long long *out)
{
    char *end;
    long long v;

    if (!text || !*text)
        return false;
    v = strtoll(text, &end, 10);
    if (*end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* The optional query parameter "limit" into *limit; false after answering 400. */
static bool get_limit(struct call *c, int *limit)
{
    const char *s = evhttp_find_header(&c->query, "limit");
    long long v = DEFAULT_LIMIT;

    if (s && !parse_whole(s, 1, MAX_LIMIT, &v)) {
        bad_request(c, "limit", "'limit' must be a whole number from 1 to 1000.");
        return false;
    }
    *limit = (int)v;
    return true;
}

/* A JSON member that must be a whole number >= 1 when present; false after answering 400. */
static bool get_version(struct call *c, const cJSON *body, const char *name, bool required,
                        int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, name);
    char msg[128];

    if ((!v || cJSON_IsNull(v)) && !required)
        return true;
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 9e15 ||
        v->valuedouble != floor(v->valuedouble)) {
        snprintf(msg, sizeof(msg), "'%s' must be a version number (a whole number >= 1).", name);
        bad_request(c, name, msg);
        return false;
    }
    *out = (int64_t)v->valuedouble;
    return true;
}

/* A string member that must be non-empty when present (*out stays when absent); false after
 * answering 400. */
static bool get_string(struct call *c, const cJSON *body, const char *name, size_t max,
                       const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, name);
    char msg[128];

    if (!v || cJSON_IsNull(v))
        return true;
    if (!cJSON_IsString(v) || !v->valuestring[0] || strlen(v->valuestring) > max) {
        snprintf(msg, sizeof(msg), "'%s' must be a string of 1 to %zu characters.", name, max);
        bad_request(c, name, msg);
        return false;
    }
    *out = v->valuestring;
    return true;
}

/* "author" and "reason", with their defaults; false after answering 400. */
static bool get_who(struct call *c, const cJSON *body, const char **author, const char **reason)
{
    *author = "admin";
    return get_string(c, body, "author", MAX_AUTHOR, author) &&
           get_string(c, body, "reason", MAX_REASON, reason);
}

/* ---- changes ---- */

/* Answers a commit that failed with rc (not 0), err its message. */
static void reply_commit_error(struct call *c, int rc, const char *err)
{
    switch (rc) {
    case SL_EINVAL: /* the new document does not validate */
        send_error(c, 400, "invalid_request_error", "invalid_document", NULL, err);
        break;
    case SL_EPARSE: /* an edit refused the request itself */
        send_error(c, 400, "invalid_request_error", "invalid_request", NULL, err);
        break;
    case SL_EAGAIN:
        send_error(c, 409, "invalid_request_error", "conflict", NULL, err);
        break;
    case SL_ENOTFOUND:
        not_found(c, err);
        break;
    default:
        internal_error(c, err[0] ? err : "The version could not be stored.");
    }
}

/* Answers a commit's outcome, and has the bus publish a new version. */
static void reply_change(struct call *c, int rc, struct sl_versions_change *ch, const char *err)
{
    cJSON *out;

    if (rc) {
        reply_commit_error(c, rc, err);
    } else {
        out = cJSON_CreateObject();
        cJSON_AddNumberToObject(out, "version", (double)ch->version);
        if (ch->unchanged) {
            cJSON_AddTrueToObject(out, "unchanged");
            send_json(c, 200, out);
        } else {
            cJSON_AddItemToObject(out, "diff", ch->diff);
            ch->diff = NULL;
            if (c->api->bus)
                sl_bus_publish(c->api->bus);
            send_json(c, 201, out);
        }
    }
    cJSON_Delete(ch->diff);
    ch->diff = NULL;
}

/* The route called name in doc's routes, or NULL with a message in err. */
static cJSON *doc_route(cJSON *doc, const char *name, char *err, size_t errlen)
{
    cJSON *r =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "routes"), name);

    if (!cJSON_IsObject(r))
        snprintf(err, errlen, "The current version has no route called \"%s\".", name);
    return cJSON_IsObject(r) ? r : NULL;
}

/* Sets obj[name] to a copy of v (NULL: removes it). */
static void set_member(cJSON *obj, const char *name, const cJSON *v)
{
    cJSON_DeleteItemFromObjectCaseSensitive(obj, name);
    if (v) {
        cJSON *copy = cJSON_Duplicate(v, 1);
        if (!copy)
            abort();
        cJSON_AddItemToObject(obj, name, copy);
    }
}

/* The arm called name in route's "ab", or NULL with a message in err. */
static cJSON *find_arm(cJSON *route, const char *route_name, const char *name, char *err,
                       size_t errlen)
{
    cJSON *ab = cJSON_GetObjectItemCaseSensitive(route, "ab"), *arm;

    if (!ab) {
        snprintf(err, errlen, "Route \"%s\" has no A/B split.", route_name);
        return NULL;
    }
    cJSON_ArrayForEach(arm, cJSON_GetObjectItemCaseSensitive(ab, "arms"))
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(arm, "name");
        if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
            return arm;
    }
    snprintf(err, errlen, "Route \"%s\"'s A/B split has no arm called \"%s\".", route_name, name);
    return NULL;
}

/* What a route endpoint asks of sl_versions_update. The edits return SL_ENOTFOUND for a route
 * or arm that is not there, SL_EAGAIN for a change that conflicts with the route's state and
 * SL_EPARSE for a request they refuse, with a message in err. */
struct route_edit {
    const char *route;
    const cJSON *body; /* the request */
};

static int edit_canary(void *ctx, cJSON *doc, const struct sl_config *cfg, char *err, size_t errlen)
{
    const struct route_edit *e = ctx;
    const cJSON *clf = cJSON_GetObjectItemCaseSensitive(e->body, "classifier");
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(e->body, "weight");
    const cJSON *sticky = cJSON_GetObjectItemCaseSensitive(e->body, "sticky");
    const cJSON *thr = cJSON_GetObjectItemCaseSensitive(e->body, "thresholds");
    cJSON *route = doc_route(doc, e->route, err, errlen), *ab, *arms, *arm;
    char name[32];

    if (!route)
        return SL_ENOTFOUND;
    if (cJSON_GetObjectItemCaseSensitive(route, "ab")) {
        snprintf(err, errlen, "Route \"%s\" has an A/B split already: stop or promote it first.",
                 e->route);
        return SL_EAGAIN;
    }
    snprintf(name, sizeof(name), "canary-%.8s", clf->valuestring + 7);
    ab = cJSON_AddObjectToObject(route, "ab");
    cJSON_AddStringToObject(ab, "name", name);
    cJSON_AddStringToObject(ab, "sticky", cJSON_IsString(sticky) ? sticky->valuestring : "key");
    arms = cJSON_AddArrayToObject(ab, "arms");
    arm = cJSON_CreateObject();
    cJSON_AddStringToObject(arm, "name", "control");
    cJSON_AddNumberToObject(arm, "weight", 1 - w->valuedouble);
    cJSON_AddItemToArray(arms, arm);
    arm = cJSON_CreateObject();
    cJSON_AddStringToObject(arm, "name", "canary");
    cJSON_AddNumberToObject(arm, "weight", w->valuedouble);
    cJSON_AddStringToObject(arm, "classifier", clf->valuestring);
    if (thr && !cJSON_IsNull(thr))
        set_member(arm, "thresholds", thr);
    cJSON_AddItemToArray(arms, arm);
    return 0;
}

static int edit_promote(void *ctx, cJSON *doc, const struct sl_config *cfg, char *err,
                        size_t errlen)
{
    const struct route_edit *e = ctx;
    const cJSON *arm_name = cJSON_GetObjectItemCaseSensitive(e->body, "arm");
    cJSON *route = doc_route(doc, e->route, err, errlen), *arm, *tiers, *t;

    if (!route)
        return SL_ENOTFOUND;
    if (!cJSON_IsString(arm_name)) {
        /* a registered classifier, straight in: its spec hash was checked at registration */
        set_member(route, "classifier", cJSON_GetObjectItemCaseSensitive(e->body, "classifier"));
        set_member(route, "thresholds", cJSON_GetObjectItemCaseSensitive(e->body, "thresholds"));
        set_member(route, "ab", NULL);
        return 0;
    }
    if (!(arm = find_arm(route, e->route, arm_name->valuestring, err, errlen)))
        return SL_ENOTFOUND;
    if (cJSON_GetObjectItemCaseSensitive(arm, "model")) {
        snprintf(err, errlen,
                 "Arm \"%s\" sends every call to one model, unrouted; a route cannot become "
                 "that. Stop the split (POST /admin/routes/%s/ab/stop) and change the route's "
                 "tiers with PUT /admin/config instead.",
                 arm_name->valuestring, e->route);
        return SL_EPARSE;
    }
    if (cJSON_GetObjectItemCaseSensitive(arm, "classifier")) {
        set_member(route, "classifier", cJSON_GetObjectItemCaseSensitive(arm, "classifier"));
        /* an arm's classifier without thresholds used the classifier's own, and so will the
         * route */
        set_member(route, "thresholds", cJSON_GetObjectItemCaseSensitive(arm, "thresholds"));
    } else if (cJSON_GetObjectItemCaseSensitive(arm, "thresholds")) {
        set_member(route, "thresholds", cJSON_GetObjectItemCaseSensitive(arm, "thresholds"));
    }
    tiers = cJSON_GetObjectItemCaseSensitive(route, "tiers");
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(arm, "tiers"))
    {
        cJSON *rt;
        cJSON_ArrayForEach(rt, tiers)
        {
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(rt, "name");
            if (cJSON_IsString(n) && strcmp(n->valuestring, t->string) == 0)
                set_member(rt, "models", t);
        }
    }
    set_member(route, "ab", NULL);
    return 0;
}

static int edit_ab_stop(void *ctx, cJSON *doc, const struct sl_config *cfg, char *err,
                        size_t errlen)
{
    const struct route_edit *e = ctx;
    const cJSON *arm_name = cJSON_GetObjectItemCaseSensitive(e->body, "arm");
    cJSON *route = doc_route(doc, e->route, err, errlen), *arm, *arms;

    if (!route)
        return SL_ENOTFOUND;
    if (!(arm = find_arm(route, e->route, arm_name->valuestring, err, errlen)))
        return SL_ENOTFOUND;
    arms = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(route, "ab"), "arms");
    cJSON_Delete(cJSON_DetachItemViaPointer(arms, arm));
    if (cJSON_GetArraySize(arms) < 2) /* one arm is no split */
        set_member(route, "ab", NULL);
    return 0;
}

static int edit_ab_set(void *ctx, cJSON *doc, const struct sl_config *cfg, char *err, size_t errlen)
{
    const struct route_edit *e = ctx;
    cJSON *route = doc_route(doc, e->route, err, errlen), *ab;

    if (!route)
        return SL_ENOTFOUND;
    set_member(route, "ab", e->body);
    ab = cJSON_GetObjectItemCaseSensitive(route, "ab");
    cJSON_DeleteItemFromObjectCaseSensitive(ab, "author"); /* the request's, not the split's */
    cJSON_DeleteItemFromObjectCaseSensitive(ab, "reason");
    return 0;
}

/* ---- endpoints ---- */

static void health(struct call *c)
{
    cJSON *out = cJSON_CreateObject();

    cJSON_AddStringToObject(out, "status", "ok");
    cJSON_AddNumberToObject(out, "version", (double)sl_versions_current(c->api->vs, NULL));
    send_json(c, 200, out);
}

static void get_config(struct call *c)
{
    cJSON *doc = NULL, *out = cJSON_CreateObject();
    int64_t v = sl_versions_current(c->api->vs, &doc);

    cJSON_AddNumberToObject(out, "version", (double)v);
    cJSON_AddItemToObject(out, "document", doc);
    send_json(c, 200, out);
}

static void put_config(struct call *c, const cJSON *body)
{
    const cJSON *doc = cJSON_GetObjectItemCaseSensitive(body, "document");
    const char *author, *reason = "configuration replaced";
    struct sl_versions_change ch;
    int64_t base = 0;
    char err[1024] = "";
    int rc;

    if (!cJSON_IsObject(doc))
        return bad_request(c, "document",
                           "'document' is required: {\"routes\": {...}, \"fallbacks\": {...}}.");
    if (!get_who(c, body, &author, &reason) || !get_version(c, body, "base_version", false, &base))
        return;
    rc = sl_versions_commit(c->api->vs, doc, author, reason, base, &ch, err, sizeof(err));
    reply_change(c, rc, &ch, err);
}

static void list_versions(struct call *c)
{
    int limit;

    if (get_limit(c, &limit))
        send_list(c, sl_versions_list_json(c->api->vs, limit));
}

static void get_one_version(struct call *c, const char *id)
{
    struct sl_versions_entry e;
    long long v = 0;
    cJSON *out;
    int rc;

    if (!parse_whole(id, 1, (long long)9e15, &v))
        return not_found(c, "A version is a whole number >= 1: /admin/versions/N.");
    rc = sl_versions_get(c->api->vs, v, true, &e);
    if (rc == SL_ENOTFOUND)
        return not_found(c, "No such version.");
    if (rc)
        return internal_error(c, "control.db cannot be read.");
    out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "version", (double)e.version);
    cJSON_AddStringToObject(out, "author", e.author);
    cJSON_AddNumberToObject(out, "created_us", (double)e.created_us);
    cJSON_AddStringToObject(out, "reason", e.reason);
    cJSON_AddItemToObject(out, "diff", e.diff);
    cJSON_AddItemToObject(out, "document", e.document);
    e.diff = e.document = NULL;
    sl_versions_entry_free(&e);
    send_json(c, 200, out);
}

static void rollback(struct call *c, const cJSON *body)
{
    struct sl_versions_entry e;
    struct sl_versions_change ch;
    const char *author, *reason = NULL;
    char err[1024] = "", why[64];
    int64_t v = 0;
    int rc;

    if (!get_version(c, body, "version", true, &v) || !get_who(c, body, &author, &reason))
        return;
    rc = sl_versions_get(c->api->vs, v, true, &e);
    if (rc == SL_ENOTFOUND)
        return not_found(c, "No such version.");
    if (rc)
        return internal_error(c, "control.db cannot be read.");
    /* routes and fallbacks only: without "accounts" the commit keeps today's teams and keys,
     * where the old ones would bring back revoked keys and cut off the keys made since */
    cJSON_DeleteItemFromObjectCaseSensitive(e.document, "accounts");
    snprintf(why, sizeof(why), "rollback to version %lld", (long long)v);
    rc = sl_versions_commit(c->api->vs, e.document, author, reason ? reason : why, 0, &ch, err,
                            sizeof(err));
    sl_versions_entry_free(&e);
    reply_change(c, rc, &ch, err);
}

static void rollout(struct call *c)
{
    const char *q = evhttp_find_header(&c->query, "version");
    int64_t current = sl_versions_current(c->api->vs, NULL);
    long long v = current;
    struct sl_versions_entry e;
    bool complete = true;
    cJSON *out, *proxies;
    int rc;

    if (q && !parse_whole(q, 1, (long long)9e15, &v))
        return bad_request(c, "version", "'version' must be a version number.");
    rc = sl_versions_get(c->api->vs, v, false, &e);
    if (rc == SL_ENOTFOUND)
        return not_found(c, "No such version.");
    if (rc)
        return internal_error(c, "control.db cannot be read.");
    proxies = c->api->bus ? sl_bus_rollout_json(c->api->bus, v, e.created_us, &complete)
                          : cJSON_CreateArray();
    out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "version", (double)v);
    cJSON_AddNumberToObject(out, "current", (double)current);
    cJSON_AddNumberToObject(out, "created_us", (double)e.created_us);
    cJSON_AddItemToObject(out, "proxies", proxies);
    cJSON_AddBoolToObject(out, "complete", complete);
    sl_versions_entry_free(&e);
    send_json(c, 200, out);
}

static void register_classifier(struct call *c)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(c->req);
    size_t n = evbuffer_get_length(in);
    const char *body = n ? (const char *)evbuffer_pullup(in, -1) : NULL;
    const char *note = evhttp_find_header(&c->query, "note");
    char id[SL_VERSIONS_ID_LEN], err[1024] = "";
    bool existed = false;
    cJSON *out;
    int rc;

    if (!body)
        return bad_request(c, NULL,
                           "The body must be a classifier artifact (sluice-trainer's "
                           "JSON).");
    rc = sl_versions_register_classifier(c->api->vs, body, n, note, id, &existed, err, sizeof(err));
    if (rc == SL_EINVAL)
        return send_error(c, 400, "invalid_request_error", "invalid_classifier", NULL, err);
    if (rc)
        return internal_error(c, err[0] ? err : "The classifier could not be stored.");
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "id", id);
    cJSON_AddStringToObject(out, "feature_spec_hash", sl_features_spec_hash());
    if (existed)
        cJSON_AddTrueToObject(out, "existing");
    send_json(c, existed ? 200 : 201, out);
}

static void list_classifiers(struct call *c)
{
    send_list(c, sl_versions_classifiers_json(c->api->vs));
}

static void get_classifier(struct call *c, const char *id)
{
    char *body = NULL;
    size_t len = 0;
    int rc = sl_versions_classifier_body(c->api->vs, id, &body, &len);

    if (rc == SL_ENOTFOUND)
        not_found(c, "No classifier is registered with that id.");
    else if (rc)
        internal_error(c, "control.db cannot be read.");
    else
        send_body(c, 200, "application/json", body, len);
    free(body);
}

static void route_classifier(struct call *c, const char *route)
{
    char *body = NULL, err[1024] = "";
    size_t len = 0;
    int rc = sl_versions_route_classifier(c->api->vs, route, &body, &len, err, sizeof(err));

    if (rc == SL_ENOTFOUND)
        not_found(c, err);
    else if (rc)
        internal_error(c, err);
    else
        send_body(c, 200, "application/json", body, len);
    free(body);
}

/* Whether v is a registered-classifier reference; answers 400 when not. */
static bool check_classifier_ref(struct call *c, const cJSON *v)
{
    if (cJSON_IsString(v) && strncmp(v->valuestring, "sha256:", 7) == 0 &&
        strlen(v->valuestring) == 7 + 64)
        return true;
    bad_request(c, "classifier",
                "'classifier' must be a registered classifier's id, \"sha256:\" and 64 hex "
                "digits (see POST /admin/classifiers).");
    return false;
}

/* POST canary, promote, ab/stop and PUT ab on route. */
static void route_change(struct call *c, const char *route, const char *action, cJSON *body)
{
    struct route_edit e = {.route = route, .body = body};
    struct sl_versions_change ch;
    sl_versions_edit_fn fn;
    const char *author, *reason = NULL;
    char why[512], err[1024] = "";
    int rc;

    if (!get_who(c, body, &author, &reason))
        return;
    if (strcmp(action, "canary") == 0) {
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(body, "weight");
        const cJSON *sticky = cJSON_GetObjectItemCaseSensitive(body, "sticky");
        if (!check_classifier_ref(c, cJSON_GetObjectItemCaseSensitive(body, "classifier")))
            return;
        if (!cJSON_IsNumber(w) || !(w->valuedouble > 0 && w->valuedouble < 1))
            return bad_request(c, "weight",
                               "'weight' must be the canary's share of calls, between 0 and 1.");
        if (sticky && !cJSON_IsString(sticky))
            return bad_request(c, "sticky",
                               "'sticky' must be \"key\", \"user\" or "
                               "\"header:NAME\".");
        fn = edit_canary;
        snprintf(why, sizeof(why), "canary of %.20s... on %s at %g",
                 cJSON_GetObjectItemCaseSensitive(body, "classifier")->valuestring, route,
                 w->valuedouble);
    } else if (strcmp(action, "promote") == 0) {
        const cJSON *arm = cJSON_GetObjectItemCaseSensitive(body, "arm");
        const cJSON *clf = cJSON_GetObjectItemCaseSensitive(body, "classifier");
        if (arm && !cJSON_IsString(arm))
            return bad_request(c, "arm", "'arm' must be the name of one of the route's arms.");
        if (!arm && !clf)
            return bad_request(c, NULL,
                               "Give 'arm' (an arm of the route's A/B split) or "
                               "'classifier' (a registered classifier).");
        if (!arm && !check_classifier_ref(c, clf))
            return;
        fn = edit_promote;
        snprintf(why, sizeof(why), "promote %s %.80s on %s", arm ? "arm" : "classifier",
                 arm ? arm->valuestring : clf->valuestring, route);
    } else if (strcmp(action, "stop") == 0) {
        const cJSON *arm = cJSON_GetObjectItemCaseSensitive(body, "arm");
        if (!cJSON_IsString(arm))
            return bad_request(c, "arm", "'arm' is required: the arm to stop.");
        fn = edit_ab_stop;
        snprintf(why, sizeof(why), "stop arm %.80s of %s's A/B split", arm->valuestring, route);
    } else {
        fn = edit_ab_set;
        snprintf(why, sizeof(why), "set %s's A/B split", route);
    }
    rc = sl_versions_update(c->api->vs, fn, &e, author, reason ? reason : why, &ch, err,
                            sizeof(err));
    reply_change(c, rc, &ch, err);
}

/* ---- teams and keys ---- */

/* The same requests and answers as the proxy's own admin API (proxy/admin.c), so that
 * sluicectl keys and teams work against either; each change is a version whose "accounts"
 * every following proxy takes. A key's secret is answered once and goes nowhere else: the
 * version holds its SHA-256 digest. */

/* doc's accounts.NAME ("teams" or "keys"), or NULL. */
static cJSON *accounts_get(const cJSON *doc, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "accounts"),
                                            name);
}

/* doc's accounts.NAME, made when absent. */
static cJSON *accounts_member(cJSON *doc, const char *name)
{
    cJSON *acc = cJSON_GetObjectItemCaseSensitive(doc, "accounts"), *m;

    if (!cJSON_IsObject(acc)) {
        cJSON_DeleteItemFromObjectCaseSensitive(doc, "accounts");
        acc = cJSON_AddObjectToObject(doc, "accounts");
    }
    m = cJSON_GetObjectItemCaseSensitive(acc, name);
    if (!cJSON_IsObject(m)) {
        cJSON_DeleteItemFromObjectCaseSensitive(acc, name);
        m = cJSON_AddObjectToObject(acc, name);
    }
    if (!m)
        abort(); /* out of memory */
    return m;
}

/* Sets obj[name] to item (taken), where a member of that name was, else at the end. */
static void put_member(cJSON *obj, const char *name, cJSON *item)
{
    if (!item)
        abort(); /* out of memory */
    if (cJSON_GetObjectItemCaseSensitive(obj, name))
        cJSON_ReplaceItemInObjectCaseSensitive(obj, name, item);
    else
        cJSON_AddItemToObject(obj, name, item);
}

static int edit_set_team(void *ctx, cJSON *doc, const struct sl_config *cfg, char *err,
                         size_t errlen)
{
    const struct sl_team_settings *t = ctx;

    put_member(accounts_member(doc, "teams"), t->name, sl_teams_team_json(t, true));
    return 0;
}

static int edit_create_key(void *ctx, cJSON *doc, const struct sl_config *cfg, char *err,
                           size_t errlen)
{
    const struct sl_key_settings *k = ctx;
    cJSON *keys;

    if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(accounts_get(doc, "teams"), k->team))) {
        snprintf(err, errlen, "team: no team called '%s'", k->team);
        return SL_ENOTFOUND;
    }
    keys = accounts_member(doc, "keys");
    if (cJSON_GetObjectItemCaseSensitive(keys, k->id)) { /* 64 random bits: never, in practice */
        snprintf(err, errlen, "The new key's id %s is taken: try again.", k->id);
        return SL_EAGAIN;
    }
    cJSON_AddItemToObject(keys, k->id, sl_teams_key_json(k, true));
    return 0;
}

/* A revocation: the key's id and the time; the key as it stands afterwards comes back. */
struct revoke_edit {
    const char *id;
    int64_t now; /* Unix s */
    struct sl_key_settings key;
};

static int edit_revoke_key(void *ctx, cJSON *doc, const struct sl_config *cfg, char *err,
                           size_t errlen)
{
    struct revoke_edit *e = ctx;
    cJSON *k = cJSON_GetObjectItemCaseSensitive(accounts_get(doc, "keys"), e->id);
    char kerr[256];
    struct sl_jsonconf ld = {.err = kerr, .errlen = sizeof(kerr)};

    if (!cJSON_IsObject(k)) {
        snprintf(err, errlen, "no key with id '%.64s'", e->id);
        return SL_ENOTFOUND;
    }
    /* revoking twice is harmless: the first time stands, and nothing is committed */
    if (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(k, "revoked")))
        put_member(k, "revoked", cJSON_CreateNumber((double)e->now));
    sl_teams_read_key(&ld, k, "key", e->id, &e->key); /* as the version holds it: valid */
    return 0;
}

/* Answers an accounts change: desc (taken; NULL unless rc is 0) plus "version" with status,
 * or the error, a missing team or key as 404 code (param names the member at fault). */
static void reply_account(struct call *c, int rc, struct sl_versions_change *ch, const char *err,
                          int status, cJSON *desc, const char *code, const char *param)
{
    if (rc == 0) {
        cJSON_AddNumberToObject(desc, "version", (double)ch->version);
        if (!ch->unchanged && c->api->bus)
            sl_bus_publish(c->api->bus);
        send_json(c, status, desc);
    } else if (rc == SL_ENOTFOUND) {
        send_error(c, 404, "invalid_request_error", code, param, err);
    } else {
        reply_commit_error(c, rc, err);
    }
    cJSON_Delete(ch->diff);
    ch->diff = NULL;
}

/* A team's description with, when proxies reported it (s is the team's member of
 * sl_bus_spend_json, or NULL), its spending in its latest period over every proxy, as the
 * proxy's API names it. */
static cJSON *team_description(const struct sl_team_settings *t, const cJSON *s)
{
    cJSON *desc = sl_teams_team_json(t, false);

    if (s) {
        cJSON_AddNumberToObject(desc, "spent_usd",
                                cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(s, "usd")));
        cJSON_AddNumberToObject(desc, "period_start",
                                cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(s, "since")));
    }
    return desc;
}

/* Reads a request body's members with the shared readers; false (after answering 400) when
 * one is wrong. */
static bool body_ok(struct call *c, const struct sl_jsonconf *ld)
{
    if (!ld->failed)
        return true;
    bad_request(c, NULL, ld->err);
    return false;
}

static void set_team(struct call *c, const cJSON *body)
{
    static const char *const keys[] = {"name",   "limits", "budget", "log_payloads",
                                       "author", "reason", NULL};
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "name"));
    const char *author, *reason = NULL;
    struct sl_team_settings t = {0};
    struct sl_versions_change ch;
    char err[1024] = "", why[128];
    struct sl_jsonconf ld = {.err = err, .errlen = sizeof(err)};
    cJSON *spend = NULL;
    int rc;

    if (!name || !sl_teams_valid_name(name))
        return bad_request(c, "name",
                           "'name' is required: 1 to 63 characters of A-Z a-z 0-9 . _ -");
    snprintf(t.name, sizeof(t.name), "%s", name);
    sl_jsonconf_check_keys(&ld, body, "", keys);
    sl_teams_read_team(&ld, body, "", &t);
    if (!body_ok(c, &ld) || !get_who(c, body, &author, &reason))
        return;
    snprintf(why, sizeof(why), "team %s set", t.name);
    rc = sl_versions_update(c->api->vs, edit_set_team, &t, author, reason ? reason : why, &ch, err,
                            sizeof(err));
    if (rc == 0 && c->api->bus)
        spend = sl_bus_spend_json(c->api->bus);
    reply_account(c, rc, &ch, err, 200,
                  rc ? NULL : team_description(&t, cJSON_GetObjectItemCaseSensitive(spend, t.name)),
                  NULL, NULL);
    cJSON_Delete(spend);
}

static int cmp_member_name(const void *a, const void *b)
{
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* The current document's teams as {"data": [descriptions]}, in the document's order. Each
 * team's spending is found by binary search in the members sorted by name: a cJSON lookup per
 * team would be O(teams^2) for the call. */
static void list_teams(struct call *c)
{
    cJSON *doc = NULL, *data = cJSON_CreateArray();
    cJSON *spend = c->api->bus ? sl_bus_spend_json(c->api->bus) : NULL;
    size_t n = (size_t)cJSON_GetArraySize(spend), at = 0; /* 0 for NULL */
    const cJSON **by_name = NULL, *it;

    if (n && !(by_name = malloc(n * sizeof(*by_name))))
        abort(); /* out of memory */
    cJSON_ArrayForEach(it, spend)
    {
        by_name[at++] = it;
    }
    if (n)
        qsort(by_name, n, sizeof(*by_name), cmp_member_name);
    sl_versions_current(c->api->vs, &doc);
    cJSON_ArrayForEach(it, accounts_get(doc, "teams"))
    {
        struct sl_team_settings t = {0};
        char err[256];
        struct sl_jsonconf ld = {.err = err, .errlen = sizeof(err)};
        const cJSON key = {.string = t.name}, *k = &key, **s;
        snprintf(t.name, sizeof(t.name), "%s", it->string);
        sl_teams_read_team(&ld, it, "", &t); /* a stored version is valid */
        s = n ? bsearch(&k, by_name, n, sizeof(*by_name), cmp_member_name) : NULL;
        cJSON_AddItemToArray(data, team_description(&t, s ? *s : NULL));
    }
    free(by_name);
    cJSON_Delete(doc);
    cJSON_Delete(spend);
    send_list(c, data);
}

static void create_key(struct call *c, const cJSON *body)
{
    static const char *const keys[] = {"team", "name", "limits", "author", "reason", NULL};
    const char *team = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "team"));
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(body, "name");
    const char *author, *reason = NULL;
    struct sl_key_settings k;
    struct sl_limits l;
    struct sl_versions_change ch;
    char secret[SL_KEY_SECRET_LEN + 1], err[1024] = "", why[256];
    struct sl_jsonconf ld = {.err = err, .errlen = sizeof(err)};
    cJSON *out = NULL;
    char *text, *shown;
    int rc;

    if (!team)
        return bad_request(c, "team", "'team' is required: the team the key belongs to.");
    if (!sl_teams_valid_name(team)) { /* no team has such a name (nor fits in a key's) */
        snprintf(err, sizeof(err), "team: no team called '%.64s'", team);
        return send_error(c, 404, "invalid_request_error", "team_not_found", "team", err);
    }
    if (!sl_teams_key_name_ok(name))
        return bad_request(c, "name", "'name' must be a string of at most 63 characters.");
    sl_jsonconf_check_keys(&ld, body, "", keys);
    sl_teams_read_limits(&ld, body, "", &l);
    if (!body_ok(c, &ld) || !get_who(c, body, &author, &reason))
        return;
    sl_teams_new_key(&k, team, cJSON_GetStringValue(name), &l, secret);
    snprintf(why, sizeof(why), "key %s created for team %s", k.id, k.team);
    rc = sl_versions_update(c->api->vs, edit_create_key, &k, author, reason ? reason : why, &ch,
                            err, sizeof(err));
    if (rc) {
        explicit_bzero(secret, sizeof(secret));
        return reply_account(c, rc, &ch, err, 201, NULL, "team_not_found", "team");
    }
    /* answered here rather than by reply_account, so that the copies of the secret made here
     * are wiped (evhttp's output buffer is beyond reach) */
    out = sl_teams_key_json(&k, false);
    cJSON_AddStringToObject(out, "key", secret); /* the only time it is shown */
    cJSON_AddNumberToObject(out, "version", (double)ch.version);
    explicit_bzero(secret, sizeof(secret));
    if (!(text = cJSON_PrintUnformatted(out)))
        abort(); /* out of memory */
    if (c->api->bus)
        sl_bus_publish(c->api->bus);
    send_body(c, 201, "application/json", text, strlen(text));
    explicit_bzero(text, strlen(text));
    cJSON_free(text);
    shown = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(out, "key"));
    explicit_bzero(shown, strlen(shown));
    cJSON_Delete(out);
    cJSON_Delete(ch.diff);
}

/* A key being listed, and its place in the document: keys are listed by creation time, then
 * in the document's order. */
struct listed_key {
    struct sl_key_settings k;
    size_t pos;
};

static int compare_keys(const void *a, const void *b)
{
    const struct listed_key *x = a, *y = b;

    if (x->k.created != y->k.created)
        return x->k.created < y->k.created ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* The current document's keys (team's only, unless NULL) as {"data": [descriptions]}, oldest
 * first. */
static void list_keys(struct call *c, const char *team)
{
    cJSON *doc = NULL, *data = cJSON_CreateArray();
    const cJSON *keys, *it;
    struct listed_key *all;
    size_t n = 0;

    sl_versions_current(c->api->vs, &doc);
    keys = accounts_get(doc, "keys");
    if (!(all = calloc((size_t)cJSON_GetArraySize(keys) + 1, sizeof(*all))))
        abort(); /* sized by the stored version, not by the request */
    cJSON_ArrayForEach(it, keys)
    {
        char err[256];
        struct sl_jsonconf ld = {.err = err, .errlen = sizeof(err)};
        sl_teams_read_key(&ld, it, "key", it->string, &all[n].k); /* a stored version is valid */
        if (!team || strcmp(all[n].k.team, team) == 0) {
            all[n].pos = n;
            n++;
        }
    }
    qsort(all, n, sizeof(*all), compare_keys);
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(data, sl_teams_key_json(&all[i].k, false));
    free(all);
    cJSON_Delete(doc);
    send_list(c, data);
}

static void revoke_key(struct call *c, const char *id)
{
    struct revoke_edit e = {.id = id, .now = sl_clock_wall_ms() / 1000};
    struct sl_versions_change ch;
    const char *author = "admin", *reason = NULL;
    char err[1024] = "", why[128];
    cJSON *body = NULL;
    int rc;

    /* "author" and "reason" may come in a body; a plain DELETE takes the defaults */
    if (evbuffer_get_length(evhttp_request_get_input_buffer(c->req)) > 0) {
        static const char *const keys[] = {"author", "reason", NULL};
        struct sl_jsonconf ld = {.err = err, .errlen = sizeof(err)};
        if (!(body = json_body(c)))
            return;
        sl_jsonconf_check_keys(&ld, body, "", keys);
        if (!body_ok(c, &ld) || !get_who(c, body, &author, &reason))
            goto out;
    }
    snprintf(why, sizeof(why), "key %.64s revoked", id);
    rc = sl_versions_update(c->api->vs, edit_revoke_key, &e, author, reason ? reason : why, &ch,
                            err, sizeof(err));
    reply_account(c, rc, &ch, err, 200, rc ? NULL : sl_teams_key_json(&e.key, false),
                  "key_not_found", NULL);
out:
    cJSON_Delete(body);
}

/* Whether key k may join keys: no other key has its id with another digest, nor its digest
 * under another id. SL_EAGAIN with the reason in err when one does. */
static int import_conflict(const cJSON *keys, const struct sl_key_settings *k, char *err,
                           size_t errlen)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, keys)
    {
        struct sl_key_settings have;
        char kerr[256];
        struct sl_jsonconf ld = {.err = kerr, .errlen = sizeof(kerr)};
        bool same_id = strcmp(it->string, k->id) == 0, same_digest;

        sl_teams_read_key(&ld, it, "key", it->string, &have); /* a stored version is valid */
        same_digest = memcmp(have.digest, k->digest, sizeof(k->digest)) == 0;
        if (same_id && !same_digest) {
            snprintf(err, errlen, "Key %s is there already with another sha256.", k->id);
            return SL_EAGAIN;
        }
        if (!same_id && same_digest) {
            snprintf(err, errlen, "Key %s has the same sha256 as key %s, there already.", k->id,
                     it->string);
            return SL_EAGAIN;
        }
    }
    return 0;
}

/* Sets every team of the import (ctx, a struct sl_teams_doc) and adds every key the document
 * lacks; a key already there with the same digest stays as it is (an import may be repeated),
 * one whose id or digest the document gives another key is refused SL_EAGAIN. */
static int edit_import(void *ctx, cJSON *doc, const struct sl_config *cfg, char *err, size_t errlen)
{
    const struct sl_teams_doc *d = ctx;
    cJSON *teams = accounts_member(doc, "teams"), *keys = accounts_member(doc, "keys");
    int rc;

    for (size_t i = 0; i < d->n_keys; i++)
        if ((rc = import_conflict(keys, &d->keys[i], err, errlen)) != 0)
            return rc;
    for (size_t i = 0; i < d->n_teams; i++)
        put_member(teams, d->teams[i].name, sl_teams_team_json(&d->teams[i], true));
    for (size_t i = 0; i < d->n_keys; i++) {
        const struct sl_key_settings *k = &d->keys[i];
        cJSON *have = cJSON_GetObjectItemCaseSensitive(keys, k->id);
        if (!have)
            cJSON_AddItemToObject(keys, k->id, sl_teams_key_json(k, true));
        else if (k->revoked && !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(have, "revoked")))
            put_member(have, "revoked", cJSON_CreateNumber((double)k->revoked)); /* stays so */
    }
    return 0;
}

/* POST /admin/keys/import: a proxy's teams and keys (sluicectl keys import reads its keys.db)
 * merged into the current accounts as one version. Answers 201 {"version", "teams", "keys"},
 * the counts the request carried, or 200 {"version", "unchanged": true}. */
static void import_keys(struct call *c, const cJSON *body)
{
    static const char *const keys[] = {"accounts", "author", "reason", NULL};
    const char *author, *reason = NULL;
    struct sl_teams_doc *d = NULL;
    struct sl_versions_change ch = {0};
    char err[1024] = "", why[128];
    struct sl_jsonconf ld = {.err = err, .errlen = sizeof(err)};
    cJSON *out;
    int rc;

    sl_jsonconf_check_keys(&ld, body, "", keys);
    if (!body_ok(c, &ld))
        return;
    d = sl_teams_read_doc(&ld, cJSON_GetObjectItemCaseSensitive(body, "accounts"), "accounts");
    if (!body_ok(c, &ld) || !get_who(c, body, &author, &reason))
        goto out;
    snprintf(why, sizeof(why), "%zu teams and %zu keys imported", d->n_teams, d->n_keys);
    rc = sl_versions_update(c->api->vs, edit_import, d, author, reason ? reason : why, &ch, err,
                            sizeof(err));
    if (rc) {
        reply_commit_error(c, rc, err);
        goto out;
    }
    out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "version", (double)ch.version);
    if (ch.unchanged) {
        cJSON_AddTrueToObject(out, "unchanged");
        send_json(c, 200, out);
    } else {
        cJSON_AddNumberToObject(out, "teams", (double)d->n_teams);
        cJSON_AddNumberToObject(out, "keys", (double)d->n_keys);
        if (c->api->bus)
            sl_bus_publish(c->api->bus);
        send_json(c, 201, out);
    }
out:
    cJSON_Delete(ch.diff);
    sl_teams_doc_destroy(d);
}

static void list_events(struct call *c)
{
    int limit;

    if (get_limit(c, &limit))
        send_list(c, sl_versions_events_json(c->api->vs, limit));
}

/* ---- dispatch ---- */

static bool seg_is(const struct call *c, int i, const char *s)
{
    return i < c->n_seg && strcmp(c->seg[i], s) == 0;
}

/* Requests under /admin/routes/NAME/. */
static void routes_dispatch(struct call *c)
{
    const char *name = c->seg[2];
    cJSON *body = NULL;

    if (c->n_seg == 4 && seg_is(c, 3, "classifier")) {
        if (allow(c, EVHTTP_REQ_GET, "GET"))
            route_classifier(c, name);
        return;
    }
    if (c->n_seg == 4 && (seg_is(c, 3, "canary") || seg_is(c, 3, "promote"))) {
        if (!allow(c, EVHTTP_REQ_POST, "POST") || !(body = json_body(c)))
            return;
        route_change(c, name, c->seg[3], body);
    } else if (c->n_seg == 5 && seg_is(c, 3, "ab") && seg_is(c, 4, "stop")) {
        if (!allow(c, EVHTTP_REQ_POST, "POST") || !(body = json_body(c)))
            return;
        route_change(c, name, "stop", body);
    } else if (c->n_seg == 4 && seg_is(c, 3, "ab")) {
        if (!allow(c, EVHTTP_REQ_PUT, "PUT") || !(body = json_body(c)))
            return;
        route_change(c, name, "ab", body);
    } else {
        return not_found(c, "A route serves GET classifier, POST canary, POST promote, POST "
                            "ab/stop and PUT ab.");
    }
    cJSON_Delete(body);
}

static void admin_dispatch(struct call *c)
{
    cJSON *body = NULL;

    if (!authorized(c))
        return;
    if (c->n_seg == 2 && seg_is(c, 1, "config")) {
        if (!allow(c, EVHTTP_REQ_GET | EVHTTP_REQ_PUT, "GET, PUT"))
            return;
        if (c->cmd == EVHTTP_REQ_PUT) {
            if ((body = json_body(c)))
                put_config(c, body);
        } else {
            get_config(c);
        }
    } else if (c->n_seg == 2 && seg_is(c, 1, "versions")) {
        if (allow(c, EVHTTP_REQ_GET, "GET"))
            list_versions(c);
    } else if (c->n_seg == 3 && seg_is(c, 1, "versions")) {
        if (allow(c, EVHTTP_REQ_GET, "GET"))
            get_one_version(c, c->seg[2]);
    } else if (c->n_seg == 2 && seg_is(c, 1, "rollback")) {
        if (allow(c, EVHTTP_REQ_POST, "POST") && (body = json_body(c)))
            rollback(c, body);
    } else if (c->n_seg == 2 && seg_is(c, 1, "rollout")) {
        if (allow(c, EVHTTP_REQ_GET, "GET"))
            rollout(c);
    } else if (c->n_seg == 2 && seg_is(c, 1, "classifiers")) {
        if (!allow(c, EVHTTP_REQ_GET | EVHTTP_REQ_POST, "GET, POST"))
            return;
        if (c->cmd == EVHTTP_REQ_POST)
            register_classifier(c);
        else
            list_classifiers(c);
    } else if (c->n_seg == 3 && seg_is(c, 1, "classifiers")) {
        if (allow(c, EVHTTP_REQ_GET, "GET"))
            get_classifier(c, c->seg[2]);
    } else if (c->n_seg >= 4 && seg_is(c, 1, "routes")) {
        routes_dispatch(c);
    } else if (c->n_seg == 2 && seg_is(c, 1, "events")) {
        if (allow(c, EVHTTP_REQ_GET, "GET"))
            list_events(c);
    } else if (c->n_seg == 2 && seg_is(c, 1, "teams")) {
        if (!allow(c, EVHTTP_REQ_GET | EVHTTP_REQ_POST, "GET, POST"))
            return;
        if (c->cmd == EVHTTP_REQ_POST) {
            if ((body = json_body(c)))
                set_team(c, body);
        } else {
            list_teams(c);
        }
    } else if (c->n_seg == 2 && seg_is(c, 1, "keys")) {
        if (!allow(c, EVHTTP_REQ_GET | EVHTTP_REQ_POST, "GET, POST"))
            return;
        if (c->cmd == EVHTTP_REQ_POST) {
            if ((body = json_body(c)))
                create_key(c, body);
        } else {
            list_keys(c, evhttp_find_header(&c->query, "team"));
        }
    } else if (c->n_seg == 3 && seg_is(c, 1, "keys") && seg_is(c, 2, "import")) {
        if (allow(c, EVHTTP_REQ_POST, "POST") && (body = json_body(c)))
            import_keys(c, body);
    } else if (c->n_seg == 3 && seg_is(c, 1, "keys")) {
        if (allow(c, EVHTTP_REQ_DELETE, "DELETE"))
            revoke_key(c, c->seg[2]);
    } else {
        not_found(c, "Unknown path. The admin API serves /admin/config, /admin/versions, "
                     "/admin/rollback, /admin/rollout, /admin/classifiers, /admin/routes/NAME/..., "
                     "/admin/events, /admin/teams, /admin/keys and /admin/keys/ID.");
    }
    cJSON_Delete(body);
}

/* Splits the path into decoded segments; false when it has too many, or one decodes to
 * nothing. */
static bool split_path(struct call *c, const char *path)
{
    for (const char *p = path + strspn(path, "/"); *p; p += strspn(p, "/")) {
        size_t n = strcspn(p, "/");
        char *raw;

        if (c->n_seg == MAX_SEGMENTS || !(raw = strndup(p, n)))
            return false;
        c->seg[c->n_seg] = evhttp_uridecode(raw, 0, NULL);
        free(raw);
        if (!c->seg[c->n_seg])
            return false;
        if (!c->seg[c->n_seg++][0])
            return false; /* "%00": freed with the others */
        p += n;
    }
    return true;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct call c = {.api = arg, .req = req, .cmd = evhttp_request_get_command(req)};
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;

    TAILQ_INIT(&c.query);
    if (query && evhttp_parse_query_str(query, &c.query)) {
        bad_request(&c, NULL, "The query string is malformed.");
        goto out;
    }
    if (!path || !split_path(&c, path)) {
        not_found(&c, "Unknown path.");
        goto out;
    }
    if (c.n_seg == 1 && seg_is(&c, 0, "health")) {
        if (allow(&c, EVHTTP_REQ_GET, "GET"))
            health(&c);
    } else if (seg_is(&c, 0, "admin")) {
        admin_dispatch(&c);
    } else {
        not_found(&c, "Unknown path. The controller serves /health and /admin/.");
    }
out:
    evhttp_clear_headers(&c.query);
    for (int i = 0; i < c.n_seg; i++)
        free(c.seg[i]);
}

/* ---- life cycle ---- */

struct sl_api *sl_api_create(struct event_base *base, const struct sl_ctrlconf *cfg,
                             struct sl_versions *vs, struct sl_bus *bus, char *err, size_t errlen)
{
    struct sl_api *api = calloc(1, sizeof(*api));
    struct evhttp_bound_socket *sock;

    if (!api)
        abort();
    api->cfg = cfg;
    api->vs = vs;
    api->bus = bus;
    if (!(api->http = evhttp_new(base))) {
        snprintf(err, errlen, "cannot create the HTTP server");
        goto fail;
    }
    /* every method reaches on_request, which answers 405 itself (evhttp would say 501) */
    evhttp_set_allowed_methods(api->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                              EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                              EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_max_body_size(api->http, SL_API_MAX_BODY);
    evhttp_set_gencb(api->http, on_request, api);
    sock =
        evhttp_bind_socket_with_handle(api->http, cfg->listen_host, (ev_uint16_t)cfg->listen_port);
    if (!sock) {
        snprintf(err, errlen, "%s: listen: cannot bind %s:%d", cfg->path, cfg->listen_host,
                 cfg->listen_port);
        goto fail;
    }
    if ((api->port = sl_portfile_bound(evhttp_bound_socket_get_fd(sock))) < 0) {
        snprintf(err, errlen, "cannot read the bound port");
        goto fail;
    }
    return api;
fail:
    sl_api_destroy(api);
    return NULL;
}

int sl_api_port(const struct sl_api *api)
{
    return api->port;
}

void sl_api_destroy(struct sl_api *api)
{
    if (!api)
        return;
    if (api->http)
        evhttp_free(api->http);
    free(api);
}
