/* sluicectl's shared command-line machinery: one option table, times, defaults, messages. */
#include "ctl.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "clock.h"
#include "errors.h"

static const struct option options[] = {
    {"db", required_argument, NULL, SL_CTL_OPT_DB},
    {"since", required_argument, NULL, SL_CTL_OPT_SINCE},
    {"until", required_argument, NULL, SL_CTL_OPT_UNTIL},
    {"json", no_argument, NULL, SL_CTL_OPT_JSON},
    {"by", required_argument, NULL, SL_CTL_OPT_BY},
    {"team", required_argument, NULL, SL_CTL_OPT_TEAM},
    {"top", required_argument, NULL, SL_CTL_OPT_TOP},
    {"url", required_argument, NULL, SL_CTL_OPT_URL},
    {"name", required_argument, NULL, SL_CTL_OPT_NAME},
    {"rpm", required_argument, NULL, SL_CTL_OPT_RPM},
    {"tpm", required_argument, NULL, SL_CTL_OPT_TPM},
    {"concurrency", required_argument, NULL, SL_CTL_OPT_CONCURRENCY},
    {"budget-usd", required_argument, NULL, SL_CTL_OPT_BUDGET_USD},
    {"period", required_argument, NULL, SL_CTL_OPT_PERIOD},
    {"warn-at", required_argument, NULL, SL_CTL_OPT_WARN_AT},
    {"log-payloads", required_argument, NULL, SL_CTL_OPT_LOG_PAYLOADS},
    {"all", no_argument, NULL, SL_CTL_OPT_ALL},
    {"bucket", required_argument, NULL, SL_CTL_OPT_BUCKET},
    {"controller", required_argument, NULL, SL_CTL_OPT_CONTROLLER},
    {"reason", required_argument, NULL, SL_CTL_OPT_REASON},
    {"limit", required_argument, NULL, SL_CTL_OPT_LIMIT},
    {"canary", required_argument, NULL, SL_CTL_OPT_CANARY},
    {"weight", required_argument, NULL, SL_CTL_OPT_WEIGHT},
    {"sticky", required_argument, NULL, SL_CTL_OPT_STICKY},
    {"promote", required_argument, NULL, SL_CTL_OPT_PROMOTE},
    {"note", required_argument, NULL, SL_CTL_OPT_NOTE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const char *option_name(int id)
{
    for (const struct option *o = options; o->name; o++)
        if (o->val == id)
            return o->name;
    return "?";
}

static void vusage(const struct sl_ctl_spec *spec, FILE *err, const char *fmt, va_list ap)
{
    fprintf(err, "sluicectl %s: ", spec->name);
    vfprintf(err, fmt, ap);
    fprintf(err, "\nusage: sluicectl %s\n", spec->synopsis);
}

int sl_ctl_usage(const struct sl_ctl_spec *spec, FILE *err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vusage(spec, err, fmt, ap);
    va_end(ap);
    return SL_CTL_EXIT_USAGE;
}

int sl_ctl_fail(FILE *err, const char *fmt, ...)
{
    va_list ap;

    fputs("sluicectl: ", err);
    va_start(ap, fmt);
    vfprintf(err, fmt, ap);
    va_end(ap);
    fputc('\n', err);
    return SL_CTL_EXIT_FAILURE;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;

    errno = 0;
    *out = strtol(s, &end, 10);
    return errno == 0 && end != s && *end == '\0' && *out >= lo && *out <= hi ? 0 : SL_EINVAL;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;

    errno = 0;
    *out = strtod(s, &end);
    return errno == 0 && end != s && *end == '\0' && isfinite(*out) && *out >= lo && *out <= hi
               ? 0
               : SL_EINVAL;
}

int sl_ctl_parse_time(const char *s, int64_t now_ms, int64_t *ms)
{
    size_t len = strlen(s);

    if (len == 10 && s[4] == '-' && s[7] == '-') {
        struct tm tm = {0}, back;
        for (size_t i = 0; i < len; i++)
            if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
                return SL_EINVAL;
        int year = atoi(s), month = atoi(s + 5), day = atoi(s + 8);
        tm.tm_year = year - 1900;
        tm.tm_mon = month - 1;
        tm.tm_mday = day;
        time_t t = timegm(&tm);
        /* timegm normalises 2024-02-30 into March: a date that does not come back is wrong. */
        if (!gmtime_r(&t, &back) || back.tm_year != year - 1900 || back.tm_mon != month - 1 ||
            back.tm_mday != day)
            return SL_EINVAL;
        *ms = (int64_t)t * 1000;
        return 0;
    }
    if (len >= 2 && (s[len - 1] == 'd' || s[len - 1] == 'h')) {
        int64_t unit = s[len - 1] == 'd' ? 86400000 : 3600000;
        int64_t n = 0;
        for (size_t i = 0; i + 1 < len; i++) {
            if (s[i] < '0' || s[i] > '9' || n > 1000000)
                return SL_EINVAL;
            n = n * 10 + (s[i] - '0');
        }
        *ms = now_ms - n * unit;
        return 0;
    }
    return SL_EINVAL;
}

static void data_file(const char *name, char *out, size_t outlen)
{
    const char *dir = getenv("SLUICE_DATA_DIR");

    if (dir && *dir)
        snprintf(out, outlen, "%s/%s", dir, name);
    else
        snprintf(out, outlen, "data/%s", name);
}

void sl_ctl_default_db(char *out, size_t outlen)
{
    data_file("audit.db", out, outlen);
}

void sl_ctl_default_evaldb(char *out, size_t outlen)
{
    data_file("eval.db", out, outlen);
}

int sl_ctl_parse_id(const char *s, int64_t *id)
{
    char *end;
    long long v;

    if (*s < '0' || *s > '9')
        return SL_EINVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end || v < 1)
        return SL_EINVAL;
    *id = v;
    return 0;
}

int sl_ctl_print_json(cJSON *doc, FILE *out)
{
    char *s = doc ? cJSON_Print(doc) : NULL;
    int rc = s ? 0 : SL_ENOMEM;

    if (s && (fputs(s, out) == EOF || fputc('\n', out) == EOF))
        rc = SL_EIO;
    free(s);
    cJSON_Delete(doc);
    return rc;
}

void sl_ctl_json_time(cJSON *o, const char *name, int64_t ms)
{
    char iso[32];

    if (ms == INT64_MIN || ms == INT64_MAX || ms < 0) {
        cJSON_AddNullToObject(o, name);
        return;
    }
    sl_clock_iso8601(ms, iso, sizeof(iso));
    cJSON_AddStringToObject(o, name, iso);
}

void sl_ctl_format_time(int64_t unix_s, char *out, size_t outlen)
{
    time_t t = (time_t)unix_s;
    struct tm tm;

    if (!gmtime_r(&t, &tm) || strftime(out, outlen, "%Y-%m-%d %H:%M", &tm) == 0)
        snprintf(out, outlen, "%lld", (long long)unix_s);
}

static bool allowed(const struct sl_ctl_spec *spec, int c)
{
    for (const int *p = spec->options; *p; p++)
        if (*p == c)
            return true;
    return false;
}

int sl_ctl_parse(const struct sl_ctl_spec *spec, int argc, char **argv, int64_t now_ms,
                 struct sl_ctl_args *a, FILE *out, FILE *err)
{
    int c;

    memset(a, 0, sizeof(*a));
    a->since_ms = INT64_MIN;
    a->until_ms = INT64_MAX;
    a->top = a->limit = a->rpm = a->tpm = a->concurrency = -1;
    a->budget_usd = a->warn_at = a->weight = NAN;
    a->log_payloads = -1;
    optind = 0; /* GNU: restart scanning, so that tests may parse repeatedly */
    opterr = 0;
    /* No leading '+': options may follow positional arguments (teams set NAME --rpm 10). */
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        const char *v = optarg, *want = "";
        int bad = 0;

        if (c == 'h') {
            fprintf(out, "usage: sluicectl %s\n\n%s", spec->synopsis, spec->help);
            return 0;
        }
        if (c == ':')
            return sl_ctl_usage(spec, err, "%s needs a value", argv[optind - 1]);
        if (c == '?')
            return sl_ctl_usage(spec, err, "unknown option %s", argv[optind - 1]);
        if (!allowed(spec, c))
            return sl_ctl_usage(spec, err, "--%s is not an option of this command", option_name(c));
        switch (c) {
        case SL_CTL_OPT_DB:
            a->db = v;
            break;
        case SL_CTL_OPT_SINCE:
            bad = sl_ctl_parse_time(v, now_ms, &a->since_ms) != 0;
            want = " (want YYYY-MM-DD, Nd or Nh)";
            break;
        case SL_CTL_OPT_UNTIL:
            bad = sl_ctl_parse_time(v, now_ms, &a->until_ms) != 0;
            want = " (want YYYY-MM-DD, Nd or Nh)";
            break;
        case SL_CTL_OPT_JSON:
            a->json = true;
            break;
        case SL_CTL_OPT_ALL:
            a->all = true;
            break;
        case SL_CTL_OPT_BUCKET:
            a->bucket = v;
            bad = strcmp(v, "hour") != 0 && strcmp(v, "day") != 0;
            want = " (want hour or day)";
            break;
        case SL_CTL_OPT_BY:
            a->by = v;
            break;
        case SL_CTL_OPT_TEAM:
            a->team = v;
            bad = *v == '\0';
            break;
        case SL_CTL_OPT_TOP:
            bad = parse_long(v, 1, 1000000, &a->top) != 0;
            break;
        case SL_CTL_OPT_URL:
        case SL_CTL_OPT_CONTROLLER:
            a->url = v;
            break;
        case SL_CTL_OPT_REASON:
            a->reason = v;
            bad = *v == '\0';
            break;
        case SL_CTL_OPT_LIMIT:
            bad = parse_long(v, 1, 100000, &a->limit) != 0;
            want = " (want 1 to 100000)";
            break;
        case SL_CTL_OPT_CANARY:
            a->canary = v;
            bad = *v == '\0';
            break;
        case SL_CTL_OPT_PROMOTE:
            a->promote = v;
            bad = *v == '\0';
            break;
        case SL_CTL_OPT_WEIGHT:
            bad = parse_double(v, 0, 1, &a->weight) != 0 || a->weight == 0 || a->weight == 1;
            want = " (want the canary's share of the calls, between 0 and 1)";
            break;
        case SL_CTL_OPT_STICKY:
            a->sticky = v;
            bad = strcmp(v, "key") != 0 && strcmp(v, "user") != 0 &&
                  (strncmp(v, "header:", 7) != 0 || v[7] == '\0');
            want = " (want key, user or header:NAME)";
            break;
        case SL_CTL_OPT_NOTE:
            a->note = v;
            break;
        case SL_CTL_OPT_NAME:
            a->name = v;
            bad = *v == '\0';
            break;
        case SL_CTL_OPT_RPM:
            bad = parse_long(v, 1, 1000000000, &a->rpm) != 0;
            break;
        case SL_CTL_OPT_TPM:
            bad = parse_long(v, 1, 1000000000000L, &a->tpm) != 0;
            break;
        case SL_CTL_OPT_CONCURRENCY:
            bad = parse_long(v, 1, 1000000, &a->concurrency) != 0;
            break;
        case SL_CTL_OPT_BUDGET_USD:
            bad = parse_double(v, 0, 1e12, &a->budget_usd) != 0 || a->budget_usd == 0;
            want = " (want an amount above 0; leave the option out for no budget)";
            break;
        case SL_CTL_OPT_PERIOD:
            a->period = v;
            bad = strcmp(v, "day") != 0 && strcmp(v, "week") != 0 && strcmp(v, "month") != 0;
            want = " (want day, week or month)";
            break;
        case SL_CTL_OPT_WARN_AT:
            bad = parse_double(v, 0, 1, &a->warn_at) != 0 || a->warn_at == 0;
            want = " (want a fraction of the budget in (0, 1])";
            break;
        case SL_CTL_OPT_LOG_PAYLOADS:
            a->log_payloads = strcmp(v, "yes") == 0 ? 1 : strcmp(v, "no") == 0 ? 0 : -1;
            bad = a->log_payloads < 0;
            want = " (want yes or no)";
            break;
        }
        if (bad)
            return sl_ctl_usage(spec, err, "--%s: bad value \"%s\"%s", option_name(c), v, want);
    }
    for (; optind < argc; optind++) {
        if (a->n_args == spec->max_args || a->n_args == SL_CTL_MAX_ARGS)
            return sl_ctl_usage(spec, err, "unexpected argument \"%s\"", argv[optind]);
        a->args[a->n_args++] = argv[optind];
    }
    if (a->n_args < spec->min_args)
        return sl_ctl_usage(spec, err, "missing argument");
    if (a->since_ms != INT64_MIN && a->until_ms != INT64_MAX && a->since_ms >= a->until_ms)
        return sl_ctl_usage(spec, err, "--since must be before --until");
    return SL_CTL_RUN;
}

int sl_ctl_report_status(FILE *out, FILE *err, const char *path, const char *db_message, int rc,
                         int wrc)
{
    if (rc == SL_EIO)
        return sl_ctl_fail(err, "%s: %s", path, db_message);
    if (rc != 0 || wrc == SL_ENOMEM)
        return sl_ctl_fail(err, "%s", sl_strerror(rc ? rc : wrc));
    if (wrc != 0 || fflush(out) != 0)
        return sl_ctl_fail(err, "cannot write the report: %s", strerror(errno));
    return 0;
}

void sl_ctl_print_window(FILE *out, int64_t since_ms, int64_t until_ms)
{
    char a[32], b[32];
    bool since = since_ms != INT64_MIN, until = until_ms != INT64_MAX;

    if (since)
        sl_ctl_format_time(since_ms / 1000, a, sizeof(a));
    if (until)
        sl_ctl_format_time(until_ms / 1000, b, sizeof(b));
    if (since && until)
        fprintf(out, ", %s to %s UTC", a, b);
    else if (since)
        fprintf(out, ", since %s UTC", a);
    else if (until)
        fprintf(out, ", until %s UTC", b);
    else
        fputs(", all time", out);
}

void sl_ctl_json_string(cJSON *o, const char *name, const char *s)
{
    if (s)
        cJSON_AddStringToObject(o, name, s);
    else
        cJSON_AddNullToObject(o, name);
}

void sl_ctl_json_number(cJSON *o, const char *name, double x)
{
    if (isnan(x))
        cJSON_AddNullToObject(o, name);
    else
        cJSON_AddNumberToObject(o, name, x);
}

int sl_ctl_lookup(const char *s, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (names[i] && strcmp(s, names[i]) == 0)
            return (int)i;
    return -1;
}

const char *sl_ctl_str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

bool sl_ctl_number(const cJSON *o, const char *name, double *x)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

    if (!cJSON_IsNumber(v))
        return false;
    *x = v->valuedouble;
    return true;
}
