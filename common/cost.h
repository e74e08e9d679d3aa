/* Token usage as providers report it, and what it costs at a model's price. */
#ifndef SL_COST_H
#define SL_COST_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct sl_usage {
    long prompt;     /* input tokens, cached ones included */
    long completion; /* output tokens */
    long cached;     /* input tokens served from the provider's prompt cache */
};

/* Reads the top-level "usage" object of an OpenAI response or stream chunk (JSON text
 * text[0..len)). False when there is none, it is null, or its counts are not numbers >= 0. */
bool sl_usage_parse(const char *text, size_t len, struct sl_usage *u);

/* The cost in USD of u at price p: uncached input, cached input and output, each at its
 * per-million rate. Negative (-1) when the model is unpriced: never $0 by omission. */
double sl_cost_usd(const struct sl_price *p, const struct sl_usage *u);

#endif
