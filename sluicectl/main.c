/* sluicectl: the operators' command line. Reports over the audit log, quality, alerts and
 * A/B results over the evaluator's database, and calls to the proxy's and the controller's
 * admin APIs; each command lives in its module, this file only dispatches. */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_ab.h"
#include "ctl_admin.h"
#include "ctl_alerts.h"
#include "ctl.h"
#include "ctl_control.h"
#include "ctl_quality.h"
#include "report.h"

/* "ab promote|stop|set" changes a split through the controller; "ab ROUTE" reports one. */
static int ab_cmd(int argc, char **argv, FILE *out, FILE *err)
{
    if (argc >= 2 && (strcmp(argv[1], "promote") == 0 || strcmp(argv[1], "stop") == 0 ||
                      strcmp(argv[1], "set") == 0))
        return sl_ctl_control_cmd(argc, argv, out, err);
    return sl_ctl_ab_cmd(argc, argv, out, err);
}

static const struct {
    const char *name;
    int (*run)(int argc, char **argv, FILE *out, FILE *err);
} commands[] = {
    {"spend", sl_report_spend_cmd},   {"savings", sl_report_savings_cmd},
    {"routes", sl_report_routes_cmd}, {"keys", sl_ctl_admin_cmd},
    {"teams", sl_ctl_admin_cmd},      {"alerts", sl_ctl_alerts_cmd},
    {"quality", sl_ctl_quality_cmd},  {"ab", ab_cmd},
    {"config", sl_ctl_control_cmd},   {"versions", sl_ctl_control_cmd},
    {"version", sl_ctl_control_cmd},  {"rollback", sl_ctl_control_cmd},
    {"rollout", sl_ctl_control_cmd},  {"classifier", sl_ctl_control_cmd},
    {"events", sl_ctl_control_cmd},
};

static const char usage_text[] =
    "usage: sluicectl COMMAND [OPTIONS]\n"
    "\n"
    "Reports over the audit log (--db PATH, --since WHEN, --until WHEN, --team T, --json):\n"
    "  spend [--by team|key|model|day]     requests, errors, tokens and cost per group\n"
    "  savings [--by route|team]           routed cost against the premium tier's\n"
    "  routes [--top N]                    the busiest routes: tiers, overhead, errors, cost\n"
    "\n"
    "Quality over the evaluator's database (--db PATH, default $SLUICE_DATA_DIR/eval.db or\n"
    "data/eval.db; --json):\n"
    "  alerts [list] [--all]               open quality alerts (--all: resolved ones too)\n"
    "  alerts show ID                      one alert and its evidence\n"
    "  alerts ack ID [--by NAME]           acknowledge an alert\n"
    "  quality [--by tier|model|route|arm] [--bucket hour|day] [--since WHEN] [--until WHEN]\n"
    "                                      samples, pass rate, judge grade, shadow verdicts\n"
    "  ab ROUTE [--since WHEN] [--until WHEN]\n"
    "                                      an A/B experiment per arm, against the control, with\n"
    "                                      p-values for pass rate and cost per call\n"
    "\n"
    "Teams and keys, through the admin API at --url URL (default $SLUICE_URL or\n"
    "http://127.0.0.1:8080; --json): a proxy's own, or the controller's (its port, 8070 by\n"
    "default) when the proxies follow one:\n"
    "  keys create --team T [--name N] [--rpm N] [--tpm N] [--concurrency N]\n"
    "  keys list [--team T]\n"
    "  keys revoke ID\n"
    "  keys import KEYS_DB                 a proxy's teams and keys (its data/keys.db) into the\n"
    "                                      controller's versions, to follow the controller\n"
    "  teams set NAME [--rpm N] [--tpm N] [--concurrency N] [--budget-usd X]\n"
    "      [--period day|week|month] [--warn-at F] [--log-payloads yes|no]\n"
    "  teams list\n"
    "\n"
    "The controller's admin API (--controller URL, default $SLUICE_CONTROLLER_URL or\n"
    "http://127.0.0.1:8070; --json):\n"
    "  config get                          the current configuration version's document\n"
    "  config set FILE --reason R          FILE becomes the next version; prints what changed\n"
    "  versions [--limit N]                the version history\n"
    "  version N                           one version: who, why, what changed, its document\n"
    "  rollback N --reason R               version N's document as the next version\n"
    "  rollout [VERSION]                   which proxies run it, and how fast it got there\n"
    "  classifier register FILE [--note TEXT] [--canary ROUTE --weight W\n"
    "      [--sticky key|user|header:NAME]] [--promote ROUTE]\n"
    "  classifier list\n"
    "  ab promote ROUTE ARM | ab stop ROUTE ARM | ab set ROUTE FILE\n"
    "  events [--limit N]                  what the controller did, newest first\n"
    "\n"
    "The admin key is read from $SLUICE_ADMIN_KEY only, never from the command line.\n"
    "\n"
    "sluicectl COMMAND --help describes a command. Exit status: 0 success, 1 failure,\n"
    "2 bad usage.\n";

/* cJSON reports running out of memory by leaving members out; a report or a request with a
 * member missing would be wrong without saying so, so here it stops the program instead. */
static void *must_malloc(size_t n)
{
    void *p = malloc(n);

    if (!p) {
        fputs("sluicectl: out of memory\n", stderr);
        abort();
    }
    return p;
}

int main(int argc, char **argv)
{
    cJSON_Hooks hooks = {must_malloc, free};
    int status = SL_CTL_EXIT_USAGE;

    if (argc < 2) {
        fputs(usage_text, stderr);
        return SL_CTL_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    cJSON_InitHooks(&hooks);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fputs("sluicectl: cannot initialise libcurl\n", stderr);
        return SL_CTL_EXIT_FAILURE;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0) {
            status = commands[i].run(argc - 1, argv + 1, stdout, stderr);
            goto out;
        }
    fprintf(stderr, "sluicectl: unknown command \"%s\"\n(sluicectl --help for usage)\n", argv[1]);
out:
    curl_global_cleanup();
    return status;
}
