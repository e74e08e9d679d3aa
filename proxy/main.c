/* sluice-proxy: options, configuration, signals; the work is in server.c and call.c. */
#include "server.h"

#define SL_LOG_MODULE "proxy"
#include "config.h"
#include "log.h"
#include "portfile.h"

#include <curl/curl.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: sluice-proxy [-c sluice.json] [--listen HOST:PORT] [--workers N]\n"
               "                    [--port-file FILE] [--log-level LEVEL] [--data-dir DIR]\n"
               "Environment: SLUICE_CONFIG, SLUICE_LISTEN, SLUICE_WORKERS, SLUICE_LOG_LEVEL,\n"
               "SLUICE_DATA_DIR; the admin API's key in SLUICE_ADMIN_KEY (see auth.admin_key_env)\n"
               "(the command line wins over the environment, which wins over the file).\n");
}

struct options {
    const char *config, *listen, *workers, *port_file, *log_level, *data_dir;
};

/* Environment first, then the command line over it. Returns -1 on a usage error. */
static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longs[] = {{"config", required_argument, NULL, 'c'},
                                          {"listen", required_argument, NULL, 'l'},
                                          {"workers", required_argument, NULL, 'w'},
                                          {"port-file", required_argument, NULL, 'p'},
                                          {"log-level", required_argument, NULL, 'L'},
                                          {"data-dir", required_argument, NULL, 'd'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    int ch;

    o->config = getenv("SLUICE_CONFIG") ? getenv("SLUICE_CONFIG") : "sluice.json";
    o->listen = getenv("SLUICE_LISTEN");
    o->workers = getenv("SLUICE_WORKERS");
    o->log_level = getenv("SLUICE_LOG_LEVEL");
    o->data_dir = getenv("SLUICE_DATA_DIR");
    while ((ch = getopt_long(argc, argv, "c:l:w:h", longs, NULL)) != -1) {
        switch (ch) {
        case 'c':
            o->config = optarg;
            break;
        case 'l':
            o->listen = optarg;
            break;
        case 'w':
            o->workers = optarg;
            break;
        case 'p':
            o->port_file = optarg;
            break;
        case 'L':
            o->log_level = optarg;
            break;
        case 'd':
            o->data_dir = optarg;
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
static int apply_overrides(struct sl_config *cfg, const struct options *o)
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
    if (o->workers) {
        char *end;
        long n = strtol(o->workers, &end, 10);
        if (*end || n < 1 || n > 256) {
            fprintf(stderr, "workers: \"%s\" is not a number from 1 to 256\n", o->workers);
            return -1;
        }
        cfg->workers = (int)n;
    }
    if (o->data_dir && *o->data_dir) {
        free(cfg->data_dir);
        cfg->data_dir = strdup(o->data_dir);
        if (!cfg->data_dir)
            return -1;
    }
    if (sl_log_set_level(o->log_level ? o->log_level : cfg->log_level)) {
        fprintf(stderr, "log-level: \"%s\" is not debug, info, warn or error\n", o->log_level);
        return -1;
    }
    return 0;
}

static void *signal_thread(void *arg)
{
    struct sl_server *srv = arg;
    sigset_t set;
    int sig;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigwait(&set, &sig) == 0) {
        sl_info("signal %d: draining in-flight requests", sig);
        sl_server_stop(srv);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    struct options o = {0};
    struct sl_config *cfg = NULL;
    struct sl_server *srv = NULL;
    char err[1024];
    sigset_t set;
    pthread_t sig_tid;
    int rc = 1;

    /* glibc hands a thread arena's free top back to the kernel once it passes 128 KB. With
     * dozens of calls in flight a worker frees that much every few dozen calls, and each time
     * it cost a madvise and then page faults to take the memory straight back (6,816 faults in
     * 4 s at 64 connections; 103 with this). Keep up to 1 MB per arena. Setting the trim
     * threshold fixes glibc's otherwise adaptive mmap threshold, so that is set too. */
    mallopt(M_TRIM_THRESHOLD, 1 << 20);
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    if (parse_options(argc, argv, &o)) {
        usage(stderr);
        return 2;
    }
    cfg = sl_config_load(o.config, err, sizeof(err));
    if (!cfg) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    if (apply_overrides(cfg, &o)) {
        rc = 2;
        goto out;
    }
    /* Block the stop signals in every thread; one thread waits for them. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    srv = sl_server_create(cfg);
    if (!srv)
        goto out;
    for (size_t i = 0; i < cfg->n_providers; i++)
        if (cfg->providers[i].api_key_env && !cfg->providers[i].api_key)
            sl_warn("provider %s: environment variable %s is not set; calling without a key",
                    cfg->providers[i].name, cfg->providers[i].api_key_env);
    if (o.port_file && sl_portfile_write(o.port_file, srv->port))
        goto out;
    sl_info("listening on %s:%d with %d workers, %zu models, %zu deployments", cfg->listen_host,
            srv->port, cfg->workers, cfg->n_models, cfg->n_deployments);
    if (pthread_create(&sig_tid, NULL, signal_thread, srv)) {
        sl_error("cannot start the signal thread");
        goto out;
    }
    pthread_detach(sig_tid);
    if (sl_server_run(srv))
        goto out;
    sl_info("stopped");
    rc = 0;
out:
    sl_server_destroy(srv);
    sl_config_destroy(cfg);
    curl_global_cleanup();
    return rc;
}
