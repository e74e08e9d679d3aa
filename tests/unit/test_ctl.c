/* Tests for sluicectl/ctl: times on the command line, option parsing, defaults, messages. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "errors.h"

#define NOW 1732435200000LL /* 2024-11-24 08:00 UTC */

Test(ctl, dates_are_utc_midnight)
{
    int64_t ms = 0;

    cr_assert_eq(sl_ctl_parse_time("2024-11-01", NOW, &ms), 0);
    cr_assert_eq(ms, 1730419200000LL);
    cr_assert_eq(sl_ctl_parse_time("2024-02-29", NOW, &ms), 0);
    cr_assert_eq(ms, 1709164800000LL);
    cr_assert_eq(sl_ctl_parse_time("1970-01-01", NOW, &ms), 0);
    cr_assert_eq(ms, 0);
}

Test(ctl, relative_times_count_back_from_now)
{
    int64_t ms = 0;

    cr_assert_eq(sl_ctl_parse_time("7d", NOW, &ms), 0);
    cr_assert_eq(ms, NOW - 7 * 86400000LL);
    cr_assert_eq(sl_ctl_parse_time("24h", NOW, &ms), 0);
    cr_assert_eq(ms, NOW - 86400000LL);
    cr_assert_eq(sl_ctl_parse_time("0h", NOW, &ms), 0);
    cr_assert_eq(ms, NOW);
}

Test(ctl, bad_times_are_refused)
{
    const char *bad[] = {"",           "2024-02-30",
                         "2023-02-29", "2024-13-01",
                         "2024-1-01",  "2024-11-01x",
                         "24-11-01",   "d",
                         "7",          "7w",
                         "-7d",        "7 d",
                         "1e3d",       "99999999999999999999d"};
    int64_t ms;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(sl_ctl_parse_time(bad[i], NOW, &ms), SL_EINVAL, "%s", bad[i]);
}

Test(ctl, default_db_follows_the_data_dir)
{
    char path[256];

    unsetenv("SLUICE_DATA_DIR");
    sl_ctl_default_db(path, sizeof(path));
    cr_assert_str_eq(path, "data/audit.db");
    setenv("SLUICE_DATA_DIR", "", 1);
    sl_ctl_default_db(path, sizeof(path));
    cr_assert_str_eq(path, "data/audit.db");
    setenv("SLUICE_DATA_DIR", "/var/lib/sluice", 1);
    sl_ctl_default_db(path, sizeof(path));
    cr_assert_str_eq(path, "/var/lib/sluice/audit.db");
}

Test(ctl, default_evaldb_follows_the_data_dir)
{
    char path[256];

    unsetenv("SLUICE_DATA_DIR");
    sl_ctl_default_evaldb(path, sizeof(path));
    cr_assert_str_eq(path, "data/eval.db");
    setenv("SLUICE_DATA_DIR", "/var/lib/sluice", 1);
    sl_ctl_default_evaldb(path, sizeof(path));
    cr_assert_str_eq(path, "/var/lib/sluice/eval.db");
}

Test(ctl, ids_are_positive_integers)
{
    const char *bad[] = {"", "0", "-1", "+1", " 1", "1x", "x", "99999999999999999999"};
    int64_t id;

    cr_assert_eq(sl_ctl_parse_id("42", &id), 0);
    cr_assert_eq(id, 42);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(sl_ctl_parse_id(bad[i], &id), SL_EINVAL, "%s", bad[i]);
}

Test(ctl, format_time_is_utc)
{
    char s[32];

    sl_ctl_format_time(1732435300, s, sizeof(s));
    cr_assert_str_eq(s, "2024-11-24 08:01");
}

/* ---- the parser ---- */

static const int options[] = {SL_CTL_OPT_SINCE,   SL_CTL_OPT_UNTIL,
                              SL_CTL_OPT_JSON,    SL_CTL_OPT_RPM,
                              SL_CTL_OPT_WARN_AT, SL_CTL_OPT_LOG_PAYLOADS,
                              SL_CTL_OPT_PERIOD,  SL_CTL_OPT_ALL,
                              SL_CTL_OPT_BUCKET,  0};
static const struct sl_ctl_spec spec = {
    "teams set", "teams set NAME [--rpm N]", "Sets a team.\n", options, 1, 1,
};

static char *out_text, *err_text;
static struct sl_ctl_args args;

static int parse(const char *first, ...)
{
    char *argv[32] = {"set"};
    int argc = 1, rc;
    size_t olen = 0, elen = 0;
    va_list ap;
    FILE *out, *err;

    va_start(ap, first);
    for (const char *a = first; a && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    free(out_text);
    free(err_text);
    out = open_memstream(&out_text, &olen);
    err = open_memstream(&err_text, &elen);
    rc = sl_ctl_parse(&spec, argc, argv, NOW, &args, out, err);
    fclose(out);
    fclose(err);
    return rc;
}

static void cleanup(void)
{
    free(out_text);
    free(err_text);
    out_text = err_text = NULL;
}

TestSuite(ctl_parse, .fini = cleanup);

Test(ctl_parse, options_may_follow_arguments)
{
    cr_assert_eq(parse("search", "--rpm", "600", "--json", NULL), SL_CTL_RUN, "%s", err_text);
    cr_assert_eq(args.n_args, 1);
    cr_assert_str_eq(args.args[0], "search");
    cr_assert_eq(args.rpm, 600);
    cr_assert(args.json);
    cr_assert_eq(args.tpm, -1);
    cr_assert(isnan(args.warn_at));
    cr_assert_eq(args.log_payloads, -1);
    cr_assert_eq(args.since_ms, INT64_MIN);
    cr_assert_eq(args.until_ms, INT64_MAX);
}

Test(ctl_parse, values_are_checked)
{
    cr_assert_eq(parse("t", "--warn-at", "0.8", "--log-payloads", "yes", "--since", "7d", NULL),
                 SL_CTL_RUN, "%s", err_text);
    cr_assert_float_eq(args.warn_at, 0.8, 1e-12);
    cr_assert_eq(args.log_payloads, 1);
    cr_assert_eq(args.since_ms, NOW - 7 * 86400000LL);

    cr_assert_eq(parse("t", "--rpm", "0", NULL), SL_CTL_EXIT_USAGE);
    cr_assert_eq(parse("t", "--rpm", "10x", NULL), SL_CTL_EXIT_USAGE);
    cr_assert_eq(parse("t", "--warn-at", "1.5", NULL), SL_CTL_EXIT_USAGE);
    cr_assert_eq(parse("t", "--log-payloads", "true", NULL), SL_CTL_EXIT_USAGE);
    cr_assert_str_eq(err_text, "sluicectl teams set: --log-payloads: bad value \"true\" (want yes "
                               "or no)\nusage: sluicectl teams set NAME [--rpm N]\n");
    cr_assert_eq(parse("t", "--period", "year", NULL), SL_CTL_EXIT_USAGE);
    cr_assert_eq(parse("t", "--all", "--bucket", "hour", NULL), SL_CTL_RUN, "%s", err_text);
    cr_assert(args.all);
    cr_assert_str_eq(args.bucket, "hour");
    cr_assert_eq(parse("t", "--bucket", "week", NULL), SL_CTL_EXIT_USAGE);
    cr_assert_not_null(strstr(err_text, "--bucket: bad value \"week\" (want hour or day)"), "%s",
                       err_text);
}

Test(ctl_parse, options_of_other_commands_are_refused)
{
    cr_assert_eq(parse("t", "--db", "x.db", NULL), SL_CTL_EXIT_USAGE);
    cr_assert_not_null(strstr(err_text, "--db is not an option of this command"), "%s", err_text);
    cr_assert_eq(parse("t", "--frobnicate", NULL), SL_CTL_EXIT_USAGE);
    cr_assert_not_null(strstr(err_text, "unknown option --frobnicate"), "%s", err_text);
    cr_assert_eq(parse("t", "--rpm", NULL), SL_CTL_EXIT_USAGE);
    cr_assert_not_null(strstr(err_text, "--rpm needs a value"), "%s", err_text);
}

Test(ctl_parse, argument_counts_are_checked)
{
    cr_assert_eq(parse(NULL), SL_CTL_EXIT_USAGE);
    cr_assert_not_null(strstr(err_text, "missing argument"), "%s", err_text);
    cr_assert_eq(parse("a", "b", NULL), SL_CTL_EXIT_USAGE);
    cr_assert_not_null(strstr(err_text, "unexpected argument \"b\""), "%s", err_text);
}

Test(ctl_parse, the_window_must_not_be_empty)
{
    cr_assert_eq(parse("t", "--since", "2024-11-02", "--until", "2024-11-02", NULL),
                 SL_CTL_EXIT_USAGE);
    cr_assert_not_null(strstr(err_text, "--since must be before --until"), "%s", err_text);
}

Test(ctl_parse, help_prints_usage_and_exits_0)
{
    cr_assert_eq(parse("--help", NULL), 0);
    cr_assert_str_eq(out_text, "usage: sluicectl teams set NAME [--rpm N]\n\nSets a team.\n");
    cr_assert_str_eq(err_text, "");
    cr_assert_eq(parse("-h", NULL), 0);
}

Test(ctl_parse, repeated_parses_start_afresh)
{
    cr_assert_eq(parse("a", "--rpm", "5", NULL), SL_CTL_RUN);
    cr_assert_eq(parse("b", NULL), SL_CTL_RUN);
    cr_assert_str_eq(args.args[0], "b");
    cr_assert_eq(args.rpm, -1);
}
