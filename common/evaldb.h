/* The evaluator's SQLite file (eval.db): the samples it received, the scorers' results, and
 * quality alerts. sluice-evaluator writes it; sluicectl (alerts, quality) and sluice-trainer
 * (labels) read it. The schema is documented with the migrations in evaldb.c. */
#ifndef SL_EVALDB_H
#define SL_EVALDB_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

/* Opens eval.db at path (creating and migrating it unless readonly); NULL with
 * "path: what is wrong" in err. The caller closes it with sqlite3_close. */
sqlite3 *sl_evaldb_open(const char *path, bool readonly, char *err, size_t errlen);

#endif
