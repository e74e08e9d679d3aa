/* The admin API: teams and virtual keys, authenticated with the admin key from the
 * environment. Changes are written to keys.db in the calling worker: admin calls are rare,
 * and a change is acknowledged only once it is on disk. */
#include "admin.h"
#include "accounts.h"
#include "server.h"

#define SL_LOG_MODULE "admin"
#include "log.h"
#include "sha256.h"

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static void bad_request(struct sl_worker *w, struct evhttp_request *req, const char *param,
                        const char *message)
{
    sl_server_error(w, req, NULL, 400, "invalid_request_error", "invalid_request", param, message);
}

static void send_json(struct sl_worker *w, struct evhttp_request *req, int status, cJSON *doc)
{
    char *text = cJSON_PrintUnformatted(doc);
    struct evbuffer *body = evbuffer_new();

    if (!text || !body) {
        sl_server_error(w, req, NULL, 500, "server_error", "internal_error", NULL,
                        "Out of memory.");
    } else {
        evbuffer_add(body, text, strlen(text));
        evbuffer_add(body, "\n", 1);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "application/json");
        sl_server_send(w, req, status, body);
    }
    if (body)
        evbuffer_free(body);
    cJSON_free(text);
    cJSON_Delete(doc);
}

/* Reads an optional whole number >= 0 member into *out; false (after answering) when bad. */
static bool get_count(struct sl_worker *w, struct evhttp_request *req, const cJSON *obj,
                      const char *name, const char *param, long *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    char msg[160];

    if (!v || cJSON_IsNull(v))
        return true;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e12 ||
        v->valuedouble != floor(v->valuedouble)) {
        snprintf(msg, sizeof(msg), "'%s' must be a whole number >= 0 (0: no limit).", param);
        bad_request(w, req, param, msg);
        return false;
    }
    *out = (long)v->valuedouble;
    return true;
}

static bool get_limits(struct sl_worker *w, struct evhttp_request *req, const cJSON *root,
                       struct sl_limits *l)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, "limits");

    *l = (struct sl_limits){0};
    if (!o || cJSON_IsNull(o))
        return true;
    if (!cJSON_IsObject(o)) {
        bad_request(w, req, "limits", "'limits' must be an object: {rpm, tpm, concurrency}.");
        return false;
    }
    return get_count(w, req, o, "rpm", "limits.rpm", &l->rpm) &&
           get_count(w, req, o, "tpm", "limits.tpm", &l->tpm) &&
           get_count(w, req, o, "concurrency", "limits.concurrency", &l->concurrency);
}

static const char *get_str(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void set_team(struct sl_worker *w, struct evhttp_request *req, const cJSON *root)
{
    struct sl_team_settings t = {
        .name = get_str(root, "name"), .warn_at = 0.8, .period = SL_PERIOD_MONTH};
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(root, "budget");
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(root, "log_payloads");
    cJSON *out = NULL;
    char err[256];
    int rc;

    if (!t.name)
        return bad_request(w, req, "name", "'name' is required: the team's name.");
    if (!get_limits(w, req, root, &t.limits))
        return;
    if (b && !cJSON_IsNull(b)) {
        const cJSON *usd = cJSON_GetObjectItemCaseSensitive(b, "usd");
        const cJSON *warn = cJSON_GetObjectItemCaseSensitive(b, "warn_at");
        const char *period = get_str(b, "period");
        if (!cJSON_IsObject(b) || !cJSON_IsNumber(usd) || !(usd->valuedouble > 0))
            return bad_request(w, req, "budget.usd",
                               "'budget' must be an object with 'usd' > 0 (and optionally "
                               "'period': day, week or month, and 'warn_at' in (0, 1]).");
        t.budget_usd = usd->valuedouble;
        if (period) {
            if (strcmp(period, "day") == 0)
                t.period = SL_PERIOD_DAY;
            else if (strcmp(period, "week") == 0)
                t.period = SL_PERIOD_WEEK;
            else if (strcmp(period, "month") == 0)
                t.period = SL_PERIOD_MONTH;
            else
                return bad_request(w, req, "budget.period",
                                   "'budget.period' must be day, week or month.");
        }
        if (warn) {
            if (!cJSON_IsNumber(warn) || !(warn->valuedouble > 0 && warn->valuedouble <= 1))
                return bad_request(w, req, "budget.warn_at",
                                   "'budget.warn_at' must be a number in (0, 1].");
            t.warn_at = warn->valuedouble;
        }
    }
    if (lp && !cJSON_IsBool(lp))
        return bad_request(w, req, "log_payloads", "'log_payloads' must be true or false.");
    t.log_payloads = cJSON_IsTrue(lp);
    rc = sl_accounts_set_team(w->server->accounts, &t, &out, err, sizeof(err));
    if (rc == SL_EINVAL)
        return bad_request(w, req, "name",
                           "'name' must be 1 to 63 characters of A-Z a-z 0-9 . _ -");
    if (rc) {
        sl_error("set team %s: %s", t.name, err);
        return sl_server_error(w, req, NULL, 500, "server_error", "internal_error", NULL, err);
    }
    sl_info("team %s set", t.name);
    send_json(w, req, 200, out); /* the stored description, spending included */
}

static void create_key(struct sl_worker *w, struct evhttp_request *req, const cJSON *root)
{
    const char *team = get_str(root, "team"), *name = get_str(root, "name");
    struct sl_limits l;
    char secret[64], err[256];
    cJSON *out = NULL;
    int rc;

    if (!team)
        return bad_request(w, req, "team", "'team' is required: the team the key belongs to.");
    if (name && strlen(name) > 63)
        return bad_request(w, req, "name", "'name' must be at most 63 characters.");
    if (!get_limits(w, req, root, &l))
        return;
    rc =
        sl_accounts_create_key(w->server->accounts, team, name, &l, secret, &out, err, sizeof(err));
    if (rc == SL_ENOTFOUND)
        return sl_server_error(w, req, NULL, 404, "invalid_request_error", "team_not_found", "team",
                               err);
    if (rc) {
        sl_error("create key: %s", err);
        return sl_server_error(w, req, NULL, 500, "server_error", "internal_error", NULL, err);
    }
    cJSON_AddStringToObject(out, "key", secret); /* the only time it is shown */
    sl_info("key %s created for team %s", get_str(out, "id"), team);
    memset(secret, 0, sizeof(secret));
    send_json(w, req, 201, out);
}

static void revoke_key(struct sl_worker *w, struct evhttp_request *req, const char *id)
{
    char err[256];
    cJSON *out = NULL;
    int rc = sl_accounts_revoke_key(w->server->accounts, id, &out, err, sizeof(err));

    if (rc == SL_ENOTFOUND)
        return sl_server_error(w, req, NULL, 404, "invalid_request_error", "key_not_found", NULL,
                               err);
    if (rc) {
        sl_error("revoke key %s: %s", id, err);
        return sl_server_error(w, req, NULL, 500, "server_error", "internal_error", NULL, err);
    }
    sl_info("key %s revoked", id);
    send_json(w, req, 200, out);
}

void sl_admin_handle(struct sl_worker *w, struct evhttp_request *req, const char *path, size_t plen)
{
    struct sl_accounts *acc = w->server->accounts;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    size_t klen;
    const char *secret = sl_server_secret(req, &klen);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    cJSON *root = NULL;

#define PATH_IS(p) (plen == sizeof(p) - 1 && memcmp(path, p, plen) == 0)
    if (!w->server->cfg->admin_key) {
        sl_server_error(w, req, NULL, 403, "permission_error", "admin_disabled", NULL,
                        "The admin API is off: start the proxy with its admin key in the "
                        "environment variable named by auth.admin_key_env.");
        return;
    }
    if (!secret || !sl_sha256_secret_equal(secret, klen, w->server->cfg->admin_key)) {
        if (secret && acc && sl_accounts_is_key(acc, secret, klen))
            sl_server_error(w, req, NULL, 403, "permission_error", "admin_key_required", NULL,
                            "This is a team key; the admin API needs the admin key.");
        else
            sl_server_error(w, req, NULL, 401, "invalid_request_error", "invalid_api_key", NULL,
                            "The admin API needs the admin key as a Bearer token.");
        return;
    }
    if (!acc) {
        sl_server_error(w, req, NULL, 503, "server_error", "accounts_unavailable", NULL,
                        "Keys are not enabled on this proxy (auth.required is false).");
        return;
    }
    if (cmd == EVHTTP_REQ_POST) {
        size_t n = evbuffer_get_length(in);
        const char *body = (const char *)evbuffer_pullup(in, -1);
        if (n > w->server->cfg->max_body_bytes || !body ||
            !(root = cJSON_ParseWithLength(body, n)) || !cJSON_IsObject(root)) {
            bad_request(w, req, NULL, "The request body must be a JSON object.");
            goto out;
        }
    }
    if (PATH_IS("/admin/teams") && cmd == EVHTTP_REQ_POST) {
        set_team(w, req, root);
    } else if (PATH_IS("/admin/teams") && cmd == EVHTTP_REQ_GET) {
        send_json(w, req, 200, sl_accounts_teams_json(acc));
    } else if (PATH_IS("/admin/keys") && cmd == EVHTTP_REQ_POST) {
        create_key(w, req, root);
    } else if (PATH_IS("/admin/keys") && cmd == EVHTTP_REQ_GET) {
        struct evkeyvalq q;
        const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
        const char *query = evhttp_uri_get_query(uri);
        TAILQ_INIT(&q);
        if (query && evhttp_parse_query_str(query, &q) == 0)
            send_json(w, req, 200, sl_accounts_keys_json(acc, evhttp_find_header(&q, "team")));
        else
            send_json(w, req, 200, sl_accounts_keys_json(acc, NULL));
        evhttp_clear_headers(&q);
    } else if (plen > 12 && memcmp(path, "/admin/keys/", 12) == 0 && cmd == EVHTTP_REQ_DELETE) {
        char id[64];
        snprintf(id, sizeof(id), "%.*s", (int)(plen - 12), path + 12);
        revoke_key(w, req, id);
    } else {
        sl_server_error(w, req, NULL, 404, "invalid_request_error", "not_found", NULL,
                        "The admin API serves POST/GET /admin/teams, POST/GET /admin/keys and "
                        "DELETE /admin/keys/ID.");
    }
out:
    cJSON_Delete(root);
#undef PATH_IS
}
