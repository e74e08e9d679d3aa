/* Teams, keys, limits and budgets, in memory behind one mutex and persisted in keys.db. */
#include "accounts.h"

#define SL_LOG_MODULE "accounts"
#include "auditdb.h"
#include "clock.h"
#include "db.h"
#include "keysdb.h"
#include "log.h"
#include "sha256.h"

#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

/* A token bucket: holds up to the limit, refills the whole limit in a minute. */
struct bucket {
    double level;
    uint64_t at_us; /* when level was last brought up to date; 0: never (full) */
};

struct counters {
    struct bucket req, tok;
    long active;
};

struct sl_team {
    struct sl_team_settings s;
    struct counters n;
    double spent_usd;   /* by this proxy */
    double others_usd;  /* by the other proxies, as the controller last told */
    int64_t others_end; /* the period others_usd is for, by its end */
    int64_t period_end; /* Unix s: spending restarts at 0 then */
    bool warned;        /* the warning for this period was logged */
};

struct sl_key {
    struct sl_key_settings s; /* s.team names team */
    struct sl_team *team;
    struct counters n;
    bool wanted; /* during sl_accounts_sync: the controller's document names it */
};

/* Pointers by hash, open addressing with linear probing; a power-of-two size. */
struct index {
    void **slots;
    size_t n;
};

/* Two locks: mu guards counters and the tables; changes also hold change_mu, taken first and
 * kept while keys.db is written, so that admission never waits for the disk. The settings of
 * teams and keys, and the tables' shape, change only under both: holding either lets one read
 * them. */
struct sl_accounts {
    pthread_mutex_t mu, change_mu;
    sqlite3 *db;            /* under change_mu */
    struct sl_team **teams; /* in creation order */
    size_t n_teams;
    struct index team_index; /* by name */
    struct sl_key **keys;    /* in creation order */
    size_t n_keys;
    struct index key_index; /* by digest */
    uint64_t refused[4];    /* unknown key, rate limit, concurrency, budget */
    long share;             /* proxies enforcing the limits together (see sl_accounts_set_share) */
    char *audit_path;       /* the audit log, where spending is recounted; NULL: none */
};

enum { REFUSED_KEY, REFUSED_RATE, REFUSED_CONCURRENCY, REFUSED_BUDGET };

static const char *const migrations[] = {
    "CREATE TABLE teams(name TEXT PRIMARY KEY, rpm INTEGER NOT NULL, tpm INTEGER NOT NULL,"
    " concurrency INTEGER NOT NULL, budget_usd REAL NOT NULL, period TEXT NOT NULL,"
    " warn_at REAL NOT NULL, log_payloads INTEGER NOT NULL, updated INTEGER NOT NULL);"
    "CREATE TABLE keys(id TEXT PRIMARY KEY, team TEXT NOT NULL REFERENCES teams(name),"
    " name TEXT NOT NULL, sha256 BLOB NOT NULL UNIQUE, hint TEXT NOT NULL,"
    " created INTEGER NOT NULL, revoked INTEGER, rpm INTEGER NOT NULL, tpm INTEGER NOT NULL,"
    " concurrency INTEGER NOT NULL);",
};

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        abort(); /* small internal allocation */
    return p;
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        abort();
    return p;
}

static void *xrealloc(void *p, size_t size)
{
    p = realloc(p, size);
    if (!p)
        abort();
    return p;
}

/* --- periods ------------------------------------------------------------------------- */

int64_t sl_period_start(enum sl_period p, int64_t t)
{
    int64_t day = t >= 0 ? t / 86400 : (t - 86399) / 86400;
    struct tm tm;
    time_t tt = (time_t)t;

    switch (p) {
    case SL_PERIOD_DAY:
        return day * 86400;
    case SL_PERIOD_WEEK: /* weeks start on Monday; 1970-01-01 was a Thursday */
        return (day - ((day % 7 + 7 + 3) % 7)) * 86400;
    case SL_PERIOD_MONTH:
    default:
        gmtime_r(&tt, &tm);
        tm.tm_mday = 1;
        tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        return (int64_t)timegm(&tm);
    }
}

int64_t sl_period_end(enum sl_period p, int64_t t)
{
    int64_t start = sl_period_start(p, t);
    struct tm tm;
    time_t tt = (time_t)start;

    if (p == SL_PERIOD_DAY)
        return start + 86400;
    if (p == SL_PERIOD_WEEK)
        return start + 7 * 86400;
    gmtime_r(&tt, &tm);
    tm.tm_mon++; /* timegm normalises December + 1 */
    return (int64_t)timegm(&tm);
}

/* --- lookup ---------------------------------------------------------------------------- */

static uint64_t digest_hash(const unsigned char digest[32])
{
    uint64_t h;
    memcpy(&h, digest, sizeof(h)); /* a SHA-256: any 8 bytes are a hash */
    return h;
}

static uint64_t key_hash(const void *key)
{
    return digest_hash(((const struct sl_key *)key)->s.digest);
}

static uint64_t name_hash(const char *name)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325); /* FNV-1a */

    for (; *name; name++)
        h = (h ^ (unsigned char)*name) * UINT64_C(0x100000001b3);
    return h;
}

static uint64_t team_hash(const void *team)
{
    return name_hash(((const struct sl_team *)team)->s.name);
}

static void index_place(struct index *x, void *item, uint64_t (*hash)(const void *))
{
    size_t i;

    for (i = (size_t)hash(item) & (x->n - 1); x->slots[i]; i = (i + 1) & (x->n - 1))
        ;
    x->slots[i] = item;
}

/* Adds item to x, which then holds count items; grown to keep it at most half full. */
static void index_add(struct index *x, void *item, size_t count, uint64_t (*hash)(const void *))
{
    if (count * 2 > x->n) {
        struct index old = *x;
        x->n = old.n ? old.n * 2 : 64;
        x->slots = xcalloc(x->n, sizeof(*x->slots));
        for (size_t j = 0; j < old.n; j++)
            if (old.slots[j])
                index_place(x, old.slots[j], hash);
        free(old.slots);
    }
    index_place(x, item, hash);
}

static void index_key(struct sl_accounts *a, struct sl_key *k)
{
    a->keys = xrealloc(a->keys, (a->n_keys + 1) * sizeof(*a->keys));
    a->keys[a->n_keys++] = k;
    index_add(&a->key_index, k, a->n_keys, key_hash);
}

/* The item of x in the probe sequence of hash h that is(item, want) accepts, or NULL. */
static void *index_find(const struct index *x, uint64_t h,
                        bool (*is)(const void *item, const void *want), const void *want)
{
    if (!x->n)
        return NULL;
    for (size_t i = (size_t)h & (x->n - 1); x->slots[i]; i = (i + 1) & (x->n - 1))
        if (is(x->slots[i], want))
            return x->slots[i];
    return NULL;
}

static bool key_is(const void *key, const void *digest)
{
    return memcmp(((const struct sl_key *)key)->s.digest, digest, 32) == 0;
}

static struct sl_key *find_key(const struct sl_accounts *a, const unsigned char digest[32])
{
    return index_find(&a->key_index, digest_hash(digest), key_is, digest);
}

/* Appends a new team t (with its name set) and indexes it. Teams are looked up by name for
 * every key of a sync and every team of a spending update, both under mu: by a hash, as a
 * scan would hold mu, and with it admission, for a time growing with teams times keys. */
static void add_team(struct sl_accounts *a, struct sl_team *t)
{
    a->teams = xrealloc(a->teams, (a->n_teams + 1) * sizeof(*a->teams));
    a->teams[a->n_teams++] = t;
    index_add(&a->team_index, t, a->n_teams, team_hash);
}

static bool team_is(const void *team, const void *name)
{
    return strcmp(((const struct sl_team *)team)->s.name, name) == 0;
}

static struct sl_team *find_team(const struct sl_accounts *a, const char *name)
{
    return index_find(&a->team_index, name_hash(name), team_is, name);
}

/* --- limits ---------------------------------------------------------------------------- */

static void refill(struct bucket *b, long limit, uint64_t now)
{
    if (!b->at_us) {
        b->level = (double)limit;
    } else if (now > b->at_us) {
        b->level += (double)(now - b->at_us) * (double)limit / 60e6;
        if (b->level > (double)limit)
            b->level = (double)limit;
    }
    b->at_us = now;
}

/* Milliseconds until the bucket holds need again. */
static long wait_ms(const struct bucket *b, long limit, double need)
{
    double missing = need - b->level;
    return missing <= 0 ? 0 : (long)ceil(missing * 60e3 / (double)limit);
}

struct scope {
    struct counters *n;
    const struct sl_limits *l;
    const char *what; /* "key" or "team" */
};

/* Checks one scope's limits; false with the refusal in ad. */
static bool within(const struct scope *s, long tokens, uint64_t now, struct sl_admission *ad,
                   int *reason)
{
    const struct sl_limits *l = s->l;
    long ms = 0;
    const char *limit = NULL;

    if (l->rpm) {
        refill(&s->n->req, l->rpm, now);
        if (s->n->req.level < 1) {
            ms = wait_ms(&s->n->req, l->rpm, 1);
            limit = "requests per minute";
        }
    }
    if (!limit && l->tpm) {
        double need = (double)(tokens < l->tpm ? tokens : l->tpm);
        refill(&s->n->tok, l->tpm, now);
        if (s->n->tok.level < need) {
            ms = wait_ms(&s->n->tok, l->tpm, need);
            limit = "tokens per minute";
        }
    }
    if (!limit && l->concurrency && s->n->active >= l->concurrency) {
        ms = 1000; /* unknown: when another call of this scope ends */
        limit = "concurrent requests";
        *reason = REFUSED_CONCURRENCY;
    }
    if (!limit)
        return true;
    if (*reason != REFUSED_CONCURRENCY)
        *reason = REFUSED_RATE;
    ad->status = 429;
    ad->type = "rate_limit_error";
    ad->code = "rate_limit_exceeded";
    ad->retry_after_s = (ms + 999) / 1000 > 0 ? (ms + 999) / 1000 : 1;
    snprintf(ad->message, sizeof(ad->message),
             "Rate limit reached for this %s: %s. Retry in %ld s.", s->what, limit,
             ad->retry_after_s);
    return false;
}

static void take(const struct scope *s, long tokens)
{
    if (s->l->rpm)
        s->n->req.level -= 1;
    if (s->l->tpm)
        s->n->tok.level -= (double)tokens;
    s->n->active++;
}

/* Reports the scope with the least room left for each kind of limit. */
static void report(const struct scope *s, uint64_t now, struct sl_admission *ad)
{
    const struct sl_limits *l = s->l;

    if (l->rpm) {
        refill(&s->n->req, l->rpm, now);
        long left = s->n->req.level > 0 ? (long)s->n->req.level : 0;
        if (!ad->limit_req || left < ad->remaining_req) {
            ad->limit_req = l->rpm;
            ad->remaining_req = left;
            ad->reset_req_ms = wait_ms(&s->n->req, l->rpm, (double)l->rpm);
        }
    }
    if (l->tpm) {
        long left;
        refill(&s->n->tok, l->tpm, now);
        left = s->n->tok.level > 0 ? (long)s->n->tok.level : 0;
        if (!ad->limit_tok || left < ad->remaining_tok) {
            ad->limit_tok = l->tpm;
            ad->remaining_tok = left;
            ad->reset_tok_ms = wait_ms(&s->n->tok, l->tpm, (double)l->tpm);
        }
    }
}

/* Starts a new budget period when the current one is over. */
static void roll_period(struct sl_team *t, int64_t now_s)
{
    if (now_s < t->period_end)
        return;
    t->spent_usd = 0;
    t->warned = false;
    t->period_end = sl_period_end(t->s.period, now_s);
}

/* What the team has spent in its period, on every proxy as far as this one knows. */
static double spent(const struct sl_team *t)
{
    return t->spent_usd + (t->others_end == t->period_end ? t->others_usd : 0);
}

/* This proxy's part of limits that share proxies enforce together: ceil(limit / share). */
static struct sl_limits shared(const struct sl_limits *l, long share)
{
    return (struct sl_limits){(l->rpm + share - 1) / share, (l->tpm + share - 1) / share,
                              (l->concurrency + share - 1) / share};
}

bool sl_accounts_admit(struct sl_accounts *a, const char *secret, size_t len, long tokens,
                       uint64_t now_us, struct sl_admission *ad)
{
    unsigned char digest[32];
    struct sl_key *k;
    struct sl_team *t;
    struct scope scopes[2];
    struct sl_limits kl, tl;
    int reason = REFUSED_KEY;
    bool ok = false;

    sl_sha256(secret, len, digest);
    memset(ad, 0, sizeof(*ad));
    ad->budget_left_usd = -1;
    pthread_mutex_lock(&a->mu);
    k = find_key(a, digest);
    if (!k || k->s.revoked) {
        ad->status = 401;
        ad->type = "invalid_request_error";
        ad->code = "invalid_api_key";
        snprintf(ad->message, sizeof(ad->message), "%s",
                 k ? "This API key has been revoked." : "Incorrect API key provided.");
        goto out;
    }
    t = k->team;
    roll_period(t, sl_clock_wall_ms() / 1000);
    if (t->s.budget_usd > 0 && spent(t) >= t->s.budget_usd) {
        reason = REFUSED_BUDGET;
        ad->status = 429;
        ad->type = "insufficient_quota";
        ad->code = "budget_exceeded";
        ad->retry_after_s = (long)(t->period_end - sl_clock_wall_ms() / 1000);
        snprintf(ad->message, sizeof(ad->message),
                 "Team %s has spent its %s budget of $%.2f; it renews in %ld s.", t->s.name,
                 sl_period_names[t->s.period], t->s.budget_usd, ad->retry_after_s);
        goto out;
    }
    kl = shared(&k->s.limits, a->share);
    tl = shared(&t->s.limits, a->share);
    scopes[0] = (struct scope){&k->n, &kl, "key"};
    scopes[1] = (struct scope){&t->n, &tl, "team"};
    if (!within(&scopes[0], tokens, now_us, ad, &reason) ||
        !within(&scopes[1], tokens, now_us, ad, &reason)) {
        for (int i = 0; i < 2; i++)
            report(&scopes[i], now_us, ad);
        goto out;
    }
    for (int i = 0; i < 2; i++) {
        take(&scopes[i], tokens);
        report(&scopes[i], now_us, ad);
    }
    ad->key = k;
    ad->team = t->s.name;
    ad->key_id = k->s.id;
    ad->log_payloads = t->s.log_payloads;
    ad->tokens = tokens;
    if (t->s.budget_usd > 0)
        ad->budget_left_usd = t->s.budget_usd - spent(t);
    ok = true;
out:
    if (!ok) {
        if (k && !k->s.revoked) { /* refused calls are still attributed in the audit log */
            ad->team = k->team->s.name;
            ad->key_id = k->s.id;
        }
        a->refused[reason]++;
    }
    pthread_mutex_unlock(&a->mu);
    return ok;
}

void sl_accounts_settle(struct sl_accounts *a, struct sl_admission *ad, long tokens_used,
                        double cost_usd)
{
    struct sl_key *k = ad->key;
    struct sl_team *t;

    if (!k)
        return;
    t = k->team;
    pthread_mutex_lock(&a->mu);
    k->n.active--;
    t->n.active--;
    if (tokens_used >= 0) { /* the bucket may go below zero: a debt the next minute pays */
        double diff = (double)(tokens_used - ad->tokens);
        if (k->s.limits.tpm)
            k->n.tok.level -= diff;
        if (t->s.limits.tpm)
            t->n.tok.level -= diff;
    }
    if (cost_usd > 0) {
        roll_period(t, sl_clock_wall_ms() / 1000);
        t->spent_usd += cost_usd;
        if (t->s.budget_usd > 0 && !t->warned && spent(t) >= t->s.warn_at * t->s.budget_usd) {
            t->warned = true;
            sl_warn("team %s has spent $%.4f of its %s budget of $%.2f", t->s.name, spent(t),
                    sl_period_names[t->s.period], t->s.budget_usd);
        }
    }
    pthread_mutex_unlock(&a->mu);
    ad->key = NULL;
}

bool sl_accounts_is_key(struct sl_accounts *a, const char *secret, size_t len)
{
    unsigned char digest[32];
    struct sl_key *k;
    bool live;

    sl_sha256(secret, len, digest);
    pthread_mutex_lock(&a->mu);
    k = find_key(a, digest);
    live = k && !k->s.revoked;
    pthread_mutex_unlock(&a->mu);
    return live;
}

/* --- descriptions ---------------------------------------------------------------------- */

/* The common description, and what this proxy knows of the team's spending. */
static cJSON *team_json(const struct sl_team *t)
{
    cJSON *o = sl_teams_team_json(&t->s, false);

    cJSON_AddNumberToObject(o, "spent_usd", spent(t)); /* as the budget counts it */
    cJSON_AddNumberToObject(o, "period_start",
                            (double)sl_period_start(t->s.period, t->period_end - 1));
    cJSON_AddNumberToObject(o, "in_flight", (double)t->n.active);
    return o;
}

cJSON *sl_accounts_teams_json(struct sl_accounts *a)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *data = cJSON_AddArrayToObject(root, "data");

    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < a->n_teams; i++) {
        roll_period(a->teams[i], sl_clock_wall_ms() / 1000);
        cJSON_AddItemToArray(data, team_json(a->teams[i]));
    }
    pthread_mutex_unlock(&a->mu);
    return root;
}

cJSON *sl_accounts_keys_json(struct sl_accounts *a, const char *team)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *data = cJSON_AddArrayToObject(root, "data");

    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < a->n_keys; i++)
        if (!team || strcmp(a->keys[i]->s.team, team) == 0)
            cJSON_AddItemToArray(data, sl_teams_key_json(&a->keys[i]->s, false));
    pthread_mutex_unlock(&a->mu);
    return root;
}

int sl_accounts_render_metrics(struct sl_accounts *a, struct sl_buf *out)
{
    static const char *const reasons[] = {"invalid_key", "rate_limit", "concurrency", "budget"};
    int rc = 0;

    pthread_mutex_lock(&a->mu);
    rc = sl_buf_adds(out, "# TYPE sluice_team_spend_usd gauge\n"
                          "# TYPE sluice_team_budget_usd gauge\n"
                          "# TYPE sluice_team_in_flight gauge\n");
    for (size_t i = 0; i < a->n_teams && rc == 0; i++) {
        const struct sl_team *t = a->teams[i];
        rc = sl_buf_addf(out,
                         "sluice_team_spend_usd{team=\"%s\"} %.6f\n"
                         "sluice_team_budget_usd{team=\"%s\"} %.6f\n"
                         "sluice_team_in_flight{team=\"%s\"} %ld\n",
                         t->s.name, t->spent_usd, t->s.name, t->s.budget_usd, t->s.name,
                         t->n.active);
    }
    rc = rc ? rc : sl_buf_adds(out, "# TYPE sluice_refused_total counter\n");
    for (int i = 0; i < 4 && rc == 0; i++)
        rc = sl_buf_addf(out, "sluice_refused_total{reason=\"%s\"} %llu\n", reasons[i],
                         (unsigned long long)a->refused[i]);
    pthread_mutex_unlock(&a->mu);
    return rc;
}

cJSON *sl_accounts_spend_json(struct sl_accounts *a)
{
    cJSON *root = cJSON_CreateObject();
    int64_t now = sl_clock_wall_ms() / 1000;

    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < a->n_teams; i++) {
        struct sl_team *t = a->teams[i];
        cJSON *o = cJSON_AddObjectToObject(root, t->s.name);
        roll_period(t, now);
        cJSON_AddNumberToObject(o, "since",
                                (double)sl_period_start(t->s.period, t->period_end - 1));
        cJSON_AddNumberToObject(o, "usd", t->spent_usd);
    }
    pthread_mutex_unlock(&a->mu);
    return root;
}

void sl_accounts_set_share(struct sl_accounts *a, long share)
{
    pthread_mutex_lock(&a->mu);
    a->share = share >= 1 ? share : 1;
    pthread_mutex_unlock(&a->mu);
}

void sl_accounts_set_others(struct sl_accounts *a, const char *team, int64_t since, double usd)
{
    struct sl_team *t;

    pthread_mutex_lock(&a->mu);
    if ((t = find_team(a, team)) && usd >= 0) {
        t->others_usd = usd;
        t->others_end = sl_period_end(t->s.period, since);
    }
    pthread_mutex_unlock(&a->mu);
}

/* --- changes ---------------------------------------------------------------------------- */

/* Runs one statement with bound values: "s" text, "i" integer, "d" double, "b" 32-byte blob,
 * "n" NULL. SL_EIO with the message in err when SQLite refuses. The caller holds change_mu. */
static int exec(struct sl_accounts *a, const char *sql, const char *types, char *err, size_t errlen,
                ...)
{
    sqlite3_stmt *st = NULL;
    va_list ap;
    int rc = SL_EIO;

    va_start(ap, errlen);
    if (sqlite3_prepare_v2(a->db, sql, -1, &st, NULL) != SQLITE_OK)
        goto out;
    for (int i = 1; *types; types++, i++) {
        switch (*types) {
        case 's':
            sqlite3_bind_text(st, i, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
            break;
        case 'i':
            sqlite3_bind_int64(st, i, va_arg(ap, int64_t));
            break;
        case 'd':
            sqlite3_bind_double(st, i, va_arg(ap, double));
            break;
        case 'b':
            sqlite3_bind_blob(st, i, va_arg(ap, const void *), 32, SQLITE_TRANSIENT);
            break;
        default:
            sqlite3_bind_null(st, i);
        }
    }
    if (sqlite3_step(st) == SQLITE_DONE)
        rc = 0;
out:
    va_end(ap);
    if (rc)
        snprintf(err, errlen, "keys.db: %s", sqlite3_errmsg(a->db));
    sqlite3_finalize(st);
    return rc;
}

static int store_team(struct sl_accounts *a, const struct sl_team_settings *s, char *err,
                      size_t errlen)
{
    return exec(a, "INSERT OR REPLACE INTO teams VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", "siiidsdii",
                err, errlen, s->name, (int64_t)s->limits.rpm, (int64_t)s->limits.tpm,
                (int64_t)s->limits.concurrency, s->budget_usd, sl_period_names[s->period],
                s->warn_at, (int64_t)s->log_payloads, (int64_t)(sl_clock_wall_ms() / 1000));
}

/* Writes a key's row, replacing the one with its id. */
static int store_key(struct sl_accounts *a, const struct sl_key_settings *k, char *err,
                     size_t errlen)
{
    return exec(a, "INSERT OR REPLACE INTO keys VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                k->revoked ? "sssbsiiiii" : "sssbsiniii", err, errlen, k->id, k->team, k->name,
                k->digest, k->hint, k->created, k->revoked, (int64_t)k->limits.rpm,
                (int64_t)k->limits.tpm, (int64_t)k->limits.concurrency);
}

struct spend_ctx {
    struct sl_accounts *a;
    enum sl_period period;
    const char *team; /* one team's, into usd; NULL: every team of the period's, in place */
    double usd;
};

static void add_spend(const char *team, double usd, void *arg)
{
    struct spend_ctx *ctx = arg;
    struct sl_team *t;

    if (ctx->team && strcmp(team, ctx->team) == 0)
        ctx->usd = usd;
    else if (!ctx->team && (t = find_team(ctx->a, team)) && t->s.period == ctx->period)
        t->spent_usd = usd;
}

/* Spending in the current period p from the audit log, the record: every team's of that
 * period in place, or team's alone into *usd. */
static int audit_spend(struct sl_accounts *a, enum sl_period p, const char *team, double *usd,
                       char *err, size_t errlen)
{
    struct spend_ctx ctx = {a, p, team, 0};
    struct sl_auditdb adb = {0};
    struct stat st;
    int rc;

    if (!a->audit_path || stat(a->audit_path, &st) != 0)
        return 0;
    rc = sl_auditdb_open(&adb, a->audit_path, true, err, errlen);
    if (rc == 0 &&
        (rc = sl_auditdb_team_spend(&adb, sl_period_start(p, sl_clock_wall_ms() / 1000) * 1000,
                                    add_spend, &ctx)) != 0)
        snprintf(err, errlen, "%s: %s", a->audit_path, sqlite3_errmsg(adb.db));
    sl_auditdb_close(&adb);
    if (usd)
        *usd = ctx.usd;
    return rc;
}

/* What a team new here, or moving to s's kind of period, has spent in its current period (-1
 * when it is neither, or the audit log cannot tell: it then starts from 0). The caller holds
 * change_mu, not mu: this reads the disk. */
static double recount(struct sl_accounts *a, const struct sl_team_settings *s)
{
    const struct sl_team *t = find_team(a, s->name);
    double usd = -1;
    char err[256];

    if ((!t || t->s.period != s->period) &&
        audit_spend(a, s->period, s->name, &usd, err, sizeof(err)))
        sl_warn("team %s: spending in its new period starts from 0: %s", s->name, err);
    return usd;
}

/* Sets a team in memory (its counters kept; spending too, unless it is new or its kind of
 * period changes, when it becomes spent_usd, recount's answer); the caller holds both locks. */
static struct sl_team *put_team(struct sl_accounts *a, const struct sl_team_settings *s,
                                double spent_usd)
{
    struct sl_team *t = find_team(a, s->name);

    if (!t) {
        t = xcalloc(1, sizeof(*t));
        t->s = *s;
        add_team(a, t);
    }
    if (!t->period_end || t->s.period != s->period) {
        t->spent_usd = spent_usd > 0 ? spent_usd : 0;
        t->period_end = sl_period_end(s->period, sl_clock_wall_ms() / 1000);
    }
    t->s = *s;
    t->warned = false;
    return t;
}

static struct sl_key *find_key_id(const struct sl_accounts *a, const char *id)
{
    for (size_t i = 0; i < a->n_keys; i++)
        if (strcmp(a->keys[i]->s.id, id) == 0)
            return a->keys[i];
    return NULL;
}

int sl_accounts_set_team(struct sl_accounts *a, const struct sl_team_settings *s, cJSON **out,
                         char *err, size_t errlen)
{
    struct sl_team *t;
    int rc;

    if (!sl_teams_valid_name(s->name)) {
        snprintf(err, errlen, "name: 1 to 63 characters of A-Z a-z 0-9 . _ -");
        return SL_EINVAL;
    }
    pthread_mutex_lock(&a->change_mu);
    if ((rc = store_team(a, s, err, errlen)) == 0) {
        double spent = recount(a, s);
        pthread_mutex_lock(&a->mu);
        t = put_team(a, s, spent);
        if (out) {
            roll_period(t, sl_clock_wall_ms() / 1000); /* as sl_accounts_teams_json shows it */
            *out = team_json(t);
        }
        pthread_mutex_unlock(&a->mu);
    }
    pthread_mutex_unlock(&a->change_mu);
    return rc;
}

int sl_accounts_create_key(struct sl_accounts *a, const char *team, const char *name,
                           const struct sl_limits *limits, char secret[SL_KEY_SECRET_LEN + 1],
                           cJSON **out, char *err, size_t errlen)
{
    struct sl_team *t;
    struct sl_key *k = xcalloc(1, sizeof(*k));
    int rc = SL_ENOTFOUND;

    sl_teams_new_key(&k->s, team, name, limits, secret);
    pthread_mutex_lock(&a->change_mu);
    if (!(t = find_team(a, team)))
        snprintf(err, errlen, "team: no team called '%s'", team);
    else
        rc = store_key(a, &k->s, err, errlen);
    if (rc == 0) {
        pthread_mutex_lock(&a->mu);
        k->team = t;
        index_key(a, k);
        pthread_mutex_unlock(&a->mu);
        *out = sl_teams_key_json(&k->s, false);
        k = NULL;
    }
    pthread_mutex_unlock(&a->change_mu);
    free(k);
    return rc;
}

int sl_accounts_revoke_key(struct sl_accounts *a, const char *id, cJSON **out, char *err,
                           size_t errlen)
{
    struct sl_key *k;
    int64_t now = sl_clock_wall_ms() / 1000;
    int rc = 0;

    pthread_mutex_lock(&a->change_mu);
    if (!(k = find_key_id(a, id))) {
        snprintf(err, errlen, "no key with id '%s'", id);
        rc = SL_ENOTFOUND;
    } else if (!k->s.revoked && /* revoking twice is harmless; the first time stands */
               (rc = exec(a, "UPDATE keys SET revoked = ? WHERE id = ?", "is", err, errlen, now,
                          id)) == 0) {
        pthread_mutex_lock(&a->mu);
        k->s.revoked = now;
        pthread_mutex_unlock(&a->mu);
    }
    if (rc == 0)
        *out = sl_teams_key_json(&k->s, false);
    pthread_mutex_unlock(&a->change_mu);
    return rc;
}

/* Marks the keys d names (as wanted) and writes d's state to keys.db: teams, d's keys (a key
 * revoked here stays revoked), and the revocation of every other live key. The caller holds
 * change_mu and has begun a transaction. */
static int sync_db(struct sl_accounts *a, const struct sl_teams_doc *d, int64_t now, char *err,
                   size_t errlen)
{
    int rc = 0;

    for (size_t i = 0; i < a->n_keys; i++)
        a->keys[i]->wanted = false;
    for (size_t i = 0; i < d->n_teams && rc == 0; i++)
        rc = store_team(a, &d->teams[i], err, errlen);
    for (size_t i = 0; i < d->n_keys && rc == 0; i++) {
        struct sl_key_settings k = d->keys[i];
        struct sl_key *old = find_key(a, k.digest);
        /* a new key's id must be new too (a search, but only for keys not seen before) */
        if (old ? strcmp(old->s.id, k.id) != 0 : find_key_id(a, k.id) != NULL) {
            snprintf(err, errlen, "key %s: keys.db holds another key with its id or its digest",
                     k.id);
            return SL_EINVAL;
        }
        if (old) {
            old->wanted = true;
            if (old->s.revoked)
                k.revoked = old->s.revoked;
        }
        rc = store_key(a, &k, err, errlen);
    }
    for (size_t i = 0; i < a->n_keys && rc == 0; i++)
        if (!a->keys[i]->wanted && !a->keys[i]->s.revoked)
            rc = exec(a, "UPDATE keys SET revoked = ? WHERE id = ?", "is", err, errlen, now,
                      a->keys[i]->s.id);
    return rc;
}

int sl_accounts_sync(struct sl_accounts *a, const struct sl_teams_doc *d, char *err, size_t errlen)
{
    int64_t now = sl_clock_wall_ms() / 1000;
    double *spent = xcalloc(d->n_teams, sizeof(*spent));
    size_t n_old;
    int rc;

    pthread_mutex_lock(&a->change_mu);
    rc = exec(a, "BEGIN", "", err, errlen);
    if (rc == 0 && (rc = sync_db(a, d, now, err, errlen)) == 0)
        rc = exec(a, "COMMIT", "", err, errlen);
    if (rc) {
        char ignored[8];
        (void)exec(a, "ROLLBACK", "", ignored, sizeof(ignored));
        pthread_mutex_unlock(&a->change_mu);
        free(spent);
        return rc;
    }
    for (size_t i = 0; i < d->n_teams; i++)
        spent[i] = recount(a, &d->teams[i]);
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < d->n_teams; i++)
        put_team(a, &d->teams[i], spent[i]);
    n_old = a->n_keys;
    for (size_t i = 0; i < d->n_keys; i++) {
        struct sl_key *k = find_key(a, d->keys[i].digest);
        int64_t revoked = k && k->s.revoked ? k->s.revoked : d->keys[i].revoked;
        if (!k) {
            k = xcalloc(1, sizeof(*k));
            k->s = d->keys[i];
            k->wanted = true;
            index_key(a, k);
        }
        k->s = d->keys[i];
        k->s.revoked = revoked;
        k->team = find_team(a, k->s.team);
    }
    for (size_t i = 0; i < n_old; i++)
        if (!a->keys[i]->wanted && !a->keys[i]->s.revoked)
            a->keys[i]->s.revoked = now;
    pthread_mutex_unlock(&a->mu);
    pthread_mutex_unlock(&a->change_mu);
    free(spent);
    return 0;
}

/* --- loading --------------------------------------------------------------------------- */

static int load_team(void *ctx, const struct sl_team_settings *s)
{
    struct sl_accounts *a = ctx;
    struct sl_team *t = xcalloc(1, sizeof(*t));

    t->s = *s;
    t->period_end = sl_period_end(s->period, sl_clock_wall_ms() / 1000);
    add_team(a, t);
    return 0;
}

static int load_key(void *ctx, const struct sl_key_settings *s)
{
    struct sl_accounts *a = ctx;
    struct sl_key *k;
    struct sl_team *t = find_team(a, s->team);

    if (!t)
        return SL_EPARSE;
    k = xcalloc(1, sizeof(*k));
    k->s = *s;
    k->team = t;
    index_key(a, k);
    return 0;
}

struct sl_accounts *sl_accounts_create(const char *keys_path, const char *audit_path, char *err,
                                       size_t errlen)
{
    struct sl_accounts *a = xcalloc(1, sizeof(*a));
    int rc = 0;

    a->share = 1;
    pthread_mutex_init(&a->mu, NULL);
    pthread_mutex_init(&a->change_mu, NULL);
    a->db = sl_db_open(keys_path, false, migrations, sizeof(migrations) / sizeof(*migrations), err,
                       errlen);
    if (a->db) {
        err[0] = '\0'; /* load_key refuses a key of a missing team without a message */
        rc = sl_keysdb_read(a->db, load_team, load_key, a, err, errlen);
        if (rc == SL_EPARSE && !err[0])
            snprintf(err, errlen, "keys.db: a key of a team that is not there");
    }
    a->audit_path = audit_path ? xstrdup(audit_path) : NULL;
    for (int p = 0; p < 3 && a->db && rc == 0; p++)
        rc = audit_spend(a, (enum sl_period)p, NULL, NULL, err, errlen);
    if (!a->db || rc) {
        sl_accounts_destroy(a);
        return NULL;
    }
    return a;
}

void sl_accounts_destroy(struct sl_accounts *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n_keys; i++)
        free(a->keys[i]);
    for (size_t i = 0; i < a->n_teams; i++)
        free(a->teams[i]);
    free(a->keys);
    free(a->key_index.slots);
    free(a->teams);
    free(a->team_index.slots);
    free(a->audit_path);
    sqlite3_close(a->db);
    pthread_mutex_destroy(&a->mu);
    pthread_mutex_destroy(&a->change_mu);
    free(a);
}
