/* What every sluicectl command shares: its option parser (one table of options, each command
 * accepting its own subset), times on the command line, the default databases, JSON output,
 * and how errors reach the operator. Exit statuses: 0 success, 1 failure, 2 bad usage.
 * Strings in struct sl_ctl_args point into argv or the environment; the parser allocates
 * nothing. */
#ifndef SL_CTL_H
#define SL_CTL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "errors.h"

#define SL_CTL_EXIT_FAILURE 1
#define SL_CTL_EXIT_USAGE   2
/* sl_ctl_parse's "go on and run the command" (never an exit status). */
#define SL_CTL_RUN (-1)

/* Every option of every command. */
enum sl_ctl_opt {
    SL_CTL_OPT_DB = 256,
    SL_CTL_OPT_SINCE,
    SL_CTL_OPT_UNTIL,
    SL_CTL_OPT_JSON,
    SL_CTL_OPT_BY,
    SL_CTL_OPT_TEAM,
    SL_CTL_OPT_TOP,
    SL_CTL_OPT_URL,
    SL_CTL_OPT_NAME,
    SL_CTL_OPT_RPM,
    SL_CTL_OPT_TPM,
    SL_CTL_OPT_CONCURRENCY,
    SL_CTL_OPT_BUDGET_USD,
    SL_CTL_OPT_PERIOD,
    SL_CTL_OPT_WARN_AT,
    SL_CTL_OPT_LOG_PAYLOADS,
    SL_CTL_OPT_ALL,
    SL_CTL_OPT_BUCKET,
    SL_CTL_OPT_CONTROLLER,
    SL_CTL_OPT_REASON,
    SL_CTL_OPT_LIMIT,
    SL_CTL_OPT_CANARY,
    SL_CTL_OPT_WEIGHT,
    SL_CTL_OPT_STICKY,
    SL_CTL_OPT_PROMOTE,
    SL_CTL_OPT_NOTE,
};

/* One command's description for the parser and for its --help. */
struct sl_ctl_spec {
    const char *name;          /* as typed after "sluicectl": "spend", "keys create" */
    const char *synopsis;      /* the usage line without "usage: " */
    const char *help;          /* the rest of --help: what the command does, its options */
    const int *options;        /* the SL_CTL_OPT_* it accepts, 0-terminated */
    size_t min_args, max_args; /* positional arguments */
};

#define SL_CTL_MAX_ARGS 4

/* Options as parsed. Unset values: NULL, false, -1, NAN; since/until INT64_MIN/INT64_MAX. */
struct sl_ctl_args {
    const char *db, *by, *team, *name, *period, *bucket;
    const char *url; /* the server's base URL: --url (the proxy) or --controller; a command
                        takes one of them */
    const char *reason, *canary, *sticky, *promote, *note;
    int64_t since_ms, until_ms; /* [since, until), Unix milliseconds */
    bool json, all;
    long top, limit;
    long rpm, tpm, concurrency;
    double budget_usd, warn_at, weight;
    int log_payloads;                  /* -1 not given, 0 no, 1 yes */
    const char *args[SL_CTL_MAX_ARGS]; /* positional arguments, in order */
    size_t n_args;
};

/* Parses the options of command spec from argv (argv[0] is the command's last word), with
 * now_ms as the present for relative times. Returns SL_CTL_RUN when the command should run;
 * otherwise the exit status the command must return at once: 0 after printing --help to out,
 * SL_CTL_EXIT_USAGE after reporting a usage error on err. Options may follow positional
 * arguments. Safe to call repeatedly (getopt is reset). */
int sl_ctl_parse(const struct sl_ctl_spec *spec, int argc, char **argv, int64_t now_ms,
                 struct sl_ctl_args *a, FILE *out, FILE *err);

/* Reports a usage error of spec's command on err ("sluicectl CMD: message" and the usage
 * line) and returns SL_CTL_EXIT_USAGE. */
int sl_ctl_usage(const struct sl_ctl_spec *spec, FILE *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reports a runtime failure on err ("sluicectl: message") and returns SL_CTL_EXIT_FAILURE. */
int sl_ctl_fail(FILE *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The exit status of a report over a database at path: rc is the query's result (SL_EIO: the
 * database failed, with db_message saying why), wrc the printing's, then out is flushed. */
int sl_ctl_report_status(FILE *out, FILE *err, const char *path, const char *db_message, int rc,
                         int wrc);

/* Parses a time of the command line into Unix ms: "YYYY-MM-DD" (UTC midnight) or a relative
 * "Nd" / "Nh" (N days or hours before now_ms). SL_EINVAL when s is neither. */
int sl_ctl_parse_time(const char *s, int64_t now_ms, int64_t *ms);

/* Writes the default audit database's path: $SLUICE_DATA_DIR/audit.db when the variable is
 * set and not empty, else data/audit.db. */
void sl_ctl_default_db(char *out, size_t outlen);
/* The same for the evaluator's database: $SLUICE_DATA_DIR/eval.db or data/eval.db. */
void sl_ctl_default_evaldb(char *out, size_t outlen);

/* Writes Unix seconds as "YYYY-MM-DD HH:MM" (UTC). */
void sl_ctl_format_time(int64_t unix_s, char *out, size_t outlen);
/* Prints a report's time window after its title: ", A to B UTC", ", since A UTC", ", until B
 * UTC" or ", all time" (since_ms INT64_MIN and until_ms INT64_MAX are open ends). */
void sl_ctl_print_window(FILE *out, int64_t since_ms, int64_t until_ms);

/* Parses a positive decimal integer (an alert's id). SL_EINVAL otherwise. */
int sl_ctl_parse_id(const char *s, int64_t *id);

/* Prints doc (NULL: out of memory) indented, with a newline, and deletes it. SL_ENOMEM,
 * SL_EIO. */
int sl_ctl_print_json(cJSON *doc, FILE *out) SL_MUST_CHECK;
/* Adds name: ms as ISO 8601 UTC, or null when ms is INT64_MIN, INT64_MAX or negative. */
void sl_ctl_json_time(cJSON *o, const char *name, int64_t ms);
/* Adds name: s, or name: null when s is NULL. */
void sl_ctl_json_string(cJSON *o, const char *name, const char *s);
/* Adds name: x, or name: null when x is NaN (unknown). */
void sl_ctl_json_number(cJSON *o, const char *name, double x);
/* Member name of o (which may be NULL) when it is a string, else NULL. */
const char *sl_ctl_str(const cJSON *o, const char *name);
/* Sets *x to member name of o (which may be NULL) and returns true when it is a number. */
bool sl_ctl_number(const cJSON *o, const char *name, double *x);
/* The index of s in names[0..n), or -1. */
int sl_ctl_lookup(const char *s, const char *const *names, size_t n);

#endif
