/* sluicectl's controller commands: requests for the controller's admin API, and its answers as
 * tables and text. Calls go through ctl_admin's machinery: the same admin key, error messages
 * and transport as the proxy's admin commands, another server. */
#include "ctl_control.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "jsonconf.h"

#define DEFAULT_URL     "http://127.0.0.1:8070"
#define MAX_DOCUMENT    (4u << 20)  /* a configuration document's or an A/B split's file */
#define MAX_CLASSIFIER  (64u << 20) /* a classifier artifact's file */
#define MAX_VALUE_CHARS 60          /* a diff's value longer than this is shortened */

static const struct sl_ctl_admin_server controller = {"the controller", "controller",
                                                      "SLUICE_CONTROLLER_URL", DEFAULT_URL};

/* ---- requests --------------------------------------------------------------------------- */

/* Adds a deep copy of v to o as name. */
static bool add_copy(cJSON *o, const char *name, const cJSON *v)
{
    cJSON *dup = cJSON_Duplicate(v, true);

    if (dup && cJSON_AddItemToObject(o, name, dup))
        return true;
    cJSON_Delete(dup);
    return false;
}

/* prefix + the number + suffix. */
static int numbered_path(struct sl_ctl_admin_request *r, const char *method, const char *prefix,
                         int64_t n, const char *suffix)
{
    char num[24];

    snprintf(num, sizeof(num), "%" PRId64, n);
    return sl_ctl_admin_request_init(r, method, prefix, num, suffix);
}

/* The change's reason and author: what every change of the configuration records. */
static bool add_why(cJSON *o, const char *reason, const char *author)
{
    return cJSON_AddStringToObject(o, "reason", reason) &&
           cJSON_AddStringToObject(o, "author", author);
}

int sl_ctl_control_config_get(struct sl_ctl_admin_request *r)
{
    return sl_ctl_admin_request_init(r, "GET", "/admin/config", NULL, NULL);
}

int sl_ctl_control_config_set(const cJSON *document, const char *reason, const char *author,
                              struct sl_ctl_admin_request *r)
{
    cJSON *o;
    int rc;

    if ((rc = sl_ctl_admin_request_init(r, "PUT", "/admin/config", NULL, NULL)) != 0)
        goto out;
    o = cJSON_CreateObject();
    rc = sl_ctl_admin_request_json(
        r, o, o && add_copy(o, "document", document) && add_why(o, reason, author));
out:
    if (rc != 0)
        sl_ctl_admin_request_free(r);
    return rc;
}

int sl_ctl_control_versions(long limit, struct sl_ctl_admin_request *r)
{
    if (limit <= 0)
        return sl_ctl_admin_request_init(r, "GET", "/admin/versions", NULL, NULL);
    return numbered_path(r, "GET", "/admin/versions?limit=", limit, NULL);
}

int sl_ctl_control_version(int64_t version, struct sl_ctl_admin_request *r)
{
    return numbered_path(r, "GET", "/admin/versions/", version, NULL);
}

int sl_ctl_control_rollback(int64_t version, const char *reason, const char *author,
                            struct sl_ctl_admin_request *r)
{
    cJSON *o;
    int rc;

    if ((rc = sl_ctl_admin_request_init(r, "POST", "/admin/rollback", NULL, NULL)) != 0)
        goto out;
    o = cJSON_CreateObject();
    rc = sl_ctl_admin_request_json(r, o,
                                   o && cJSON_AddNumberToObject(o, "version", (double)version) &&
                                       add_why(o, reason, author));
out:
    if (rc != 0)
        sl_ctl_admin_request_free(r);
    return rc;
}

int sl_ctl_control_rollout(int64_t version, struct sl_ctl_admin_request *r)
{
    if (version <= 0)
        return sl_ctl_admin_request_init(r, "GET", "/admin/rollout", NULL, NULL);
    return numbered_path(r, "GET", "/admin/rollout?version=", version, NULL);
}

int sl_ctl_control_classifier_register(const char *artifact, const char *note,
                                       struct sl_ctl_admin_request *r)
{
    bool with_note = note && *note;
    int rc;

    rc = sl_ctl_admin_request_init(r, "POST",
                                   with_note ? "/admin/classifiers?note=" : "/admin/classifiers",
                                   with_note ? note : NULL, NULL);
    if (rc == 0 && !(r->body = strdup(artifact)))
        rc = SL_ENOMEM;
    if (rc != 0)
        sl_ctl_admin_request_free(r);
    return rc;
}

int sl_ctl_control_classifiers_list(struct sl_ctl_admin_request *r)
{
    return sl_ctl_admin_request_init(r, "GET", "/admin/classifiers", NULL, NULL);
}

/* POST /admin/routes/ROUTE/<what> {name: value} (and sets *o for more members). */
static int route_call(struct sl_ctl_admin_request *r, const char *route, const char *what,
                      const char *name, const char *value, cJSON **o)
{
    int rc;

    *o = NULL;
    if ((rc = sl_ctl_admin_request_init(r, "POST", "/admin/routes/", route, what)) != 0)
        return rc;
    if (!(*o = cJSON_CreateObject()) || !cJSON_AddStringToObject(*o, name, value))
        return SL_ENOMEM;
    return 0;
}

int sl_ctl_control_canary(const char *route, const char *classifier, double weight,
                          const char *sticky, struct sl_ctl_admin_request *r)
{
    cJSON *o;
    int rc;

    if ((rc = route_call(r, route, "/canary", "classifier", classifier, &o)) == 0)
        rc = sl_ctl_admin_request_json(
            r, o,
            cJSON_AddNumberToObject(o, "weight", weight) &&
                (!sticky || cJSON_AddStringToObject(o, "sticky", sticky)));
    else
        cJSON_Delete(o);
    if (rc != 0)
        sl_ctl_admin_request_free(r);
    return rc;
}

/* A call on a route whose body is one string member. */
static int route_simple(struct sl_ctl_admin_request *r, const char *route, const char *what,
                        const char *name, const char *value)
{
    cJSON *o;
    int rc;

    if ((rc = route_call(r, route, what, name, value, &o)) == 0)
        rc = sl_ctl_admin_request_json(r, o, true);
    else
        cJSON_Delete(o);
    if (rc != 0)
        sl_ctl_admin_request_free(r);
    return rc;
}

int sl_ctl_control_classifier_promote(const char *route, const char *classifier,
                                      struct sl_ctl_admin_request *r)
{
    return route_simple(r, route, "/promote", "classifier", classifier);
}

int sl_ctl_control_ab_promote(const char *route, const char *arm, struct sl_ctl_admin_request *r)
{
    return route_simple(r, route, "/promote", "arm", arm);
}

int sl_ctl_control_ab_stop(const char *route, const char *arm, struct sl_ctl_admin_request *r)
{
    return route_simple(r, route, "/ab/stop", "arm", arm);
}

int sl_ctl_control_ab_set(const char *route, const cJSON *ab, struct sl_ctl_admin_request *r)
{
    int rc;

    if ((rc = sl_ctl_admin_request_init(r, "PUT", "/admin/routes/", route, "/ab")) == 0)
        rc = sl_ctl_admin_request_json(r, cJSON_Duplicate(ab, true), true);
    if (rc != 0)
        sl_ctl_admin_request_free(r);
    return rc;
}

int sl_ctl_control_events(long limit, struct sl_ctl_admin_request *r)
{
    if (limit <= 0)
        return sl_ctl_admin_request_init(r, "GET", "/admin/events", NULL, NULL);
    return numbered_path(r, "GET", "/admin/events?limit=", limit, NULL);
}

/* ---- answers ---------------------------------------------------------------------------- */

/* doc when it is an array, else its member "data" or name when that is one; else NULL. */
static const cJSON *list_of(const cJSON *doc, const char *name)
{
    const cJSON *l;

    if (cJSON_IsArray(doc))
        return doc;
    if (cJSON_IsArray(l = cJSON_GetObjectItemCaseSensitive(doc, "data")))
        return l;
    l = cJSON_GetObjectItemCaseSensitive(doc, name);
    return cJSON_IsArray(l) ? l : NULL;
}

/* Unix microseconds as ISO 8601 UTC to the second. */
static void iso_us(double us, char *out, size_t outlen)
{
    time_t t = (time_t)floor(us / 1e6);
    struct tm tm;

    if (!gmtime_r(&t, &tm) || strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, outlen, "%.0f", us);
}

/* The first of o's members a and b (b may be NULL) that is present. */
static const cJSON *either(const cJSON *o, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
    return v || !b ? v : cJSON_GetObjectItemCaseSensitive(o, b);
}

static void time_cell(struct sl_ctl_table *t, const cJSON *v)
{
    char when[32];

    if (cJSON_IsNumber(v) && v->valuedouble > 0) {
        iso_us(v->valuedouble, when, sizeof(when));
        sl_ctl_table_cell(t, when);
    } else {
        sl_ctl_table_cell(t, NULL);
    }
}

/* A string as it is, a whole number without decimals, a bool as yes/no; else "-". */
static void text_cell(struct sl_ctl_table *t, const cJSON *v)
{
    if (cJSON_IsString(v) && v->valuestring[0])
        sl_ctl_table_cell(t, v->valuestring);
    else if (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
             fabs(v->valuedouble) < 1e15)
        sl_ctl_table_cellf(t, "%.0f", v->valuedouble);
    else if (cJSON_IsNumber(v))
        sl_ctl_table_cellf(t, "%g", v->valuedouble);
    else if (cJSON_IsBool(v))
        sl_ctl_table_cell(t, cJSON_IsTrue(v) ? "yes" : "no");
    else
        sl_ctl_table_cell(t, NULL);
}

/* A value of a diff as compact JSON, shortened past MAX_VALUE_CHARS characters; absent: "-".
 * false when out of memory. */
static bool value_cell(struct sl_ctl_table *t, const cJSON *v)
{
    size_t chars = 0, cut = 0;
    char *s;

    if (!v) {
        sl_ctl_table_cell(t, NULL);
        return true;
    }
    if (!(s = cJSON_PrintUnformatted(v)))
        return false;
    for (size_t i = 0; s[i]; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80 && ++chars == MAX_VALUE_CHARS - 2)
            cut = i; /* where "..." goes, on a character's first byte */
    if (chars > MAX_VALUE_CHARS)
        sl_ctl_table_cellf(t, "%.*s...", (int)cut, s);
    else
        sl_ctl_table_cell(t, s);
    free(s);
    return true;
}

int sl_ctl_control_diff_table(const cJSON *doc, struct sl_ctl_table *t)
{
    const cJSON *diff = cJSON_IsArray(doc) ? doc : cJSON_GetObjectItemCaseSensitive(doc, "diff"),
                *d;

    if (!cJSON_IsArray(diff))
        return SL_EPARSE;
    sl_ctl_table_column(t, "path", SL_CTL_LEFT);
    sl_ctl_table_column(t, "from", SL_CTL_LEFT);
    sl_ctl_table_column(t, "to", SL_CTL_LEFT);
    cJSON_ArrayForEach(d, diff)
    {
        if (!cJSON_IsObject(d))
            return SL_EPARSE;
        text_cell(t, cJSON_GetObjectItemCaseSensitive(d, "path"));
        if (!value_cell(t, cJSON_GetObjectItemCaseSensitive(d, "from")) ||
            !value_cell(t, cJSON_GetObjectItemCaseSensitive(d, "to")))
            return SL_ENOMEM;
    }
    return 0;
}

int sl_ctl_control_versions_table(const cJSON *doc, struct sl_ctl_table *t)
{
    const cJSON *list = list_of(doc, "versions"), *v;

    if (!list)
        return SL_EPARSE;
    sl_ctl_table_column(t, "version", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "created", SL_CTL_LEFT);
    sl_ctl_table_column(t, "author", SL_CTL_LEFT);
    sl_ctl_table_column(t, "reason", SL_CTL_LEFT);
    sl_ctl_table_column(t, "changes", SL_CTL_RIGHT);
    cJSON_ArrayForEach(v, list)
    {
        const cJSON *diff = cJSON_GetObjectItemCaseSensitive(v, "diff");

        if (!cJSON_IsObject(v))
            return SL_EPARSE;
        text_cell(t, cJSON_GetObjectItemCaseSensitive(v, "version"));
        time_cell(t, cJSON_GetObjectItemCaseSensitive(v, "created_us"));
        text_cell(t, cJSON_GetObjectItemCaseSensitive(v, "author"));
        text_cell(t, cJSON_GetObjectItemCaseSensitive(v, "reason"));
        if (cJSON_IsArray(diff))
            sl_ctl_table_cellf(t, "%d", cJSON_GetArraySize(diff));
        else
            text_cell(t, cJSON_GetObjectItemCaseSensitive(v, "changes"));
    }
    return 0;
}

int sl_ctl_control_rollout_table(const cJSON *doc, struct sl_ctl_table *t)
{
    const cJSON *list = list_of(doc, "proxies"), *p;

    if (!list)
        return SL_EPARSE;
    sl_ctl_table_column(t, "proxy", SL_CTL_LEFT);
    sl_ctl_table_column(t, "version", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "alive", SL_CTL_LEFT);
    sl_ctl_table_column(t, "propagation ms", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "error", SL_CTL_LEFT);
    cJSON_ArrayForEach(p, list)
    {
        const cJSON *ms = cJSON_GetObjectItemCaseSensitive(p, "propagation_ms");

        if (!cJSON_IsObject(p))
            return SL_EPARSE;
        text_cell(t, cJSON_GetObjectItemCaseSensitive(p, "id"));
        text_cell(t, cJSON_GetObjectItemCaseSensitive(p, "version"));
        text_cell(t, cJSON_GetObjectItemCaseSensitive(p, "alive"));
        if (cJSON_IsNumber(ms))
            sl_ctl_table_cellf(t, "%.0f", ms->valuedouble);
        else
            sl_ctl_table_cell(t, NULL);
        text_cell(t, cJSON_GetObjectItemCaseSensitive(p, "error"));
    }
    return 0;
}

int sl_ctl_control_classifiers_table(const cJSON *doc, struct sl_ctl_table *t)
{
    const cJSON *list = list_of(doc, "classifiers"), *c;

    if (!list)
        return SL_EPARSE;
    sl_ctl_table_column(t, "id", SL_CTL_LEFT);
    sl_ctl_table_column(t, "registered", SL_CTL_LEFT);
    sl_ctl_table_column(t, "note", SL_CTL_LEFT);
    cJSON_ArrayForEach(c, list)
    {
        if (!cJSON_IsObject(c))
            return SL_EPARSE;
        text_cell(t, cJSON_GetObjectItemCaseSensitive(c, "id"));
        time_cell(t, either(c, "registered_us", "created_us"));
        text_cell(t, cJSON_GetObjectItemCaseSensitive(c, "note"));
    }
    return 0;
}

int sl_ctl_control_events_table(const cJSON *doc, struct sl_ctl_table *t)
{
    const cJSON *list = list_of(doc, "events"), *e;

    if (!list)
        return SL_EPARSE;
    sl_ctl_table_column(t, "time", SL_CTL_LEFT);
    sl_ctl_table_column(t, "kind", SL_CTL_LEFT);
    sl_ctl_table_column(t, "route", SL_CTL_LEFT);
    sl_ctl_table_column(t, "version", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "message", SL_CTL_LEFT);
    cJSON_ArrayForEach(e, list)
    {
        if (!cJSON_IsObject(e))
            return SL_EPARSE;
        time_cell(t, either(e, "ts_us", "created_us"));
        text_cell(t, either(e, "kind", "type"));
        text_cell(t, cJSON_GetObjectItemCaseSensitive(e, "route"));
        text_cell(t, cJSON_GetObjectItemCaseSensitive(e, "version"));
        text_cell(t, either(e, "message", "detail"));
    }
    return 0;
}

/* ---- the commands ----------------------------------------------------------------------- */

#define CONN_HELP                                                                                  \
    "  --controller URL  the controller (default $SLUICE_CONTROLLER_URL, or " DEFAULT_URL ")\n"    \
    "  --json            print the API's JSON answer instead of text\n"                            \
    "\n"                                                                                           \
    "The admin key is read from the environment variable SLUICE_ADMIN_KEY only, never from\n"      \
    "the command line, and is sent as \"Authorization: Bearer KEY\".\n"

static const int conn_options[] = {SL_CTL_OPT_CONTROLLER, SL_CTL_OPT_JSON, 0};
static const int reason_options[] = {SL_CTL_OPT_CONTROLLER, SL_CTL_OPT_JSON, SL_CTL_OPT_REASON, 0};
static const int limit_options[] = {SL_CTL_OPT_CONTROLLER, SL_CTL_OPT_JSON, SL_CTL_OPT_LIMIT, 0};
static const int register_options[] = {
    SL_CTL_OPT_CONTROLLER, SL_CTL_OPT_JSON,    SL_CTL_OPT_CANARY, SL_CTL_OPT_WEIGHT,
    SL_CTL_OPT_STICKY,     SL_CTL_OPT_PROMOTE, SL_CTL_OPT_NOTE,   0};

static const struct sl_ctl_spec config_get_spec = {
    "config get",
    "config get [--controller URL] [--json]",
    "Prints the current configuration version: its number, when, who and why, then the\n"
    "document (routes, tiers, thresholds, A/B splits, classifiers) as indented JSON.\n"
    "\n" CONN_HELP,
    conn_options,
    0,
    0,
};

static const struct sl_ctl_spec config_set_spec = {
    "config set",
    "config set FILE --reason R [--controller URL] [--json]",
    "Makes the JSON document in FILE the next configuration version, which the controller\n"
    "pushes to every proxy, and prints the version and what changed. The author recorded is\n"
    "$USER (or \"sluicectl\").\n"
    "\n"
    "  --reason R        why, for the version history (required)\n" CONN_HELP,
    reason_options,
    1,
    1,
};

static const struct sl_ctl_spec versions_spec = {
    "versions",
    "versions [--limit N] [--controller URL] [--json]",
    "Lists configuration versions, newest first: when, who, why and how many settings\n"
    "changed.\n"
    "\n"
    "  --limit N         at most N versions (default: the controller's)\n" CONN_HELP,
    limit_options,
    0,
    0,
};

static const struct sl_ctl_spec version_spec = {
    "version",
    "version N [--controller URL] [--json]",
    "Shows configuration version N: when, who and why, what changed from the version before,\n"
    "and its document.\n\n" CONN_HELP,
    conn_options,
    1,
    1,
};

static const struct sl_ctl_spec rollback_spec = {
    "rollback",
    "rollback N --reason R [--controller URL] [--json]",
    "Makes version N's document the next configuration version (history is kept: nothing is\n"
    "deleted) and prints what changed.\n"
    "\n"
    "  --reason R        why, for the version history (required)\n" CONN_HELP,
    reason_options,
    1,
    1,
};

static const struct sl_ctl_spec rollout_spec = {
    "rollout",
    "rollout [VERSION] [--controller URL] [--json]",
    "Shows which proxies run configuration VERSION (default: the current one): each proxy's\n"
    "version, whether it is alive, how long the version took to reach it, its last error, and\n"
    "whether the rollout is complete.\n\n" CONN_HELP,
    conn_options,
    0,
    1,
};

static const struct sl_ctl_spec register_spec = {
    "classifier register",
    "classifier register FILE [--note TEXT] [--canary ROUTE --weight W [--sticky "
    "key|user|header:NAME]] [--promote ROUTE] [--controller URL] [--json]",
    "Registers the classifier artifact in FILE (sluice-trainer's model JSON) with the\n"
    "controller, which distributes it to the proxies, and prints its id. Then, if asked,\n"
    "starts a canary with it on a route, or promotes it on a route. Any failure exits 1\n"
    "with the controller's message (the id is in it when the registration went through).\n"
    "\n"
    "  --note TEXT       a note kept with the classifier (its training data, for example)\n"
    "  --canary ROUTE    score a share of ROUTE's calls with the classifier\n"
    "  --weight W        that share, between 0 and 1 (required with --canary)\n"
    "  --sticky S        keep each caller on one side: key, user, or header:NAME (default:\n"
    "                    the controller's)\n"
    "  --promote ROUTE   score all of ROUTE's calls with the classifier\n" CONN_HELP,
    register_options,
    1,
    1,
};

static const struct sl_ctl_spec classifiers_list_spec = {
    "classifier list",
    "classifier list [--controller URL] [--json]",
    "Lists the classifiers registered with the controller, newest first: id, when, note.\n"
    "--json shows their feature specification's hash and training metrics too.\n\n" CONN_HELP,
    conn_options,
    0,
    0,
};

static const struct sl_ctl_spec ab_promote_spec = {
    "ab promote",
    "ab promote ROUTE ARM [--controller URL] [--json]",
    "Ends ROUTE's A/B split by making arm ARM's settings the route's own, as a new\n"
    "configuration version.\n\n" CONN_HELP,
    conn_options,
    2,
    2,
};

static const struct sl_ctl_spec ab_stop_spec = {
    "ab stop",
    "ab stop ROUTE ARM [--controller URL] [--json]",
    "Stops arm ARM of ROUTE's A/B split: its calls go to the other arms from the next\n"
    "configuration version on.\n\n" CONN_HELP,
    conn_options,
    2,
    2,
};

static const struct sl_ctl_spec ab_set_spec = {
    "ab set",
    "ab set ROUTE FILE [--controller URL] [--json]",
    "Sets ROUTE's A/B split to the JSON object in FILE ({\"name\", \"sticky\", \"arms\": [...]},\n"
    "as a route's \"ab\" in sluice.json), as a new configuration version.\n\n" CONN_HELP,
    conn_options,
    2,
    2,
};

static const struct sl_ctl_spec events_spec = {
    "events",
    "events [--limit N] [--controller URL] [--json]",
    "Lists the controller's events, newest first: versions made, rollouts, canaries,\n"
    "promotions, quality alerts and what the controller did about them.\n"
    "\n"
    "  --limit N         at most N events (default: the controller's)\n" CONN_HELP,
    limit_options,
    0,
    0,
};

static const struct sl_ctl_spec config_spec = {
    "config",
    "config get|set ...",
    "  sluicectl config get\n"
    "  sluicectl config set FILE --reason R\n"
    "\n"
    "sluicectl config COMMAND --help describes one.\n",
    conn_options,
    0,
    0,
};

static const struct sl_ctl_spec classifier_spec = {
    "classifier",
    "classifier register|list ...",
    "  sluicectl classifier register FILE [--note TEXT] [--canary ROUTE --weight W\n"
    "      [--sticky key|user|header:NAME]] [--promote ROUTE]\n"
    "  sluicectl classifier list\n"
    "\n"
    "sluicectl classifier COMMAND --help describes one.\n",
    conn_options,
    0,
    0,
};

static const struct sl_ctl_spec ab_spec = {
    "ab",
    "ab promote|stop|set ...",
    "  sluicectl ab promote ROUTE ARM\n"
    "  sluicectl ab stop ROUTE ARM\n"
    "  sluicectl ab set ROUTE FILE\n"
    "\n"
    "sluicectl ab COMMAND --help describes one.\n",
    conn_options,
    0,
    0,
};

static const char *default_author(void)
{
    const char *user = getenv("USER");
    return user && *user ? user : "sluicectl";
}

/* Reads path (at most max bytes) and parses it as a JSON object into *doc; *text gets the
 * bytes (NULL: not wanted). SL_CTL_RUN or the exit status. */
static int read_json(struct sl_ctl_admin_call *c, const char *path, size_t max, cJSON **doc,
                     char **text)
{
    char msg[512];
    size_t len;
    char *s = sl_jsonconf_read(path, max, &len, msg, sizeof(msg));

    *doc = NULL;
    if (text)
        *text = NULL;
    if (!s)
        return sl_ctl_fail(c->err, "%s", msg);
    if (strlen(s) != len) { /* the body goes out as a C string */
        free(s);
        return sl_ctl_fail(c->err, "%s: holds a NUL byte: not a JSON document", path);
    }
    if (!(*doc = sl_jsonconf_parse(path, s, len, msg, sizeof(msg)))) {
        free(s);
        return sl_ctl_fail(c->err, "%s", msg);
    }
    if (text)
        *text = s;
    else
        free(s);
    return SL_CTL_RUN;
}

/* Prints doc's "diff" as a table ("no changes" when empty), or nothing when it has none. */
static int print_diff(struct sl_ctl_admin_call *c, const cJSON *doc)
{
    cJSON *diff = cJSON_GetObjectItemCaseSensitive(doc, "diff");

    if (!cJSON_IsArray(diff))
        return 0;
    return sl_ctl_admin_print_table(c, cJSON_Duplicate(diff, true), sl_ctl_control_diff_table,
                                    "no changes");
}

/* "version N, created WHEN by AUTHOR: REASON" from a version's metadata. */
static void version_line(FILE *out, const cJSON *v)
{
    const char *who = sl_ctl_str(v, "author"), *why = sl_ctl_str(v, "reason");
    char when[32];
    double x;

    if (sl_ctl_number(v, "version", &x))
        fprintf(out, "version %.0f", x);
    else
        fputs("version ?", out);
    if (sl_ctl_number(v, "created_us", &x) && x > 0) {
        iso_us(x, when, sizeof(when));
        fprintf(out, ", created %s", when);
    }
    if (who && *who)
        fprintf(out, " by %s", who);
    if (why && *why)
        fprintf(out, ": %s", why);
    fputc('\n', out);
}

/* Whether a change's answer says that it changed nothing ({"version":N,"unchanged":true}). */
static bool unchanged(const cJSON *doc)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "unchanged"));
}

/* Ends the line with " (configuration version N)" when the answer names the version it made,
 * or " (unchanged: configuration version N)" when it made none. */
static void made_version(FILE *out, const cJSON *doc)
{
    double x;

    if (sl_ctl_number(doc, "version", &x))
        fprintf(out, " (%sconfiguration version %.0f)", unchanged(doc) ? "unchanged: " : "", x);
    fputc('\n', out);
}

/* Ends a command that printed text: the exit status. */
static int done(struct sl_ctl_admin_call *c, int status)
{
    if (status == 0 && (ferror(c->out) || fflush(c->out) != 0))
        return sl_ctl_fail(c->err, "cannot write the answer");
    return status;
}

static int print_json(struct sl_ctl_admin_call *c, cJSON *doc)
{
    int rc = sl_ctl_print_json(doc, c->out);
    return rc == 0 ? 0 : sl_ctl_fail(c->err, "%s", sl_strerror(rc));
}

static int cmd_config_get(struct sl_ctl_admin_call *c, int argc, char **argv)
{
    struct sl_ctl_admin_request req = {0};
    cJSON *doc, *document;
    int status;

    if ((status = sl_ctl_admin_parse(c, argc, argv)) != SL_CTL_RUN ||
        (status = sl_ctl_admin_perform(c, &req, sl_ctl_control_config_get(&req), &doc)) !=
            SL_CTL_RUN)
        return status;
    if (!(document = cJSON_DetachItemFromObjectCaseSensitive(doc, "document"))) {
        cJSON_Delete(doc);
        return sl_ctl_fail(c->err, "%s: the answer holds no document", c->conn.url);
    }
    version_line(c->out, doc);
    cJSON_Delete(doc);
    return done(c, print_json(c, document));
}

static int cmd_config_set(struct sl_ctl_admin_call *c, int argc, char **argv)
{
    struct sl_ctl_admin_request req = {0};
    cJSON *document, *doc;
    int status, built;
    double x;

    if ((status = sl_ctl_admin_parse(c, argc, argv)) != SL_CTL_RUN)
        return status;
    if (!c->a.reason)
        return sl_ctl_usage(c->spec, c->err, "--reason is required");
    if ((status = read_json(c, c->a.args[0], MAX_DOCUMENT, &document, NULL)) != SL_CTL_RUN)
        return status;
    built = sl_ctl_control_config_set(document, c->a.reason, default_author(), &req);
    cJSON_Delete(document);
    if ((status = sl_ctl_admin_perform(c, &req, built, &doc)) != SL_CTL_RUN)
        return status;
    if (!sl_ctl_number(doc, "version", &x))
        fputs("configuration saved\n", c->out);
    else if (unchanged(doc))
        fprintf(c->out, "configuration unchanged: version %.0f has this document already\n", x);
    else
        fprintf(c->out, "configuration version %.0f saved\n", x);
    status = print_diff(c, doc);
    cJSON_Delete(doc);
    return done(c, status);
}

static int cmd_versions(struct sl_ctl_admin_call *c, int argc, char **argv)
{
    struct sl_ctl_admin_request req = {0};
    cJSON *doc;
    int status;

    if ((status = sl_ctl_admin_parse(c, argc, argv)) != SL_CTL_RUN ||
        (status = sl_ctl_admin_perform(c, &req, sl_ctl_control_versions(c->a.limit, &req), &doc)) !=
            SL_CTL_RUN)
        return status;
    return sl_ctl_admin_print_table(c, doc, sl_ctl_control_versions_table, "no versions");
}

/* The version number in argument i. SL_CTL_RUN or the usage status. */
static int version_arg(struct sl_ctl_admin_call *c, size_t i, int64_t *v)
{
    if (sl_ctl_parse_id(c->a.args[i], v) != 0)
        return sl_ctl_usage(c->spec, c->err, "bad version \"%s\" (want a number from 1)",
                            c->a.args[i]);
    return SL_CTL_RUN;
}

static int cmd_version(struct sl_ctl_admin_call *c, int argc, char **argv)
{
    struct sl_ctl_admin_request req = {0};
    cJSON *doc, *document;
    int64_t v;
    int status;

    if ((status = sl_ctl_admin_parse(c, argc, argv)) != SL_CTL_RUN ||
        (status = version_arg(c, 0, &v)) != SL_CTL_RUN ||
        (status = sl_ctl_admin_perform(c, &req, sl_ctl_control_version(v, &req), &doc)) !=
            SL_CTL_RUN)
        return status;
    version_line(c->out, doc);
    if (cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(doc, "diff"))) {
        fputs("\nchanges from the version before:\n", c->out);
        if ((status = print_diff(c, doc)) != 0)
            goto out;
    }
    if ((document = cJSON_DetachItemFromObjectCaseSensitive(doc, "document"))) {
        fputs("\ndocument:\n", c->out);
        status = print_json(c, document);
    }
out:
    cJSON_Delete(doc);
    return done(c, status);
}

static int cmd_rollback(struct sl_ctl_admin_call *c, int argc, char **argv)
{
    struct sl_ctl_admin_request req = {0};
    cJSON *doc;
    int64_t v;
    int status;
    double x;

    if ((status = sl_ctl_admin_parse(c, argc, argv)) != SL_CTL_RUN ||
        (status = version_arg(c, 0, &v)) != SL_CTL_RUN)
        return status;
    if (!c->a.reason)
        return sl_ctl_usage(c->spec, c->err, "--reason is required");
    if ((status = sl_ctl_admin_perform(
             c, &req, sl_ctl_control_rollback(v, c->a.reason, default_author(), &req), &doc)) !=
        SL_CTL_RUN)
        return status;
    if (!sl_ctl_number(doc, "version", &x))
        fprintf(c->out, "rolled back to version %" PRId64 "'s document\n", v);
    else if (unchanged(doc))
        fprintf(c->out,
                "version %.0f, the current one, has version %" PRId64 "'s document already\n", x,
                v);
    else
        fprintf(c->out, "rolled back to version %" PRId64 "'s document as version %.0f\n", v, x);
    status = print_diff(c, doc);
    cJSON_Delete(doc);
    return done(c, status);
}

static int cmd_rollout(struct sl_ctl_admin_call *c, int argc, char **argv)
{
    struct sl_ctl_admin_request req = {0};
    const cJSON *list, *p;
    cJSON *doc;
    int64_t v = 0;
    int status, n = 0, on = 0, complete;
    double want = NAN, x;

    if ((status = sl_ctl_admin_parse(c, argc, argv)) != SL_CTL_RUN ||
        (c->a.n_args == 1 && (status = version_arg(c, 0, &v)) != SL_CTL_RUN) ||
        (status = sl_ctl_admin_perform(c, &req, sl_ctl_control_rollout(v, &req), &doc)) !=
            SL_CTL_RUN)
        return status;
    /* -1: the answer does not say. Read now: printing the table deletes doc. */
    p = cJSON_GetObjectItemCaseSensitive(doc, "complete");
    complete = cJSON_IsBool(p) ? cJSON_IsTrue(p) : -1;
    list = list_of(doc, "proxies");
    if (!sl_ctl_number(doc, "version", &want) && v > 0)
        want = (double)v;
    cJSON_ArrayForEach(p, list)
    {
        n++;
        on += sl_ctl_number(p, "version", &x) && x >= want;
    }
    if ((status = sl_ctl_admin_print_table(c, doc, sl_ctl_control_rollout_table, "no proxies")) !=
        0)
        return status;
    if (!isnan(want))
        fprintf(c->out, "version %.0f: ", want);
    if (complete >= 0)
        fprintf(c->out, "rollout %s, %d of %d proxies on it\n",
                complete ? "complete" : "not complete", on, n);
    else if (!isnan(want))
        fprintf(c->out, "%d of %d proxies on it\n", on, n);
    return done(c, 0);
}

/* One more call of classifier register, its answer kept in all as name. After the
 * registration (id set), a failure says that the classifier is registered all the same. */
static int register_step(struct sl_ctl_admin_call *c, struct sl_ctl_admin_request *req, int built,
                         const char *what, const char *id, cJSON *all, const char *name)
{
    cJSON *doc;
    int status = sl_ctl_admin_fetch(c, req, built, &doc);

    if (status == SL_CTL_RUN)
        cJSON_AddItemToObject(all, name, doc);
    else if (id)
        sl_ctl_fail(c->err, "classifier %s is registered, but %s failed", id, what);
    return status;
}

static int cmd_classifier_register(struct sl_ctl_admin_call *c, int argc, char **argv)
{
    struct sl_ctl_admin_request req = {0};
    cJSON *artifact = NULL, *all = NULL, *doc;
    char *text = NULL, what[512];
    const char *id;
    int status;

    if ((status = sl_ctl_admin_parse(c, argc, argv)) != SL_CTL_RUN)
        goto out;
    if (c->a.canary && isnan(c->a.weight)) {
        status = sl_ctl_usage(c->spec, c->err, "--canary needs --weight");
        goto out;
    }
    if (!c->a.canary && (!isnan(c->a.weight) || c->a.sticky)) {
        status = sl_ctl_usage(c->spec, c->err, "--weight and --sticky need --canary");
        goto out;
    }
    if ((status = read_json(c, c->a.args[0], MAX_CLASSIFIER, &artifact, &text)) != SL_CTL_RUN)
        goto out;
    if (!(all = cJSON_CreateObject())) {
        status = sl_ctl_fail(c->err, "%s", sl_strerror(SL_ENOMEM));
        goto out;
    }
    if ((status = register_step(c, &req, sl_ctl_control_classifier_register(text, c->a.note, &req),
                                "the registration", NULL, all, "classifier")) != SL_CTL_RUN)
        goto out;
    doc = cJSON_GetObjectItemCaseSensitive(all, "classifier");
    if (!(id = sl_ctl_str(doc, "id")) || !*id) {
        status = sl_ctl_fail(c->err, "%s: the answer holds no classifier id", c->conn.url);
        goto out;
    }
    if (!c->a.json)
        fprintf(c->out, "%s classifier %s\n",
                cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "existing"))
                    ? "already registered:"
                    : "registered",
                id);
    if (c->a.canary) {
        snprintf(what, sizeof(what), "the canary on route %s", c->a.canary);
        if ((status = register_step(
                 c, &req, sl_ctl_control_canary(c->a.canary, id, c->a.weight, c->a.sticky, &req),
                 what, id, all, "canary")) != SL_CTL_RUN)
            goto out;
        if (!c->a.json) {
            fprintf(c->out, "canary on route %s: %g%% of its calls", c->a.canary,
                    100 * c->a.weight);
            if (c->a.sticky)
                fprintf(c->out, ", sticky by %s", c->a.sticky);
            made_version(c->out, cJSON_GetObjectItemCaseSensitive(all, "canary"));
        }
    }
    if (c->a.promote) {
        snprintf(what, sizeof(what), "the promotion on route %s", c->a.promote);
        if ((status =
                 register_step(c, &req, sl_ctl_control_classifier_promote(c->a.promote, id, &req),
                               what, id, all, "promote")) != SL_CTL_RUN)
            goto out;
        if (!c->a.json) {
            fprintf(c->out, "promoted on route %s", c->a.promote);
            made_version(c->out, cJSON_GetObjectItemCaseSensitive(all, "promote"));
        }
    }
    if (c->a.json) {
        status = print_json(c, all);
        all = NULL;
    } else {
        status = 0;
    }
    status = done(c, status);
out:
    cJSON_Delete(all);
    cJSON_Delete(artifact);
    free(text);
    return status;
}

static int cmd_classifiers_list(struct sl_ctl_admin_call *c, int argc, char **argv)
{
    struct sl_ctl_admin_request req = {0};
    cJSON *doc;
    int status;

    if ((status = sl_ctl_admin_parse(c, argc, argv)) != SL_CTL_RUN ||
        (status = sl_ctl_admin_perform(c, &req, sl_ctl_control_classifiers_list(&req), &doc)) !=
            SL_CTL_RUN)
        return status;
    return sl_ctl_admin_print_table(c, doc, sl_ctl_control_classifiers_table, "no classifiers");
}

/* ab promote and ab stop: the same call but for its path. */
static int ab_arm(struct sl_ctl_admin_call *c, int argc, char **argv, bool promote)
{
    struct sl_ctl_admin_request req = {0};
    const char *route, *arm;
    cJSON *doc;
    int status, built;

    if ((status = sl_ctl_admin_parse(c, argc, argv)) != SL_CTL_RUN)
        return status;
    route = c->a.args[0];
    arm = c->a.args[1];
    if (!*route || !*arm)
        return sl_ctl_usage(c->spec, c->err, "the ROUTE and the ARM must not be empty");
    built = promote ? sl_ctl_control_ab_promote(route, arm, &req)
                    : sl_ctl_control_ab_stop(route, arm, &req);
    if ((status = sl_ctl_admin_perform(c, &req, built, &doc)) != SL_CTL_RUN)
        return status;
    fprintf(c->out, "route %s: arm %s %s", route, arm, promote ? "promoted" : "stopped");
    made_version(c->out, doc);
    cJSON_Delete(doc);
    return done(c, 0);
}

static int cmd_ab_promote(struct sl_ctl_admin_call *c, int argc, char **argv)
{
    return ab_arm(c, argc, argv, true);
}

static int cmd_ab_stop(struct sl_ctl_admin_call *c, int argc, char **argv)
{
    return ab_arm(c, argc, argv, false);
}

static int cmd_ab_set(struct sl_ctl_admin_call *c, int argc, char **argv)
{
    struct sl_ctl_admin_request req = {0};
    cJSON *ab, *doc;
    int status, built;

    if ((status = sl_ctl_admin_parse(c, argc, argv)) != SL_CTL_RUN)
        return status;
    if (!*c->a.args[0])
        return sl_ctl_usage(c->spec, c->err, "the ROUTE must not be empty");
    if ((status = read_json(c, c->a.args[1], MAX_DOCUMENT, &ab, NULL)) != SL_CTL_RUN)
        return status;
    built = sl_ctl_control_ab_set(c->a.args[0], ab, &req);
    cJSON_Delete(ab);
    if ((status = sl_ctl_admin_perform(c, &req, built, &doc)) != SL_CTL_RUN)
        return status;
    fprintf(c->out, "route %s: A/B split set", c->a.args[0]);
    made_version(c->out, doc);
    cJSON_Delete(doc);
    return done(c, 0);
}

static int cmd_events(struct sl_ctl_admin_call *c, int argc, char **argv)
{
    struct sl_ctl_admin_request req = {0};
    cJSON *doc;
    int status;

    if ((status = sl_ctl_admin_parse(c, argc, argv)) != SL_CTL_RUN ||
        (status = sl_ctl_admin_perform(c, &req, sl_ctl_control_events(c->a.limit, &req), &doc)) !=
            SL_CTL_RUN)
        return status;
    return sl_ctl_admin_print_table(c, doc, sl_ctl_control_events_table, "no events");
}

int sl_ctl_control_run(sl_ctl_admin_send_fn send, void *arg, int argc, char **argv, FILE *out,
                       FILE *err)
{
    /* name NULL: a command of one word. */
    static const struct {
        const char *group, *name;
        const struct sl_ctl_spec *spec;
        int (*run)(struct sl_ctl_admin_call *, int, char **);
    } commands[] = {
        {"config", "get", &config_get_spec, cmd_config_get},
        {"config", "set", &config_set_spec, cmd_config_set},
        {"versions", NULL, &versions_spec, cmd_versions},
        {"version", NULL, &version_spec, cmd_version},
        {"rollback", NULL, &rollback_spec, cmd_rollback},
        {"rollout", NULL, &rollout_spec, cmd_rollout},
        {"classifier", "register", &register_spec, cmd_classifier_register},
        {"classifier", "list", &classifiers_list_spec, cmd_classifiers_list},
        {"ab", "promote", &ab_promote_spec, cmd_ab_promote},
        {"ab", "stop", &ab_stop_spec, cmd_ab_stop},
        {"ab", "set", &ab_set_spec, cmd_ab_set},
        {"events", NULL, &events_spec, cmd_events},
    };
    static const struct sl_ctl_spec *const groups[] = {&config_spec, &classifier_spec, &ab_spec};
    const struct sl_ctl_spec *group = NULL;
    struct sl_ctl_admin_call c = {.server = &controller,
                                  .send = send ? send : sl_ctl_admin_send_curl,
                                  .arg = arg,
                                  .out = out,
                                  .err = err};

    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!commands[i].name && strcmp(argv[0], commands[i].group) == 0) {
            c.spec = commands[i].spec;
            return commands[i].run(&c, argc, argv);
        }
    for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
        if (strcmp(argv[0], groups[i]->name) == 0)
            group = groups[i];
    if (!group) {
        sl_ctl_fail(err, "unknown command \"%s\"", argv[0]);
        return SL_CTL_EXIT_USAGE;
    }
    if (argc < 2)
        return sl_ctl_usage(group, err, "which command?");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fprintf(out, "usage: sluicectl %s\n\n%s", group->synopsis, group->help);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (commands[i].name && strcmp(argv[0], commands[i].group) == 0 &&
            strcmp(argv[1], commands[i].name) == 0) {
            c.spec = commands[i].spec;
            return commands[i].run(&c, argc - 1, argv + 1);
        }
    return sl_ctl_usage(group, err, "unknown command \"%s\"", argv[1]);
}

int sl_ctl_control_cmd(int argc, char **argv, FILE *out, FILE *err)
{
    return sl_ctl_control_run(NULL, NULL, argc, argv, out, err);
}
