/* The `sluice-trainer time-score` command: how long feature extraction plus scoring takes per
 * call on the proxy's path, for synthetic prompts of 200 B, 2 KB and 20 KB built
 * deterministically from English-like text with numbers and punctuation. */
#ifndef SL_TIMING_H
#define SL_TIMING_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "errors.h"

/* Writes exactly len bytes of English-like prose (words, numbers, punctuation, a few
 * parentheses and quotes) into buf and a NUL after them; the same seed gives the same text. */
void sl_timing_text(char *buf, size_t len, uint64_t seed);

/* The p-quantile (0..1) of v[0..n) by nearest rank after sorting v in place. */
double sl_timing_percentile(double *v, size_t n, double p);

/* The command: times n calls per prompt size and path (plain text; a parsed messages array),
 * in 5 interleaved rounds of n/5, for the model at path, and prints the medians over the rounds
 * of p50 and p99 as a table to out, with a last line
 * "time-score: p99_us_200=X p99_us_2k=X p99_us_20k=X" (the messages path). SL_EINVAL (model
 * refused), SL_ENOMEM. */
int sl_timing_run(const char *model, size_t n, FILE *out, FILE *err) SL_MUST_CHECK;

#endif
