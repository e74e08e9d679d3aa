/* sluice-evaluator: options, configuration, signals, sockets; the work is in ingest.c. */
#include "ingest.h"

#define SL_LOG_MODULE "evaluator"
#include "alerts.h"
#include "evconfig.h"
#include "log.h"
#include "store.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <zmq.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: sluice-evaluator [-c evaluator.json] [--log-level LEVEL]\n"
               "Environment: SLUICE_EVALUATOR_CONFIG, SLUICE_LOG_LEVEL (the command line wins\n"
               "over the environment, which wins over the file). The judge's and the shadow\n"
               "endpoint's keys are read from the variables named by their api_key_env.\n");
}

struct options {
    const char *config, *log_level;
};

/* Environment first, then the command line over it. Returns -1 on a usage error. */
static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longs[] = {{"config", required_argument, NULL, 'c'},
                                          {"log-level", required_argument, NULL, 'L'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    int ch;

    o->config =
        getenv("SLUICE_EVALUATOR_CONFIG") ? getenv("SLUICE_EVALUATOR_CONFIG") : "evaluator.json";
    o->log_level = getenv("SLUICE_LOG_LEVEL");
    while ((ch = getopt_long(argc, argv, "c:h", longs, NULL)) != -1) {
        switch (ch) {
        case 'c':
            o->config = optarg;
            break;
        case 'L':
            o->log_level = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            return -1;
        }
    }
    return optind == argc ? 0 : -1;
}

/* Warns about a configured key variable that is not set: calls go without a key. */
static void check_key(const char *what, const struct sl_evendpoint *e)
{
    if (e->base_url && e->api_key_env && !e->api_key)
        sl_warn("%s: environment variable %s is not set; calling without a key", what,
                e->api_key_env);
}

int main(int argc, char **argv)
{
    struct options o = {0};
    struct sl_evconfig *cfg = NULL;
    struct sl_store *store = NULL;
    struct sl_alerts *alerts = NULL;
    struct sl_ingest *ing = NULL;
    void *ctx = NULL, *pub = NULL;
    int stop_fd = -1, zero = 0, rc = 1;
    char err[1024];
    sigset_t set;

    if (parse_options(argc, argv, &o)) {
        usage(stderr);
        return 2;
    }
    cfg = sl_evconfig_load(o.config, err, sizeof(err));
    if (!cfg) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    if (sl_log_set_level(o.log_level ? o.log_level : cfg->log_level)) {
        fprintf(stderr, "log-level: \"%s\" is not debug, info, warn or error\n", o.log_level);
        rc = 2;
        goto out;
    }
    /* The stop signals arrive on a descriptor that the loop waits on with the others. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if ((stop_fd = signalfd(-1, &set, SFD_CLOEXEC)) < 0) {
        sl_error("signalfd: %s", strerror(errno));
        goto out;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    check_key("judge", &cfg->judge.endpoint);
    check_key("shadow", &cfg->shadow);

    if (!(store = sl_store_open(cfg->data_dir, err, sizeof(err)))) {
        sl_error("%s", err);
        goto out;
    }
    ctx = zmq_ctx_new();
    if (!ctx || !(pub = zmq_socket(ctx, ZMQ_PUB)) ||
        zmq_setsockopt(pub, ZMQ_LINGER, &zero, sizeof(zero))) {
        sl_error("cannot create the alerts' PUB socket: %s", zmq_strerror(errno));
        goto out;
    }
    if (zmq_bind(pub, cfg->publish)) {
        sl_error("%s: publish: %s: %s", cfg->path, cfg->publish, zmq_strerror(errno));
        goto out;
    }
    alerts = sl_alerts_create(sl_store_db(store), pub, cfg->webhook, &cfg->drift, err, sizeof(err));
    if (!alerts) {
        sl_error("alerts: %s", err);
        goto out;
    }
    if (!(ing = sl_ingest_create(cfg, ctx, store, alerts, err, sizeof(err)))) {
        sl_error("%s", err);
        goto out;
    }
    sl_info("pulling samples on %s%s, eval.db in %s, alerts on %s", cfg->listen[0],
            cfg->listen[1] ? " and more" : "", cfg->data_dir, cfg->publish);
    if (sl_ingest_run(ing, stop_fd))
        goto out;
    sl_info("stopped");
    rc = 0;
out:
    sl_ingest_destroy(ing);
    sl_alerts_destroy(alerts);
    sl_store_close(store);
    if (pub)
        zmq_close(pub);
    if (ctx)
        zmq_ctx_term(ctx);
    if (stop_fd >= 0)
        close(stop_fd);
    sl_evconfig_destroy(cfg);
    curl_global_cleanup();
    return rc;
}
