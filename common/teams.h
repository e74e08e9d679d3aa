/* Teams and virtual keys as settings: a team's limits, budget and payload logging; a key's id,
 * team, SHA-256 digest and limits. One reader and one writer of their JSON, shared by the
 * proxy's admin API and keys.db, the controller's admin API, and the "accounts" part of a
 * configuration version. The structs are plain values: nothing here allocates but the cJSON
 * trees handed back, which the caller frees with cJSON_Delete. */
#ifndef SL_TEAMS_H
#define SL_TEAMS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jsonconf.h"

#define SL_KEY_SECRET_LEN 50 /* "sk-sluice-" and 40 base-62 characters */

/* Per minute, tokens estimated before a call and corrected after it; 0 means no limit. */
struct sl_limits {
    long rpm, tpm, concurrency;
};

enum sl_period { SL_PERIOD_DAY, SL_PERIOD_WEEK, SL_PERIOD_MONTH };

extern const char *const sl_period_names[3]; /* "day", "week", "month" */
/* Reads a period by its name; false when s names none. */
bool sl_period_parse(const char *s, enum sl_period *out);

struct sl_team_settings {
    char name[64]; /* 1..63 characters of [A-Za-z0-9._-] */
    struct sl_limits limits;
    double budget_usd; /* per period; 0: no budget */
    enum sl_period period;
    double warn_at; /* warn once this share of the budget is spent (0..1] */
    bool log_payloads;
};

struct sl_key_settings {
    char id[24];   /* "key_" and 16 hex digits */
    char team[64]; /* the team it belongs to */
    char name[64]; /* the owner's label; may be empty */
    unsigned char digest[32];
    char hint[12];            /* "..." and the secret's last four characters */
    int64_t created, revoked; /* Unix s; revoked 0: live */
    struct sl_limits limits;
};

/* The "accounts" part of a configuration version: every team and key, as the controller owns
 * them. Made by sl_teams_read_doc, freed by sl_teams_doc_destroy. */
struct sl_teams_doc {
    struct sl_team_settings *teams;
    size_t n_teams;
    struct sl_key_settings *keys;
    size_t n_keys;
};

/* True for 1..63 characters of A-Z a-z 0-9 . _ - (team names and key ids). */
bool sl_teams_valid_name(const char *s);

/* A team's settings from obj, as POST /admin/teams takes them and a version's
 * "accounts.teams.NAME" holds them: {"limits": {"rpm", "tpm", "concurrency"}, "budget":
 * {"usd", "period", "warn_at"} or null, "log_payloads"}. Absent members take the defaults (no
 * limits, no budget, monthly, warn at 0.8, no payloads); "name" is left to the caller. Problems
 * go to ld as path's keys. */
void sl_teams_read_team(struct sl_jsonconf *ld, const cJSON *obj, const char *path,
                        struct sl_team_settings *t);
/* obj's optional "limits" member into *l (all 0 when absent). */
void sl_teams_read_limits(struct sl_jsonconf *ld, const cJSON *obj, const char *path,
                          struct sl_limits *l);
/* A key as a version holds it at "accounts.keys.ID": {"team", "name", "sha256", "hint",
 * "created", "revoked", "limits"}; id is the member's name. */
void sl_teams_read_key(struct sl_jsonconf *ld, const cJSON *obj, const char *path, const char *id,
                       struct sl_key_settings *k);

/* {"teams": {"NAME": team, ...}, "keys": {"ID": key, ...}} at path: every key's team must be
 * there, and no two keys may share a digest. NULL after a problem reported to ld. */
struct sl_teams_doc *sl_teams_read_doc(struct sl_jsonconf *ld, const cJSON *obj, const char *path);
void sl_teams_doc_destroy(struct sl_teams_doc *d);
/* The team called name in d, or NULL. */
const struct sl_team_settings *sl_teams_doc_team(const struct sl_teams_doc *d, const char *name);

/* The descriptions the admin APIs answer with: {"name", "limits", "budget", "log_payloads"}
 * and {"id", "team", "name", "hint", "created", "revoked", "limits"}. with_stored adds what a
 * version stores instead: a team loses "name" (it is the member's name), a key loses "id" and
 * gains "sha256". */
cJSON *sl_teams_team_json(const struct sl_team_settings *t, bool with_stored);
cJSON *sl_teams_key_json(const struct sl_key_settings *k, bool with_stored);

/* Whether a key's "name" in a request is absent, null or a string of at most 63 bytes. */
bool sl_teams_key_name_ok(const cJSON *name);

/* Makes a new key for team: writes its secret (NUL-terminated, SL_KEY_SECRET_LEN characters)
 * into secret, and k's id, digest, hint and creation time; name may be NULL. 40 base-62
 * characters are 238 bits, beyond guessing, so a plain SHA-256 of the secret suffices. */
void sl_teams_new_key(struct sl_key_settings *k, const char *team, const char *name,
                      const struct sl_limits *limits, char secret[SL_KEY_SECRET_LEN + 1]);

#endif
