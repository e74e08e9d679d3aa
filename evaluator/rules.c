/* The rules scorer: blank, refusal, truncation, JSON and upstream-error checks. */
#include "rules.h"

#include "json.h"

#include <string.h>

/* Lower case, with "'" for the apostrophe; the matcher reads U+2019 as "'" itself. */
static const char *const refusals[] = {
    "i'm sorry, but i can't",
    "i'm sorry, but i cannot",
    "i am sorry, but i cannot",
    "i'm sorry, i can't",
    "i'm sorry, i cannot",
    "i am sorry, i cannot",
    "i apologize, but i can't",
    "i apologize, but i cannot",
    "sorry, i can't help",
    "sorry, i cannot help",
    "sorry, i can't answer",
    "sorry, i cannot answer",
    "sorry, but i can't",
    "sorry, but i cannot",
    "i cannot help with",
    "i can't help with",
    "i cannot assist with",
    "i can't assist with",
    "i cannot provide",
    "i can't provide",
    "i'm unable to help",
    "i am unable to help",
    "i'm not able to help",
    "i won't be able to help",
    "as an ai",
};

static const char *const names[] = {
    [SL_RULE_PASS] = "pass",           [SL_RULE_UPSTREAM_ERROR] = "upstream_error",
    [SL_RULE_EMPTY] = "empty",         [SL_RULE_REFUSAL] = "refusal",
    [SL_RULE_TRUNCATED] = "truncated", [SL_RULE_INVALID_JSON] = "invalid_json",
};

static bool space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Whether text starts with phrase (lower case) and the phrase ends a word there. */
static bool starts_with_phrase(const char *text, const char *phrase)
{
    const char *t = text;

    for (const char *p = phrase; *p; p++) {
        if (*p == '\'' && strncmp(t, "\xe2\x80\x99", 3) == 0)
            t += 3; /* U+2019 RIGHT SINGLE QUOTATION MARK, the typographic apostrophe */
        else if (lower(*t) == *p)
            t++;
        else
            return false;
    }
    return !alnum(*t);
}

bool sl_rules_blank(const char *text)
{
    while (space(*text))
        text++;
    return *text == '\0';
}

bool sl_rules_refusal(const char *text)
{
    while (space(*text))
        text++;
    for (size_t i = 0; i < sizeof(refusals) / sizeof(*refusals); i++)
        if (starts_with_phrase(text, refusals[i]))
            return true;
    return false;
}

bool sl_rules_json_valid(const char *text)
{
    return sl_json_valid(text, strlen(text));
}

enum sl_rule sl_rules_check(const struct sl_sample *s)
{
    const char *answer = s->answer ? s->answer : "";

    if (s->status >= 400 || s->error[0])
        return SL_RULE_UPSTREAM_ERROR;
    if (sl_rules_blank(answer))
        return SL_RULE_EMPTY;
    if (sl_rules_refusal(answer))
        return SL_RULE_REFUSAL;
    if (strcmp(s->finish_reason, "length") == 0)
        return SL_RULE_TRUNCATED;
    if (s->json_mode && !sl_rules_json_valid(answer))
        return SL_RULE_INVALID_JSON;
    return SL_RULE_PASS;
}

const char *sl_rules_name(enum sl_rule rule)
{
    return rule >= SL_RULE_PASS && rule <= SL_RULE_INVALID_JSON ? names[rule] : "unknown";
}
