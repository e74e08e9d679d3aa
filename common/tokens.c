/* Token estimates: the GPT pre-tokenizer's split, done by hand, and a cost per piece. */
#include "tokens.h"

#include <stdbool.h>
#include <string.h>

/* The chat format's cost, as OpenAI's cookbook counts it. */
#define TOKENS_PER_MESSAGE 4
#define TOKENS_REPLY       3

static inline bool is_alpha(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static inline bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static inline bool is_newline(unsigned char c)
{
    return c == '\n' || c == '\r';
}

static inline bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\v' || c == '\f' || is_newline(c);
}

static inline bool is_cont(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

/* ASCII punctuation and control characters: what is neither letter, digit nor space. */
static inline bool is_punct(unsigned char c)
{
    return c < 0x80 && !is_alpha(c) && !is_digit(c) && !is_space(c);
}

/* Letters for the split: ASCII letters and the two-byte UTF-8 characters (Latin accents,
 * Greek, Cyrillic, Hebrew, Arabic), which the vocabularies merge less well. */
static inline bool is_letter_start(unsigned char c)
{
    return is_alpha(c) || (c >= 0xC0 && c <= 0xDF);
}

/* The tokens of a letter piece weighing w (ASCII letters 1, two-byte characters 2). Most
 * English words, long ones included, are single tokens; rarer and longer runs split into
 * pieces of about 4 letters. Fitted to cl100k_base and o200k_base counts of English prose,
 * where charging every word over 6 letters a token per 4 letters overcounts by 15-30%. */
static long letter_tokens(size_t w)
{
    if (w <= 9)
        return 1;
    return 1 + (long)((w - 9 + 3) / 4);
}

/* Punctuation runs: common pairs and triples ("()", "...", "://") are single tokens. */
static long punct_tokens(size_t n)
{
    return (long)((n + 2) / 3);
}

/* Whitespace: newlines are one token however many, and spaces and tabs one per 16 (runs
 * of indentation are single tokens). Counting, not positions, keeps this monotone. */
static long space_tokens(const unsigned char *s, size_t n)
{
    size_t blanks = 0;
    bool newline = false;

    for (size_t k = 0; k < n; k++) {
        if (is_newline(s[k]))
            newline = true;
        else
            blanks++;
    }
    return newline + (long)((blanks + 15) / 16);
}

/* Scans a letter run from s[*i] and returns its tokens. A capital after a small letter
 * starts a new piece ("getUserName" is get|User|Name), as the vocabularies split it; this
 * also keeps random mixed-case strings (base64) from counting as a few long words. */
static long letter_run(const unsigned char *s, size_t n, size_t *i)
{
    size_t j = *i, w = 0;
    long tokens = 0;
    bool lower = false;

    while (j < n && is_letter_start(s[j])) {
        if (s[j] >= 0x80) {
            j++;
            if (j < n && is_cont(s[j]))
                j++;
            w += 2;
            lower = false;
            continue;
        }
        if (lower && s[j] >= 'A' && s[j] <= 'Z') {
            tokens += letter_tokens(w);
            w = 0;
        }
        lower = s[j] >= 'a';
        j++;
        w++;
    }
    *i = j;
    return tokens + letter_tokens(w);
}

/* Scans a punctuation run and the newlines after it from s[*i] and returns its tokens. */
static long punct_run(const unsigned char *s, size_t n, size_t *i)
{
    size_t j = *i, m;

    while (j < n && is_punct(s[j]))
        j++;
    m = j - *i;
    while (j < n && is_newline(s[j]))
        j++;
    *i = j;
    return punct_tokens(m);
}

long sl_tokens_estimate(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0, j;
    long tokens = 0;

    while (i < len) {
        unsigned char c = s[i];

        if (is_letter_start(c)) {
            tokens += letter_run(s, len, &i);
        } else if (is_digit(c)) {
            for (j = i; j < len && is_digit(s[j]); j++)
                ;
            tokens += (long)((j - i + 2) / 3);
            i = j;
        } else if (is_space(c)) {
            for (j = i; j < len && is_space(s[j]); j++)
                ;
            /* the last space before a word is part of that word (" hello"), and a single
             * space is part of the punctuation run after it (" (") */
            bool lead = j < len && !is_newline(s[j - 1]) &&
                        (is_letter_start(s[j]) || (s[j - 1] == ' ' && is_punct(s[j])));
            if (j - lead > i)
                tokens += space_tokens(s + i, j - lead - i);
            i = j;
            if (lead)
                tokens += is_letter_start(s[i]) ? letter_run(s, len, &i) : punct_run(s, len, &i);
        } else if (is_punct(c)) {
            /* one punctuation character before a word joins it ("'s", "(hello", ".com") */
            if (i + 1 < len && is_letter_start(s[i + 1])) {
                i++;
                tokens += letter_run(s, len, &i);
            } else {
                tokens += punct_run(s, len, &i);
            }
        } else {
            /* three-byte characters (CJK, kana, hangul, typographic punctuation) are about
             * a token each, four-byte ones (emoji) two; a stray continuation byte, one */
            size_t want = c >= 0xF0 && c <= 0xF7 ? 3 : c >= 0xE0 && c <= 0xEF ? 2 : 0;
            tokens += c >= 0xF0 && c <= 0xF7 ? 2 : 1;
            for (i++; want > 0 && i < len && is_cont(s[i]); want--)
                i++;
        }
    }
    return tokens;
}

/* The estimate of one message's content: a string, or the "text" of each part. */
static long content_tokens(const cJSON *content)
{
    const cJSON *part;
    long tokens = 0;

    if (cJSON_IsString(content))
        return sl_tokens_estimate(content->valuestring, strlen(content->valuestring));
    if (!cJSON_IsArray(content))
        return 0;
    cJSON_ArrayForEach(part, content)
    {
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (cJSON_IsString(text))
            tokens += sl_tokens_estimate(text->valuestring, strlen(text->valuestring));
    }
    return tokens;
}

long sl_tokens_estimate_messages(const cJSON *messages)
{
    const cJSON *msg;
    long tokens = TOKENS_REPLY;

    if (!cJSON_IsArray(messages))
        return 0;
    cJSON_ArrayForEach(msg, messages)
    {
        if (cJSON_IsObject(msg))
            tokens += TOKENS_PER_MESSAGE +
                      content_tokens(cJSON_GetObjectItemCaseSensitive(msg, "content"));
    }
    return tokens;
}
