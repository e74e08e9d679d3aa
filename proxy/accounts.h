/* Teams, virtual keys, rate limits and budgets.
 * A team has limits, an optional budget and a payload-logging choice; a key belongs to one
 * team and may have limits of its own. Keys are kept only as SHA-256 digests (in memory and
 * in keys.db); the secret is returned once, by sl_accounts_create_key. sl_accounts owns every
 * team and key; they live until sl_accounts_destroy, so pointers and names handed out (in an
 * sl_admission) stay valid for the process's life. Every function is thread-safe: one mutex
 * guards the tables and the counters, so limits hold exactly across worker threads. */
#ifndef SL_ACCOUNTS_H
#define SL_ACCOUNTS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "errors.h"
#include "teams.h"

struct sl_key;
struct sl_team;

/* What admission decided for a call; the call keeps it until sl_accounts_settle. */
struct sl_admission {
    struct sl_key *key; /* NULL when the call was not admitted with a key */
    const char *team, *key_id;
    bool log_payloads;
    long tokens; /* tokens reserved against tokens-per-minute limits */
    /* The tightest limits, for the x-ratelimit-* headers (limit 0: none). */
    long limit_req, remaining_req, reset_req_ms;
    long limit_tok, remaining_tok, reset_tok_ms;
    double budget_left_usd; /* < 0: the team has no budget */
    /* Why admission failed, when it did: an OpenAI-shaped error. */
    int status; /* 401 or 429 */
    const char *type, *code;
    char message[200];
    long retry_after_s;
};

struct sl_accounts;

/* Opens (creating) keys.db at keys_path and loads every team and key. Each team's spending
 * in its current period is summed from the audit log at audit_path when that file exists.
 * NULL with "path: what is wrong" in err on failure. */
struct sl_accounts *sl_accounts_create(const char *keys_path, const char *audit_path, char *err,
                                       size_t errlen);
void sl_accounts_destroy(struct sl_accounts *a);

/* Checks the secret and the key's and team's limits and budget at time now_us (monotonic)
 * for a call estimated at tokens tokens. Returns true and reserves a request, the tokens and
 * a concurrency slot; or false with the refusal in ad (401 unknown or revoked key, 429 over a
 * limit or the budget). */
bool sl_accounts_admit(struct sl_accounts *a, const char *secret, size_t len, long tokens,
                       uint64_t now_us, struct sl_admission *ad);
/* Ends an admitted call: frees its concurrency slot, corrects the token reservation with the
 * tokens actually used (< 0: unknown, the estimate stands) and adds cost_usd (< 0: none) to
 * the team's spending. Does nothing for an admission without a key. */
void sl_accounts_settle(struct sl_accounts *a, struct sl_admission *ad, long tokens_used,
                        double cost_usd);

/* True when secret is a live key (of any team): the admin API answers such callers 403. */
bool sl_accounts_is_key(struct sl_accounts *a, const char *secret, size_t len);

/* Creates or replaces a team's settings (its counters and spending are kept); when out is not
 * NULL, returns its description (as in sl_accounts_teams_json) there. SL_EINVAL for a bad
 * name, SL_EIO when keys.db refuses; err says why. */
int sl_accounts_set_team(struct sl_accounts *a, const struct sl_team_settings *t, cJSON **out,
                         char *err, size_t errlen) SL_MUST_CHECK;
/* Creates a key for team; writes its secret (NUL-terminated) into secret and returns its
 * description (as in sl_accounts_keys_json) in *out. SL_ENOTFOUND for an unknown team. */
int sl_accounts_create_key(struct sl_accounts *a, const char *team, const char *name,
                           const struct sl_limits *limits, char secret[SL_KEY_SECRET_LEN + 1],
                           cJSON **out, char *err, size_t errlen) SL_MUST_CHECK;
/* Revokes key id; returns its description in *out. SL_ENOTFOUND when there is no such key. */
int sl_accounts_revoke_key(struct sl_accounts *a, const char *id, cJSON **out, char *err,
                           size_t errlen) SL_MUST_CHECK;
/* Makes the teams and keys those of d, the controller's: every team of d is set, every key of
 * d added or updated, and every other key revoked. Counters and spending are kept. Written to
 * keys.db in one transaction first, so that a proxy restarted while the controller is away
 * still knows them; on SL_EIO (or SL_EINVAL for a key whose id keys.db holds with another
 * digest) nothing changes and err says why. */
int sl_accounts_sync(struct sl_accounts *a, const struct sl_teams_doc *d, char *err,
                     size_t errlen) SL_MUST_CHECK;
/* {"data":[...]} descriptions of every team (with its spending) or of the keys (of team, or
 * all when team is NULL). The caller frees the result with cJSON_Delete. */
cJSON *sl_accounts_teams_json(struct sl_accounts *a);
cJSON *sl_accounts_keys_json(struct sl_accounts *a, const char *team);

/* Budgets hold across proxies: each reports what it spent (sl_accounts_spend_json: {"TEAM":
 * {"since": period start, Unix s, "usd": spent here}}) and hears from the controller what the
 * others did (sl_accounts_set_others, for the period starting at since). A team's spending,
 * for its budget and its description, is its own plus the others' when both are for the
 * current period; its metric (sluice_team_spend_usd) is this proxy's own, to be summed. */
cJSON *sl_accounts_spend_json(struct sl_accounts *a);
/* Limits hold across proxies too: with share proxies taking keys (the controller counts them),
 * each admits ceil(limit / share) of every key's and team's rpm, tpm and concurrency, which is
 * exact when the load balancer spreads a key's calls evenly. 1 (the default) for a lone proxy. */
void sl_accounts_set_share(struct sl_accounts *a, long share);
void sl_accounts_set_others(struct sl_accounts *a, const char *team, int64_t since, double usd);

/* Appends Prometheus text: spending and budget per team, calls in flight, refusals. */
int sl_accounts_render_metrics(struct sl_accounts *a, struct sl_buf *out) SL_MUST_CHECK;

/* The start of the period containing Unix time t (UTC), and the start of the next one. */
int64_t sl_period_start(enum sl_period p, int64_t t);
int64_t sl_period_end(enum sl_period p, int64_t t);

#endif
