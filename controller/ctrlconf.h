/* The configuration of sluice-controller, loaded from controller.json. sl_ctrlconf_load returns
 * a heap object that owns every string and array in it; it is read-only once loaded and freed
 * as a whole with sl_ctrlconf_destroy. */
#ifndef SL_CTRLCONF_H
#define SL_CTRLCONF_H

#include <stddef.h>

struct sl_ctrlconf {
    char *path;
    char *listen_host; /* the admin API (default 127.0.0.1:8070; port 0: any free port) */
    int listen_port;
    char *sluice;   /* the proxies' static sluice.json; relative to controller.json's directory */
    char *data_dir; /* control.db; default: controller.json's directory + "/data" */
    char *snapshot; /* ROUTER bind endpoint (tcp://127.0.0.1:5560) */
    char *updates;  /* PUB bind endpoint (tcp://127.0.0.1:5561) */
    char *reports;  /* PULL bind endpoint (tcp://127.0.0.1:5562) */
    char **alerts;  /* NULL-terminated evaluator PUB endpoints to subscribe to; never NULL */
    long heartbeat_ms;   /* HUGZ period (1000, 10..60000) */
    char *admin_key_env; /* the variable holding the admin key (SLUICE_ADMIN_KEY) */
    char *admin_key;     /* its value, read at load; NULL: the admin API refuses. Never log it. */
    char *log_level;
};

/* Loads and validates path. On failure returns NULL and writes "path: key: what is wrong" (or
 * "path:line: ..." for a syntax error) into err. */
struct sl_ctrlconf *sl_ctrlconf_load(const char *path, char *err, size_t errlen);
/* Same, from a JSON text already in memory; name is used in messages and for relative
 * paths. */
struct sl_ctrlconf *sl_ctrlconf_parse(const char *name, const char *text, size_t len, char *err,
                                      size_t errlen);
/* NULL is a no-op. */
void sl_ctrlconf_destroy(struct sl_ctrlconf *cfg);

#endif
