/* mockllm: a mock OpenAI-compatible LLM provider for Sluice's tests and benchmarks. */
#define SL_LOG_MODULE "mockllm"
#include "mockllm.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/util.h>

#include "log.h"
#include "portfile.h"

#define MAX_THREADS 256

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mockllm [--listen HOST:PORT] [--port-file FILE] [--config FILE]\n"
            "               [--seed N] [--threads N] [--log-level LEVEL]\n"
            "  --listen     numeric address and port (default 127.0.0.1:9090; port 0: any)\n"
            "  --port-file  write the bound port there once listening\n"
            "  --config     models file: {\"models\": {\"NAME\": {settings}}}\n"
            "  --seed       seed of every random draw (default 1)\n"
            "  --threads    event-loop threads sharing the port (default 1)\n"
            "  --log-level  debug, info, warn, error or off (default info)\n"
            "MOCKLLM_API_KEY, when set, is the key /v1 requests must bear.\n"
            "\n"
            "Model settings, in the file or live with POST /mock/models/NAME {settings}\n"
            "(\"*\" is every model not listed; GET /mock/stats counts, POST /mock/reset\n"
            "zeroes the counts and restarts every model's draws):\n"
            "  ttft_ms, itl_ms        time to the first token, between tokens (default 0)\n"
            "  output_tokens          answer length in words (default 16)\n"
            "  embedding_dims         embedding length (default 8)\n"
            "  p_429, p_500, p_503    probability of that error status\n"
            "  retry_after_s          Retry-After on those errors when above 0 (default 0)\n"
            "  p_hang, p_malformed    never answer; answer broken JSON\n"
            "  p_close_mid_stream     close after about half the answer\n"
            "  p_bad                  probability of a bad answer: its content is\n"
            "                         \"" MOCK_BAD_LEAD "\" and the usual words\n"
            "  p_bad_hard             the same, for hard prompts only (a chance independent\n"
            "                         of p_bad's): the last user message has 40 words or more,\n"
            "                         or one of prove, derive, explain why, step by step,\n"
            "                         analyze, analyse, implement, optimize, optimise at\n"
            "                         the start of a word, in any case\n"
            "  judge                  true: answer as the judge (default for \"" MOCK_JUDGE_MODEL
            "\"),\n"
            "                         reading the last user message: <answer>X</answer>\n"
            "                         -> {\"score\": 1 when X is bad, else 5, \"reason\"};\n"
            "                         <answer_a>A</answer_a><answer_b>B</answer_b> ->\n"
            "                         {\"winner\": \"A\", \"B\" or \"tie\", \"reason\"}, a good\n"
            "                         answer beating a bad one; neither -> plain text\n"
            "Every draw is deterministic for a seed, a model and its request number.\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s || *end || *s == '-')
        return SL_EINVAL;
    *out = v;
    return 0;
}

/* Returns 0 to run, 1 after --help, or SL_EINVAL after printing what is wrong. */
static int parse_args(int argc, char **argv, struct mock_config *cfg)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},  {"port-file", required_argument, NULL, 'p'},
        {"config", required_argument, NULL, 'c'},  {"seed", required_argument, NULL, 's'},
        {"threads", required_argument, NULL, 't'}, {"log-level", required_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    uint64_t n;
    int c;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            cfg->listen = optarg;
            break;
        case 'p':
            cfg->port_file = optarg;
            break;
        case 'c':
            cfg->config_path = optarg;
            break;
        case 's':
            if (parse_u64(optarg, &cfg->seed)) {
                fprintf(stderr, "mockllm: --seed: not a number: %s\n", optarg);
                return SL_EINVAL;
            }
            break;
        case 't':
            if (parse_u64(optarg, &n) || n < 1 || n > MAX_THREADS) {
                fprintf(stderr, "mockllm: --threads: expected 1 to %d\n", MAX_THREADS);
                return SL_EINVAL;
            }
            cfg->threads = (int)n;
            break;
        case 'v':
            if (sl_log_set_level(optarg)) {
                fprintf(stderr, "mockllm: --log-level: unknown level %s\n", optarg);
                return SL_EINVAL;
            }
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return SL_EINVAL;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "mockllm: unexpected argument %s\n", argv[optind]);
        return SL_EINVAL;
    }
    return 0;
}

static void set_port(struct sockaddr_storage *ss, int port)
{
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
    else if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

/* Parses a numeric "HOST:PORT" or "[HOST6]:PORT". (evutil_parse_sockaddr_port refuses port 0.) */
static int parse_listen(const char *s, struct sockaddr_storage *ss, int *sslen)
{
    const char *colon = strrchr(s, ':');
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    char host[INET6_ADDRSTRLEN + 2];
    size_t n = colon ? (size_t)(colon - s) : 0;
    uint64_t port;

    if (!colon || n == 0 || n >= sizeof(host) || parse_u64(colon + 1, &port) || port > 65535)
        return SL_EINVAL;
    memcpy(host, s, n);
    host[n] = '\0';
    memset(ss, 0, sizeof(*ss));
    if (evutil_inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        *sslen = sizeof(*in4);
    } else if (n > 2 && host[0] == '[' && host[n - 1] == ']' &&
               (host[n - 1] = '\0', evutil_inet_pton(AF_INET6, host + 1, &in6->sin6_addr) == 1)) {
        in6->sin6_family = AF_INET6;
        *sslen = sizeof(*in6);
    } else {
        return SL_EINVAL;
    }
    set_port(ss, (int)port);
    return 0;
}

/* Creates and binds one server per thread; with port 0 the first picks, the others follow. */
static int listen_all(struct mock_server **srv, const struct mock_config *cfg,
                      struct mock_models *models, struct mock_stats *stats, int stop_fd)
{
    struct sockaddr_storage ss;
    int sslen;

    if (parse_listen(cfg->listen, &ss, &sslen)) {
        fprintf(stderr, "mockllm: --listen %s: expected a numeric HOST:PORT\n", cfg->listen);
        return SL_EINVAL;
    }
    for (int i = 0; i < cfg->threads; i++) {
        if (!(srv[i] = mock_server_create(cfg, models, stats, stop_fd))) {
            sl_error("out of memory");
            return SL_ENOMEM;
        }
        /* SO_REUSEPORT only when threads share the port: alone, a second mockllm started on
         * the same port by mistake should fail rather than take half the requests. */
        if (mock_server_listen(srv[i], (struct sockaddr *)&ss, sslen, cfg->threads > 1)) {
            sl_error("cannot listen on %s: %s", cfg->listen, strerror(errno));
            return SL_ESYS;
        }
        if (i == 0)
            set_port(&ss, srv[0]->port);
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct mock_config cfg = {.listen = "127.0.0.1:9090", .seed = 1, .threads = 1};
    struct mock_models *models = NULL;
    struct mock_stats *stats = NULL;
    struct mock_server **srv = NULL;
    int stop[2] = {-1, -1};
    char err[512];
    sigset_t sigs;
    int rc, sig, status = 1;

    if ((rc = parse_args(argc, argv, &cfg)))
        return rc > 0 ? 0 : 2;
    cfg.api_key = getenv("MOCKLLM_API_KEY");
    if (cfg.api_key && !*cfg.api_key)
        cfg.api_key = NULL;
    if (!(models = mock_models_create()) || !(stats = mock_stats_create()) ||
        !(srv = calloc((size_t)cfg.threads, sizeof(*srv)))) {
        sl_error("out of memory");
        goto out;
    }
    if (cfg.config_path && mock_models_load(models, cfg.config_path, err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        status = 2;
        goto out;
    }

    /* Signals go to sigwait() below and nowhere else: every thread inherits this mask.
     * A client that leaves mid-write must not kill us with SIGPIPE. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Closing the write end makes the read end readable in every loop at once. */
    if (pipe2(stop, O_CLOEXEC | O_NONBLOCK) != 0) {
        sl_error("pipe: %s", strerror(errno));
        goto out;
    }

    if ((rc = listen_all(srv, &cfg, models, stats, stop[0]))) {
        status = rc == SL_EINVAL ? 2 : 1;
        goto out;
    }
    if (cfg.port_file && sl_portfile_write(cfg.port_file, srv[0]->port))
        goto out;
    for (int i = 0; i < cfg.threads; i++) {
        if (mock_server_start(srv[i])) {
            sl_error("cannot start a thread: %s", strerror(errno));
            goto out;
        }
    }
    sl_info("listening on %s, port %d, %d thread%s, seed %llu", cfg.listen, srv[0]->port,
            cfg.threads, cfg.threads > 1 ? "s" : "", (unsigned long long)cfg.seed);

    if (sigwait(&sigs, &sig) == 0)
        sl_info("%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    status = 0;
out:
    if (stop[1] >= 0)
        close(stop[1]);
    for (int i = 0; srv && i < cfg.threads; i++)
        mock_server_join(srv[i]);
    for (int i = 0; srv && i < cfg.threads; i++)
        mock_server_destroy(srv[i]);
    free(srv);
    if (stop[0] >= 0)
        close(stop[0]);
    mock_stats_destroy(stats);
    mock_models_destroy(models);
    return status;
}
