/* SQLite helpers shared by every program: open a database file in WAL mode and bring its
 * schema up to date. The caller owns the returned handle and closes it with sqlite3_close. */
#ifndef SL_DB_H
#define SL_DB_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

/* Opens path with WAL journaling, synchronous=NORMAL and a busy timeout. Unless readonly, the
 * file is created when missing and migrations[v..n) are applied, each in its own transaction
 * that also sets PRAGMA user_version to its index + 1, where v is the file's user_version.
 * A file whose user_version is above n was written by a newer Sluice: refused. On failure
 * returns NULL and writes "path: what is wrong" into err. */
sqlite3 *sl_db_open(const char *path, bool readonly, const char *const *migrations, size_t n,
                    char *err, size_t errlen);

/* Creates directory path and its missing parents (mode 0700), like mkdir -p. 0, or -1 with
 * errno set. */
int sl_db_mkdirs(const char *path);

#endif
