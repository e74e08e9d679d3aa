/* The one feature extractor: turns the text a router sees into a sparse vector. The trainer
 * and the proxy both call it, so a feature means the same thing in both. The written
 * specification (sl_features_spec) and its hash travel with every model artifact; a model
 * made for another specification is refused.
 *
 * Ownership: the caller owns a struct sl_features (init/free) and reuses it across calls;
 * extraction allocates only when the vector outgrows its capacity. */
#ifndef SL_FEATURES_H
#define SL_FEATURES_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "errors.h"

/* Hashed word and character n-grams fill 2^SL_FEATURES_HASH_BITS slots; the fixed,
 * hand-made features follow them. */
#define SL_FEATURES_HASH_BITS 18
#define SL_FEATURES_HASHED    (1u << SL_FEATURES_HASH_BITS)
#define SL_FEATURES_FIXED     32
#define SL_FEATURES_DIM       (SL_FEATURES_HASHED + SL_FEATURES_FIXED)

/* A sparse vector: n (index, value) pairs, indices unique and ascending. */
struct sl_features {
    uint32_t *idx;
    float *val;
    size_t n;   /* read-only */
    size_t cap; /* private */
};

/* Which messages of a chat request the router reads. */
enum sl_features_messages {
    SL_MESSAGES_LAST_USER,   /* the last user turn (default) */
    SL_MESSAGES_SYSTEM_LAST, /* the system prompt(s) and the last user turn */
    SL_MESSAGES_ALL          /* the whole conversation */
};

void sl_features_init(struct sl_features *f);
void sl_features_free(struct sl_features *f);

/* Extracts the features of text[0..len) read as a conversation of `turns` messages (1 for
 * a single prompt). Replaces f's contents. SL_ENOMEM only. */
int sl_features_extract(struct sl_features *f, const char *text, size_t len,
                        int turns) SL_MUST_CHECK;

/* Extracts from an OpenAI "messages" array, reading the messages that `which` selects (text
 * content, or the text parts of multi-part content). buf is scratch space the caller keeps
 * for reuse (free() it at the end). SL_EINVAL when messages is not an array. */
int sl_features_from_messages(struct sl_features *f, const cJSON *messages,
                              enum sl_features_messages which, char **buf,
                              size_t *bufcap) SL_MUST_CHECK;

/* Parses "last_user", "system_last" or "all"; SL_EINVAL otherwise. */
int sl_features_messages_parse(const char *s, enum sl_features_messages *out) SL_MUST_CHECK;
const char *sl_features_messages_name(enum sl_features_messages m);

/* The written specification of every feature, and its hash (16 hex digits). */
const char *sl_features_spec(void);
const char *sl_features_spec_hash(void);
/* A fixed feature's name ("len_tokens", ...) by its index in 0..SL_FEATURES_FIXED-1. */
const char *sl_features_fixed_name(unsigned i);

#endif
