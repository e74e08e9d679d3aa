/* sluice-controller: options, configuration, signals; the work is in versions.c, bus.c,
 * policy.c and api.c. */
#include "api.h"
#include "bus.h"
#include "ctrlconf.h"
#include "versions.h"

#define SL_LOG_MODULE "controller"
#include "config.h"
#include "log.h"
#include "portfile.h"

#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: sluice-controller [-c controller.json] [--listen HOST:PORT]\n"
               "                         [--data-dir DIR] [--port-file FILE] [--log-level LEVEL]\n"
               "Environment: SLUICE_CONTROLLER_CONFIG, SLUICE_DATA_DIR, SLUICE_LOG_LEVEL; the\n"
               "admin API's key in SLUICE_ADMIN_KEY (see admin_key_env) (the command line wins\n"
               "over the environment, which wins over the file).\n");
}

struct options {
    const char *config, *listen, *data_dir, *port_file, *log_level;
};

/* Environment first, then the command line over it. Returns -1 on a usage error. */
static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longs[] = {{"config", required_argument, NULL, 'c'},
                                          {"listen", required_argument, NULL, 'l'},
                                          {"data-dir", required_argument, NULL, 'd'},
                                          {"port-file", required_argument, NULL, 'p'},
                                          {"log-level", required_argument, NULL, 'L'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    int ch;

    o->config =
        getenv("SLUICE_CONTROLLER_CONFIG") ? getenv("SLUICE_CONTROLLER_CONFIG") : "controller.json";
    o->data_dir = getenv("SLUICE_DATA_DIR");
    o->log_level = getenv("SLUICE_LOG_LEVEL");
    while ((ch = getopt_long(argc, argv, "c:h", longs, NULL)) != -1) {
        switch (ch) {
        case 'c':
            o->config = optarg;
            break;
        case 'l':
            o->listen = optarg;
            break;
        case 'd':
            o->data_dir = optarg;
            break;
        case 'p':
            o->port_file = optarg;
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

/* Applies overrides to the loaded config; reports "source: what is wrong". */
static int apply_overrides(struct sl_ctrlconf *cfg, const struct options *o)
{
    if (o->listen) {
        char *host;
        int port;
        if (sl_config_parse_listen(o->listen, &host, &port)) {
            fprintf(stderr, "listen: \"%s\" is not host:port\n", o->listen);
            return -1;
        }
        free(cfg->listen_host);
        cfg->listen_host = host;
        cfg->listen_port = port;
    }
    if (o->data_dir && *o->data_dir) {
        free(cfg->data_dir);
        if (!(cfg->data_dir = strdup(o->data_dir)))
            return -1;
    }
    if (sl_log_set_level(o->log_level ? o->log_level : cfg->log_level)) {
        fprintf(stderr, "log-level: \"%s\" is not debug, info, warn or error\n", o->log_level);
        return -1;
    }
    return 0;
}

static void on_signal(evutil_socket_t sig, short events, void *arg)
{
    sl_info("signal %d: stopping", (int)sig);
    event_base_loopbreak(arg);
}

int main(int argc, char **argv)
{
    struct options o = {0};
    struct sl_ctrlconf *cfg = NULL;
    struct sl_versions *vs = NULL;
    struct sl_bus *bus = NULL;
    struct sl_api *api = NULL;
    struct event_base *base = NULL;
    struct event *sigterm = NULL, *sigint = NULL;
    char err[1024];
    int rc = 1;

    if (parse_options(argc, argv, &o)) {
        usage(stderr);
        return 2;
    }
    if (!(cfg = sl_ctrlconf_load(o.config, err, sizeof(err)))) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    if (apply_overrides(cfg, &o)) {
        rc = 2;
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);
    if (!cfg->admin_key)
        sl_warn("environment variable %s is not set: the admin API refuses every request",
                cfg->admin_key_env);
    if (!(vs = sl_versions_open(cfg->data_dir, cfg->sluice, err, sizeof(err)))) {
        sl_error("%s", err);
        rc = 2;
        goto out;
    }
    if (!(bus = sl_bus_create(cfg, vs, err, sizeof(err)))) {
        sl_error("%s", err);
        goto out;
    }
    if (!(base = event_base_new()) || !(sigterm = evsignal_new(base, SIGTERM, on_signal, base)) ||
        !(sigint = evsignal_new(base, SIGINT, on_signal, base)) || evsignal_add(sigterm, NULL) ||
        evsignal_add(sigint, NULL)) {
        sl_error("cannot set up the event loop");
        goto out;
    }
    if (!(api = sl_api_create(base, cfg, vs, bus, err, sizeof(err)))) {
        sl_error("%s", err);
        goto out;
    }
    if (sl_bus_start(bus))
        goto out;
    if (o.port_file && sl_portfile_write(o.port_file, sl_api_port(api)))
        goto out;
    sl_info("version %lld of %s; admin API on %s:%d, snapshots on %s, updates on %s, reports on "
            "%s, control.db in %s",
            (long long)sl_versions_current(vs, NULL), cfg->sluice, cfg->listen_host,
            sl_api_port(api), cfg->snapshot, cfg->updates, cfg->reports, cfg->data_dir);
    if (event_base_dispatch(base) < 0) {
        sl_error("the event loop failed");
        goto out;
    }
    sl_info("stopped");
    rc = 0;
out:
    sl_api_destroy(api);
    sl_bus_destroy(bus); /* joins the bus thread, which uses vs */
    if (sigterm)
        event_free(sigterm);
    if (sigint)
        event_free(sigint);
    if (base)
        event_base_free(base);
    sl_versions_close(vs);
    sl_ctrlconf_destroy(cfg);
    return rc;
}
