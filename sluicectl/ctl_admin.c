/* sluicectl keys and teams: requests for the admin API (a proxy's, or the controller's), their
 * answers as tables, and a libcurl transport (the easy interface: one call per run, nothing to
 * overlap). */
#include "ctl_admin.h"

#include <ctype.h>
#include <curl/curl.h>
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "ctl.h"
#include "keysdb.h"
#include "teams.h"

#define DEFAULT_URL       "http://127.0.0.1:8080"
#define MAX_RESPONSE      (16u << 20)
#define MAX_PATH          4096
#define CONNECT_TIMEOUT_S 5L
#define TOTAL_TIMEOUT_S   30L

void sl_ctl_admin_request_free(struct sl_ctl_admin_request *r)
{
    free(r->path);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

void sl_ctl_admin_response_free(struct sl_ctl_admin_response *r)
{
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/* ---- requests --------------------------------------------------------------------------- */

/* Appends s percent-encoded for a path segment or a query value. */
static int add_escaped(struct sl_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = 0;

    for (; *s && rc == 0; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            rc = sl_buf_add(b, s, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = sl_buf_add(b, e, 3);
        }
    }
    return rc;
}

int sl_ctl_admin_request_init(struct sl_ctl_admin_request *r, const char *method,
                              const char *prefix, const char *arg, const char *suffix)
{
    struct sl_buf b;
    int rc;

    memset(r, 0, sizeof(*r));
    r->method = method;
    sl_buf_init(&b, MAX_PATH);
    if ((rc = sl_buf_adds(&b, prefix)) == 0 && arg)
        rc = add_escaped(&b, arg);
    if (rc == 0 && suffix)
        rc = sl_buf_adds(&b, suffix);
    if (rc == 0 && !(r->path = sl_buf_take(&b, NULL)))
        rc = SL_ENOMEM;
    sl_buf_free(&b);
    return rc;
}

/* The proxy's paths: prefix + escaped(arg) (+ nothing when arg is NULL). */
static int set_path(struct sl_ctl_admin_request *r, const char *method, const char *prefix,
                    const char *arg)
{
    return sl_ctl_admin_request_init(r, method, prefix, arg, NULL);
}

/* Adds {"rpm","tpm","concurrency"} with the limits given; none given: nothing. */
static bool add_limits(cJSON *o, const struct sl_ctl_limits *l)
{
    cJSON *lim;

    if (!l || (l->rpm <= 0 && l->tpm <= 0 && l->concurrency <= 0))
        return true;
    if (!(lim = cJSON_AddObjectToObject(o, "limits")))
        return false;
    return (l->rpm <= 0 || cJSON_AddNumberToObject(lim, "rpm", (double)l->rpm)) &&
           (l->tpm <= 0 || cJSON_AddNumberToObject(lim, "tpm", (double)l->tpm)) &&
           (l->concurrency <= 0 ||
            cJSON_AddNumberToObject(lim, "concurrency", (double)l->concurrency));
}

int sl_ctl_admin_request_json(struct sl_ctl_admin_request *r, cJSON *o, bool ok)
{
    int rc = 0;

    if (!ok || !o || !(r->body = cJSON_PrintUnformatted(o)))
        rc = SL_ENOMEM;
    cJSON_Delete(o);
    return rc;
}

int sl_ctl_admin_team_set(const struct sl_ctl_team *t, struct sl_ctl_admin_request *r)
{
    cJSON *o = NULL, *b;
    bool ok;
    int rc;

    if ((rc = set_path(r, "POST", "/admin/teams", NULL)) != 0)
        goto out;
    o = cJSON_CreateObject();
    ok = o && cJSON_AddStringToObject(o, "name", t->name) && add_limits(o, &t->limits);
    if (ok && !isnan(t->budget_usd)) {
        ok = (b = cJSON_AddObjectToObject(o, "budget")) &&
             cJSON_AddNumberToObject(b, "usd", t->budget_usd) &&
             cJSON_AddStringToObject(b, "period", t->period ? t->period : "month") &&
             (isnan(t->warn_at) || cJSON_AddNumberToObject(b, "warn_at", t->warn_at));
    }
    ok = ok && cJSON_AddBoolToObject(o, "log_payloads", t->log_payloads);
    rc = sl_ctl_admin_request_json(r, o, ok);
out:
    if (rc != 0)
        sl_ctl_admin_request_free(r);
    return rc;
}

int sl_ctl_admin_teams_list(struct sl_ctl_admin_request *r)
{
    return set_path(r, "GET", "/admin/teams", NULL);
}

int sl_ctl_admin_key_create(const char *team, const char *name, const struct sl_ctl_limits *l,
                            struct sl_ctl_admin_request *r)
{
    cJSON *o = NULL;
    bool ok;
    int rc;

    if ((rc = set_path(r, "POST", "/admin/keys", NULL)) != 0)
        goto out;
    o = cJSON_CreateObject();
    ok = o && cJSON_AddStringToObject(o, "team", team) &&
         (!name || cJSON_AddStringToObject(o, "name", name)) && add_limits(o, l);
    rc = sl_ctl_admin_request_json(r, o, ok);
out:
    if (rc != 0)
        sl_ctl_admin_request_free(r);
    return rc;
}

int sl_ctl_admin_keys_list(const char *team, struct sl_ctl_admin_request *r)
{
    return set_path(r, "GET", team ? "/admin/keys?team=" : "/admin/keys", team);
}

int sl_ctl_admin_key_revoke(const char *id, struct sl_ctl_admin_request *r)
{
    return set_path(r, "DELETE", "/admin/keys/", id);
}

/* keys.db's rows into the import's "teams" and "keys", as a version holds them. */
static int add_team(void *ctx, const struct sl_team_settings *t)
{
    cJSON_AddItemToObject(cJSON_GetObjectItemCaseSensitive(ctx, "teams"), t->name,
                          sl_teams_team_json(t, true));
    return 0;
}

static int add_key(void *ctx, const struct sl_key_settings *k)
{
    cJSON_AddItemToObject(cJSON_GetObjectItemCaseSensitive(ctx, "keys"), k->id,
                          sl_teams_key_json(k, true));
    return 0;
}

int sl_ctl_admin_keys_import(const char *db_path, struct sl_ctl_admin_request *r, char *err,
                             size_t errlen)
{
    sqlite3 *db = NULL;
    cJSON *o = NULL, *acc;
    int rc;

    /* read-only, and not through sl_db_open: the file is a proxy's, whatever its schema
     * version, and nothing here may change it */
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s", db ? sqlite3_errmsg(db) : "out of memory");
        rc = SL_EIO;
        goto out;
    }
    sqlite3_busy_timeout(db, 5000);
    if (!(o = cJSON_CreateObject()) || !(acc = cJSON_AddObjectToObject(o, "accounts")) ||
        !cJSON_AddObjectToObject(acc, "teams") || !cJSON_AddObjectToObject(acc, "keys")) {
        snprintf(err, errlen, "out of memory");
        rc = SL_ENOMEM;
        goto out;
    }
    if ((rc = sl_keysdb_read(db, add_team, add_key, acc, err, errlen)) != 0)
        goto out;
    if ((rc = set_path(r, "POST", "/admin/keys/import", NULL)) != 0) {
        snprintf(err, errlen, "%s", sl_strerror(rc));
        goto out;
    }
    rc = sl_ctl_admin_request_json(r, o, true);
    o = NULL; /* taken */
    if (rc != 0)
        snprintf(err, errlen, "%s", sl_strerror(rc));
out:
    cJSON_Delete(o);
    sqlite3_close(db);
    if (rc != 0)
        sl_ctl_admin_request_free(r);
    return rc;
}

/* ---- responses -------------------------------------------------------------------------- */

static const char *reason(long status)
{
    switch (status) {
    case 400:
        return "bad request";
    case 401:
        return "unauthorized";
    case 403:
        return "forbidden";
    case 404:
        return "not found";
    case 409:
        return "conflict";
    case 500:
        return "internal server error";
    case 502:
        return "bad gateway";
    case 503:
        return "service unavailable";
    }
    return "unexpected answer";
}

void sl_ctl_admin_error(const struct sl_ctl_admin_response *r, char *out, size_t outlen)
{
    cJSON *doc = r->body ? cJSON_Parse(r->body) : NULL;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "error");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
    size_t len = 0;
    bool text = r->body != NULL;

    if (cJSON_IsString(msg) && msg->valuestring[0]) {
        snprintf(out, outlen, "%ld: %s", r->status, msg->valuestring);
        goto out;
    }
    /* A proxy in between may answer in plain text: its first line, if short and printable. */
    for (; text && r->body[len] && r->body[len] != '\n' && r->body[len] != '\r'; len++)
        text = isprint((unsigned char)r->body[len]) && len < 200;
    if (text && len > 0 && !doc)
        snprintf(out, outlen, "%ld: %.*s", r->status, (int)len, r->body);
    else
        snprintf(out, outlen, "%ld: %s", r->status, reason(r->status));
out:
    cJSON_Delete(doc);
}

/* A count, or "-" when absent or 0 (the API's "unlimited"). */
static void count_cell(struct sl_ctl_table *t, const cJSON *o, const char *name)
{
    double x;

    if (sl_ctl_number(o, name, &x) && x > 0)
        sl_ctl_table_cellf(t, "%lld", (long long)x);
    else
        sl_ctl_table_cell(t, NULL);
}

/* A Unix time in seconds as "YYYY-MM-DD HH:MM", or "-". */
static void time_cell(struct sl_ctl_table *t, const cJSON *o, const char *name)
{
    char s[32];
    double x;

    if (sl_ctl_number(o, name, &x) && x > 0) {
        sl_ctl_format_time((int64_t)x, s, sizeof(s));
        sl_ctl_table_cell(t, s);
    } else {
        sl_ctl_table_cell(t, NULL);
    }
}

/* The array of {"data":[...]}, or NULL. */
static const cJSON *data_array(const cJSON *doc)
{
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(doc, "data");
    return cJSON_IsArray(d) ? d : NULL;
}

int sl_ctl_admin_keys_table(const cJSON *doc, struct sl_ctl_table *t)
{
    const cJSON *data = data_array(doc), *k;

    if (!data)
        return SL_EPARSE;
    sl_ctl_table_column(t, "id", SL_CTL_LEFT);
    sl_ctl_table_column(t, "team", SL_CTL_LEFT);
    sl_ctl_table_column(t, "name", SL_CTL_LEFT);
    sl_ctl_table_column(t, "hint", SL_CTL_LEFT);
    sl_ctl_table_column(t, "created", SL_CTL_LEFT);
    sl_ctl_table_column(t, "revoked", SL_CTL_LEFT);
    sl_ctl_table_column(t, "rpm", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "tpm", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "concurrency", SL_CTL_RIGHT);
    cJSON_ArrayForEach(k, data)
    {
        const cJSON *lim = cJSON_GetObjectItemCaseSensitive(k, "limits");
        const char *name = sl_ctl_str(k, "name");
        if (!cJSON_IsObject(k))
            return SL_EPARSE;
        sl_ctl_table_cell(t, sl_ctl_str(k, "id"));
        sl_ctl_table_cell(t, sl_ctl_str(k, "team"));
        sl_ctl_table_cell(t, name && *name ? name : NULL);
        sl_ctl_table_cell(t, sl_ctl_str(k, "hint"));
        time_cell(t, k, "created");
        time_cell(t, k, "revoked");
        count_cell(t, lim, "rpm");
        count_cell(t, lim, "tpm");
        count_cell(t, lim, "concurrency");
    }
    return 0;
}

static void team_row(struct sl_ctl_table *t, const cJSON *team)
{
    const cJSON *lim = cJSON_GetObjectItemCaseSensitive(team, "limits");
    const cJSON *budget = cJSON_GetObjectItemCaseSensitive(team, "budget");
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(team, "log_payloads");
    double x;

    sl_ctl_table_cell(t, sl_ctl_str(team, "name"));
    count_cell(t, lim, "rpm");
    count_cell(t, lim, "tpm");
    count_cell(t, lim, "concurrency");
    if (sl_ctl_number(budget, "usd", &x) && x > 0)
        sl_ctl_table_cellf(t, "%.2f", x);
    else
        sl_ctl_table_cell(t, NULL);
    sl_ctl_table_cell(t, cJSON_IsObject(budget) ? sl_ctl_str(budget, "period") : NULL);
    if (cJSON_IsObject(budget) && sl_ctl_number(budget, "warn_at", &x))
        sl_ctl_table_cellf(t, "%.0f%%", 100 * x);
    else
        sl_ctl_table_cell(t, NULL);
    if (sl_ctl_number(team, "spent_usd", &x))
        sl_ctl_table_cellf(t, "%.4f", x);
    else
        sl_ctl_table_cell(t, NULL);
    time_cell(t, team, "period_start");
    sl_ctl_table_cell(t, cJSON_IsBool(lp) ? (cJSON_IsTrue(lp) ? "yes" : "no") : NULL);
}

int sl_ctl_admin_teams_table(const cJSON *doc, struct sl_ctl_table *t)
{
    const cJSON *data = data_array(doc), *team;

    if (!data && !sl_ctl_str(doc, "name"))
        return SL_EPARSE;
    sl_ctl_table_column(t, "team", SL_CTL_LEFT);
    sl_ctl_table_column(t, "rpm", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "tpm", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "concurrency", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "budget USD", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "period", SL_CTL_LEFT);
    sl_ctl_table_column(t, "warn at", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "spent USD", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "period start", SL_CTL_LEFT);
    sl_ctl_table_column(t, "payloads", SL_CTL_LEFT);
    if (!data) {
        team_row(t, doc);
        return 0;
    }
    cJSON_ArrayForEach(team, data)
    {
        if (!cJSON_IsObject(team))
            return SL_EPARSE;
        team_row(t, team);
    }
    return 0;
}

/* ---- the libcurl transport -------------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    return sl_buf_add(arg, p, size * n) == 0 ? size * n : 0; /* 0: curl stops, write error */
}

int sl_ctl_admin_send_curl(const struct sl_ctl_admin_conn *c,
                           const struct sl_ctl_admin_request *req,
                           struct sl_ctl_admin_response *resp, char *err, size_t errlen, void *arg)
{
    char curl_err[CURL_ERROR_SIZE] = "", *url = NULL, *auth = NULL;
    size_t base = strlen(c->url);
    struct curl_slist *headers = NULL, *h;
    struct sl_buf body;
    CURL *curl = NULL;
    CURLcode cc;
    int rc = SL_EIO;

    memset(resp, 0, sizeof(*resp));
    sl_buf_init(&body, MAX_RESPONSE);
    while (base > 0 && c->url[base - 1] == '/')
        base--;
    if (asprintf(&url, "%.*s%s", (int)base, c->url, req->path) < 0) {
        url = NULL;
        rc = SL_ENOMEM;
        goto out;
    }
    if (asprintf(&auth, "Authorization: Bearer %s", c->key) < 0) {
        auth = NULL;
        rc = SL_ENOMEM;
        goto out;
    }
    if (!(curl = curl_easy_init())) {
        snprintf(err, errlen, "%s: cannot set up the request", url);
        rc = SL_ENOMEM;
        goto out;
    }
    for (const char *const *p = (const char *const[]){auth, "Accept: application/json",
                                                      "Content-Type: application/json", NULL};
         *p; p++) {
        if (!(h = curl_slist_append(headers, *p))) {
            snprintf(err, errlen, "%s: cannot set up the request", url);
            rc = SL_ENOMEM;
            goto out;
        }
        headers = h;
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
    if (req->body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(req->body));
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, TOTAL_TIMEOUT_S);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if ((cc = curl_easy_perform(curl)) != CURLE_OK) {
        bool too_big = cc == CURLE_WRITE_ERROR && body.len > 0;
        snprintf(err, errlen, "%s: %s", url,
                 too_big       ? "the answer is too large"
                 : curl_err[0] ? curl_err
                               : curl_easy_strerror(cc));
        rc = too_big ? SL_ETOOBIG : SL_EIO;
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
    if (!(resp->body = sl_buf_take(&body, NULL))) {
        rc = SL_ENOMEM;
        goto out;
    }
    rc = 0;
out:
    if (auth) /* the admin key: not left behind in freed memory */
        memset(auth, 0, strlen(auth));
    free(auth);
    free(url);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    sl_buf_free(&body);
    return rc;
}

/* ---- the commands ----------------------------------------------------------------------- */

#define CONN_HELP                                                                                  \
    "  --url URL       the proxy (default $SLUICE_URL, or " DEFAULT_URL ")\n"                      \
    "  --json          print the API's JSON answer instead of a table\n"                           \
    "\n"                                                                                           \
    "The admin key is read from the environment variable SLUICE_ADMIN_KEY only, never from\n"      \
    "the command line (where other users could read it in the process list), and is sent as\n"     \
    "\"Authorization: Bearer KEY\".\n"

#define LIMITS_HELP                                                                                \
    "  --rpm N         requests per minute\n"                                                      \
    "  --tpm N         tokens per minute\n"                                                        \
    "  --concurrency N requests in flight at once\n"

static const int key_create_options[] = {
    SL_CTL_OPT_URL, SL_CTL_OPT_JSON, SL_CTL_OPT_TEAM,        SL_CTL_OPT_NAME,
    SL_CTL_OPT_RPM, SL_CTL_OPT_TPM,  SL_CTL_OPT_CONCURRENCY, 0};
static const int keys_list_options[] = {SL_CTL_OPT_URL, SL_CTL_OPT_JSON, SL_CTL_OPT_TEAM, 0};
static const int conn_options[] = {SL_CTL_OPT_URL, SL_CTL_OPT_JSON, 0};
static const int team_set_options[] = {SL_CTL_OPT_URL,          SL_CTL_OPT_JSON,
                                       SL_CTL_OPT_RPM,          SL_CTL_OPT_TPM,
                                       SL_CTL_OPT_CONCURRENCY,  SL_CTL_OPT_BUDGET_USD,
                                       SL_CTL_OPT_PERIOD,       SL_CTL_OPT_WARN_AT,
                                       SL_CTL_OPT_LOG_PAYLOADS, 0};

static const struct sl_ctl_spec key_create_spec = {
    "keys create",
    "keys create --team T [--name N] [--rpm N] [--tpm N] [--concurrency N] [--url URL] [--json]",
    "Creates a virtual key for team T and prints its secret, the only time the secret is\n"
    "shown. Limits not given are unlimited for the key (the team's own limits still apply).\n"
    "\n"
    "  --team T        the key's team (required; see teams set)\n"
    "  --name N        a label for people, such as the service that uses the key\n" LIMITS_HELP
        CONN_HELP,
    key_create_options,
    0,
    0,
};

static const struct sl_ctl_spec keys_list_spec = {
    "keys list",
    "keys list [--team T] [--url URL] [--json]",
    "Lists virtual keys (id, team, name, the secret's last characters, when created and\n"
    "revoked, limits; \"-\" is unlimited). Secrets are never shown again.\n"
    "\n"
    "  --team T        only team T's keys\n" CONN_HELP,
    keys_list_options,
    0,
    0,
};

static const struct sl_ctl_spec key_revoke_spec = {
    "keys revoke",
    "keys revoke ID [--url URL] [--json]",
    "Revokes key ID (key_...): requests with it are refused from now on.\n\n" CONN_HELP,
    conn_options,
    1,
    1,
};

static const struct sl_ctl_spec key_import_spec = {
    "keys import",
    "keys import KEYS_DB [--url URL] [--json]",
    "Brings a proxy's teams and keys over to the controller: reads KEYS_DB (the proxy's\n"
    "data/keys.db, read-only) and sends every team and every key, revoked ones too, to the\n"
    "controller's POST /admin/keys/import as one new version. Secrets are not in keys.db and\n"
    "are not needed: the keys' digests go, and the keys keep working. Importing again changes\n"
    "nothing; a key whose id or digest the controller has for another key is refused.\n"
    "\n"
    "  --url URL       the controller's admin API\n" CONN_HELP,
    conn_options,
    1,
    1,
};

static const struct sl_ctl_spec team_set_spec = {
    "teams set",
    "teams set NAME [--rpm N] [--tpm N] [--concurrency N] [--budget-usd X [--period "
    "day|week|month] [--warn-at F]] [--log-payloads yes|no] [--url URL] [--json]",
    "Creates team NAME or replaces its settings. Replaces: a limit not given becomes\n"
    "unlimited, no --budget-usd removes the budget, and payload logging is off unless asked.\n"
    "\n" LIMITS_HELP "  --budget-usd X  spending allowed per period, in USD\n"
    "  --period P      the budget's period: day, week or month (default month)\n"
    "  --warn-at F     warn when this fraction of the budget is spent (server default 0.8)\n"
    "  --log-payloads yes|no\n"
    "                  keep the team's prompts and answers (redacted) in the audit log\n" CONN_HELP,
    team_set_options,
    1,
    1,
};

static const struct sl_ctl_spec teams_list_spec = {
    "teams list",
    "teams list [--url URL] [--json]",
    "Lists teams: limits (\"-\" is unlimited), budget, the spending of the current period\n"
    "and whether payloads are logged.\n\n" CONN_HELP,
    conn_options,
    0,
    0,
};

static const struct sl_ctl_spec keys_spec = {
    "keys",
    "keys create|list|revoke|import ...",
    "  sluicectl keys create --team T [--name N] [--rpm N] [--tpm N] [--concurrency N]\n"
    "  sluicectl keys list [--team T]\n"
    "  sluicectl keys revoke ID\n"
    "  sluicectl keys import KEYS_DB\n"
    "\n"
    "sluicectl keys COMMAND --help describes one.\n",
    conn_options,
    0,
    0,
};

static const struct sl_ctl_spec teams_spec = {
    "teams",
    "teams set|list ...",
    "  sluicectl teams set NAME [--rpm N] [--tpm N] [--concurrency N] [--budget-usd X]\n"
    "      [--period day|week|month] [--warn-at F] [--log-payloads yes|no]\n"
    "  sluicectl teams list\n"
    "\n"
    "sluicectl teams COMMAND --help describes one.\n",
    conn_options,
    0,
    0,
};

static const struct sl_ctl_admin_server proxy = {"the proxy", "url", "SLUICE_URL", DEFAULT_URL};

/* Finds the URL and the admin key. SL_CTL_RUN or an exit status. */
static int connect_to(struct sl_ctl_admin_call *c)
{
    const struct sl_ctl_admin_server *srv = c->server;
    const char *env_url = getenv(srv->env);
    const char *url = c->a.url ? c->a.url : env_url && *env_url ? env_url : srv->default_url;
    size_t len = strlen(url);

    if ((strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) ||
        len >= sizeof(c->url)) {
        if (c->a.url)
            return sl_ctl_usage(c->spec, c->err, "--%s: bad value \"%s\" (want http://HOST:PORT)",
                                srv->option, c->a.url);
        return sl_ctl_fail(c->err, "%s: \"%s\" is not an http:// or https:// URL", srv->env, url);
    }
    while (len > 0 && url[len - 1] == '/') /* the paths bring their own */
        len--;
    snprintf(c->url, sizeof(c->url), "%.*s", (int)len, url);
    c->conn.url = c->url;
    c->conn.key = getenv("SLUICE_ADMIN_KEY");
    if (!c->conn.key || !*c->conn.key)
        return sl_ctl_fail(c->err,
                           "SLUICE_ADMIN_KEY is not set: export %s's admin key "
                           "(it is never taken from the command line)",
                           srv->what);
    for (const char *p = c->conn.key; *p; p++)
        if (iscntrl((unsigned char)*p) || *p == ' ')
            return sl_ctl_fail(c->err, "SLUICE_ADMIN_KEY holds a space or a control character");
    return SL_CTL_RUN;
}

int sl_ctl_admin_parse(struct sl_ctl_admin_call *c, int argc, char **argv)
{
    return sl_ctl_parse(c->spec, argc, argv, sl_clock_wall_ms(), &c->a, c->out, c->err);
}

/* Sends req and leaves a 2xx answer in resp. SL_CTL_RUN or the exit status. */
static int exchange(struct sl_ctl_admin_call *c, struct sl_ctl_admin_request *req, int built,
                    struct sl_ctl_admin_response *resp)
{
    char msg[512];
    int status;

    if ((status = connect_to(c)) != SL_CTL_RUN)
        goto out;
    if (built != 0) {
        status = sl_ctl_fail(c->err, "%s", sl_strerror(built));
        goto out;
    }
    if (c->send(&c->conn, req, resp, msg, sizeof(msg), c->arg) != 0) {
        status = sl_ctl_fail(c->err, "%s", msg);
        goto out;
    }
    if (resp->status < 200 || resp->status > 299) {
        sl_ctl_admin_error(resp, msg, sizeof(msg));
        status = sl_ctl_fail(c->err, "%s", msg);
    }
out:
    return status;
}

/* Parses resp's body into *doc; path names the call in the message. */
static int parse_answer(struct sl_ctl_admin_call *c, const struct sl_ctl_admin_response *resp,
                        const char *path, cJSON **doc)
{
    if ((*doc = cJSON_Parse(resp->body)))
        return SL_CTL_RUN;
    return sl_ctl_fail(c->err, "%s%s: the answer is not JSON", c->conn.url, path);
}

int sl_ctl_admin_perform(struct sl_ctl_admin_call *c, struct sl_ctl_admin_request *req, int built,
                         cJSON **doc)
{
    struct sl_ctl_admin_response resp = {0};
    int status;
    size_t len;

    *doc = NULL;
    if ((status = exchange(c, req, built, &resp)) != SL_CTL_RUN)
        goto out;
    if (c->a.json) {
        len = strlen(resp.body);
        fputs(resp.body, c->out);
        if (len == 0 || resp.body[len - 1] != '\n')
            fputc('\n', c->out);
        status = 0;
        goto out;
    }
    status = parse_answer(c, &resp, req->path, doc);
out:
    sl_ctl_admin_request_free(req);
    sl_ctl_admin_response_free(&resp);
    return status;
}

int sl_ctl_admin_fetch(struct sl_ctl_admin_call *c, struct sl_ctl_admin_request *req, int built,
                       cJSON **doc)
{
    struct sl_ctl_admin_response resp = {0};
    int status;

    *doc = NULL;
    if ((status = exchange(c, req, built, &resp)) == SL_CTL_RUN)
        status = parse_answer(c, &resp, req->path, doc);
    sl_ctl_admin_request_free(req);
    sl_ctl_admin_response_free(&resp);
    return status;
}

int sl_ctl_admin_print_table(struct sl_ctl_admin_call *c, cJSON *doc,
                             int (*fill)(const cJSON *, struct sl_ctl_table *), const char *none)
{
    struct sl_ctl_table *t = sl_ctl_table_create();
    int rc = t ? fill(doc, t) : SL_ENOMEM;

    if (rc == 0 && sl_ctl_table_rows(t) == 0)
        fprintf(c->out, "%s\n", none);
    else if (rc == 0)
        rc = sl_ctl_table_print(t, c->out);
    sl_ctl_table_destroy(t);
    cJSON_Delete(doc);
    if (rc == SL_EPARSE)
        return sl_ctl_fail(c->err, "%s: the answer does not have the expected shape", c->conn.url);
    return rc == 0 ? 0 : sl_ctl_fail(c->err, "%s", sl_strerror(rc));
}

static struct sl_ctl_limits limits_of(const struct sl_ctl_args *a)
{
    return (struct sl_ctl_limits){a->rpm, a->tpm, a->concurrency};
}

static int key_create(struct sl_ctl_admin_call *c, int argc, char **argv)
{
    struct sl_ctl_admin_request req = {0};
    struct sl_ctl_limits l;
    const cJSON *lim;
    cJSON *doc;
    int status;

    if ((status = sl_ctl_admin_parse(c, argc, argv)) != SL_CTL_RUN)
        return status;
    if (!c->a.team)
        return sl_ctl_usage(c->spec, c->err, "--team is required");
    l = limits_of(&c->a);
    if ((status = sl_ctl_admin_perform(
             c, &req, sl_ctl_admin_key_create(c->a.team, c->a.name, &l, &req), &doc)) != SL_CTL_RUN)
        return status;
    if (!sl_ctl_str(doc, "key") || !sl_ctl_str(doc, "id")) {
        cJSON_Delete(doc);
        return sl_ctl_fail(c->err, "%s: the answer holds no key", c->conn.url);
    }
    lim = cJSON_GetObjectItemCaseSensitive(doc, "limits");
    fprintf(c->out, "created key %s for team %s", sl_ctl_str(doc, "id"),
            sl_ctl_str(doc, "team") ? sl_ctl_str(doc, "team") : c->a.team);
    if (sl_ctl_str(doc, "name") && *sl_ctl_str(doc, "name"))
        fprintf(c->out, " (%s)", sl_ctl_str(doc, "name"));
    fputs("\nlimits:", c->out);
    for (const char *n = "rpm\0tpm\0concurrency\0"; *n; n += strlen(n) + 1) {
        double x;
        if (sl_ctl_number(lim, n, &x) && x > 0)
            fprintf(c->out, " %s %lld", n, (long long)x);
        else
            fprintf(c->out, " %s -", n);
    }
    fprintf(c->out,
            "\n\n    %s\n\n"
            "This is the only time the key is shown: store it now. It cannot be shown again\n"
            "(keys list shows its last characters only); if it is lost, revoke it and create\n"
            "another.\n",
            sl_ctl_str(doc, "key"));
    cJSON_Delete(doc);
    return fflush(c->out) == 0 ? 0 : sl_ctl_fail(c->err, "cannot write the key");
}

static int keys_list(struct sl_ctl_admin_call *c, int argc, char **argv)
{
    struct sl_ctl_admin_request req = {0};
    cJSON *doc;
    int status;

    if ((status = sl_ctl_admin_parse(c, argc, argv)) != SL_CTL_RUN ||
        (status = sl_ctl_admin_perform(c, &req, sl_ctl_admin_keys_list(c->a.team, &req), &doc)) !=
            SL_CTL_RUN)
        return status;
    return sl_ctl_admin_print_table(c, doc, sl_ctl_admin_keys_table, "no keys");
}

static int key_revoke(struct sl_ctl_admin_call *c, int argc, char **argv)
{
    struct sl_ctl_admin_request req = {0};
    char when[32];
    double x;
    cJSON *doc;
    int status;

    if ((status = sl_ctl_admin_parse(c, argc, argv)) != SL_CTL_RUN)
        return status;
    if (!*c->a.args[0])
        return sl_ctl_usage(c->spec, c->err, "the key ID is empty");
    if ((status = sl_ctl_admin_perform(c, &req, sl_ctl_admin_key_revoke(c->a.args[0], &req),
                                       &doc)) != SL_CTL_RUN)
        return status;
    if (sl_ctl_number(doc, "revoked", &x) && x > 0) {
        sl_ctl_format_time((int64_t)x, when, sizeof(when));
        fprintf(c->out, "revoked key %s at %s UTC\n",
                sl_ctl_str(doc, "id") ? sl_ctl_str(doc, "id") : c->a.args[0], when);
    } else {
        fprintf(c->out, "revoked key %s\n", c->a.args[0]);
    }
    cJSON_Delete(doc);
    return 0;
}

static int key_import(struct sl_ctl_admin_call *c, int argc, char **argv)
{
    struct sl_ctl_admin_request req = {0};
    char msg[512] = "";
    double version, teams, keys;
    cJSON *doc;
    int status, built;

    if ((status = sl_ctl_admin_parse(c, argc, argv)) != SL_CTL_RUN)
        return status;
    if ((built = sl_ctl_admin_keys_import(c->a.args[0], &req, msg, sizeof(msg))) == SL_EIO) {
        fprintf(c->err, "sluicectl keys import: %s: %s\n", c->a.args[0], msg);
        return SL_CTL_EXIT_FAILURE;
    }
    if ((status = sl_ctl_admin_perform(c, &req, built, &doc)) != SL_CTL_RUN)
        return status;
    if (!sl_ctl_number(doc, "version", &version)) {
        cJSON_Delete(doc);
        return sl_ctl_fail(c->err, "%s: the answer holds no version", c->conn.url);
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "unchanged")))
        fprintf(c->out, "nothing to import: version %lld has every team and key already\n",
                (long long)version);
    else if (sl_ctl_number(doc, "teams", &teams) && sl_ctl_number(doc, "keys", &keys))
        fprintf(c->out, "imported %lld teams and %lld keys as version %lld\n", (long long)teams,
                (long long)keys, (long long)version);
    else
        fprintf(c->out, "imported as version %lld\n", (long long)version);
    cJSON_Delete(doc);
    return 0;
}

static int team_set(struct sl_ctl_admin_call *c, int argc, char **argv)
{
    struct sl_ctl_admin_request req = {0};
    struct sl_ctl_team team;
    cJSON *doc;
    int status;

    if ((status = sl_ctl_admin_parse(c, argc, argv)) != SL_CTL_RUN)
        return status;
    if (!*c->a.args[0])
        return sl_ctl_usage(c->spec, c->err, "the team NAME is empty");
    if (isnan(c->a.budget_usd) && (c->a.period || !isnan(c->a.warn_at)))
        return sl_ctl_usage(c->spec, c->err, "--period and --warn-at need --budget-usd");
    team = (struct sl_ctl_team){
        .name = c->a.args[0],
        .limits = limits_of(&c->a),
        .budget_usd = c->a.budget_usd,
        .period = c->a.period,
        .warn_at = c->a.warn_at,
        .log_payloads = c->a.log_payloads == 1,
    };
    if ((status = sl_ctl_admin_perform(c, &req, sl_ctl_admin_team_set(&team, &req), &doc)) !=
        SL_CTL_RUN)
        return status;
    fprintf(c->out, "team %s saved\n", c->a.args[0]);
    return sl_ctl_admin_print_table(c, doc, sl_ctl_admin_teams_table, "");
}

static int teams_list(struct sl_ctl_admin_call *c, int argc, char **argv)
{
    struct sl_ctl_admin_request req = {0};
    cJSON *doc;
    int status;

    if ((status = sl_ctl_admin_parse(c, argc, argv)) != SL_CTL_RUN ||
        (status = sl_ctl_admin_perform(c, &req, sl_ctl_admin_teams_list(&req), &doc)) != SL_CTL_RUN)
        return status;
    return sl_ctl_admin_print_table(c, doc, sl_ctl_admin_teams_table, "no teams");
}

int sl_ctl_admin_run(sl_ctl_admin_send_fn send, void *arg, int argc, char **argv, FILE *out,
                     FILE *err)
{
    static const struct {
        const char *group, *name;
        const struct sl_ctl_spec *spec;
        int (*run)(struct sl_ctl_admin_call *, int, char **);
    } commands[] = {
        {"keys", "create", &key_create_spec, key_create},
        {"keys", "list", &keys_list_spec, keys_list},
        {"keys", "revoke", &key_revoke_spec, key_revoke},
        {"keys", "import", &key_import_spec, key_import},
        {"teams", "set", &team_set_spec, team_set},
        {"teams", "list", &teams_list_spec, teams_list},
    };
    bool keys = strcmp(argv[0], "keys") == 0;
    const struct sl_ctl_spec *group = keys ? &keys_spec : &teams_spec;
    struct sl_ctl_admin_call c = {.server = &proxy,
                                  .send = send ? send : sl_ctl_admin_send_curl,
                                  .arg = arg,
                                  .out = out,
                                  .err = err};

    if (argc < 2)
        return sl_ctl_usage(group, err, "which command?");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fprintf(out, "usage: sluicectl %s\n\n%s", group->synopsis, group->help);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[0], commands[i].group) == 0 && strcmp(argv[1], commands[i].name) == 0) {
            c.spec = commands[i].spec;
            return commands[i].run(&c, argc - 1, argv + 1);
        }
    return sl_ctl_usage(group, err, "unknown command \"%s\"", argv[1]);
}

int sl_ctl_admin_cmd(int argc, char **argv, FILE *out, FILE *err)
{
    return sl_ctl_admin_run(NULL, NULL, argc, argv, out, err);
}
