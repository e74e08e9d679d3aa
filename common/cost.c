/* Usage parsing and cost. */
#include "cost.h"
#include "json.h"

#include <cjson/cJSON.h>

static bool count(const cJSON *obj, const char *name, long *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e12)
        return false;
    *out = (long)v->valuedouble;
    return true;
}

bool sl_usage_parse(const char *text, size_t len, struct sl_usage *u)
{
    size_t s, e;
    cJSON *usage;
    bool ok;

    /* Only the small usage object is parsed into a tree, not the whole answer. */
    if (!sl_json_member_span(text, len, "usage", &s, &e) || text[s] != '{')
        return false;
    usage = cJSON_ParseWithLength(text + s, e - s);
    *u = (struct sl_usage){0};
    ok = count(usage, "prompt_tokens", &u->prompt) &&
         count(usage, "completion_tokens", &u->completion);
    if (ok) {
        const cJSON *details = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens_details");
        if (!count(details, "cached_tokens", &u->cached) || u->cached > u->prompt)
            u->cached = 0;
    }
    cJSON_Delete(usage);
    return ok;
}

double sl_cost_usd(const struct sl_price *p, const struct sl_usage *u)
{
    if (!p->known)
        return -1;
    return ((double)(u->prompt - u->cached) * p->input + (double)u->cached * p->cached_input +
            (double)u->completion * p->output) /
           1e6;
}
