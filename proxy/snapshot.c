/* Configuration snapshots: creation, with the /v1/models body they answer, and references. */
#include "snapshot.h"

#include "buf.h"
#include "json.h"

#include <stdbool.h>
#include <stdlib.h>

int sl_snapshot_model_json(struct sl_buf *b, const char *name, bool route)
{
    int rc = sl_buf_adds(b, "{\"id\":");

    rc = rc ? rc : sl_json_add_string(b, name);
    rc = rc ? rc : sl_buf_adds(b, ",\"object\":\"model\",\"created\":0,\"owned_by\":");
    return rc ? rc : sl_buf_adds(b, route ? "\"sluice-route\"}" : "\"sluice\"}");
}

static char *models_json(const struct sl_config *cfg)
{
    struct sl_buf b;
    int rc;

    sl_buf_init(&b, 16u << 20);
    rc = sl_buf_adds(&b, "{\"object\":\"list\",\"data\":[");
    for (size_t i = 0; i < cfg->n_models + cfg->n_routes && rc == 0; i++) {
        bool route = i >= cfg->n_models;
        rc = i ? sl_buf_adds(&b, ",") : 0;
        rc = rc ? rc
                : sl_snapshot_model_json(
                      &b, route ? cfg->routes[i - cfg->n_models].name : cfg->models[i].name, route);
    }
    rc = rc ? rc : sl_buf_adds(&b, "]}\n");
    if (rc) {
        sl_buf_free(&b);
        return NULL;
    }
    return sl_buf_take(&b, NULL);
}

struct sl_snapshot *sl_snapshot_create(struct sl_config *cfg, bool own, int64_t version)
{
    struct sl_snapshot *s = calloc(1, sizeof(*s));

    if (!s || !(s->models_json = models_json(cfg))) {
        free(s);
        if (own)
            sl_config_destroy(cfg);
        return NULL;
    }
    s->refs = 1;
    s->version = version;
    s->cfg = cfg;
    s->owned = own ? cfg : NULL;
    return s;
}

struct sl_snapshot *sl_snapshot_ref(struct sl_snapshot *s)
{
    __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
    return s;
}

void sl_snapshot_release(struct sl_snapshot *s)
{
    if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    sl_config_destroy(s->owned);
    free(s->models_json);
    free(s);
}
