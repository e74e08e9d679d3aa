/* Teams and keys: their JSON, read with precise messages and written back. */
#include "teams.h"
#include "clock.h"
#include "sha256.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

const char *const sl_period_names[3] = {"day", "week", "month"};

bool sl_period_parse(const char *s, enum sl_period *out)
{
    for (int i = 0; i < 3; i++) {
        if (strcmp(s, sl_period_names[i]) == 0) {
            *out = (enum sl_period)i;
            return true;
        }
    }
    return false;
}

bool sl_teams_valid_name(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 63)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return false;
    return true;
}

bool sl_teams_key_name_ok(const cJSON *name)
{
    return !name || cJSON_IsNull(name) || (cJSON_IsString(name) && strlen(name->valuestring) <= 63);
}

void sl_teams_read_limits(struct sl_jsonconf *ld, const cJSON *obj, const char *path,
                          struct sl_limits *l)
{
    static const char *const keys[] = {"rpm", "tpm", "concurrency", NULL};
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(obj, "limits");
    char key[300];

    *l = (struct sl_limits){0};
    if (!o || cJSON_IsNull(o))
        return;
    sl_jsonconf_key(key, sizeof(key), path, "limits");
    if (!cJSON_IsObject(o)) {
        sl_jsonconf_fail(ld, key, "must be an object: {\"rpm\", \"tpm\", \"concurrency\"}");
        return;
    }
    sl_jsonconf_check_keys(ld, o, key, keys);
    sl_jsonconf_long(ld, o, "rpm", key, 0, 1000000000000L, &l->rpm);
    sl_jsonconf_long(ld, o, "tpm", key, 0, 1000000000000L, &l->tpm);
    sl_jsonconf_long(ld, o, "concurrency", key, 0, 1000000000000L, &l->concurrency);
}

void sl_teams_read_team(struct sl_jsonconf *ld, const cJSON *obj, const char *path,
                        struct sl_team_settings *t)
{
    static const char *const budget_keys[] = {"usd", "period", "warn_at", NULL};
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(obj, "budget");
    char key[300];

    t->budget_usd = 0;
    t->period = SL_PERIOD_MONTH;
    t->warn_at = 0.8;
    t->log_payloads = false;
    sl_teams_read_limits(ld, obj, path, &t->limits);
    sl_jsonconf_bool(ld, obj, "log_payloads", path, &t->log_payloads);
    if (!b || cJSON_IsNull(b))
        return;
    sl_jsonconf_key(key, sizeof(key), path, "budget");
    if (!cJSON_IsObject(b)) {
        sl_jsonconf_fail(ld, key,
                         "must be an object {\"usd\", \"period\", \"warn_at\"}, or null for none");
        return;
    }
    sl_jsonconf_check_keys(ld, b, key, budget_keys);
    t->budget_usd = -1;
    sl_jsonconf_double(ld, b, "usd", key, 0, 1e12, &t->budget_usd);
    if (!(t->budget_usd > 0)) {
        char k[320];
        sl_jsonconf_key(k, sizeof(k), key, "usd");
        sl_jsonconf_fail(ld, k, "must be a number of US dollars > 0");
    }
    sl_jsonconf_double(ld, b, "warn_at", key, 1e-9, 1, &t->warn_at);
    const char *period = sl_jsonconf_string(ld, b, "period", key);
    if (period && !sl_period_parse(period, &t->period)) {
        char k[320];
        sl_jsonconf_key(k, sizeof(k), key, "period");
        sl_jsonconf_fail(ld, k, "must be day, week or month");
    }
}

/* Reads a Unix time in seconds; *out stays 0 when absent or null. */
static void read_time(struct sl_jsonconf *ld, const cJSON *obj, const char *name, const char *path,
                      int64_t *out)
{
    long v = 0;

    if (cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(obj, name)))
        return;
    sl_jsonconf_long(ld, obj, name, path, 1, 1L << 40, &v);
    *out = v;
}

static bool read_digest(const char *hex, unsigned char out[32])
{
    if (!hex || strlen(hex) != 64)
        return false;
    for (int i = 0; i < 32; i++) {
        unsigned v = 0;
        for (int j = 0; j < 2; j++) {
            char c = hex[2 * i + j];
            if (c >= '0' && c <= '9')
                v = v * 16 + (unsigned)(c - '0');
            else if (c >= 'a' && c <= 'f')
                v = v * 16 + (unsigned)(c - 'a' + 10);
            else
                return false;
        }
        out[i] = (unsigned char)v;
    }
    return true;
}

void sl_teams_read_key(struct sl_jsonconf *ld, const cJSON *obj, const char *path, const char *id,
                       struct sl_key_settings *k)
{
    static const char *const keys[] = {"team",    "name",    "sha256", "hint",
                                       "created", "revoked", "limits", NULL};
    const char *team, *name, *hint, *hex;
    char key[320];

    memset(k, 0, sizeof(*k));
    if (!cJSON_IsObject(obj)) {
        sl_jsonconf_fail(ld, path, "must be an object {\"team\", \"sha256\", ...}");
        return;
    }
    if (!sl_teams_valid_name(id) || strlen(id) >= sizeof(k->id))
        sl_jsonconf_fail(ld, path, "a key id is 1 to 23 characters of A-Z a-z 0-9 . _ -");
    else
        snprintf(k->id, sizeof(k->id), "%s", id);
    sl_jsonconf_check_keys(ld, obj, path, keys);
    team = sl_jsonconf_string(ld, obj, "team", path);
    hex = sl_jsonconf_string(ld, obj, "sha256", path);
    name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "name"));
    hint = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "hint"));
    sl_jsonconf_key(key, sizeof(key), path, "team");
    if (!team)
        sl_jsonconf_fail(ld, key, "is required: the team the key belongs to");
    else
        snprintf(k->team, sizeof(k->team), "%s", team);
    sl_jsonconf_key(key, sizeof(key), path, "sha256");
    if (!read_digest(hex, k->digest))
        sl_jsonconf_fail(ld, key, "must be the key's SHA-256 digest as 64 lowercase hex digits");
    sl_jsonconf_key(key, sizeof(key), path, "name");
    if (cJSON_GetObjectItemCaseSensitive(obj, "name") && (!name || strlen(name) >= sizeof(k->name)))
        sl_jsonconf_fail(ld, key, "must be a string of at most 63 characters");
    else if (name)
        snprintf(k->name, sizeof(k->name), "%s", name);
    sl_jsonconf_key(key, sizeof(key), path, "hint");
    if (cJSON_GetObjectItemCaseSensitive(obj, "hint") && (!hint || strlen(hint) >= sizeof(k->hint)))
        sl_jsonconf_fail(ld, key, "must be a string of at most 11 characters");
    else if (hint)
        snprintf(k->hint, sizeof(k->hint), "%s", hint);
    read_time(ld, obj, "created", path, &k->created);
    read_time(ld, obj, "revoked", path, &k->revoked);
    sl_teams_read_limits(ld, obj, path, &k->limits);
}

struct sl_teams_doc *sl_teams_read_doc(struct sl_jsonconf *ld, const cJSON *obj, const char *path)
{
    static const char *const keys[] = {"teams", "keys", NULL};
    struct sl_teams_doc *d = calloc(1, sizeof(*d));
    const cJSON *teams, *ks, *it;
    char base[300], key[600];
    int failed = ld->failed;

    if (!d)
        abort(); /* small internal allocation */
    if (!cJSON_IsObject(obj)) {
        sl_jsonconf_fail(ld, path, "must be an object {\"teams\": {...}, \"keys\": {...}}");
        goto out;
    }
    sl_jsonconf_check_keys(ld, obj, path, keys);
    teams = sl_jsonconf_object(ld, obj, "teams", path);
    ks = sl_jsonconf_object(ld, obj, "keys", path);
    d->teams = calloc((size_t)cJSON_GetArraySize(teams) + 1, sizeof(*d->teams));
    d->keys = calloc((size_t)cJSON_GetArraySize(ks) + 1, sizeof(*d->keys));
    if (!d->teams || !d->keys)
        abort();
    sl_jsonconf_key(base, sizeof(base), path, "teams");
    cJSON_ArrayForEach(it, teams)
    {
        struct sl_team_settings *t = &d->teams[d->n_teams++];
        sl_jsonconf_key(key, sizeof(key), base, it->string);
        if (!sl_teams_valid_name(it->string))
            sl_jsonconf_fail(ld, key, "a team's name is 1 to 63 characters of A-Z a-z 0-9 . _ -");
        else if (!cJSON_IsObject(it))
            sl_jsonconf_fail(ld, key, "must be an object {\"limits\", \"budget\", ...}");
        else
            snprintf(t->name, sizeof(t->name), "%s", it->string);
        sl_teams_read_team(ld, it, key, t);
    }
    sl_jsonconf_key(base, sizeof(base), path, "keys");
    cJSON_ArrayForEach(it, ks)
    {
        struct sl_key_settings *k = &d->keys[d->n_keys];
        sl_jsonconf_key(key, sizeof(key), base, it->string);
        sl_teams_read_key(ld, it, key, it->string, k);
        if (ld->failed > failed)
            break;
        if (!sl_teams_doc_team(d, k->team))
            sl_jsonconf_fail(ld, key, "its team \"%s\" is not in %s.teams", k->team, path);
        for (size_t i = 0; i < d->n_keys; i++)
            if (memcmp(d->keys[i].digest, k->digest, 32) == 0)
                sl_jsonconf_fail(ld, key, "has the same sha256 as key %s", d->keys[i].id);
        d->n_keys++;
    }
out:
    if (ld->failed > failed) {
        sl_teams_doc_destroy(d);
        return NULL;
    }
    return d;
}

void sl_teams_doc_destroy(struct sl_teams_doc *d)
{
    if (!d)
        return;
    free(d->teams);
    free(d->keys);
    free(d);
}

const struct sl_team_settings *sl_teams_doc_team(const struct sl_teams_doc *d, const char *name)
{
    for (size_t i = 0; i < d->n_teams; i++)
        if (strcmp(d->teams[i].name, name) == 0)
            return &d->teams[i];
    return NULL;
}

static cJSON *limits_json(const struct sl_limits *l)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "rpm", (double)l->rpm);
    cJSON_AddNumberToObject(o, "tpm", (double)l->tpm);
    cJSON_AddNumberToObject(o, "concurrency", (double)l->concurrency);
    return o;
}

cJSON *sl_teams_team_json(const struct sl_team_settings *t, bool with_stored)
{
    cJSON *o = cJSON_CreateObject();

    if (!with_stored)
        cJSON_AddStringToObject(o, "name", t->name);
    cJSON_AddItemToObject(o, "limits", limits_json(&t->limits));
    if (t->budget_usd > 0) {
        cJSON *b = cJSON_AddObjectToObject(o, "budget");
        cJSON_AddNumberToObject(b, "usd", t->budget_usd);
        cJSON_AddStringToObject(b, "period", sl_period_names[t->period]);
        cJSON_AddNumberToObject(b, "warn_at", t->warn_at);
    } else {
        cJSON_AddNullToObject(o, "budget");
    }
    cJSON_AddBoolToObject(o, "log_payloads", t->log_payloads);
    return o;
}

cJSON *sl_teams_key_json(const struct sl_key_settings *k, bool with_stored)
{
    cJSON *o = cJSON_CreateObject();

    if (!with_stored)
        cJSON_AddStringToObject(o, "id", k->id);
    cJSON_AddStringToObject(o, "team", k->team);
    cJSON_AddStringToObject(o, "name", k->name);
    if (with_stored) {
        char hex[65];
        for (int i = 0; i < 32; i++)
            snprintf(hex + 2 * i, 3, "%02x", k->digest[i]);
        cJSON_AddStringToObject(o, "sha256", hex);
    }
    cJSON_AddStringToObject(o, "hint", k->hint);
    cJSON_AddNumberToObject(o, "created", (double)k->created);
    if (k->revoked)
        cJSON_AddNumberToObject(o, "revoked", (double)k->revoked);
    else
        cJSON_AddNullToObject(o, "revoked");
    cJSON_AddItemToObject(o, "limits", limits_json(&k->limits));
    return o;
}

/* n characters drawn uniformly from alphabet[0..k), and a NUL. */
static void random_chars(char *out, size_t n, const char *alphabet, size_t k)
{
    unsigned char r[64];
    size_t got = 0;

    while (got < n) {
        ssize_t m = getrandom(r, sizeof(r), 0);
        if (m <= 0)
            abort(); /* no entropy means no safe key: refuse to go on */
        for (ssize_t i = 0; i < m && got < n; i++)
            if (r[i] < 256 - 256 % k) /* reject to keep the choice uniform */
                out[got++] = alphabet[r[i] % k];
    }
    out[n] = '\0';
}

void sl_teams_new_key(struct sl_key_settings *k, const char *team, const char *name,
                      const struct sl_limits *limits, char secret[SL_KEY_SECRET_LEN + 1])
{
    static const char b62[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    static const char hex[] = "0123456789abcdef";

    memset(k, 0, sizeof(*k));
    memcpy(secret, "sk-sluice-", 10);
    random_chars(secret + 10, SL_KEY_SECRET_LEN - 10, b62, 62);
    memcpy(k->id, "key_", 4);
    random_chars(k->id + 4, 16, hex, 16);
    sl_sha256(secret, SL_KEY_SECRET_LEN, k->digest);
    snprintf(k->hint, sizeof(k->hint), "...%s", secret + SL_KEY_SECRET_LEN - 4);
    snprintf(k->team, sizeof(k->team), "%s", team);
    snprintf(k->name, sizeof(k->name), "%s", name ? name : "");
    k->created = sl_clock_wall_ms() / 1000;
    k->limits = *limits;
}
