/* Tests for controller/ctrlconf: defaults, paths beside the file, and the messages for
 * mistakes. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "ctrlconf.h"

static char err[512];

static struct sl_ctrlconf *parse(const char *text)
{
    err[0] = '\0';
    return sl_ctrlconf_parse("/etc/sluice/controller.json", text, strlen(text), err, sizeof(err));
}

static void expect_error(const char *text, const char *message)
{
    struct sl_ctrlconf *cfg = parse(text);

    cr_assert_null(cfg, "accepted: %s", text);
    cr_assert_str_eq(err, message);
}

Test(ctrlconf, defaults_and_paths_beside_the_file)
{
    struct sl_ctrlconf *cfg;

    setenv("SLUICE_TEST_CTRL_KEY", "k3y", 1);
    unsetenv("SLUICE_ADMIN_KEY");
    cfg = parse("{\"sluice\": \"sluice.json\"}");
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_str_eq(cfg->listen_host, "127.0.0.1");
    cr_assert_eq(cfg->listen_port, 8070);
    cr_assert_str_eq(cfg->sluice, "/etc/sluice/sluice.json");
    cr_assert_str_eq(cfg->data_dir, "/etc/sluice/data");
    cr_assert_str_eq(cfg->snapshot, "tcp://127.0.0.1:5560");
    cr_assert_str_eq(cfg->updates, "tcp://127.0.0.1:5561");
    cr_assert_str_eq(cfg->reports, "tcp://127.0.0.1:5562");
    cr_assert_null(cfg->alerts[0]);
    cr_assert_eq(cfg->heartbeat_ms, 1000);
    cr_assert_str_eq(cfg->admin_key_env, "SLUICE_ADMIN_KEY");
    cr_assert_null(cfg->admin_key);
    sl_ctrlconf_destroy(cfg);

    cfg = parse("{\"sluice\": \"/srv/sluice.json\", \"listen\": \"0.0.0.0:0\", \"data_dir\": "
                "\"d\", \"snapshot\": \"ipc:///tmp/s\", \"updates\": \"tcp://*:1\", \"reports\": "
                "\"tcp://*:2\", \"alerts\": [\"tcp://e1:5558\", \"ipc:///tmp/e2\"], "
                "\"heartbeat_ms\": 10, \"admin_key_env\": \"SLUICE_TEST_CTRL_KEY\", "
                "\"log_level\": \"debug\"}");
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_str_eq(cfg->listen_host, "0.0.0.0");
    cr_assert_eq(cfg->listen_port, 0);
    cr_assert_str_eq(cfg->sluice, "/srv/sluice.json");
    cr_assert_str_eq(cfg->data_dir, "/etc/sluice/d");
    cr_assert_str_eq(cfg->alerts[1], "ipc:///tmp/e2");
    cr_assert_null(cfg->alerts[2]);
    cr_assert_eq(cfg->heartbeat_ms, 10);
    cr_assert_str_eq(cfg->admin_key, "k3y");
    cr_assert_str_eq(cfg->log_level, "debug");
    sl_ctrlconf_destroy(cfg);
}

Test(ctrlconf, mistakes_name_the_file_and_the_key)
{
    expect_error("{}", "/etc/sluice/controller.json: sluice: is required: the path of the "
                       "proxies' sluice.json");
    expect_error("{\"sluice\": \"s\", \"heartbeat_ms\": 5}",
                 "/etc/sluice/controller.json: heartbeat_ms: must be between 10 and 60000");
    expect_error("{\"sluice\": \"s\", \"listen\": \"nowhere\"}",
                 "/etc/sluice/controller.json: listen: must be \"host:port\"");
    expect_error("{\"sluice\": \"s\", \"updates\": \"5561\"}",
                 "/etc/sluice/controller.json: updates: must be an endpoint like "
                 "tcp://127.0.0.1:5560 or ipc://PATH");
    expect_error("{\"sluice\": \"s\", \"alerts\": \"tcp://x:1\"}",
                 "/etc/sluice/controller.json: alerts: must be an array of the evaluators' PUB "
                 "endpoints");
    expect_error("{\"sluice\": \"s\", \"snaphot\": \"tcp://x:1\"}",
                 "/etc/sluice/controller.json: snaphot: unknown key");
    expect_error("{\"sluice\": \"s\",}",
                 "/etc/sluice/controller.json:1: invalid JSON near byte 15");
}

Test(ctrlconf, destroy_null_is_a_no_op)
{
    sl_ctrlconf_destroy(NULL);
}
