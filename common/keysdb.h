/* Reading keys.db: the one reader of its rows, shared by the proxy, which owns and writes the
 * file (proxy/accounts.c, where its schema is), and sluicectl keys import, which only reads a
 * proxy's. Nothing here allocates; the settings handed to the callbacks live for the call. */
#ifndef SL_KEYSDB_H
#define SL_KEYSDB_H

#include <sqlite3.h>
#include <stddef.h>

#include "errors.h"
#include "teams.h"

/* Calls team(ctx, t) for every team (by name), then key(ctx, k) for every key, revoked ones
 * too (by creation time, then id). A callback's non-zero return stops the reading and is
 * returned. SL_EIO with "keys.db: what is wrong" in err when SQLite refuses, SL_EPARSE for a
 * row that does not fit the settings (a bad digest, a text too long). */
int sl_keysdb_read(sqlite3 *db, int (*team)(void *ctx, const struct sl_team_settings *t),
                   int (*key)(void *ctx, const struct sl_key_settings *k), void *ctx, char *err,
                   size_t errlen) SL_MUST_CHECK;

#endif
