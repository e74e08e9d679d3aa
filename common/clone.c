/* Clone-pattern messages: three ZeroMQ frames, checked on the way in. */
#include "clone.h"

#include <errno.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

int sl_clone_send(void *sock, const char *key, uint64_t seq, const char *body, size_t len,
                  int flags)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%llu", (unsigned long long)seq);

    if (zmq_send(sock, key, strlen(key), flags | ZMQ_SNDMORE) < 0 ||
        zmq_send(sock, num, (size_t)n, flags | ZMQ_SNDMORE) < 0 ||
        zmq_send(sock, body ? body : "", body ? len : 0, flags) < 0)
        return SL_EIO;
    return 0;
}

/* Reads and drops the rest of a message, so that the next receive starts at a message. */
static void drain(void *sock)
{
    int more = 1;
    size_t sz = sizeof(more);

    while (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz) == 0 && more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, sock, 0) < 0)
            more = 0;
        zmq_msg_close(&part);
        sz = sizeof(more);
    }
}

static bool parse_seq(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;

    if (len == 0 || len > 20)
        return false;
    for (size_t i = 0; i < len; i++) {
        uint64_t d = (uint64_t)(s[i] - '0');
        if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

int sl_clone_recv(void *sock, struct sl_clone_msg *m, int flags)
{
    zmq_msg_t f[3];
    int n = 0, rc = SL_EPARSE;

    memset(m, 0, sizeof(*m));
    for (; n < 3; n++) {
        int more;
        zmq_msg_init(&f[n]);
        if (zmq_msg_recv(&f[n], sock, n ? 0 : flags) < 0) {
            rc = n == 0 && errno == EAGAIN ? SL_EAGAIN : SL_EIO;
            n++;
            goto out;
        }
        more = zmq_msg_more(&f[n]);
        if ((n < 2 && !more) || (n == 2 && more)) {
            n++;
            if (more)
                drain(sock);
            goto out;
        }
    }
    if (zmq_msg_size(&f[0]) == 0 || zmq_msg_size(&f[0]) >= SL_CLONE_MAX_KEY ||
        memchr(zmq_msg_data(&f[0]), '\0', zmq_msg_size(&f[0])) ||
        !parse_seq(zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), &m->seq) ||
        zmq_msg_size(&f[2]) > SL_CLONE_MAX_BODY)
        goto out;
    memcpy(m->key, zmq_msg_data(&f[0]), zmq_msg_size(&f[0]));
    m->len = zmq_msg_size(&f[2]);
    m->body = malloc(m->len + 1);
    if (!m->body) {
        rc = SL_ENOMEM;
        goto out;
    }
    memcpy(m->body, zmq_msg_data(&f[2]), m->len);
    m->body[m->len] = '\0';
    rc = 0;
out:
    for (int i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
    if (rc)
        memset(m, 0, sizeof(*m));
    return rc;
}

void sl_clone_msg_free(struct sl_clone_msg *m)
{
    free(m->body);
    memset(m, 0, sizeof(*m));
}
