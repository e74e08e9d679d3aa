/* eval.db's schema. One string per schema version; a released one is never edited.
 *
 * samples: one row per sample received (request_id unique: a sample sent twice is stored
 *   once). prompt is the request's messages as JSON, answer the answer's text, both redacted.
 * results: what one scorer said about one sample. scorer is "rules", "judge" or "shadow".
 *   pass: 1 good, 0 bad, NULL when the scorer itself failed (then error says why: the judge
 *   timed out, answered something unparseable, ...: judge failures are not answer failures).
 *   grade: the judge's grade in [0, 1]. verdict (shadow only): "win", "tie" or "loss" of the
 *   cheap answer against the premium tier's, whose text is premium_answer. reason: the rule
 *   that failed, or the judge's short rationale.
 * alerts: one row per drift condition while it lasts. key names the condition (for example
 *   "tier=auto/small" or "model=gpt-4o-mini"), state is "open" or "resolved"; evidence is
 *   JSON (window sizes, means, statistic, p-value, threshold).
 * labels (view): the trainer's labels from shadow verdicts: premium needed when the cheap
 *   answer lost. */
#include "evaldb.h"

#include "db.h"

static const char *const migrations[] = {
    "CREATE TABLE samples(id INTEGER PRIMARY KEY, request_id TEXT NOT NULL UNIQUE,"
    " received_ms INTEGER NOT NULL, ts_ms INTEGER NOT NULL, team TEXT, route TEXT, tier TEXT,"
    " tier_index INTEGER, premium_tier TEXT, model TEXT, deployment TEXT, arm TEXT,"
    " config_version INTEGER, score REAL, thresholds TEXT, status INTEGER, error TEXT,"
    " json_mode INTEGER, prompt TEXT, answer TEXT, finish_reason TEXT, latency_ms INTEGER,"
    " tokens_in INTEGER, tokens_out INTEGER, cost_usd REAL);"
    "CREATE INDEX samples_ts ON samples(ts_ms);"
    "CREATE TABLE results(id INTEGER PRIMARY KEY, sample_id INTEGER NOT NULL"
    " REFERENCES samples(id), scorer TEXT NOT NULL, ts_ms INTEGER NOT NULL, pass INTEGER,"
    " grade REAL, verdict TEXT, reason TEXT, error TEXT, premium_answer TEXT);"
    "CREATE INDEX results_sample ON results(sample_id);"
    "CREATE TABLE alerts(id INTEGER PRIMARY KEY, key TEXT NOT NULL, route TEXT, tier TEXT,"
    " model TEXT, arm TEXT, metric TEXT NOT NULL, detector TEXT NOT NULL,"
    " severity TEXT NOT NULL, state TEXT NOT NULL, first_seen_ms INTEGER NOT NULL,"
    " last_seen_ms INTEGER NOT NULL, resolved_ms INTEGER, acked_ms INTEGER, acked_by TEXT,"
    " evidence TEXT NOT NULL);"
    "CREATE INDEX alerts_key ON alerts(key, state);"
    "CREATE VIEW labels AS SELECT s.id AS sample_id, s.ts_ms, s.route, s.prompt,"
    " CASE r.verdict WHEN 'loss' THEN 1 ELSE 0 END AS premium_needed"
    " FROM results r JOIN samples s ON s.id = r.sample_id"
    " WHERE r.scorer = 'shadow' AND r.verdict IS NOT NULL;",
};

sqlite3 *sl_evaldb_open(const char *path, bool readonly, char *err, size_t errlen)
{
    return sl_db_open(path, readonly, migrations, sizeof(migrations) / sizeof(*migrations), err,
                      errlen);
}
