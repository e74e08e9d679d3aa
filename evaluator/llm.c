/* Chat calls over curl multi: a FIFO of waiting calls, a list of delayed retries, and at most
 * `concurrency` transfers. curl_multi_poll does the waiting, the owner's descriptors included. */
#include "llm.h"

#define SL_LOG_MODULE "llm"
#include "buf.h"
#include "clock.h"
#include "log.h"
#include "rand.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLY_MAX (8u << 20) /* a chat completion larger than this is refused */

struct call {
    struct call *next; /* in one of the lists below */
    const char *url, *api_key;
    char *body;
    size_t len;
    sl_llm_done_fn done;
    void *arg;
    int attempts;
    uint64_t due_us; /* delayed: when the retry may start */
    long http_status;
    CURL *easy;
    struct curl_slist *headers;
    struct sl_buf reply;
};

struct sl_llm {
    struct sl_llm_options o;
    CURLM *multi;
    struct call *ready, *ready_tail; /* waiting for a slot, oldest first */
    struct call *delayed;            /* waiting for their retry time, any order */
    struct call *active;             /* in flight */
    size_t n_ready, n_delayed, n_active;
    bool stopping;
    struct sl_rand rand;
};

static void call_free(struct call *c)
{
    if (c->easy)
        curl_easy_cleanup(c->easy);
    curl_slist_free_all(c->headers);
    sl_buf_free(&c->reply);
    free(c->body);
    free(c);
}

/* Runs the callback, then frees the call. */
static void finish(struct call *c, enum sl_llm_status status, const char *content,
                   const char *error)
{
    struct sl_llm_reply r = {.status = status,
                             .content = content ? content : "",
                             .http_status = c->http_status,
                             .attempts = c->attempts};

    snprintf(r.error, sizeof(r.error), "%s", error ? error : "");
    c->done(c->arg, &r);
    call_free(c);
}

static void push_ready(struct sl_llm *llm, struct call *c, bool front)
{
    c->next = NULL;
    if (!llm->ready) {
        llm->ready = llm->ready_tail = c;
    } else if (front) {
        c->next = llm->ready;
        llm->ready = c;
    } else {
        llm->ready_tail->next = c;
        llm->ready_tail = c;
    }
    llm->n_ready++;
}

static struct call *pop_ready(struct sl_llm *llm)
{
    struct call *c = llm->ready;

    if (c) {
        llm->ready = c->next;
        if (!llm->ready)
            llm->ready_tail = NULL;
        llm->n_ready--;
        c->next = NULL;
    }
    return c;
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    struct call *c = arg;

    return sl_buf_add(&c->reply, p, size * n) == 0 ? size * n : 0;
}

/* Starts one attempt of c; on failure c ends FAILED. */
static void start(struct sl_llm *llm, struct call *c)
{
    char auth[600];
    CURLMcode mc;

    c->attempts++;
    c->http_status = 0;
    sl_buf_reset(&c->reply);
    if (!c->easy && !(c->easy = curl_easy_init())) {
        finish(c, SL_LLM_FAILED, NULL, "out of memory");
        return;
    }
    curl_easy_reset(c->easy);
    if (!c->headers) {
        struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
        if (h)
            c->headers = h;
        if (h && c->api_key) {
            snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->api_key);
            h = curl_slist_append(c->headers, auth);
            memset(auth, 0, sizeof(auth));
        }
        if (!h) {
            finish(c, SL_LLM_FAILED, NULL, "out of memory");
            return;
        }
    }
    curl_easy_setopt(c->easy, CURLOPT_URL, c->url);
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->body);
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->len);
    curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, llm->o.timeout_ms);
    curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
    curl_easy_setopt(c->easy, CURLOPT_ACCEPT_ENCODING, "");
    if ((mc = curl_multi_add_handle(llm->multi, c->easy)) != CURLM_OK) {
        finish(c, SL_LLM_FAILED, NULL, curl_multi_strerror(mc));
        return;
    }
    c->next = llm->active;
    llm->active = c;
    llm->n_active++;
}

static void start_ready(struct sl_llm *llm)
{
    while (llm->n_active < (size_t)llm->o.concurrency && llm->ready)
        start(llm, pop_ready(llm));
}

static void unlink_active(struct sl_llm *llm, struct call *c)
{
    for (struct call **p = &llm->active; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            llm->n_active--;
            break;
        }
    }
    c->next = NULL;
}

/* The first choice's message content of a chat completion, or NULL with err set. The caller
 * frees the result. */
static char *chat_content(const char *text, size_t len, char *err, size_t errlen)
{
    cJSON *root = cJSON_ParseWithLength(text, len);
    const cJSON *choice, *content;
    char *out = NULL;

    choice = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "choices"), 0);
    content = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(choice, "message"),
                                               "content");
    if (!cJSON_IsObject(root))
        snprintf(err, errlen, "reply is not JSON");
    else if (!cJSON_IsObject(choice))
        snprintf(err, errlen, "reply has no choices");
    else if (content && !cJSON_IsNull(content) && !cJSON_IsString(content))
        snprintf(err, errlen, "reply's message content is not a string");
    else if (!(out = strdup(cJSON_IsString(content) ? content->valuestring : "")))
        snprintf(err, errlen, "out of memory");
    cJSON_Delete(root);
    return out;
}

static bool retryable(CURLcode res, long status)
{
    switch (res) {
    case CURLE_OK:
        return status == 429 || status >= 500;
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return true;
    default:
        return false;
    }
}

/* The wait before attempt n + 1: 500 ms doubling, +-25% jitter, capped; at least the
 * server's Retry-After (itself capped). */
static uint64_t backoff_ms(struct sl_llm *llm, int attempts, curl_off_t retry_after_s)
{
    double ms = 500.0 * (double)(1u << (attempts < 10 ? attempts - 1 : 9));
    double cap = (double)llm->o.max_backoff;

    ms *= 0.75 + 0.5 * sl_rand_double(&llm->rand);
    if (ms > cap)
        ms = cap;
    if (retry_after_s > 0 && (double)retry_after_s * 1000 > ms)
        ms = (double)retry_after_s * 1000 < 3 * cap ? (double)retry_after_s * 1000 : 3 * cap;
    return (uint64_t)ms;
}

/* A transfer ended: retry it, or end the call. */
static void ended(struct sl_llm *llm, struct call *c, CURLcode res)
{
    curl_off_t retry_after = 0;
    char err[160];
    char *content;

    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->http_status);
    curl_easy_getinfo(c->easy, CURLINFO_RETRY_AFTER, &retry_after);
    curl_multi_remove_handle(llm->multi, c->easy);
    unlink_active(llm, c);
    if (res == CURLE_OK && c->http_status >= 200 && c->http_status < 300) {
        content = chat_content(c->reply.data ? c->reply.data : "", c->reply.len, err, sizeof(err));
        finish(c, content ? SL_LLM_OK : SL_LLM_FAILED, content, err);
        free(content);
        return;
    }
    if (retryable(res, c->http_status) && c->attempts <= llm->o.retries) {
        if (llm->stopping) {
            finish(c, SL_LLM_CANCELLED, NULL, "stopped");
            return;
        }
        c->due_us = sl_clock_mono_us() + 1000 * backoff_ms(llm, c->attempts, retry_after);
        c->next = llm->delayed;
        llm->delayed = c;
        llm->n_delayed++;
        return;
    }
    if (res == CURLE_OPERATION_TIMEDOUT)
        snprintf(err, sizeof(err), "timed out after %ld ms (attempt %d)", llm->o.timeout_ms,
                 c->attempts);
    else if (res == CURLE_WRITE_ERROR)
        snprintf(err, sizeof(err), "reply larger than %u bytes", REPLY_MAX);
    else if (res != CURLE_OK)
        snprintf(err, sizeof(err), "%s (attempt %d)", curl_easy_strerror(res), c->attempts);
    else
        snprintf(err, sizeof(err), "HTTP %ld (attempt %d)", c->http_status, c->attempts);
    finish(c, SL_LLM_FAILED, NULL, err);
}

/* Moves due retries to the front of the waiting calls; returns ms until the next one is due
 * (or `limit`). */
static int promote_delayed(struct sl_llm *llm, int limit)
{
    uint64_t now = sl_clock_mono_us();
    struct call **p = &llm->delayed;

    while (*p) {
        struct call *c = *p;
        if (c->due_us <= now) {
            *p = c->next;
            llm->n_delayed--;
            push_ready(llm, c, true);
        } else {
            uint64_t ms = (c->due_us - now + 999) / 1000;
            if (ms < (uint64_t)limit)
                limit = (int)ms;
            p = &c->next;
        }
    }
    return limit;
}

struct sl_llm *sl_llm_create(const struct sl_llm_options *o)
{
    struct sl_llm *llm = calloc(1, sizeof(*llm));

    if (!llm)
        return NULL;
    llm->o = *o;
    if (llm->o.concurrency < 1)
        llm->o.concurrency = 1;
    if (llm->o.max_backoff <= 0)
        llm->o.max_backoff = 10000;
    sl_rand_seed_os(&llm->rand);
    if (!(llm->multi = curl_multi_init())) {
        free(llm);
        return NULL;
    }
    curl_multi_setopt(llm->multi, CURLMOPT_MAXCONNECTS, (long)llm->o.concurrency * 2);
    return llm;
}

void sl_llm_destroy(struct sl_llm *llm)
{
    if (!llm)
        return;
    sl_llm_stop(llm);
    while (llm->active) {
        struct call *c = llm->active;
        curl_multi_remove_handle(llm->multi, c->easy);
        unlink_active(llm, c);
        finish(c, SL_LLM_CANCELLED, NULL, "stopped");
    }
    curl_multi_cleanup(llm->multi);
    free(llm);
}

int sl_llm_submit(struct sl_llm *llm, const char *url, const char *api_key, const char *body,
                  size_t len, bool urgent, sl_llm_done_fn done, void *arg)
{
    struct call *c;

    if (llm->stopping)
        return SL_EINVAL;
    if (!urgent && llm->n_ready >= (size_t)llm->o.max_queue)
        return SL_ETOOBIG;
    if (!(c = calloc(1, sizeof(*c))) || !(c->body = malloc(len + 1))) {
        free(c);
        return SL_ENOMEM;
    }
    memcpy(c->body, body, len);
    c->body[len] = '\0';
    c->len = len;
    c->url = url;
    c->api_key = api_key;
    c->done = done;
    c->arg = arg;
    sl_buf_init(&c->reply, REPLY_MAX);
    push_ready(llm, c, urgent);
    return 0;
}

int sl_llm_poll(struct sl_llm *llm, struct curl_waitfd *fds, unsigned n, int timeout_ms)
{
    CURLMcode mc;
    CURLMsg *msg;
    int running, left;

    timeout_ms = promote_delayed(llm, timeout_ms);
    start_ready(llm);
    mc = curl_multi_poll(llm->multi, fds, n, timeout_ms, NULL);
    if (mc == CURLM_OK)
        mc = curl_multi_perform(llm->multi, &running);
    if (mc != CURLM_OK) {
        sl_error("curl multi: %s", curl_multi_strerror(mc));
        return SL_EIO;
    }
    while ((msg = curl_multi_info_read(llm->multi, &left))) {
        void *c = NULL;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &c);
        ended(llm, c, msg->data.result);
    }
    promote_delayed(llm, 0);
    start_ready(llm);
    return 0;
}

void sl_llm_stop(struct sl_llm *llm)
{
    struct call *c;

    llm->stopping = true;
    while ((c = pop_ready(llm)))
        finish(c, SL_LLM_CANCELLED, NULL, "stopped");
    while ((c = llm->delayed)) {
        llm->delayed = c->next;
        llm->n_delayed--;
        finish(c, SL_LLM_CANCELLED, NULL, "stopped");
    }
}

size_t sl_llm_in_flight(const struct sl_llm *llm)
{
    return llm->n_active;
}

size_t sl_llm_waiting(const struct sl_llm *llm)
{
    return llm->n_ready + llm->n_delayed;
}
