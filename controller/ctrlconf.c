/* Loading and validating controller.json. Every problem is reported as "file: key: what". */
#include "ctrlconf.h"

#include "config.h"
#include "jsonconf.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        abort(); /* small internal allocation */
    return p;
}

static bool is_endpoint(const char *s)
{
    return strncmp(s, "tcp://", 6) == 0 || strncmp(s, "ipc://", 6) == 0 ||
           strncmp(s, "inproc://", 9) == 0;
}

/* An optional endpoint member replacing *out. */
static void load_endpoint(struct sl_jsonconf *ld, const cJSON *root, const char *name, char **out)
{
    const char *s = sl_jsonconf_string(ld, root, name, "");

    if (!s)
        return;
    if (!is_endpoint(s)) {
        sl_jsonconf_fail(ld, name, "must be an endpoint like tcp://127.0.0.1:5560 or ipc://PATH");
        return;
    }
    free(*out);
    *out = xstrdup(s);
}

static void load_alerts(struct sl_jsonconf *ld, struct sl_ctrlconf *cfg, const cJSON *v)
{
    const cJSON *it;
    size_t n = 0;

    if (!cJSON_IsArray(v)) {
        sl_jsonconf_fail(ld, "alerts", "must be an array of the evaluators' PUB endpoints");
        return;
    }
    cJSON_ArrayForEach(it, v)
    {
        if (!cJSON_IsString(it) || !is_endpoint(it->valuestring)) {
            sl_jsonconf_fail(ld, "alerts",
                             "each must be an endpoint like tcp://127.0.0.1:5558 or ipc://PATH");
            return;
        }
    }
    free(cfg->alerts);
    cfg->alerts = calloc((size_t)cJSON_GetArraySize(v) + 1, sizeof(char *));
    if (!cfg->alerts)
        abort();
    cJSON_ArrayForEach(it, v)
    {
        cfg->alerts[n++] = xstrdup(it->valuestring);
    }
}

static void load_root(struct sl_jsonconf *ld, struct sl_ctrlconf *cfg, const cJSON *root)
{
    static const char *const keys[] = {"listen",    "sluice",        "data_dir", "snapshot",
                                       "updates",   "reports",       "alerts",   "heartbeat_ms",
                                       "log_level", "admin_key_env", NULL};
    const cJSON *v;
    const char *s;

    sl_jsonconf_check_keys(ld, root, "", keys);
    if ((s = sl_jsonconf_string(ld, root, "listen", ""))) {
        free(cfg->listen_host);
        cfg->listen_host = NULL;
        if (sl_config_parse_listen(s, &cfg->listen_host, &cfg->listen_port)) {
            sl_jsonconf_fail(ld, "listen", "must be \"host:port\"");
            cfg->listen_host = xstrdup("127.0.0.1");
        }
    }
    if ((s = sl_jsonconf_string(ld, root, "sluice", "")))
        cfg->sluice = sl_jsonconf_path(ld->file, s);
    else if (!cJSON_GetObjectItemCaseSensitive(root, "sluice"))
        sl_jsonconf_fail(ld, "sluice", "is required: the path of the proxies' sluice.json");
    if ((s = sl_jsonconf_string(ld, root, "data_dir", "")))
        cfg->data_dir = sl_jsonconf_path(ld->file, s);
    load_endpoint(ld, root, "snapshot", &cfg->snapshot);
    load_endpoint(ld, root, "updates", &cfg->updates);
    load_endpoint(ld, root, "reports", &cfg->reports);
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "alerts")))
        load_alerts(ld, cfg, v);
    sl_jsonconf_long(ld, root, "heartbeat_ms", "", 10, 60000, &cfg->heartbeat_ms);
    if ((s = sl_jsonconf_string(ld, root, "admin_key_env", ""))) {
        free(cfg->admin_key_env);
        cfg->admin_key_env = xstrdup(s);
    }
    if ((s = sl_jsonconf_string(ld, root, "log_level", ""))) {
        if (strcmp(s, "debug") && strcmp(s, "info") && strcmp(s, "warn") && strcmp(s, "error"))
            sl_jsonconf_fail(ld, "log_level", "must be debug, info, warn or error");
        free(cfg->log_level);
        cfg->log_level = xstrdup(s);
    }
}

static void set_defaults(struct sl_ctrlconf *cfg)
{
    cfg->listen_host = xstrdup("127.0.0.1");
    cfg->listen_port = 8070;
    cfg->snapshot = xstrdup("tcp://127.0.0.1:5560");
    cfg->updates = xstrdup("tcp://127.0.0.1:5561");
    cfg->reports = xstrdup("tcp://127.0.0.1:5562");
    cfg->alerts = calloc(1, sizeof(char *));
    if (!cfg->alerts)
        abort();
    cfg->heartbeat_ms = 1000;
    cfg->admin_key_env = xstrdup("SLUICE_ADMIN_KEY");
    cfg->log_level = xstrdup("info");
}

struct sl_ctrlconf *sl_ctrlconf_parse(const char *name, const char *text, size_t len, char *err,
                                      size_t errlen)
{
    struct sl_jsonconf ld = {.file = name, .err = err, .errlen = errlen};
    struct sl_ctrlconf *cfg = calloc(1, sizeof(*cfg));
    cJSON *root;
    const char *key;

    if (!cfg)
        abort();
    cfg->path = xstrdup(name);
    set_defaults(cfg);
    root = sl_jsonconf_parse(name, text, len, err, errlen);
    if (!root)
        ld.failed = 1;
    else
        load_root(&ld, cfg, root);
    cJSON_Delete(root);
    if (ld.failed) {
        sl_ctrlconf_destroy(cfg);
        return NULL;
    }
    if (!cfg->data_dir)
        cfg->data_dir = sl_jsonconf_path(name, "data");
    key = getenv(cfg->admin_key_env);
    cfg->admin_key = key && *key ? xstrdup(key) : NULL;
    return cfg;
}

struct sl_ctrlconf *sl_ctrlconf_load(const char *path, char *err, size_t errlen)
{
    struct sl_ctrlconf *cfg = NULL;
    size_t len;
    char *text = sl_jsonconf_read(path, (size_t)(1L << 20), &len, err, errlen);

    if (text)
        cfg = sl_ctrlconf_parse(path, text, len, err, errlen);
    free(text);
    return cfg;
}

void sl_ctrlconf_destroy(struct sl_ctrlconf *cfg)
{
    if (!cfg)
        return;
    for (char **e = cfg->alerts; e && *e; e++)
        free(*e);
    free(cfg->alerts);
    free(cfg->path);
    free(cfg->listen_host);
    free(cfg->sluice);
    free(cfg->data_dir);
    free(cfg->snapshot);
    free(cfg->updates);
    free(cfg->reports);
    free(cfg->admin_key_env);
    free(cfg->admin_key);
    free(cfg->log_level);
    free(cfg);
}
