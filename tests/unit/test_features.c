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

/* The same words with and without option markers: the multiple-choice text's n-grams are the
 * open text's, each moved to slot XOR the flip that the spec states, with the same values. */
Test(features, multiple_choice_ngrams_take_slots_of_their_own)
{
    const char *at = strstr(sl_features_spec(), "slot XOR 0x");
    struct sl_features g;
    unsigned long flip;
    size_t moved = 0, k = 0;

    cr_assert_not_null(at, "the spec names the prompt-kind flip");
    flip = strtoul(at + strlen("slot XOR "), NULL, 16);
    cr_assert(flip > 0 && flip < SL_FEATURES_HASHED);
    sl_features_init(&g);
    extract(&f, "Which of these is prime?\nA. 2\nB. 9\nC) 15\nAnswer:");
    extract(&g, "Which of these is prime?\nA: 2\nB: 9\nC: 15\nAnswer:");
    assert_fixed(&f, "mc_options", log1p(3));
    assert_fixed(&g, "mc_options", 0);
    for (; k < f.n && f.idx[k] < SL_FEATURES_HASHED; k++) {
        uint32_t want = f.idx[k] ^ (uint32_t)flip;
        size_t j = 0;
        while (j < g.n && g.idx[j] != want)
            j++;
        cr_assert_lt(j, g.n, "slot %u has no counterpart %u in the open text", f.idx[k], want);
        cr_assert_eq(f.val[k], g.val[j]);
        moved += f.idx[k] != want;
    }
    cr_assert_gt(k, 0);
    cr_assert_eq(moved, k);
    for (size_t j = 0, hashed = 0; j <= g.n; j++) {
        if (j == g.n || g.idx[j] >= SL_FEATURES_HASHED) {
            cr_assert_eq(hashed, k, "the open text has %zu n-gram slots, want %zu", hashed, k);
            break;
        }
        hashed++;
    }
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

    cr_assert_eq(strncmp(spec, "sluice-features v2\n", 19), 0);
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

/* ---- the vectors themselves: a regression guard for the extractor's speed-ups ----------------
 * Every trained model depends on the same text giving the same (index, value) pairs, bit for bit.
 * The digests below were computed with the byte-at-a-time extractor before it was rewritten
 * (block masks, branch-free merge); any change to them changes the features of existing models.
 * Spec v2 moved the n-grams of texts with option lines (3, 6, 22, 23) to their own slots, and
 * their digests with them (multiple_choice_ngrams_take_slots_of_their_own checks the move).
 * The texts cover what the extractor special-cases: case, numbers, every contextual punctuation
 * rule, fences, separators and scripts, malformed UTF-8, tokens of every length around the 8-byte
 * hash chunks and the 6-byte affix limit, tokens and separators across 64-byte blocks, repeated
 * n-grams (counts past the log tables) and, in long generated texts, hash slots shared by several
 * kinds of n-gram. */

/* FNV-1a over n and each (index, value bits) pair. */
static uint64_t digest(const struct sl_features *v)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    uint32_t words[2];

    for (size_t k = 0; k <= v->n; k++) {
        words[0] = k < v->n ? v->idx[k] : (uint32_t)v->n;
        if (k < v->n)
            memcpy(&words[1], &v->val[k], sizeof(words[1]));
        else
            words[1] = 0;
        for (size_t b = 0; b < sizeof(words); b++)
            h = (h ^ ((const unsigned char *)words)[b]) * UINT64_C(0x00000100000001b3);
    }
    return h;
}

static const char *const digest_texts[] = {
    "",
    "a",
    "Hi",
    "Which of the following is NOT a prime number?\nA. 2\nB. 3\nC. 9\nD. 7\nAnswer:",
    "Write a Python function that returns the sum of a list.\n```python\ndef add(xs):\n"
    "    return sum(xs) if xs != [] else 0;\n```\nThen explain it in at most 50 words, "
    "without markdown. a->b, std::vector, x && y || z, a == b === c, ::: &&& ||| ````` {\n}",
    "Solve \\frac{1}{2} + x^{2} = y_{i} for 3/4 of 50% of $1,000.50 (approx. 1,000.5 or 2.5.3); "
    "1.5e3 km/h, 12 hours, 3 dollars. Mr. J. R. R. Tolkien wrote it. U.S.A. is big! Is it? "
    "Yes.\tNo.\r\nOK.\x0b\x0c.",
    "(a) first option\n b) second  \n(C) third\t\nd. fourth\n\n  E) \n(f)\nJ.x\nk. last one   ",
    "\xe4\xb8\xad\xe6\x96\x87\xe6\xb5\x8b\xe8\xaf\x95 \xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5"
    "\xd1\x82 \xce\xb1\xce\xb2\xce\xb3 \xe0\xa4\xa8\xe0\xa4\xae \xe0\xb8\x81\xe0\xb8\x82 "
    "\xea\xb0\x80\xeb\x82\x98 \xd7\xa9\xd7\x9c \xd8\xb9\xd8\xb1 \xe3\x81\x82\xe3\x82\xa2 "
    "\xc2\xb1\xc3\x97\xc3\xb7\xe2\x88\x80x\xe2\x88\x91 \xc2\xa3"
    "5 \xc2\xa5"
    "6 \xe2\x82\xac"
    "7",
    "no\xc2\xa0"
    "break em\xe2\x80\x83space ideo\xe3\x80\x80space full\xef\xbc\x8c"
    "comma "
    "q\xef\xbc\x9f"
    "mark \xe2\x80\x9cquoted\xe2\x80\x9d well\xe2\x80\x94known \xef\xbc\x81 "
    "\xe2\x80\x8b\xe2\x80\x8b zero\xe2\x80\x8bwidth",
    "bad \x80 lone\xbf continuation \xc0\x80 overlong \xe0\x80\x80 \xed\xa0\x80 surrogate "
    "\xf0\x9f\x98\x80 emoji \xff\xfe bytes \xc2 truncated \xe2\x80",
    "\xe2\x80\x83",
    "x\xe2\x80",
    "a ab abc abcd abcde abcdef ABCDEFG abcdefgh abcdefghi abcdefghijklmno abcdefghijklmnop "
    "abcdefghijklmnopq ABCDEFGHIJKLMNOPQRSTUVWX 0123456789 1234567890123456789 "
    "Pneumonoultramicroscopicsilicovolcanoconiosis supercalifragilisticexpialidocious "
    "\xc3\xa9t\xc3\xa9s caf\xc3\xa9 na\xc3\xafve r\xc3\xa9sum\xc3\xa9s",
    "NOT EXCEPT LEAST Never NONE II III IV vi Vii don't can't isn't at least no more up to "
    "do not must not 3 words 5 bullets twenty items json table csv yaml def elif printf regex "
    "half thirds percent dollars km then each total what which why write explain must only",
};

/* Texts made at run time: lengths around the 64-byte blocks, and long generated texts. */
static char *digest_generated(unsigned which, size_t *len)
{
    static const char *const syl[] = {"ka", "to", "Ri", "mu", "SE", "n", "qua", "x", "ph", "e"};
    static const char *const seps[] = {" ",    " ",  " ",  ", ", ". ",       "\n",
                                       "? ",   " (", ") ", "-",  "\xc2\xa0", "\xe3\x80\x80",
                                       " 12 ", "==", "/"};
    uint64_t r = UINT64_C(0x9e3779b97f4a7c15) * (which + 1);
    size_t cap = which < 8 ? 256 : 40000, n = 0;
    char *t = malloc(cap + 8);

    cr_assert_not_null(t);
    if (which < 8) {
        /* tokens, and a 3-byte separator, across the first 64-byte block boundary */
        size_t at = 58 + which;
        memset(t, 'w', at);
        for (size_t k = 5; k < at; k += 9)
            t[k] = ' ';
        memcpy(t + at, "\xe2\x80\x83Word tail", 13);
        n = at + 13;
    } else {
        /* prose-like text from a large vocabulary: many slots hold two kinds of n-gram */
        while (n < cap) {
            int syllables;
            r ^= r << 13, r ^= r >> 7, r ^= r << 17;
            syllables = 1 + (int)(r % 5);
            for (int k = 0; k < syllables; k++) {
                const char *s = syl[(r >> (8 + 4 * k)) % 10];
                size_t l = strlen(s);
                memcpy(t + n, s, l);
                n += l;
            }
            {
                const char *s = seps[(r >> 40) % (which == 8 ? 10 : 15)];
                size_t l = strlen(s);
                memcpy(t + n, s, l);
                n += l;
            }
        }
    }
    *len = n;
    return t;
}

#define N_DIGEST_TEXTS (sizeof(digest_texts) / sizeof(*digest_texts))
#define N_GENERATED    10

static const uint64_t digest_want[N_DIGEST_TEXTS + N_GENERATED + 1] = {
    UINT64_C(0xa8c7f832281a39c5), UINT64_C(0xee36eca02b169fc7), UINT64_C(0x6ba4b945e9c6bc3d),
    UINT64_C(0xc2f2d0bf76eba62e), UINT64_C(0x241fe65e7ad2e348), UINT64_C(0x74535e562b6abcfc),
    UINT64_C(0xc7a8f75b700b2b5c), UINT64_C(0x13a1fb3d683e6874), UINT64_C(0x79c985070b524d23),
    UINT64_C(0x73aaa3f35def2cfa), UINT64_C(0x8a78e34d139973e7), UINT64_C(0x90016437c2de1384),
    UINT64_C(0x130e83dfbd16d555), UINT64_C(0x3c71ffd8ac89bac8), UINT64_C(0xd2e3d53ffc67ce76),
    UINT64_C(0xf2971237219d41e8), UINT64_C(0xebe85b7e64e2eab2), UINT64_C(0x904efa528b1e5567),
    UINT64_C(0xf50633c4af48387e), UINT64_C(0xc7d8141988e9696b), UINT64_C(0xde5e28ddd8ef4a7e),
    UINT64_C(0x9355d6f9a97db6b0), UINT64_C(0x6714c9a90559ae63), UINT64_C(0xb60f29311f166294),
    UINT64_C(0x054dce3558b3295c),
};

Test(features, vectors_are_bit_identical_to_the_reference_extractor)
{
    size_t i = 0;
    uint64_t got[N_DIGEST_TEXTS + N_GENERATED + 1];

    for (; i < N_DIGEST_TEXTS; i++) {
        cr_assert_eq(sl_features_extract(&f, digest_texts[i], strlen(digest_texts[i]), 1), 0);
        got[i] = digest(&f);
    }
    for (unsigned g = 0; g < N_GENERATED; g++, i++) {
        size_t len;
        char *t = digest_generated(g, &len);
        cr_assert_eq(sl_features_extract(&f, t, len, g % 3 + 1), 0);
        got[i] = digest(&f);
        free(t);
    }
    /* a repeated word: counts past every table of logarithms */
    {
        char *t = malloc(4 * 1000 + 1);
        cr_assert_not_null(t);
        for (int k = 0; k < 1000; k++)
            memcpy(t + 4 * k, k % 7 ? "the " : "The ", 4);
        cr_assert_eq(sl_features_extract(&f, t, 4000, 1), 0);
        got[i++] = digest(&f);
        free(t);
    }
    for (size_t k = 0; k < i; k++)
        cr_expect_eq(got[k], digest_want[k], "text %zu: digest 0x%016llx, want 0x%016llx", k,
                     (unsigned long long)got[k], (unsigned long long)digest_want[k]);
}
