/* Small JSON helpers that work on raw text, for the proxy's hot path: locating a member
 * without building a tree, and escaping strings. They allocate nothing. */
#ifndef SL_JSON_H
#define SL_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* Finds the first top-level member called key in the JSON object text[0..len) and sets
 * [*vstart, *vend) to its value's span. Keys are compared as raw text (a key spelt with
 * escapes does not match). Returns false when text is not an object or key is absent. */
bool sl_json_member_span(const char *text, size_t len, const char *key, size_t *vstart,
                         size_t *vend);

/* True when text[0..len) is one well-formed JSON value (surrounding white space allowed).
 * Checks structure, not string encoding; nesting deeper than 128 counts as malformed. */
bool sl_json_valid(const char *text, size_t len);

/* Appends the text of an OpenAI chat completion or stream chunk text[0..len): each choice's
 * message.content or delta.content; a choice's finish_reason, when present and finish is not
 * NULL, is copied into finish[finish_size]. Parses with cJSON (off the hot path: payload
 * logging, sampling, token counting). SL_EPARSE when text is not JSON; SL_ETOOBIG past out's
 * cap. */
int sl_json_chat_text(const char *text, size_t len, struct sl_buf *out, char *finish,
                      size_t finish_size) SL_MUST_CHECK;

/* Appends s as a JSON string literal (quotes included), escaping what JSON requires. */
int sl_json_add_string(struct sl_buf *b, const char *s) SL_MUST_CHECK;
/* Appends OpenAI's error body {"error":{"message","type","param","code"}}; param and code may
 * be NULL (JSON null). */
int sl_json_add_error(struct sl_buf *b, const char *type, const char *code, const char *param,
                      const char *message) SL_MUST_CHECK;

#endif
