/* Answer quality for the quality loop's tests: which prompts are hard, which answers are bad,
 * and the deterministic judge's verdicts. The rules are in mockllm.h. */
#include "mockllm.h"

#include <stdlib.h>
#include <string.h>

/* Keywords of a hard prompt, lower case; each must start a word. */
static const char *const hard_words[] = {
    "prove",   "derive",    "explain why", "step by step", "analyze",
    "analyse", "implement", "optimize",    "optimise",
};

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool role_is(const cJSON *msg, const char *role)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(msg, "role");

    return cJSON_IsString(r) && strcmp(r->valuestring, role) == 0;
}

/* Adds text to b, after a newline when b already holds a piece. */
static int add_piece(struct sl_buf *b, const char *text)
{
    int rc = b->len ? sl_buf_add(b, "\n", 1) : 0;

    return rc ? rc : sl_buf_adds(b, text);
}

char *mock_last_user_text(const cJSON *messages)
{
    const cJSON *msg, *last = NULL, *content, *part;
    struct sl_buf b;
    char *out = NULL;
    int rc = 0;

    cJSON_ArrayForEach(msg, messages)
    {
        if (role_is(msg, "user"))
            last = msg;
    }
    sl_buf_init(&b, MOCK_REQUEST_MAX);
    content = last ? cJSON_GetObjectItemCaseSensitive(last, "content") : NULL;
    if (cJSON_IsString(content)) {
        rc = sl_buf_adds(&b, content->valuestring);
    } else if (cJSON_IsArray(content)) {
        cJSON_ArrayForEach(part, content)
        {
            const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");

            if (!rc && cJSON_IsString(text))
                rc = add_piece(&b, text->valuestring);
        }
    }
    /* sl_buf_take on an empty buffer still gives "" to free. */
    if (!rc)
        out = sl_buf_take(&b, NULL);
    sl_buf_free(&b);
    return out;
}

/* Whether s starts with word (lower case) ignoring ASCII case. */
static bool starts_with_word(const char *s, const char *word)
{
    for (; *word; s++, word++)
        if (lower(*s) != *word)
            return false;
    return true;
}

bool mock_prompt_is_hard(const char *text)
{
    size_t words = 0;
    bool in_word = false;

    for (const char *p = text; *p; p++) {
        if (blank(*p)) {
            in_word = false;
            continue;
        }
        if (!in_word && ++words >= MOCK_HARD_WORDS)
            return true;
        in_word = true;
    }
    for (const char *p = text; *p; p++) {
        if (p > text && is_alpha(p[-1]))
            continue;
        for (size_t i = 0; i < sizeof(hard_words) / sizeof(hard_words[0]); i++)
            if (starts_with_word(p, hard_words[i]))
                return true;
    }
    return false;
}

bool mock_answer_is_bad(const struct mock_settings *s, bool hard, double u)
{
    double good = 1 - s->p_bad;

    if (hard)
        good *= 1 - s->p_bad_hard;
    return u < 1 - good;
}

/* The text between the last open and the next close after it, as [*from, *to); false when
 * absent. The last: a judge prompt that names the tags in its instructions before the answer
 * must still find the answer. */
static bool tagged(const char *text, const char *open, const char *close, const char **from,
                   const char **to)
{
    const char *a = NULL, *z;

    for (const char *p = strstr(text, open); p; p = strstr(p + 1, open))
        a = p;
    if (!a)
        return false;
    a += strlen(open);
    if (!(z = strstr(a, close)))
        return false;
    *from = a;
    *to = z;
    return true;
}

static bool bad_answer(const char *from, const char *to)
{
    size_t n = strlen(MOCK_BAD_MARK);

    while (from < to && blank(*from))
        from++;
    return (size_t)(to - from) >= n && memcmp(from, MOCK_BAD_MARK, n) == 0;
}

char *mock_judge_verdict(const char *text)
{
    const char *a0, *a1, *b0, *b1;
    const char *v;

    if (tagged(text, "<answer_a>", "</answer_a>", &a0, &a1) &&
        tagged(text, "<answer_b>", "</answer_b>", &b0, &b1)) {
        bool bad_a = bad_answer(a0, a1), bad_b = bad_answer(b0, b1);

        if (bad_a == bad_b)
            v = bad_a ? "{\"winner\": \"tie\", \"reason\": \"both answers decline to answer\"}"
                      : "{\"winner\": \"tie\", \"reason\": \"both answers address the question\"}";
        else
            v = bad_a ? "{\"winner\": \"B\", \"reason\": \"answer A declines to answer\"}"
                      : "{\"winner\": \"A\", \"reason\": \"answer B declines to answer\"}";
    } else if (tagged(text, "<answer>", "</answer>", &a0, &a1)) {
        v = bad_answer(a0, a1)
                ? "{\"score\": 1, \"reason\": \"the answer declines to answer\"}"
                : "{\"score\": 5, \"reason\": \"the answer addresses the question\"}";
    } else {
        v = "I can only grade an <answer> or compare <answer_a> with <answer_b>.";
    }
    return strdup(v);
}
