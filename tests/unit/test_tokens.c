/* Tests for common/tokens: token estimates for text and for chat messages. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "tokens.h"

static long est(const char *s)
{
    return sl_tokens_estimate(s, strlen(s));
}

/* Ordinary English prose of about 1000 characters; cl100k_base and o200k_base both make
 * 222-223 tokens of it. */
static const char prose[] =
    "Why do some habits stick while others fade after a few days? Researchers who study "
    "behaviour have found that the answer has less to do with willpower than most people "
    "think. A habit forms when an action is repeated in the same situation often enough that "
    "the situation itself begins to trigger it. Brushing your teeth after breakfast, checking "
    "your phone when you sit on the bus, or reaching for a biscuit with your afternoon coffee "
    "are all examples of this kind of automatic link. The important point is that the link is "
    "built by repetition, not by effort. People who rely on motivation alone tend to give up "
    "when they are tired, busy or stressed, which is exactly when they need the habit most. A "
    "better approach is to make the new behaviour as easy as possible and to attach it to "
    "something you already do every day. If you want to read more, for instance, keep a book "
    "next to your bed and read a single page before you turn off the light. The page will "
    "often become a chapter, but even on bad days the habit survives, and over months the "
    "small steps add up to a real change.";

Test(tokens, empty_text_is_zero)
{
    cr_assert_eq(sl_tokens_estimate("", 0), 0);
    cr_assert_eq(sl_tokens_estimate("not read", 0), 0);
}

Test(tokens, short_texts_count_like_the_gpt_tokenizers)
{
    /* each of these is what cl100k_base gives */
    cr_assert_eq(est("hello"), 1);
    cr_assert_eq(est(" hello world"), 2);
    cr_assert_eq(est("hello world"), 2);
    cr_assert_eq(est("1234567"), 3);
    cr_assert_eq(est("123"), 1);
    cr_assert_eq(est("don't"), 2);
    cr_assert_eq(est("The quick brown fox."), 5);
    cr_assert_eq(est("a 1"), 3);
}

Test(tokens, long_and_rare_words_cost_more)
{
    cr_assert_gt(est("antidisestablishmentarianism"), 3);
    cr_assert_eq(est("getUserAccountBalance"), 4);
}

Test(tokens, english_prose_is_about_four_to_five_characters_a_token)
{
    long n = est(prose);

    cr_assert(strlen(prose) > 950 && strlen(prose) < 1100);
    cr_assert(n >= 200 && n <= 300, "estimate %ld", n);
    cr_assert(n >= 222 * 9 / 10 && n <= 222 * 11 / 10, "estimate %ld, real 222", n);
}

Test(tokens, non_ascii_text_counts_by_character)
{
    cr_assert_eq(est("中文测试"), 4);
    cr_assert_eq(est("😀"), 2);
    cr_assert_eq(est("café"), 1);
    cr_assert_gt(est("привет мир"), 2);
}

Test(tokens, appending_never_lowers_the_count)
{
    /* every byte prefix of a mixed text, cutting UTF-8 characters too */
    static const char mixed[] = "Hello, world!  It's 2024-01-15T10:30:00Z.\n\n    if (x == 42) "
                                "{ getUserName(); }\r\n\tcafé — 中文 😀 ...\"quoted\" $1,299.99 "
                                "   \n---\nEND";
    size_t len = strlen(mixed);
    long prev = 0;

    for (size_t k = 0; k <= len; k++) {
        long n = sl_tokens_estimate(mixed, k);
        cr_assert_geq(n, prev, "prefix of %zu bytes: %ld after %ld", k, n, prev);
        prev = n;
    }
}

Test(tokens, appending_never_lowers_the_count_of_random_text)
{
    static const char *const atoms[] = {"a",    "Z",    "th", "7", " ",    "  ",   "\n",   "\t",
                                        ".",    "(",    "'",  "_", "\xC3", "\xA9", "\xE4", "\xB8",
                                        "\xF0", "\x9F", "\r", "é", "中",   "😀"};
    uint32_t seed = 12345;
    char buf[256];

    for (int round = 0; round < 2000; round++) {
        size_t len = 0;
        long prev = 0;

        for (int k = 0; k < 40; k++) {
            const char *a;
            seed = seed * 1103515245u + 12345u;
            a = atoms[(seed >> 16) % (sizeof(atoms) / sizeof(atoms[0]))];
            memcpy(buf + len, a, strlen(a));
            len += strlen(a);
        }
        for (size_t k = 0; k <= len; k++) {
            long n = sl_tokens_estimate(buf, k);
            cr_assert_geq(n, prev, "round %d, prefix %zu", round, k);
            prev = n;
        }
    }
}

Test(tokens, messages_with_string_content)
{
    cJSON *m = cJSON_Parse("[{\"role\":\"system\",\"content\":\"hello\"},"
                           "{\"role\":\"user\",\"content\":\" hello world\"}]");

    cr_assert_not_null(m);
    /* 2 messages x 4 + 1 + 2 + 3 for the reply */
    cr_assert_eq(sl_tokens_estimate_messages(m), 8 + 1 + 2 + 3);
    cJSON_Delete(m);
}

Test(tokens, messages_with_parts_count_their_text)
{
    cJSON *m = cJSON_Parse(
        "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hello\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://example.com/a.png\"}},"
        "{\"type\":\"text\",\"text\":\"1234567\"}]},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[]}]");

    cr_assert_not_null(m);
    /* 4 + (1 + 3), then 4 for a message without text, then 3 */
    cr_assert_eq(sl_tokens_estimate_messages(m), 8 + 4 + 3);
    cJSON_Delete(m);
}

Test(tokens, messages_that_are_not_an_array_are_zero)
{
    cJSON *obj = cJSON_Parse("{\"role\":\"user\",\"content\":\"hello\"}");
    cJSON *empty = cJSON_Parse("[]");
    cJSON *odd = cJSON_Parse("[1, \"x\", null, {\"content\":\"hello\"}]");

    cr_assert_eq(sl_tokens_estimate_messages(NULL), 0);
    cr_assert_eq(sl_tokens_estimate_messages(obj), 0);
    cr_assert_eq(sl_tokens_estimate_messages(empty), 3, "the reply priming alone");
    cr_assert_eq(sl_tokens_estimate_messages(odd), 3 + 4 + 1, "only objects are messages");
    cJSON_Delete(obj);
    cJSON_Delete(empty);
    cJSON_Delete(odd);
}
