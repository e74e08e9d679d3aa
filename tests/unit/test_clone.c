/* Tests for common/clone: the three-frame messages of configuration distribution. */
#include <criterion/criterion.h>
#include <string.h>
#include <zmq.h>

#include "clone.h"

static void *ctx, *a, *b;

static void setup(void)
{
    ctx = zmq_ctx_new();
    a = zmq_socket(ctx, ZMQ_PAIR);
    b = zmq_socket(ctx, ZMQ_PAIR);
    cr_assert_eq(zmq_bind(a, "inproc://clone"), 0);
    cr_assert_eq(zmq_connect(b, "inproc://clone"), 0);
}

static void teardown(void)
{
    zmq_close(a);
    zmq_close(b);
    zmq_ctx_term(ctx);
}

TestSuite(clone, .init = setup, .fini = teardown);

/* Sends n frames as one message. */
static void send_frames(const char *const *frames, int n)
{
    for (int i = 0; i < n; i++)
        cr_assert_geq(zmq_send(a, frames[i], strlen(frames[i]), i + 1 < n ? ZMQ_SNDMORE : 0), 0);
}

Test(clone, a_message_arrives_whole)
{
    struct sl_clone_msg m;

    cr_assert_eq(sl_clone_send(a, "config", 42, "{\"version\":3}", 13, 0), 0);
    cr_assert_eq(sl_clone_recv(b, &m, 0), 0);
    cr_assert_str_eq(m.key, "config");
    cr_assert_eq(m.seq, 42);
    cr_assert_eq(m.len, 13);
    cr_assert_str_eq(m.body, "{\"version\":3}");
    sl_clone_msg_free(&m);
    cr_assert_eq(sl_clone_send(a, SL_CLONE_HUGZ, UINT64_MAX, NULL, 0, 0), 0);
    cr_assert_eq(sl_clone_recv(b, &m, 0), 0);
    cr_assert_eq(m.seq, UINT64_MAX);
    cr_assert_str_eq(m.body, "", "an empty body is an empty string");
    sl_clone_msg_free(&m);
}

Test(clone, nothing_waiting_is_eagain)
{
    struct sl_clone_msg m;

    cr_assert_eq(sl_clone_recv(b, &m, ZMQ_DONTWAIT), SL_EAGAIN);
}

Test(clone, malformed_messages_are_refused_and_the_next_one_still_reads)
{
    static const char *const short_msg[] = {"config", "1"};
    static const char *const long_msg[] = {"config", "1", "x", "extra"};
    static const char *const bad_seq[] = {"config", "12a", "x"};
    static const char *const neg_seq[] = {"config", "-1", "x"};
    static const char *const huge_seq[] = {"config", "99999999999999999999", "x"};
    static const char *const no_key[] = {"", "1", "x"};
    struct sl_clone_msg m;

    send_frames(short_msg, 2);
    send_frames(long_msg, 4);
    send_frames(bad_seq, 3);
    send_frames(neg_seq, 3);
    send_frames(huge_seq, 3);
    send_frames(no_key, 3);
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(sl_clone_recv(b, &m, 0), SL_EPARSE, "message %d", i);
        cr_assert_null(m.body);
    }
    cr_assert_eq(sl_clone_send(a, "clf/sha256:00", 7, "body", 4, 0), 0);
    cr_assert_eq(sl_clone_recv(b, &m, 0), 0);
    cr_assert_str_eq(m.key, "clf/sha256:00");
    sl_clone_msg_free(&m);
}
