/* The rules scorer: cheap checks of a sampled answer that need no model. Pure functions of
 * their arguments; they allocate nothing and keep no state.
 *
 * The rules, in the order they are tried (a sample's result names the first that fails):
 *
 * upstream_error  the client got no answer: HTTP status >= 400, or an error code is set.
 * empty           the answer is blank: nothing but white space.
 * refusal         after leading white space, the answer starts with one of the phrases below,
 *                 ignoring ASCII case and reading a typographic apostrophe (U+2019) as "'",
 *                 and the phrase ends a word (the next character is not a letter or digit).
 * truncated       finish_reason is "length": the model stopped at max_tokens.
 * invalid_json    the client asked for JSON (response_format json_object or json_schema) and
 *                 the answer is not one well-formed JSON value.
 *
 * Refusal phrases: "I'm sorry, but I can't", "I'm sorry, but I cannot", "I am sorry, but I
 * cannot", "I'm sorry, I can't", "I'm sorry, I cannot", "I am sorry, I cannot", "I apologize,
 * but I can't", "I apologize, but I cannot", "Sorry, I can't help", "Sorry, I cannot help",
 * "Sorry, I can't answer", "Sorry, I cannot answer", "Sorry, but I can't", "Sorry, but I
 * cannot", "I cannot help with", "I can't help with", "I cannot assist with", "I can't assist
 * with", "I cannot provide", "I can't provide", "I'm unable to help", "I am unable to help",
 * "I'm not able to help", "I won't be able to help", "As an AI". Only the start of the answer
 * counts: an answer that explains a limitation after answering is not a refusal. */
#ifndef SL_RULES_H
#define SL_RULES_H

#include <stdbool.h>

#include "sample.h"

enum sl_rule {
    SL_RULE_PASS = 0,
    SL_RULE_UPSTREAM_ERROR,
    SL_RULE_EMPTY,
    SL_RULE_REFUSAL,
    SL_RULE_TRUNCATED,
    SL_RULE_INVALID_JSON,
};

/* The first rule that s fails, or SL_RULE_PASS. */
enum sl_rule sl_rules_check(const struct sl_sample *s);
/* The rule's name as stored in results.reason ("refusal", ...); "pass" for SL_RULE_PASS. */
const char *sl_rules_name(enum sl_rule rule);

/* The single checks, for callers and tests. text is NUL-terminated. */
bool sl_rules_blank(const char *text);
bool sl_rules_refusal(const char *text);
bool sl_rules_json_valid(const char *text);

#endif
