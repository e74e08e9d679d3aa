/* Integration-test harness: starts bin/mockllm and bin/sluice-proxy as real processes on
 * loopback ports they choose themselves, talks HTTP to them with libcurl, stops them.
 * Every struct here is owned by the test that declares it; *_free / proc_stop release it.
 * Temporary files and child processes belong to the test's process: see temp_dir. */
#ifndef SL_HARNESS_H
#define SL_HARNESS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct proc {
    pid_t pid;
    int port;
    char dir[256]; /* a private temp directory (temp_dir): config, port file, log */
    char log[300]; /* the process's stderr */
};

/* Starts mockllm with the given config text (NULL for none) and seed. Asserts on failure. */
void mock_start(struct proc *p, const char *config_json, unsigned seed);
/* Starts sluice-proxy with a config made from fmt (printf-style; use %d for ports). */
void proxy_start(struct proc *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Starts a stopped sluice-proxy again with the same directory and config (a new port). */
void proxy_restart(struct proc *p);
/* Starts bin/program with its config file (named file, holding config_json) expecting it to
 * fail: returns its exit status, fills err with its stderr. */
int program_start_fails(const char *program, const char *file, const char *config_json, char *err,
                        size_t errlen);
/* The same for sluice-proxy and sluice.json. */
int proxy_start_fails(const char *config_json, char *err, size_t errlen);
/* Starts sluice-controller with a controller.json made from fmt, in a new directory, on an HTTP
 * port it chooses. */
void controller_start(struct proc *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Starts a stopped sluice-controller again with the same directory and config. */
void controller_restart(struct proc *p);
/* Forks and execs argv (argv[0] a path) with stdout and stderr appended to p->log, tracked
 * for cleanup at exit (below); p->dir and p->log must be set. Does not wait for anything. */
void proc_spawn(struct proc *p, char *const argv[]);
/* SIGTERM, then waits (SIGKILL after 10 s). Returns the exit status as from waitpid. The
 * directory stays until the test's process exits, for the test to read or restart from. */
int proc_stop(struct proc *p);
/* Asserts that the process exited cleanly (status 0: no sanitizer report, no crash). */
void proc_stop_clean(struct proc *p);

struct resp {
    long status;
    char *body; /* NUL-terminated */
    size_t len;
    char *headers;  /* raw header block, NUL-terminated */
    int curl_error; /* CURLcode; 0 when the transfer completed */
};

/* HTTP request to 127.0.0.1:port. method NULL = POST when body != NULL, else GET.
 * extra_header may be NULL. timeout_ms 0 = 30 s. */
void http(struct resp *r, int port, const char *method, const char *path, const char *body,
          const char *extra_header, long timeout_ms);
void resp_free(struct resp *r);
/* A response header's value (case-insensitive name) copied into out; false when absent. */
bool resp_header(const struct resp *r, const char *name, char *out, size_t outlen);
/* Parses the body as JSON; asserts that it parses. Free with cJSON_Delete. */
cJSON *resp_json(const struct resp *r);
/* Asserts an OpenAI-shaped error body with this status and, when code != NULL, this code. */
void assert_openai_error(const struct resp *r, long status, const char *code);

/* Changes a mock model's settings live: POST /mock/models/NAME. */
void mock_set(const struct proc *mock, const char *model, const char *settings_json);
/* GET /mock/stats, parsed. */
cJSON *mock_stats(const struct proc *mock);
/* A number from mock stats ("requests", "cancelled", ...), or by_model.NAME when model. */
double mock_stat(const struct proc *mock, const char *key);

/* The value of one Prometheus series line (exact text before the value), or -1. */
double metric(int port, const char *series);

/* Counts the rows of the proxy's audit.db (in its directory's data/) matching where (SQL). */
long audit_count(const struct proc *proxy, const char *where);

/* Writes a classifier artifact to path that scores prompts sharing hard_prompt's words high
 * and others low (weight +3 on each of its hashed features, bias -2), with one threshold. */
void classifier_write(const char *path, const char *hard_prompt, double threshold);

/* Where the programs under test are: $SLUICE_BIN, else bin. */
const char *bin_dir(void);
/* Runs the shell command cmd; its output (the first outlen - 1 bytes) into out. Its exit
 * status. */
int run_command(const char *cmd, char *out, size_t outlen);
/* Writes text to path; asserts that it can. */
void write_file(const char *path, const char *text);

/* Cleanup at exit. Criterion runs each test in a process of its own; when that process exits,
 * whether the test passed or an assertion failed, every directory made by temp_dir is removed
 * (recursively), and every child started by proc_spawn that is still running gets SIGKILL and
 * is reaped. With SLUICE_KEEP_TMP=1 in the environment the files are
 * kept, for debugging; the children are killed all the same. */

/* Makes a new directory /tmp/sluice-test-WHAT-XXXXXX, its path into out, registered for removal
 * at exit. Asserts that it can. Short, so that ipc:// socket paths inside it stay short. */
void temp_dir(char *out, size_t outlen, const char *what);
/* waitpid(pid, status, options) for a tracked child: forgets pid when it returns it, so that a
 * reused pid is never killed at exit. */
pid_t child_wait(pid_t pid, int *status, int options);

/* Sleeps ms milliseconds. */
void sleep_ms(long ms);

#endif
