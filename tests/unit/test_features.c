/* Tests for common/features: the router's feature extractor. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "features.h"

static struct sl_features f;

static void setup(void)
{
    sl_features_init(&f);
}

static void teardown(void)
{
    sl_features_free(&f);
}

TestSuite(features, .init = setup, .fini = teardown);

static void extract(struct sl_features *v, const char *text)
{
    cr_assert_eq(sl_features_extract(v, text, strlen(text), 1), 0);
}

/* The value of the fixed feature called name (0 when the vector leaves it out). */
static double fixed(const struct sl_features *v, const char *name)
{
    unsigned i;

    for (i = 0; i < SL_FEATURES_FIXED; i++)
        if (!strcmp(sl_features_fixed_name(i), name))
            break;
    cr_assert_lt(i, SL_FEATURES_FIXED, "no fixed feature %s", name);
    for (size_t k = 0; k < v->n; k++)
        if (v->idx[k] == SL_FEATURES_HASHED + i)
            return v->val[k];
    return 0;
}

#define assert_fixed(v, name, want)                                                                \
    cr_assert_float_eq(fixed(v, name), (want), 1e-6, "%s: %g, want %g", name, fixed(v, name),      \
                       (double)(want))

static void assert_well_formed(const struct sl_features *v)
{
    double norm = 0;
    size_t hashed = 0;

    for (size_t k = 0; k < v->n; k++) {
        cr_assert_lt(v->idx[k], SL_FEATURES_DIM);
        if (k)
            cr_assert_gt(v->idx[k], v->idx[k - 1], "indices must be unique and ascending");
        cr_assert(isfinite(v->val[k]) && v->val[k] != 0);
        if (v->idx[k] < SL_FEATURES_HASHED) {
            norm += (double)v->val[k] * v->val[k];
            hashed++;
        }
    }
    if (hashed)
        cr_assert_float_eq(sqrt(norm), 1.0, 1e-5, "hashed part has L2 norm %g", sqrt(norm));
}

Test(features, multiple_choice_question_has_the_hand_counted_fixed_features)
{
    const char *q =
        "Which of the following is NOT a prime number?\nA. 2\nB. 3\nC. 9\nD. 7\nAnswer:";

    extract(&f, q);
    assert_well_formed(&f);
    /* Which of the following is NOT a prime number A 2 B 3 C 9 D 7 Answer */
    assert_fixed(&f, "len_tokens", log1p(18));
    assert_fixed(&f, "word_len", 50.0 / 18 / 5);
    assert_fixed(&f, "sentences", log1p(1)); /* "A." and the like are option markers */
    assert_fixed(&f, "numbers", log1p(4));
    assert_fixed(&f, "question_marks", log1p(1));
    assert_fixed(&f, "lines", log1p(6));
    assert_fixed(&f, "longest_line", log1p(45) / 2);
    assert_fixed(&f, "mc_options", log1p(4));
    assert_fixed(&f, "mc_option_len", log1p(1) / 2);
    assert_fixed(&f, "mc_option_max", log1p(1) / 2);
    assert_fixed(&f, "negations", log1p(1));
    assert_fixed(&f, "negations_caps", log1p(1));
    assert_fixed(&f, "question_words", log1p(1));
    assert_fixed(&f, "upper_share", 9.0 / 46);
    assert_fixed(&f, "digit_share", 4.0 * 4 / strlen(q));
    assert_fixed(&f, "turns", 0);
    assert_fixed(&f, "code", 0);
    assert_fixed(&f, "non_ascii", 0);
}

Test(features, code_request_counts_code_cues_and_fences)
{
    extract(&f, "Write a Python function that returns the sum of a list.\n"
                "```python\ndef add(xs):\n    return sum(xs)\n```\n");
    assert_well_formed(&f);
    assert_fixed(&f, "instructions", log1p(1)); /* write */
    /* python, function, python, def, return */
    assert_fixed(&f, "code", log1p(5));
    assert_fixed(&f, "code_fences", log1p(2));
    assert_fixed(&f, "format", log1p(1)); /* list */
    assert_fixed(&f, "lines", log1p(5));
    assert_fixed(&f, "mc_options", 0);
}

Test(features, json_request_counts_format_and_constraints)
{
    extract(&f, "Reply in JSON with exactly 3 items, at least 2 of them must be under 50 words. "
                "Do not use markdown.");
    assert_well_formed(&f);
    assert_fixed(&f, "format", log1p(2)); /* json, markdown */
    /* exactly, "3 items", "at least", must, "50 words", "do not" */
    assert_fixed(&f, "constraints", log1p(6));
    assert_fixed(&f, "negations", log1p(2)); /* least, not */
    assert_fixed(&f, "numbers", log1p(3));
    assert_fixed(&f, "sentences", log1p(2));
}

Test(features, math_word_problem_counts_steps_numbers_and_units)
{
    extract(&f, "Tom buys 3 apples for $1.50 each, then sells half of them. What percent "
                "of 1,000 is 25%?");
    assert_fixed(&f, "numbers", log1p(4));   /* 3, 1.50, 1,000, 25 */
    assert_fixed(&f, "units", log1p(1));     /* $ */
    assert_fixed(&f, "step_cues", log1p(4)); /* buys, each, then, sells */
    assert_fixed(&f, "fractions", log1p(1)); /* half */
    assert_fixed(&f, "percent", log1p(2));   /* percent, % */
    assert_fixed(&f, "question_words", log1p(1));
}

Test(features, same_text_gives_the_same_vector)
{
    struct sl_features g;
    const char *t = "Explain the difference between TCP and UDP, with a table.";

    sl_features_init(&g);
    extract(&f, t);
    extract(&g, "something else first, to dirty the buffers");
    extract(&g, t);
    cr_assert_eq(f.n, g.n);
    cr_assert_eq(memcmp(f.idx, g.idx, f.n * sizeof(*f.idx)), 0);
    cr_assert_eq(memcmp(f.val, g.val, f.n * sizeof(*f.val)), 0);
    sl_features_free(&g);
}

Test(features, word_grams_ignore_ascii_case)
{
    struct sl_features g;

    sl_features_init(&g);
    extract(&f, "The Quick BROWN fox Jumps");
    extract(&g, "the quick brown FOX jumps");
    for (size_t k = 0; k < f.n || k < g.n; k++) {
        bool fh = k < f.n && f.idx[k] < SL_FEATURES_HASHED;
        bool gh = k < g.n && g.idx[k] < SL_FEATURES_HASHED;
        cr_assert_eq(fh, gh);
        if (!fh)
            break;
        cr_assert_eq(f.idx[k], g.idx[k]);
        cr_assert_eq(f.val[k], g.val[k]);
    }
    cr_assert_neq(fixed(&f, "upper_share"), fixed(&g, "upper_share"));
    sl_features_free(&g);
}

Test(features, different_words_give_different_vectors)
{
    struct sl_features g;

    sl_features_init(&g);
    extract(&f, "photosynthesis in plants");
    extract(&g, "the supreme court ruling");
    cr_assert(f.n != g.n || memcmp(f.idx, g.idx, f.n * sizeof(*f.idx)));
    sl_features_free(&g);
}

Test(features, empty_prompt_gives_an_empty_vector)
{
    cr_assert_eq(sl_features_extract(&f, "", 0, 1), 0);
    cr_assert_eq(f.n, 0);
    cr_assert_eq(sl_features_extract(&f, NULL, 0, 1), 0);
    cr_assert_eq(f.n, 0);
}

Test(features, turns_count_beyond_the_first)
{
    cr_assert_eq(sl_features_extract(&f, "hi", 2, 3), 0);
    assert_fixed(&f, "turns", log1p(2));
}

Test(features, long_prompt_stays_well_formed)
{
    size_t len = 20000;
    char *t = malloc(len + 1);
    const char *words[] = {"alpha ", "Beta, ", "gamma\n", "42 ", "δέλτα ", "x^2 ", "naïve "};

    for (size_t k = 0, w = 0; k < len; w++) {
        const char *s = words[(w * 7 + w / 3) % 7];
        for (; *s && k < len; s++)
            t[k++] = *s;
    }
    t[len] = '\0';
    cr_assert_eq(sl_features_extract(&f, t, len, 1), 0);
    assert_well_formed(&f);
    cr_assert_gt(fixed(&f, "other_script"), 0); /* Greek */
    free(t);
}

Test(features, non_latin_text_forms_tokens_and_counts_scripts)
{
    /* "Привет мир" and "日本語" */
    extract(&f, "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 \xd0\xbc\xd0\xb8\xd1\x80 "
                "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
    assert_well_formed(&f);
    assert_fixed(&f, "len_tokens", log1p(3));
    assert_fixed(&f, "cyrillic", 9.0 / 12);
    assert_fixed(&f, "cjk", 3.0 / 12);
    assert_fixed(&f, "non_ascii", 27.0 / 29);
}

Test(features, typographic_punctuation_separates_tokens)
{
    /* "well—known “quotes”": an em dash and curly quotes split tokens like ASCII does */
    extract(&f, "well\xe2\x80\x94known \xe2\x80\x9cquotes\xe2\x80\x9d");
    assert_fixed(&f, "len_tokens", log1p(3));
}

Test(features, spec_names_its_version_and_hash_is_stable)
{
    const char *spec = sl_features_spec(), *h = sl_features_spec_hash();

    cr_assert_eq(strncmp(spec, "sluice-features v1\n", 19), 0);
    cr_assert_not_null(strstr(spec, "len_tokens"));
    cr_assert_eq(strlen(h), 16);
    cr_assert_eq(strspn(h, "0123456789abcdef"), 16);
    cr_assert_str_eq(sl_features_spec_hash(), h);
    cr_assert_str_eq(sl_features_spec(), spec);
    for (unsigned i = 0; i < SL_FEATURES_FIXED; i++) {
        cr_assert_not_null(sl_features_fixed_name(i));
        cr_assert_not_null(strstr(spec, sl_features_fixed_name(i)));
    }
    cr_assert_str_eq(sl_features_fixed_name(0), "len_tokens");
    cr_assert_null(sl_features_fixed_name(SL_FEATURES_FIXED));
}

Test(features, messages_modes_parse_and_name)
{
    const char *names[] = {"last_user", "system_last", "all"};
    enum sl_features_messages m;

    for (unsigned i = 0; i < 3; i++) {
        cr_assert_eq(sl_features_messages_parse(names[i], &m), 0);
        cr_assert_str_eq(sl_features_messages_name(m), names[i]);
    }
    cr_assert_eq(sl_features_messages_parse("last", &m), SL_EINVAL);
    cr_assert_eq(sl_features_messages_parse(NULL, &m), SL_EINVAL);
}

static const char *conversation =
    "[{\"role\":\"system\",\"content\":\"Be brief.\"},"
    " {\"role\":\"user\",\"content\":\"first question\"},"
    " {\"role\":\"assistant\",\"content\":\"first answer\"},"
    " {\"role\":\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"Use JSON.\"}]},"
    " {\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"part one\"},"
    "   {\"type\":\"image_url\",\"image_url\":{\"url\":\"http://x/y.png\"}},"
    "   {\"type\":\"text\",\"text\":\"part two\"}]}]";

/* from_messages gives the text it gathered and the vector of that text with 5 turns. */
static void check_mode(enum sl_features_messages mode, const char *want)
{
    cJSON *msgs = cJSON_Parse(conversation);
    struct sl_features g;
    char *buf = NULL;
    size_t cap = 0;

    sl_features_init(&g);
    cr_assert_eq(sl_features_from_messages(&f, msgs, mode, &buf, &cap), 0);
    cr_assert_str_eq(buf, want);
    cr_assert_eq(sl_features_extract(&g, want, strlen(want), 5), 0);
    cr_assert_eq(f.n, g.n);
    cr_assert_eq(memcmp(f.idx, g.idx, f.n * sizeof(*f.idx)), 0);
    cr_assert_eq(memcmp(f.val, g.val, f.n * sizeof(*f.val)), 0);
    sl_features_free(&g);
    free(buf);
    cJSON_Delete(msgs);
}

Test(features, from_messages_reads_the_last_user_turn)
{
    check_mode(SL_MESSAGES_LAST_USER, "part one\npart two");
}

Test(features, from_messages_reads_system_prompts_then_the_last_user_turn)
{
    check_mode(SL_MESSAGES_SYSTEM_LAST, "Be brief.\nUse JSON.\npart one\npart two");
}

Test(features, from_messages_reads_the_whole_conversation)
{
    check_mode(SL_MESSAGES_ALL, "Be brief.\nfirst question\nfirst answer\nUse JSON.\npart one\n"
                                "part two");
}

Test(features, from_messages_reuses_the_callers_buffer)
{
    cJSON *msgs = cJSON_Parse("[{\"role\":\"user\",\"content\":\"hello\"}]");
    char *buf = malloc(64);
    char *orig = buf;
    size_t cap = 64;

    cr_assert_eq(sl_features_from_messages(&f, msgs, SL_MESSAGES_LAST_USER, &buf, &cap), 0);
    cr_assert_eq(buf, orig);
    cr_assert_eq(cap, 64);
    cr_assert_str_eq(buf, "hello");
    assert_fixed(&f, "len_tokens", log1p(1));
    free(buf);
    cJSON_Delete(msgs);
}

Test(features, from_messages_without_a_user_turn_is_empty)
{
    cJSON *msgs = cJSON_Parse("[{\"role\":\"system\",\"content\":\"sys\"}]");
    char *buf = NULL;
    size_t cap = 0;

    cr_assert_eq(sl_features_from_messages(&f, msgs, SL_MESSAGES_LAST_USER, &buf, &cap), 0);
    cr_assert_str_eq(buf, "");
    cr_assert_eq(f.n, 0);
    free(buf);
    cJSON_Delete(msgs);
}

Test(features, from_messages_refuses_a_non_array)
{
    cJSON *obj = cJSON_Parse("{\"role\":\"user\",\"content\":\"hi\"}");
    char *buf = NULL;
    size_t cap = 0;

    cr_assert_eq(sl_features_from_messages(&f, obj, SL_MESSAGES_ALL, &buf, &cap), SL_EINVAL);
    cr_assert_eq(sl_features_from_messages(&f, NULL, SL_MESSAGES_ALL, &buf, &cap), SL_EINVAL);
    free(buf);
    cJSON_Delete(obj);
}
