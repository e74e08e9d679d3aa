/* The admin API: teams and virtual keys, authenticated with the admin key from the
 * environment. Changes are written to keys.db in the calling worker: admin calls are rare,
 * and a change is acknowledged only once it is on disk. A proxy that follows a controller
 * shows its teams and keys here but takes changes only from the controller. */
#include "admin.h"
#include "accounts.h"
#include "server.h"

#define SL_LOG_MODULE "admin"
#include "jsonconf.h"
#include "log.h"
#include "sha256.h"
#include "teams.h"

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>
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

/* Reads a request body's members with the shared readers; false (after answering 400) when
 * one is wrong. */
static bool body_ok(struct sl_worker *w, struct evhttp_request *req, const struct sl_jsonconf *ld)
{
    if (!ld->failed)
        return true;
    bad_request(w, req, NULL, ld->err);
    return false;
}

static void set_team(struct sl_worker *w, struct evhttp_request *req, const cJSON *root)
{
    static const char *const keys[] = {"name", "limits", "budget", "log_payloads", NULL};
    struct sl_team_settings t = {0};
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "name"));
    char err[256];
    struct sl_jsonconf ld = {.err = err, .errlen = sizeof(err)};
    cJSON *out = NULL;
    int rc;

    if (!name || !sl_teams_valid_name(name))
        return bad_request(w, req, "name",
                           "'name' is required: 1 to 63 characters of A-Z a-z 0-9 . _ -");
    snprintf(t.name, sizeof(t.name), "%s", name);
    sl_jsonconf_check_keys(&ld, root, "", keys);
    sl_teams_read_team(&ld, root, "", &t);
    if (!body_ok(w, req, &ld))
        return;
    rc = sl_accounts_set_team(w->server->accounts, &t, &out, err, sizeof(err));
    if (rc) {
        sl_error("set team %s: %s", t.name, err);
        return sl_server_error(w, req, NULL, 500, "server_error", "internal_error", NULL, err);
    }
    sl_info("team %s set", t.name);
    send_json(w, req, 200, out); /* the stored description, spending included */
}

static void create_key(struct sl_worker *w, struct evhttp_request *req, const cJSON *root)
{
    static const char *const keys[] = {"team", "name", "limits", NULL};
    const char *team = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "team"));
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "name"));
    struct sl_limits l;
    char secret[SL_KEY_SECRET_LEN + 1], err[256];
    struct sl_jsonconf ld = {.err = err, .errlen = sizeof(err)};
    cJSON *out = NULL;
    int rc;

    if (!team)
        return bad_request(w, req, "team", "'team' is required: the team the key belongs to.");
    if (!sl_teams_key_name_ok(cJSON_GetObjectItemCaseSensitive(root, "name")))
        return bad_request(w, req, "name", "'name' must be a string of at most 63 characters.");
    sl_jsonconf_check_keys(&ld, root, "", keys);
    sl_teams_read_limits(&ld, root, "", &l);
    if (!body_ok(w, req, &ld))
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
    sl_info("key %s created for team %s",
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(out, "id")), team);
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
    bool teams = PATH_IS("/admin/teams"), keys = PATH_IS("/admin/keys");
    bool key = plen > 12 && memcmp(path, "/admin/keys/", 12) == 0; /* /admin/keys/ID */
#undef PATH_IS

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
    if (cmd != EVHTTP_REQ_GET && w->server->cfg->controller.snapshot) {
        /* Two owners would undo each other's changes at the next version. */
        sl_server_error(w, req, NULL, 409, "invalid_request_error", "managed_by_controller", NULL,
                        "This proxy follows a controller, which owns its teams and keys: change "
                        "them through the controller's admin API.");
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
    if (teams && cmd == EVHTTP_REQ_POST) {
        set_team(w, req, root);
    } else if (teams && cmd == EVHTTP_REQ_GET) {
        send_json(w, req, 200, sl_accounts_teams_json(acc));
    } else if (keys && cmd == EVHTTP_REQ_POST) {
        create_key(w, req, root);
    } else if (keys && cmd == EVHTTP_REQ_GET) {
        struct evkeyvalq q;
        const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
        const char *query = evhttp_uri_get_query(uri);
        TAILQ_INIT(&q);
        if (query && evhttp_parse_query_str(query, &q) == 0)
            send_json(w, req, 200, sl_accounts_keys_json(acc, evhttp_find_header(&q, "team")));
        else
            send_json(w, req, 200, sl_accounts_keys_json(acc, NULL));
        evhttp_clear_headers(&q);
    } else if (key && cmd == EVHTTP_REQ_DELETE) {
        char id[64];
        snprintf(id, sizeof(id), "%.*s", (int)(plen - 12), path + 12);
        revoke_key(w, req, id);
    } else {
        bool known = teams || keys || key;
        sl_server_error(w, req, NULL, known ? 405 : 404, "invalid_request_error",
                        known ? "method_not_allowed" : "not_found", NULL,
                        "The admin API serves POST/GET /admin/teams, POST/GET /admin/keys and "
                        "DELETE /admin/keys/ID.");
    }
out:
    cJSON_Delete(root);
}
