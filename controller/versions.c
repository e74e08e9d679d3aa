/* control.db: configuration versions, classifiers, the policy's state and its events.
 *
 * versions: one row per configuration version, numbered from 1 without gaps. document is the
 *   version document as JSON ({"routes": {...}, "fallbacks": {...}, "accounts": {...}}; keys
 *   by their SHA-256 only, never their secrets), diff the JSON array of changes against the
 *   version before (see sl_versions_diff), created_us Unix µs.
 * classifiers: every registered artifact, by "sha256:HEX" of its bytes; body is the artifact
 *   exactly as registered (the bytes the id hashes), note the registrant's free text.
 * policy: per (route, tier), how far the alert policy has lowered the tier's threshold in all
 *   (shift), the alert that moved it last and when.
 * events: what the policy did or was told: kind "notify", "held", "adjust" or "restore".
 * ledgers: what each ledger (a proxy's audit log) last reported spending, as the JSON text
 *   {"TEAM": {"since", "usd"}}, and when: a restarted controller still counts the spending of a
 *   proxy that is gone for good against the team's budget. */
#include "versions.h"
#include "clock.h"

#include "clfcache.h"

#define SL_LOG_MODULE "versions"
#include "db.h"
#include "json.h"
#include "jsonconf.h"
#include "log.h"
#include "sha256.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const migrations[] = {
    "CREATE TABLE versions(version INTEGER PRIMARY KEY, created_us INTEGER NOT NULL,"
    " author TEXT NOT NULL, reason TEXT NOT NULL, document TEXT NOT NULL, diff TEXT NOT NULL);"
    "CREATE TABLE classifiers(id TEXT PRIMARY KEY, feature_spec_hash TEXT NOT NULL,"
    " body TEXT NOT NULL, registered_us INTEGER NOT NULL, note TEXT);"
    "CREATE TABLE policy(route TEXT NOT NULL, tier TEXT NOT NULL, shift REAL NOT NULL,"
    " alert_id INTEGER, last_us INTEGER, PRIMARY KEY(route, tier));"
    "CREATE TABLE events(id INTEGER PRIMARY KEY, ts_us INTEGER NOT NULL, kind TEXT NOT NULL,"
    " route TEXT, tier TEXT, alert_id INTEGER, version INTEGER, message TEXT);",
    "CREATE TABLE ledgers(id TEXT PRIMARY KEY, spend TEXT NOT NULL, last_us INTEGER NOT NULL);",
    "ALTER TABLE policy ADD COLUMN restored_us INTEGER;"
    "ALTER TABLE policy ADD COLUMN keep INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE policy ADD COLUMN set_to REAL;",
};

#define STATIC_MAX   (16u << 20)  /* sluice.json */
#define ARTIFACT_MAX (256u << 20) /* a classifier file read for the API */

struct sl_versions {
    pthread_mutex_t mu;
    sqlite3 *db;
    char *static_path;
    cJSON *file_root;         /* sluice.json's tree */
    int64_t current;          /* 0 before version 1 */
    cJSON *doc;               /* the current document */
    struct sl_config *cfg;    /* built from it; NULL when it no longer builds */
    struct sl_clfcache *clfs; /* the classifiers versions name, parsed once */
};

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        abort(); /* small internal allocation */
    return p;
}

/* cJSON_Print* and cJSON_Duplicate fail only when out of memory. */
static char *print(const cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);
    if (!s)
        abort();
    return s;
}

static cJSON *dup_tree(const cJSON *j)
{
    cJSON *d = cJSON_Duplicate(j, 1);
    if (!d)
        abort();
    return d;
}

/* ---- diff ---- */

static void diff_add(cJSON *out, const char *path, const cJSON *from, const cJSON *to)
{
    cJSON *e = cJSON_CreateObject();

    cJSON_AddStringToObject(e, "path", path);
    if (from)
        cJSON_AddItemToObject(e, "from", dup_tree(from));
    if (to)
        cJSON_AddItemToObject(e, "to", dup_tree(to));
    cJSON_AddItemToArray(out, e);
}

static char *join(const char *path, const char *key)
{
    char *p;

    if (asprintf(&p, "%s%s%s", path, *path ? "." : "", key) < 0)
        abort();
    return p;
}

static void diff_rec(cJSON *out, const char *path, const cJSON *a, const cJSON *b)
{
    const cJSON *m;

    if (!cJSON_IsObject(a) || !cJSON_IsObject(b)) {
        if (!cJSON_Compare(a, b, 1))
            diff_add(out, path, a, b);
        return;
    }
    cJSON_ArrayForEach(m, a)
    {
        const cJSON *other = cJSON_GetObjectItemCaseSensitive(b, m->string);
        char *p = join(path, m->string);
        if (other)
            diff_rec(out, p, m, other);
        else
            diff_add(out, p, m, NULL);
        free(p);
    }
    cJSON_ArrayForEach(m, b)
    {
        if (!cJSON_GetObjectItemCaseSensitive(a, m->string)) {
            char *p = join(path, m->string);
            diff_add(out, p, NULL, m);
            free(p);
        }
    }
}

cJSON *sl_versions_diff(const cJSON *from, const cJSON *to)
{
    cJSON *out = cJSON_CreateArray(), *empty = cJSON_CreateObject();

    if (!out || !empty)
        abort();
    diff_rec(out, "", from ? from : empty, to ? to : empty);
    cJSON_Delete(empty);
    return out;
}

/* ---- classifiers named in documents ---- */

static void add_id(char ***ids, size_t *n, const cJSON *ref)
{
    if (!cJSON_IsString(ref) || strncmp(ref->valuestring, "sha256:", 7) != 0)
        return;
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*ids)[i], ref->valuestring) == 0)
            return;
    *ids = realloc(*ids, (*n + 2) * sizeof(**ids));
    if (!*ids)
        abort();
    (*ids)[(*n)++] = xstrdup(ref->valuestring);
    (*ids)[*n] = NULL;
}

char **sl_versions_doc_classifiers(const cJSON *doc)
{
    const cJSON *routes = cJSON_GetObjectItemCaseSensitive(doc, "routes"), *r, *arm;
    char **ids = calloc(1, sizeof(*ids));
    size_t n = 0;

    if (!ids)
        abort();
    cJSON_ArrayForEach(r, routes)
    {
        const cJSON *ab = cJSON_GetObjectItemCaseSensitive(r, "ab");
        add_id(&ids, &n, cJSON_GetObjectItemCaseSensitive(r, "classifier"));
        cJSON_ArrayForEach(arm, cJSON_GetObjectItemCaseSensitive(ab, "arms"))
        {
            add_id(&ids, &n, cJSON_GetObjectItemCaseSensitive(arm, "classifier"));
        }
    }
    return ids;
}

void sl_versions_ids_free(char **ids)
{
    for (char **p = ids; p && *p; p++)
        free(*p);
    free(ids);
}

/* ---- small SQLite helpers ---- */

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static void bind_id(sqlite3_stmt *st, int i, int64_t v)
{
    if (v)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

static const char *column_text(sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    return s ? (const char *)s : NULL;
}

/* Adds column i as a string member, or null. */
static void add_column_string(cJSON *o, const char *name, sqlite3_stmt *st, int i)
{
    const char *s = column_text(st, i);

    if (s)
        cJSON_AddStringToObject(o, name, s);
    else
        cJSON_AddNullToObject(o, name);
}

/* Adds column i as a number member, or null when NULL. */
static void add_column_number(cJSON *o, const char *name, sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        cJSON_AddNullToObject(o, name);
    else
        cJSON_AddNumberToObject(o, name, (double)sqlite3_column_int64(st, i));
}

static sqlite3_stmt *prepare(struct sl_versions *vs, const char *sql)
{
    sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(vs->db, sql, -1, &st, NULL) != SQLITE_OK) {
        sl_error("control.db: %s", sqlite3_errmsg(vs->db));
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

/* A column parsed as JSON; a row that is not JSON (hand-edited) reads as null. */
static cJSON *column_json(sqlite3_stmt *st, int i)
{
    const char *s = column_text(st, i);
    cJSON *j = s ? cJSON_Parse(s) : NULL;

    return j ? j : cJSON_CreateNull();
}

/* ---- the classifier cache and the resolver ---- */

/* Reads a registered body; 0, SL_ENOTFOUND, SL_EIO. */
static int load_body(struct sl_versions *vs, const char *id, char **body, size_t *len)
{
    sqlite3_stmt *st = prepare(vs, "SELECT body FROM classifiers WHERE id = ?");
    int rc = SL_EIO, step;

    *body = NULL;
    if (!st)
        return SL_EIO;
    bind_text(st, 1, id);
    step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        const void *p = sqlite3_column_blob(st, 0); /* before its size: see sqlite3_column_blob */
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        if ((*body = malloc(n + 1))) {
            if (n)
                memcpy(*body, p, n);
            (*body)[n] = '\0';
            *len = n;
            rc = 0;
        } else {
            rc = SL_ENOMEM;
        }
    } else if (step == SQLITE_DONE) {
        rc = SL_ENOTFOUND;
    } else {
        sl_error("control.db: %s", sqlite3_errmsg(vs->db));
    }
    sqlite3_finalize(st);
    return rc;
}

/* sl_classifier_resolver: "sha256:..." from control.db (parsed once), anything else a file. */
static struct sl_classifier *resolve(void *ctx, const char *file, const char *ref, char *err,
                                     size_t errlen)
{
    struct sl_versions *vs = ctx;
    struct sl_classifier *c;
    char *body = NULL;
    size_t len = 0;
    int rc;

    if (strncmp(ref, "sha256:", 7) != 0)
        return sl_clfcache_file(vs->clfs, file, ref, err, errlen);
    if ((c = sl_clfcache_get(vs->clfs, ref)))
        return sl_classifier_ref(c);
    rc = strlen(ref) < SL_VERSIONS_ID_LEN ? load_body(vs, ref, &body, &len) : SL_ENOTFOUND;
    if (rc == SL_ENOTFOUND) {
        snprintf(err, errlen, "%s is not registered with the controller (POST /admin/classifiers)",
                 ref);
        return NULL;
    }
    if (rc) {
        snprintf(err, errlen, "%s: cannot read control.db", ref);
        return NULL;
    }
    c = sl_classifier_parse(ref, body, len, err, errlen);
    free(body);
    if (!c)
        return NULL;
    if (sl_clfcache_put(vs->clfs, ref, sl_classifier_ref(c))) {
        /* not kept (out of memory): this version's reference works all the same */
    }
    return c; /* the parse's reference goes to the version */
}

/* Builds doc against sluice.json; NULL with "document: key: what is wrong" in err. */
static struct sl_config *build(struct sl_versions *vs, const cJSON *doc, char *err, size_t errlen)
{
    struct sl_config *cfg =
        sl_config_build("document", vs->static_path, vs->file_root, doc, resolve, vs, err, errlen);
    sl_clfcache_prune(vs->clfs);
    return cfg;
}

/* ---- versions ---- */

/* The id of a key that the current document (cur) has revoked and doc does not have revoked,
 * or NULL when every revoked key stays revoked. */
static const char *unrevoked_key(const cJSON *cur, const cJSON *doc)
{
    const cJSON *was = cJSON_GetObjectItemCaseSensitive(cur, "accounts");
    const cJSON *now = cJSON_GetObjectItemCaseSensitive(doc, "accounts");
    const cJSON *k;

    was = cJSON_GetObjectItemCaseSensitive(was, "keys");
    now = cJSON_GetObjectItemCaseSensitive(now, "keys");
    cJSON_ArrayForEach(k, was)
    {
        const cJSON *again = cJSON_GetObjectItemCaseSensitive(now, k->string);
        if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(k, "revoked")) &&
            !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(again, "revoked")))
            return k->string;
    }
    return NULL;
}

/* Stores doc as the next version and makes it current. The caller holds the lock. */
static int commit_locked(struct sl_versions *vs, const cJSON *doc, const char *author,
                         const char *reason, struct sl_versions_change *out, char *err,
                         size_t errlen)
{
    const cJSON *accounts = cJSON_GetObjectItemCaseSensitive(vs->doc, "accounts");
    struct sl_config *cfg = NULL;
    cJSON *merged = NULL, *diff = NULL;
    sqlite3_stmt *st = NULL;
    char *doc_text = NULL, *diff_text = NULL;
    const char *key;
    int64_t now = sl_clock_wall_us();
    int rc = SL_EIO;

    memset(out, 0, sizeof(*out));
    if (!author || !*author || !reason || !*reason) {
        snprintf(err, errlen, "a version needs an author and a reason");
        rc = SL_EINVAL;
        goto out;
    }
    /* Teams and keys change through their own endpoints: a document without them (an old one
     * rolled back, or a tool's that knows only routes) keeps the current ones, so that it can
     * neither bring back a revoked key nor cut off the keys made since. */
    if (accounts && cJSON_IsObject(doc) && !cJSON_GetObjectItemCaseSensitive(doc, "accounts")) {
        merged = dup_tree(doc);
        cJSON_AddItemToObject(merged, "accounts", dup_tree(accounts));
        doc = merged;
    }
    diff = sl_versions_diff(vs->doc, doc);
    if (vs->current && cJSON_GetArraySize(diff) == 0) {
        out->version = vs->current;
        out->unchanged = true;
        rc = 0;
        goto out;
    }
    if (!(cfg = build(vs, doc, err, errlen))) {
        rc = SL_EINVAL;
        goto out;
    }
    /* Proxies may have refused a revoked key's callers for a while; letting it in again would
     * hand a leaked secret back its power. */
    if ((key = unrevoked_key(vs->doc, doc))) {
        snprintf(err, errlen, "document: accounts.keys.%s: a revoked key stays revoked", key);
        rc = SL_EINVAL;
        goto out;
    }
    doc_text = print(doc);
    diff_text = print(diff);
    if (!(st = prepare(vs, "INSERT INTO versions(version, created_us, author, reason, document,"
                           " diff) VALUES(?, ?, ?, ?, ?, ?)")))
        goto io;
    sqlite3_bind_int64(st, 1, vs->current + 1);
    sqlite3_bind_int64(st, 2, now);
    bind_text(st, 3, author);
    bind_text(st, 4, reason);
    bind_text(st, 5, doc_text);
    bind_text(st, 6, diff_text);
    if (sqlite3_step(st) != SQLITE_DONE) {
        sl_error("control.db: cannot store version %lld: %s", (long long)vs->current + 1,
                 sqlite3_errmsg(vs->db));
        goto io;
    }
    vs->current++;
    cJSON_Delete(vs->doc);
    vs->doc = dup_tree(doc);
    sl_config_destroy(vs->cfg);
    vs->cfg = cfg;
    cfg = NULL;
    sl_clfcache_prune(vs->clfs); /* the old configuration's classifiers went with it */
    out->version = vs->current;
    out->diff = diff;
    diff = NULL;
    sl_info("version %lld by %s: %s", (long long)vs->current, author, reason);
    rc = 0;
    goto out;
io:
    snprintf(err, errlen, "control.db: cannot store the version");
out:
    sqlite3_finalize(st);
    sl_config_destroy(cfg);
    cJSON_Delete(diff);
    cJSON_Delete(merged);
    free(doc_text);
    free(diff_text);
    return rc;
}

int sl_versions_commit(struct sl_versions *vs, const cJSON *doc, const char *author,
                       const char *reason, int64_t base_version, struct sl_versions_change *out,
                       char *err, size_t errlen)
{
    int rc;

    pthread_mutex_lock(&vs->mu);
    if (base_version > 0 && base_version != vs->current) {
        memset(out, 0, sizeof(*out));
        snprintf(err, errlen, "base_version %lld is not the current version %lld",
                 (long long)base_version, (long long)vs->current);
        rc = SL_EAGAIN;
    } else {
        rc = commit_locked(vs, doc, author, reason, out, err, errlen);
    }
    pthread_mutex_unlock(&vs->mu);
    return rc;
}

int sl_versions_update(struct sl_versions *vs, sl_versions_edit_fn edit, void *ctx,
                       const char *author, const char *reason, struct sl_versions_change *out,
                       char *err, size_t errlen)
{
    cJSON *doc;
    int rc;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&vs->mu);
    doc = dup_tree(vs->doc);
    rc = edit(ctx, doc, vs->cfg, err, errlen);
    if (rc == 0)
        rc = commit_locked(vs, doc, author, reason, out, err, errlen);
    pthread_mutex_unlock(&vs->mu);
    cJSON_Delete(doc);
    return rc;
}

int64_t sl_versions_current(struct sl_versions *vs, cJSON **doc)
{
    int64_t v;

    pthread_mutex_lock(&vs->mu);
    v = vs->current;
    if (doc)
        *doc = dup_tree(vs->doc);
    pthread_mutex_unlock(&vs->mu);
    return v;
}

int sl_versions_get(struct sl_versions *vs, int64_t version, bool with_document,
                    struct sl_versions_entry *out)
{
    sqlite3_stmt *st;
    int rc = SL_EIO, step;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&vs->mu);
    st = prepare(vs, "SELECT created_us, author, reason, diff, document FROM versions"
                     " WHERE version = ?");
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, version);
    step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        rc = SL_ENOTFOUND;
        goto out;
    }
    if (step != SQLITE_ROW) {
        sl_error("control.db: %s", sqlite3_errmsg(vs->db));
        goto out;
    }
    out->version = version;
    out->created_us = sqlite3_column_int64(st, 0);
    out->author = xstrdup(column_text(st, 1) ? column_text(st, 1) : "");
    out->reason = xstrdup(column_text(st, 2) ? column_text(st, 2) : "");
    out->diff = column_json(st, 3);
    if (with_document)
        out->document = column_json(st, 4);
    rc = 0;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&vs->mu);
    return rc;
}

void sl_versions_entry_free(struct sl_versions_entry *e)
{
    free(e->author);
    free(e->reason);
    cJSON_Delete(e->diff);
    cJSON_Delete(e->document);
    memset(e, 0, sizeof(*e));
}

/* Runs a query whose rows become objects of a JSON array; row() adds one row's members. NULL
 * on a database error. The caller holds the lock. */
static cJSON *rows_json(struct sl_versions *vs, sqlite3_stmt *st,
                        void (*row)(cJSON *o, sqlite3_stmt *st))
{
    cJSON *arr = cJSON_CreateArray();
    int step;

    if (!arr)
        abort();
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        row(o, st);
        cJSON_AddItemToArray(arr, o);
    }
    if (step != SQLITE_DONE) {
        sl_error("control.db: %s", sqlite3_errmsg(vs->db));
        cJSON_Delete(arr);
        arr = NULL;
    }
    return arr;
}

static void version_row(cJSON *o, sqlite3_stmt *st)
{
    cJSON_AddNumberToObject(o, "version", (double)sqlite3_column_int64(st, 0));
    add_column_string(o, "author", st, 1);
    cJSON_AddNumberToObject(o, "created_us", (double)sqlite3_column_int64(st, 2));
    add_column_string(o, "reason", st, 3);
    cJSON_AddItemToObject(o, "diff", column_json(st, 4));
}

cJSON *sl_versions_list_json(struct sl_versions *vs, int limit)
{
    sqlite3_stmt *st;
    cJSON *arr = NULL;

    pthread_mutex_lock(&vs->mu);
    if ((st = prepare(vs, "SELECT version, author, created_us, reason, diff FROM versions"
                          " ORDER BY version DESC LIMIT ?"))) {
        sqlite3_bind_int(st, 1, limit);
        arr = rows_json(vs, st, version_row);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&vs->mu);
    return arr;
}

int sl_versions_thresholds(struct sl_versions *vs, const char *route, double *out, size_t max,
                           size_t *n)
{
    const struct sl_route *r;
    int rc = SL_ENOTFOUND;

    *n = 0;
    pthread_mutex_lock(&vs->mu);
    if (vs->cfg && (r = sl_config_route(vs->cfg, route))) {
        for (size_t i = 0; i + 1 < r->n_tiers && i < max; i++)
            out[(*n)++] = r->thresholds[i];
        rc = 0;
    }
    pthread_mutex_unlock(&vs->mu);
    return rc;
}

/* ---- classifiers ---- */

int sl_versions_register_classifier(struct sl_versions *vs, const char *body, size_t len,
                                    const char *note, char id[SL_VERSIONS_ID_LEN], bool *existed,
                                    char *err, size_t errlen)
{
    struct sl_classifier *c = sl_classifier_parse("classifier", body, len, err, errlen);
    sqlite3_stmt *st = NULL;
    char hex[65];
    int rc = SL_EIO;

    *existed = false;
    id[0] = '\0';
    if (!c)
        return SL_EINVAL;
    sl_classifier_destroy(c); /* parsed to validate; versions parse it again when they name it */
    sl_sha256_hex(body, len, hex);
    snprintf(id, SL_VERSIONS_ID_LEN, "sha256:%s", hex);
    pthread_mutex_lock(&vs->mu);
    if (!(st = prepare(vs, "INSERT OR IGNORE INTO classifiers(id, feature_spec_hash, body,"
                           " registered_us, note) VALUES(?, ?, ?, ?, ?)")))
        goto out;
    bind_text(st, 1, id);
    bind_text(st, 2, sl_features_spec_hash()); /* the parse checked that it is this build's */
    sqlite3_bind_text(st, 3, body, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, sl_clock_wall_us());
    bind_text(st, 5, note);
    if (sqlite3_step(st) != SQLITE_DONE) {
        sl_error("control.db: cannot store classifier %s: %s", id, sqlite3_errmsg(vs->db));
        snprintf(err, errlen, "control.db: cannot store the classifier");
        goto out;
    }
    *existed = sqlite3_changes(vs->db) == 0;
    if (!*existed)
        sl_info("classifier %s registered", id);
    rc = 0;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&vs->mu);
    return rc;
}

static void classifier_row(cJSON *o, sqlite3_stmt *st)
{
    const char *body = column_text(st, 4);
    size_t len = (size_t)sqlite3_column_bytes(st, 4), s, e;
    cJSON *metrics;

    add_column_string(o, "id", st, 0);
    add_column_string(o, "feature_spec_hash", st, 1);
    cJSON_AddNumberToObject(o, "registered_us", (double)sqlite3_column_int64(st, 2));
    add_column_string(o, "note", st, 3);
    /* found in the text without parsing the weights */
    if (body && sl_json_member_span(body, len, "metrics", &s, &e) &&
        (metrics = cJSON_ParseWithLength(body + s, e - s))) {
        if (cJSON_IsObject(metrics))
            cJSON_AddItemToObject(o, "metrics", metrics);
        else
            cJSON_Delete(metrics);
    }
}

cJSON *sl_versions_classifiers_json(struct sl_versions *vs)
{
    sqlite3_stmt *st;
    cJSON *arr = NULL;

    pthread_mutex_lock(&vs->mu);
    if ((st = prepare(vs, "SELECT id, feature_spec_hash, registered_us, note, body"
                          " FROM classifiers ORDER BY registered_us DESC, rowid DESC")))
        arr = rows_json(vs, st, classifier_row);
    sqlite3_finalize(st);
    pthread_mutex_unlock(&vs->mu);
    return arr;
}

int sl_versions_classifier_body(struct sl_versions *vs, const char *id, char **body, size_t *len)
{
    int rc;

    pthread_mutex_lock(&vs->mu);
    rc = load_body(vs, id, body, len);
    pthread_mutex_unlock(&vs->mu);
    return rc;
}

int sl_versions_route_classifier(struct sl_versions *vs, const char *route, char **body,
                                 size_t *len, char *err, size_t errlen)
{
    const cJSON *r, *ref;
    char *path = NULL;
    int rc = SL_ENOTFOUND;

    *body = NULL;
    pthread_mutex_lock(&vs->mu);
    r = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(vs->doc, "routes"),
                                         route);
    ref = cJSON_GetObjectItemCaseSensitive(r, "classifier");
    if (!cJSON_IsString(ref)) {
        snprintf(err, errlen, "version %lld has no route called \"%s\"", (long long)vs->current,
                 route);
        goto out;
    }
    if (strncmp(ref->valuestring, "sha256:", 7) == 0) {
        rc = load_body(vs, ref->valuestring, body, len);
        if (rc)
            snprintf(err, errlen, "%s: cannot read it from control.db", ref->valuestring);
        goto out;
    }
    path = sl_jsonconf_path(vs->static_path, ref->valuestring);
    *body = sl_jsonconf_read(path, ARTIFACT_MAX, len, err, errlen);
    rc = *body ? 0 : SL_EIO;
out:
    pthread_mutex_unlock(&vs->mu);
    free(path);
    return rc;
}

/* ---- policy and events ---- */

int sl_versions_policy_get(struct sl_versions *vs, const char *route, const char *tier,
                           struct sl_versions_policy_row *out)
{
    sqlite3_stmt *st = NULL, *last = NULL;
    int rc = SL_EIO, step;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&vs->mu);
    if (!(st = prepare(vs, "SELECT shift, alert_id, last_us, restored_us, keep, set_to FROM policy"
                           " WHERE route = ? AND tier = ?")) ||
        !(last = prepare(vs, "SELECT max(last_us) FROM policy WHERE route = ?")))
        goto out;
    bind_text(st, 1, route);
    bind_text(st, 2, tier);
    step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        out->shift = sqlite3_column_double(st, 0);
        out->alert_id = sqlite3_column_int64(st, 1);
        out->last_us = sqlite3_column_int64(st, 2);
        out->restored_us = sqlite3_column_int64(st, 3);
        out->keep = sqlite3_column_int(st, 4) != 0;
        out->set_to = sqlite3_column_double(st, 5); /* NULL reads as 0: unknown */
    } else if (step != SQLITE_DONE) {
        goto fail;
    }
    bind_text(last, 1, route);
    if (sqlite3_step(last) != SQLITE_ROW)
        goto fail;
    out->route_last_us = sqlite3_column_int64(last, 0);
    rc = 0;
    goto out;
fail:
    sl_error("control.db: policy: %s", sqlite3_errmsg(vs->db));
out:
    sqlite3_finalize(st);
    sqlite3_finalize(last);
    pthread_mutex_unlock(&vs->mu);
    return rc;
}

int sl_versions_policy_set(struct sl_versions *vs, const char *route, const char *tier,
                           const struct sl_versions_policy_row *row)
{
    sqlite3_stmt *st;
    int rc = SL_EIO;

    pthread_mutex_lock(&vs->mu);
    if ((st = prepare(vs, "INSERT OR REPLACE INTO policy(route, tier, shift, alert_id, last_us,"
                          " restored_us, keep, set_to) VALUES(?, ?, ?, ?, ?, ?, ?, ?)"))) {
        bind_text(st, 1, route);
        bind_text(st, 2, tier);
        sqlite3_bind_double(st, 3, row->shift);
        bind_id(st, 4, row->alert_id);
        bind_id(st, 5, row->last_us);
        bind_id(st, 6, row->restored_us);
        sqlite3_bind_int(st, 7, row->keep);
        if (row->set_to > 0)
            sqlite3_bind_double(st, 8, row->set_to);
        if (sqlite3_step(st) == SQLITE_DONE)
            rc = 0;
        else
            sl_error("control.db: policy: %s", sqlite3_errmsg(vs->db));
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&vs->mu);
    return rc;
}

int sl_versions_ledgers_save(struct sl_versions *vs, const struct sl_versions_ledger *rows,
                             size_t n, size_t keep)
{
    sqlite3_stmt *st = NULL, *prune = NULL;
    int rc = SL_EIO;

    pthread_mutex_lock(&vs->mu);
    if (sqlite3_exec(vs->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        sl_error("control.db: ledgers: %s", sqlite3_errmsg(vs->db));
        goto out;
    }
    if (!(st = prepare(vs, "INSERT OR REPLACE INTO ledgers(id, spend, last_us) VALUES(?, ?, ?)")) ||
        !(prune = prepare(vs, "DELETE FROM ledgers WHERE id NOT IN"
                              " (SELECT id FROM ledgers ORDER BY last_us DESC LIMIT ?)")))
        goto rollback;
    for (size_t i = 0; i < n; i++) {
        bind_text(st, 1, rows[i].id);
        bind_text(st, 2, rows[i].spend);
        sqlite3_bind_int64(st, 3, rows[i].last_us);
        if (sqlite3_step(st) != SQLITE_DONE)
            goto fail;
        sqlite3_reset(st);
    }
    sqlite3_bind_int64(prune, 1, (sqlite3_int64)keep);
    if (sqlite3_step(prune) != SQLITE_DONE ||
        sqlite3_exec(vs->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    rc = 0;
    goto out;
fail:
    sl_error("control.db: ledgers: %s", sqlite3_errmsg(vs->db));
rollback:
    sqlite3_exec(vs->db, "ROLLBACK", NULL, NULL, NULL);
out:
    sqlite3_finalize(st);
    sqlite3_finalize(prune);
    pthread_mutex_unlock(&vs->mu);
    return rc;
}

int sl_versions_ledgers_load(struct sl_versions *vs,
                             void (*fn)(void *ctx, const struct sl_versions_ledger *row), void *ctx)
{
    sqlite3_stmt *st;
    int rc = SL_EIO, step = SQLITE_DONE;

    pthread_mutex_lock(&vs->mu);
    if ((st = prepare(vs, "SELECT id, spend, last_us FROM ledgers ORDER BY last_us DESC"))) {
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
            struct sl_versions_ledger row = {column_text(st, 0), column_text(st, 1),
                                             sqlite3_column_int64(st, 2)};
            if (row.id && row.spend)
                fn(ctx, &row);
        }
        if (step == SQLITE_DONE)
            rc = 0;
        else
            sl_error("control.db: ledgers: %s", sqlite3_errmsg(vs->db));
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&vs->mu);
    return rc;
}

int sl_versions_add_event(struct sl_versions *vs, const char *kind, const char *route,
                          const char *tier, int64_t alert_id, int64_t version, const char *message)
{
    sqlite3_stmt *st;
    int rc = SL_EIO;

    pthread_mutex_lock(&vs->mu);
    if ((st = prepare(vs, "INSERT INTO events(ts_us, kind, route, tier, alert_id, version,"
                          " message) VALUES(?, ?, ?, ?, ?, ?, ?)"))) {
        sqlite3_bind_int64(st, 1, sl_clock_wall_us());
        bind_text(st, 2, kind);
        bind_text(st, 3, route);
        bind_text(st, 4, tier);
        bind_id(st, 5, alert_id);
        bind_id(st, 6, version);
        bind_text(st, 7, message);
        if (sqlite3_step(st) == SQLITE_DONE)
            rc = 0;
        else
            sl_error("control.db: event: %s", sqlite3_errmsg(vs->db));
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&vs->mu);
    return rc;
}

static void event_row(cJSON *o, sqlite3_stmt *st)
{
    cJSON_AddNumberToObject(o, "id", (double)sqlite3_column_int64(st, 0));
    cJSON_AddNumberToObject(o, "ts_us", (double)sqlite3_column_int64(st, 1));
    add_column_string(o, "kind", st, 2);
    add_column_string(o, "route", st, 3);
    add_column_string(o, "tier", st, 4);
    add_column_number(o, "alert_id", st, 5);
    add_column_number(o, "version", st, 6);
    add_column_string(o, "message", st, 7);
}

cJSON *sl_versions_events_json(struct sl_versions *vs, int limit)
{
    sqlite3_stmt *st;
    cJSON *arr = NULL;

    pthread_mutex_lock(&vs->mu);
    if ((st = prepare(vs, "SELECT id, ts_us, kind, route, tier, alert_id, version, message"
                          " FROM events ORDER BY id DESC LIMIT ?"))) {
        sqlite3_bind_int(st, 1, limit);
        arr = rows_json(vs, st, event_row);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&vs->mu);
    return arr;
}

/* ---- opening ---- */

/* Version 1: the file's own routes and its models' fallbacks. */
static cJSON *initial_document(const cJSON *root)
{
    const cJSON *routes = cJSON_GetObjectItemCaseSensitive(root, "routes"), *m;
    cJSON *doc = cJSON_CreateObject(), *fb = cJSON_CreateObject();

    if (!doc || !fb)
        abort();
    cJSON_AddItemToObject(doc, "routes", routes ? dup_tree(routes) : cJSON_CreateObject());
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(root, "models"))
    {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(m, "fallbacks");
        if (f)
            cJSON_AddItemToObject(fb, m->string, dup_tree(f));
    }
    cJSON_AddItemToObject(doc, "fallbacks", fb);
    return doc;
}

/* Reads the newest stored version into vs; 0 when there is none. */
static int load_current(struct sl_versions *vs, char *err, size_t errlen)
{
    sqlite3_stmt *st = prepare(vs, "SELECT version, document FROM versions"
                                   " ORDER BY version DESC LIMIT 1");
    int rc = SL_EIO, step;
    char berr[1024];

    if (!st) {
        snprintf(err, errlen, "control.db: %s", sqlite3_errmsg(vs->db));
        return SL_EIO;
    }
    step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        rc = 0;
        goto out;
    }
    if (step != SQLITE_ROW) {
        snprintf(err, errlen, "control.db: %s", sqlite3_errmsg(vs->db));
        goto out;
    }
    vs->current = sqlite3_column_int64(st, 0);
    vs->doc = cJSON_Parse(column_text(st, 1) ? column_text(st, 1) : "");
    if (!cJSON_IsObject(vs->doc)) {
        snprintf(err, errlen, "control.db: version %lld is not a JSON object",
                 (long long)vs->current);
        goto out;
    }
    if (!(vs->cfg = build(vs, vs->doc, berr, sizeof(berr))))
        sl_error("version %lld no longer builds against %s: %s; commit a fixed version or roll "
                 "back",
                 (long long)vs->current, vs->static_path, berr);
    rc = 0;
out:
    sqlite3_finalize(st);
    return rc;
}

struct sl_versions *sl_versions_open(const char *data_dir, const char *static_path, char *err,
                                     size_t errlen)
{
    struct sl_versions *vs = calloc(1, sizeof(*vs));
    struct sl_config *base = NULL;
    cJSON *empty = NULL, *doc = NULL;
    char *text = NULL, *path = NULL, reason[600];
    size_t len;

    if (!vs)
        abort();
    pthread_mutex_init(&vs->mu, NULL);
    vs->static_path = xstrdup(static_path);
    if (!(vs->clfs = sl_clfcache_create()))
        abort();
    if (!(text = sl_jsonconf_read(static_path, STATIC_MAX, &len, err, errlen)) ||
        !(vs->file_root = sl_jsonconf_parse(static_path, text, len, err, errlen)))
        goto fail;
    /* sl_config_build expects a file that has models; the rest is checked by building it with
     * no routes, so that a bad file is reported as such and not as a bad version */
    if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(vs->file_root, "models"))) {
        snprintf(err, errlen, "%s: models: at least one model is required", static_path);
        goto fail;
    }
    if (!(empty = cJSON_CreateObject()))
        abort();
    if (!(base = sl_config_build(static_path, static_path, vs->file_root, empty,
                                 sl_config_classifier_file, NULL, err, errlen)))
        goto fail;
    if (sl_db_mkdirs(data_dir)) {
        snprintf(err, errlen, "%s: cannot create the directory", data_dir);
        goto fail;
    }
    if (asprintf(&path, "%s/control.db", data_dir) < 0)
        abort();
    if (!(vs->db = sl_db_open(path, false, migrations, sizeof(migrations) / sizeof(*migrations),
                              err, errlen)))
        goto fail;
    if (load_current(vs, err, errlen))
        goto fail;
    if (!vs->current) {
        struct sl_versions_change ch;
        char cerr[1024];
        doc = initial_document(vs->file_root);
        snprintf(reason, sizeof(reason), "initial: from %s", static_path);
        if (commit_locked(vs, doc, "controller", reason, &ch, cerr, sizeof(cerr))) {
            snprintf(err, errlen, "%s: its routes do not make a valid version: %s", static_path,
                     cerr);
            goto fail;
        }
        cJSON_Delete(ch.diff);
    }
    goto out;
fail:
    sl_versions_close(vs);
    vs = NULL;
out:
    sl_config_destroy(base);
    cJSON_Delete(empty);
    cJSON_Delete(doc);
    free(text);
    free(path);
    return vs;
}

void sl_versions_close(struct sl_versions *vs)
{
    if (!vs)
        return;
    sl_config_destroy(vs->cfg);
    sl_clfcache_destroy(vs->clfs);
    cJSON_Delete(vs->doc);
    cJSON_Delete(vs->file_root);
    free(vs->static_path);
    sqlite3_close(vs->db);
    pthread_mutex_destroy(&vs->mu);
    free(vs);
}
