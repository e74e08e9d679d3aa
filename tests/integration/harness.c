/* Starting, talking to and stopping real processes on loopback for integration tests. */
#include "harness.h"

#include <sqlite3.h>
#include "classifier.h"
#include "features.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

const char *bin_dir(void)
{
    const char *b = getenv("SLUICE_BIN");
    return b && *b ? b : "bin";
}

int run_command(const char *cmd, char *out, size_t outlen)
{
    FILE *p = popen(cmd, "r");
    size_t n;

    cr_assert_not_null(p, "cannot run %s", cmd);
    n = fread(out, 1, outlen - 1, p);
    out[n] = '\0';
    return WEXITSTATUS(pclose(p));
}

void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

/* ---- cleanup at exit ----
 * The lists belong to one process: Criterion forks a worker per test, and a helper a test
 * forks inherits the lists and the handler, so the handler acts only in the process that
 * registered it, and a new process starts with empty lists. */

#define MAX_TEMPS    256
#define MAX_CHILDREN 64

static char temps[MAX_TEMPS][256];
static int ntemps;
static pid_t children[MAX_CHILDREN];
static int nchildren;
static pid_t owner;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    if (remove(path) != 0 && errno != ENOENT)
        fprintf(stderr, "harness: cannot remove %s: %s\n", path, strerror(errno));
    return 0; /* remove what else can be */
}

/* Kills the children first, so that none writes into a directory being removed. */
static void cleanup_at_exit(void)
{
    const char *keep = getenv("SLUICE_KEEP_TMP");

    if (owner != getpid())
        return;
    for (int i = 0; i < nchildren; i++) {
        kill(children[i], SIGKILL);
        waitpid(children[i], NULL, 0);
    }
    nchildren = 0;
    if (!(keep && strcmp(keep, "1") == 0))
        for (int i = ntemps - 1; i >= 0; i--)
            nftw(temps[i], remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    ntemps = 0;
}

static void cleanup_arm(void)
{
    if (owner == getpid())
        return;
    owner = getpid();
    ntemps = nchildren = 0;
    cr_assert_eq(atexit(cleanup_at_exit), 0);
}

static void temp_register(const char *path)
{
    cleanup_arm();
    cr_assert_lt(ntemps, MAX_TEMPS, "too many temp paths");
    cr_assert_lt(strlen(path), sizeof(temps[0]), "temp path too long: %s", path);
    snprintf(temps[ntemps++], sizeof(temps[0]), "%s", path);
}

void temp_dir(char *out, size_t outlen, const char *what)
{
    int n = snprintf(out, outlen, "/tmp/sluice-test-%s-XXXXXX", what);

    cr_assert(n > 0 && (size_t)n < outlen, "temp dir name too long: %s", what);
    cr_assert_not_null(mkdtemp(out), "mkdtemp %s: %s", out, strerror(errno));
    temp_register(out);
}

/* Tracks pid for SIGKILL at exit; child_wait forgets it once reaped. */
static void child_track(pid_t pid)
{
    cleanup_arm();
    cr_assert_lt(nchildren, MAX_CHILDREN, "too many children");
    children[nchildren++] = pid;
}

pid_t child_wait(pid_t pid, int *status, int options)
{
    pid_t r = waitpid(pid, status, options);

    if (r == pid)
        for (int i = 0; i < nchildren; i++)
            if (children[i] == pid) {
                children[i] = children[--nchildren];
                break;
            }
    return r;
}

static void make_dir(struct proc *p, const char *what)
{
    temp_dir(p->dir, sizeof(p->dir), what);
    snprintf(p->log, sizeof(p->log), "%s/stderr.log", p->dir);
}

void proc_spawn(struct proc *p, char *const argv[])
{
    pid_t parent = getpid(), pid = fork();

    cr_assert_neq(pid, -1);
    if (pid == 0) {
        int fd;
        /* A worker killed for a timeout runs no exit handler: the child dies with it (with
         * the forking thread, in fact, which here is always the test's own). */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    p->pid = pid;
    child_track(pid);
}

static void dump_log(const struct proc *p)
{
    char buf[4096];
    FILE *f = fopen(p->log, "r");
    size_t n;

    if (!f)
        return;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    cr_log_error("%s:\n%s", p->log, buf);
}

/* Waits for the program to write its port file; fails the test after 15 s. */
static void wait_port(struct proc *p, const char *port_file)
{
    for (int i = 0; i < 1500; i++) {
        FILE *f = fopen(port_file, "r");
        int status;
        if (f) {
            int ok = fscanf(f, "%d", &p->port) == 1;
            fclose(f);
            if (ok && p->port > 0)
                return;
        }
        if (child_wait(p->pid, &status, WNOHANG) == p->pid) {
            dump_log(p);
            p->pid = 0;
            cr_assert_fail("process exited during start-up (status %d)", status);
        }
        sleep_ms(10);
    }
    dump_log(p);
    cr_assert_fail("no port file %s after 15 s", port_file);
}

void mock_start(struct proc *p, const char *config_json, unsigned seed)
{
    char exe[512], cfg[300], pf[300], seedstr[16];
    char *argv[12];
    int n = 0;

    make_dir(p, "mock");
    snprintf(exe, sizeof(exe), "%s/mockllm", bin_dir());
    snprintf(pf, sizeof(pf), "%s/port", p->dir);
    snprintf(seedstr, sizeof(seedstr), "%u", seed);
    argv[n++] = exe;
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--port-file";
    argv[n++] = pf;
    argv[n++] = "--seed";
    argv[n++] = seedstr;
    if (config_json) {
        snprintf(cfg, sizeof(cfg), "%s/mock.json", p->dir);
        write_file(cfg, config_json);
        argv[n++] = "--config";
        argv[n++] = cfg;
    }
    argv[n] = NULL;
    proc_spawn(p, argv);
    wait_port(p, pf);
}

void proxy_start(struct proc *p, const char *fmt, ...)
{
    char exe[512], cfg[300], pf[300];
    char text[16384];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    make_dir(p, "proxy");
    snprintf(exe, sizeof(exe), "%s/sluice-proxy", bin_dir());
    snprintf(cfg, sizeof(cfg), "%s/sluice.json", p->dir);
    snprintf(pf, sizeof(pf), "%s/port", p->dir);
    write_file(cfg, text);
    proc_spawn(p, (char *[]){exe, "-c", cfg, "--listen", "127.0.0.1:0", "--port-file", pf, NULL});
    wait_port(p, pf);
}

void proxy_restart(struct proc *p)
{
    char exe[512], cfg[300], pf[300];

    snprintf(exe, sizeof(exe), "%s/sluice-proxy", bin_dir());
    snprintf(cfg, sizeof(cfg), "%s/sluice.json", p->dir);
    snprintf(pf, sizeof(pf), "%s/port", p->dir);
    unlink(pf);
    proc_spawn(p, (char *[]){exe, "-c", cfg, "--listen", "127.0.0.1:0", "--port-file", pf, NULL});
    wait_port(p, pf);
}

void controller_restart(struct proc *p)
{
    char exe[512], cfg[300], pf[300];

    snprintf(exe, sizeof(exe), "%s/sluice-controller", bin_dir());
    snprintf(cfg, sizeof(cfg), "%s/controller.json", p->dir);
    snprintf(pf, sizeof(pf), "%s/port", p->dir);
    unlink(pf);
    proc_spawn(p, (char *[]){exe, "-c", cfg, "--listen", "127.0.0.1:0", "--port-file", pf, NULL});
    wait_port(p, pf);
}

void controller_start(struct proc *p, const char *fmt, ...)
{
    char cfg[300], text[16384];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    make_dir(p, "controller");
    snprintf(cfg, sizeof(cfg), "%s/controller.json", p->dir);
    write_file(cfg, text);
    controller_restart(p);
}

int program_start_fails(const char *program, const char *file, const char *config_json, char *err,
                        size_t errlen)
{
    struct proc p = {0};
    char exe[512], cfg[300];
    int status = 0;
    FILE *f;
    size_t n;

    make_dir(&p, program);
    snprintf(exe, sizeof(exe), "%s/%s", bin_dir(), program);
    snprintf(cfg, sizeof(cfg), "%s/%s", p.dir, file);
    write_file(cfg, config_json);
    proc_spawn(&p, (char *[]){exe, "-c", cfg, "--listen", "127.0.0.1:0", NULL});
    for (int i = 0; i < 500 && child_wait(p.pid, &status, WNOHANG) == 0; i++)
        sleep_ms(10);
    if (kill(p.pid, 0) == 0) {
        kill(p.pid, SIGKILL);
        child_wait(p.pid, &status, 0);
        cr_assert_fail("%s started with a config it should refuse", program);
    }
    f = fopen(p.log, "r");
    n = f ? fread(err, 1, errlen - 1, f) : 0;
    err[n] = '\0';
    if (f)
        fclose(f);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int proxy_start_fails(const char *config_json, char *err, size_t errlen)
{
    return program_start_fails("sluice-proxy", "sluice.json", config_json, err, errlen);
}

int proc_stop(struct proc *p)
{
    int status = 0;

    if (p->pid <= 0)
        return -1;
    kill(p->pid, SIGTERM);
    for (int i = 0; i < 1000; i++) {
        if (child_wait(p->pid, &status, WNOHANG) == p->pid) {
            p->pid = 0;
            return status;
        }
        sleep_ms(10);
    }
    kill(p->pid, SIGKILL);
    child_wait(p->pid, &status, 0);
    p->pid = 0;
    return status;
}

void proc_stop_clean(struct proc *p)
{
    int status = proc_stop(p);
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        dump_log(p);
        cr_assert_fail("%s did not exit cleanly (status %d)", p->log, status);
    }
}

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
    char **buf = arg;
    size_t old = *buf ? strlen(*buf) : 0;
    char *nb = realloc(*buf, old + size * n + 1);

    cr_assert_not_null(nb);
    memcpy(nb + old, p, size * n);
    nb[old + size * n] = '\0';
    *buf = nb;
    return size * n;
}

void http(struct resp *r, int port, const char *method, const char *path, const char *body,
          const char *extra_header, long timeout_ms)
{
    CURL *e = curl_easy_init();
    struct curl_slist *h = NULL;
    char url[512];

    memset(r, 0, sizeof(*r));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    if (extra_header)
        h = curl_slist_append(h, extra_header);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    if (body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    }
    if (method)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &r->headers);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms ? timeout_ms : 30000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    r->curl_error = (int)curl_easy_perform(e);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
    if (!r->body)
        r->body = calloc(1, 1);
    if (!r->headers)
        r->headers = calloc(1, 1);
    r->len = strlen(r->body);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
}

void resp_free(struct resp *r)
{
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof(*r));
}

bool resp_header(const struct resp *r, const char *name, char *out, size_t outlen)
{
    size_t n = strlen(name);

    for (const char *l = r->headers; l && *l;) {
        const char *end = strchr(l, '\n');
        size_t len = end ? (size_t)(end - l) : strlen(l);
        if (len > n && strncasecmp(l, name, n) == 0 && l[n] == ':') {
            const char *v = l + n + 1;
            while (*v == ' ')
                v++;
            len -= (size_t)(v - l);
            while (len && (v[len - 1] == '\r' || v[len - 1] == '\n'))
                len--;
            snprintf(out, outlen, "%.*s", (int)len, v);
            return true;
        }
        l = end ? end + 1 : NULL;
    }
    return false;
}

cJSON *resp_json(const struct resp *r)
{
    cJSON *j = cJSON_Parse(r->body);
    cr_assert_not_null(j, "not JSON: %s", r->body);
    return j;
}

void assert_openai_error(const struct resp *r, long status, const char *code)
{
    cJSON *j, *err;

    cr_assert_eq(r->status, status, "status %ld, want %ld; body %s", r->status, status, r->body);
    j = resp_json(r);
    err = cJSON_GetObjectItem(j, "error");
    cr_assert(cJSON_IsObject(err), "no error object: %s", r->body);
    cr_assert(cJSON_IsString(cJSON_GetObjectItem(err, "message")), "%s", r->body);
    cr_assert(cJSON_IsString(cJSON_GetObjectItem(err, "type")), "%s", r->body);
    cr_assert_not_null(cJSON_GetObjectItem(err, "param"), "%s", r->body);
    cr_assert_not_null(cJSON_GetObjectItem(err, "code"), "%s", r->body);
    if (code)
        cr_assert_str_eq(cJSON_GetObjectItem(err, "code")->valuestring, code, "%s", r->body);
    cJSON_Delete(j);
}

void mock_set(const struct proc *mock, const char *model, const char *settings_json)
{
    struct resp r;
    char path[256];

    snprintf(path, sizeof(path), "/mock/models/%s", model);
    http(&r, mock->port, NULL, path, settings_json, NULL, 0);
    cr_assert_eq(r.status, 200, "mock_set %s: %ld %s", model, r.status, r.body);
    resp_free(&r);
}

cJSON *mock_stats(const struct proc *mock)
{
    struct resp r;
    cJSON *j;

    http(&r, mock->port, NULL, "/mock/stats", NULL, NULL, 0);
    cr_assert_eq(r.status, 200);
    j = resp_json(&r);
    resp_free(&r);
    return j;
}

double mock_stat(const struct proc *mock, const char *key)
{
    cJSON *j = mock_stats(mock);
    const cJSON *v = cJSON_GetObjectItem(j, key);
    double d;

    if (!v)
        v = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "by_model"), key);
    d = cJSON_IsNumber(v) ? v->valuedouble : 0;
    cJSON_Delete(j);
    return d;
}

double metric(int port, const char *series)
{
    struct resp r;
    size_t n = strlen(series);
    double v = -1;

    http(&r, port, NULL, "/metrics", NULL, NULL, 0);
    for (const char *l = r.body; l && *l;) {
        if (strncmp(l, series, n) == 0 && l[n] == ' ') {
            v = strtod(l + n + 1, NULL);
            break;
        }
        l = strchr(l, '\n');
        l = l ? l + 1 : NULL;
    }
    resp_free(&r);
    return v;
}

long audit_count(const struct proc *proxy, const char *where)
{
    char path[400], sql[512];
    sqlite3 *db;
    sqlite3_stmt *st;
    long n = -1;

    snprintf(path, sizeof(path), "%s/data/audit.db", proxy->dir);
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK, "%s", path);
    sqlite3_busy_timeout(db, 5000);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM requests WHERE %s", where);
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

void classifier_write(const char *path, const char *hard_prompt, double threshold)
{
    struct sl_features f;
    float *w = calloc(SL_FEATURES_DIM, sizeof(float));
    char err[512];

    cr_assert_not_null(w);
    sl_features_init(&f);
    cr_assert_eq(sl_features_extract(&f, hard_prompt, strlen(hard_prompt), 1), 0);
    /* Hashed features carry a sign: the weight takes it, so that every one adds. */
    for (size_t i = 0; i < f.n; i++)
        if (f.idx[i] < SL_FEATURES_HASHED)
            w[f.idx[i]] = f.val[i] < 0 ? -3.0f : 3.0f;
    cr_assert_eq(sl_classifier_save(path, w, -2.0, SL_MESSAGES_LAST_USER, &threshold, 1, NULL, NULL,
                                    err, sizeof(err)),
                 0, "%s", err);
    sl_features_free(&f);
    free(w);
}
