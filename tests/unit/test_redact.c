/* Tests for common/redact: e-mail addresses, phone numbers, cards and keys in free text. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "redact.h"

static char *redact(const char *in, size_t len)
{
    struct sl_buf b;

    sl_buf_init(&b, 1 << 22);
    cr_assert_eq(sl_redact(in, len, &b), 0, "redacting \"%s\"", in);
    return sl_buf_take(&b, NULL);
}

static void assert_redacts(const char *in, const char *want)
{
    char *got = redact(in, strlen(in));

    cr_assert_str_eq(got, want, "redacting \"%s\"", in);
    free(got);
}

static void assert_kept(const char *in)
{
    assert_redacts(in, in);
}

Test(redact, empty_input_gives_an_empty_string)
{
    struct sl_buf b;

    sl_buf_init(&b, 64);
    cr_assert_eq(sl_redact("", 0, &b), 0);
    cr_assert_not_null(b.data);
    cr_assert_str_eq(b.data, "");
    cr_assert_eq(b.len, 0);
    cr_assert_eq(sl_redact(NULL, 0, &b), 0, "NULL is fine when there is nothing to read");
    cr_assert_eq(b.len, 0);
    sl_buf_free(&b);
}

Test(redact, ordinary_text_is_unchanged)
{
    assert_kept("The quick brown fox jumps over the lazy dog.");
    assert_kept("Please summarise the attached report in three short paragraphs, thanks!");
    assert_kept("int main(void) { return printf(\"%d\\n\", x[3] + 42); }");
}

Test(redact, appends_to_what_the_buffer_holds)
{
    struct sl_buf b;

    sl_buf_init(&b, 256);
    cr_assert_eq(sl_buf_adds(&b, "prompt: "), 0);
    cr_assert_eq(sl_redact("mail bob@example.com", 20, &b), 0);
    cr_assert_str_eq(b.data, "prompt: mail [EMAIL]");
    sl_buf_free(&b);
}

Test(redact, reads_exactly_len_bytes)
{
    const char text[] = "call 020 7946 0958 now";
    char *got = redact(text, 13); /* stops inside the number: "call 020 7946" */

    cr_assert_str_eq(got, "call [PHONE]");
    free(got);
}

/* ---- e-mail ------------------------------------------------------------------------------ */

Test(redact, email_addresses_in_sentences_and_at_the_edges)
{
    assert_redacts("Contact john.doe@example.com today.", "Contact [EMAIL] today.");
    assert_redacts("jane+tag@mail.example.co.uk wrote this", "[EMAIL] wrote this");
    assert_redacts("write to a_b-c%d@sub-domain.example.org", "write to [EMAIL]");
    assert_redacts("(bob@example.com), or mailto:alice@example.net.",
                   "([EMAIL]), or mailto:[EMAIL].");
    assert_redacts("<X.Y.Z@EXAMPLE.COM>", "<[EMAIL]>");
    assert_redacts("a@b.co", "[EMAIL]");
}

Test(redact, leading_punctuation_of_an_address_stays)
{
    assert_redacts("--john@example.com", "--[EMAIL]");
    assert_redacts("...see.me@example.com", "...[EMAIL]");
}

Test(redact, things_that_are_not_email_addresses_stay)
{
    assert_kept("user@localhost");
    assert_kept("thanks @handle, see you @ 5");
    assert_kept("name@example.c");
    assert_kept("x@1.2.3.4");
    assert_kept("a@b");
    assert_kept("@example.com");
}

/* ---- phones ------------------------------------------------------------------------------ */

Test(redact, international_phone_numbers)
{
    assert_redacts("Call +1 (555) 123-4567 now", "Call [PHONE] now");
    assert_redacts("+44 20 7946 0958", "[PHONE]");
    assert_redacts("UK office: +44 (0)20 7946 0958.", "UK office: [PHONE].");
    assert_redacts("Portable : +33 6 12 34 56 78", "Portable : [PHONE]");
    assert_redacts("Tel. +49-30-1234567, Fax +49.30.1234568", "Tel. [PHONE], Fax [PHONE]");
    assert_redacts("whatsapp +14155552671", "whatsapp [PHONE]");
    assert_redacts("tel:+14155552671", "tel:[PHONE]");
}

Test(redact, national_phone_numbers)
{
    assert_redacts("(555) 123-4567 or (555)123-4567", "[PHONE] or [PHONE]");
    assert_redacts("ring 555-123-4567, 555.123.4567 or 555 123 4567",
                   "ring [PHONE], [PHONE] or [PHONE]");
    assert_redacts("toll free 1-800-555-1234", "toll free [PHONE]");
    assert_redacts("020 7946 0958 is the London number", "[PHONE] is the London number");
    assert_redacts("mobile 06 12 34 56 78", "mobile [PHONE]");
    assert_redacts("Berlin 030 12345678", "Berlin [PHONE]");
    assert_redacts("(555) 123-4567 ext. 89", "[PHONE] ext. 89");
}

Test(redact, numbers_that_are_not_phone_numbers_stay)
{
    assert_kept("on 2024-01-15 at 10:30:45, or 15.01.2024, or 01/15/2024");
    assert_kept("version 1.2.3, v10.15.7, 2.14.1023 and 1.0.0.12345");
    assert_kept("hosts 192.168.100.200 and 172.16.254.1");
    assert_kept("it costs $1,299.99, 1 000 000 or 100.000.000 or 1.234.567,89 EUR");
    assert_kept("1234 apples, 42 pears, 7 plums and 123456 grapes");
    assert_kept("the years 2023 2024 2025 and 1990-2010");
    assert_kept("zip 12345-6789, ISBN 978-3-16-148410-0");
    assert_kept("local 555-1234");
    assert_kept("order 5551234567");
    assert_kept("scores 10 20 30 40 50 60 70");
    assert_kept("page 100-2000");
    assert_kept("3.14159265 and 0.1234567");
}

/* ---- cards ------------------------------------------------------------------------------- */

Test(redact, card_numbers_that_pass_luhn)
{
    assert_redacts("card 4111 1111 1111 1111 please", "card [CARD] please");
    assert_redacts("4111-1111-1111-1111", "[CARD]");
    assert_redacts("pay with 4111111111111111.", "pay with [CARD].");
    assert_redacts("amex 3782 822463 10005 or 378282246310005", "amex [CARD] or [CARD]");
    assert_redacts("mc 5555 5555 5555 4444, visa13 4222222222222", "mc [CARD], visa13 [CARD]");
    assert_redacts("4111 1111 1111 1111 12/25 cvv 123", "[CARD] 12/25 cvv 123");
}

Test(redact, a_number_failing_luhn_is_not_a_card)
{
    assert_kept("id 4111111111111112 here");
    assert_kept("4111 1111 1111 1112");
    assert_kept("4111-1111-1111-1111-1111");
}

Test(redact, a_phone_shaped_number_failing_luhn_is_a_phone)
{
    assert_redacts("dial 020 7946 0958 123", "dial [PHONE]");
    assert_redacts("dial 020 7946 0958 129", "dial [CARD]"); /* this one passes Luhn */
}

/* ---- keys -------------------------------------------------------------------------------- */

Test(redact, keys_with_known_prefixes)
{
    assert_redacts("my key is sk-proj-abcDEF1234567890abcdef1234567890, keep it",
                   "my key is [KEY], keep it");
    assert_redacts("OPENAI_API_KEY=sk-abc123def456ghi789jkl", "OPENAI_API_KEY=[KEY]");
    assert_redacts("\"sk-ant-api03-AbCdEf0123456789_xyz\"", "\"[KEY]\"");
    assert_redacts("sk_live_4eC39HqLyjWDarjtT1zdp7dc sk_test_4eC39HqLyjWDarjtT1zdp7dc",
                   "[KEY] [KEY]");
    assert_redacts("pk_live_51H8abcDEF0123456789 rk_live_51H8abcDEF0123456789", "[KEY] [KEY]");
    assert_redacts("slack xoxb-123456789012-1234567890123-AbCdEfGhIjKl and "
                   "xoxp-123456789012-1234567890123-AbCdEfGhIjKl",
                   "slack [KEY] and [KEY]");
    assert_redacts("ghp_abcdefghijklmnopqrstuvwxyz0123456789 gho_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123",
                   "[KEY] [KEY]");
    assert_redacts("github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "[KEY]");
    assert_redacts("aws AKIAIOSFODNN7EXAMPLE.", "aws [KEY].");
    assert_redacts("?key=AIzaSyA1234567890abcdefghijklmnopqrstu&x=1", "?key=[KEY]&x=1");
}

Test(redact, bearer_tokens_keep_the_scheme)
{
    assert_redacts("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc",
                   "Authorization: Bearer [KEY]");
    assert_redacts("header bearer abcDEF123456==.", "header bearer [KEY].");
    assert_redacts("Bearer sk-proj-abcDEF1234567890abcdef", "Bearer [KEY]");
}

Test(redact, long_mixed_runs_are_keys)
{
    assert_redacts("secret 3f786850e387550fdab836ed7e6dc881de23001b end", "secret [KEY] end");
    assert_redacts("token=dGhpcyBpcyBhIHNlY3JldCB0b2tlbiAxMjM0NTY3OA", "token=[KEY]");
    assert_redacts("a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4", "[KEY]"); /* exactly 32 */
    assert_kept("a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d");              /* 31 */
}

Test(redact, things_that_are_not_keys_stay)
{
    assert_kept("we use sk-learn and sk-learn-compatible-estimators");
    assert_kept("sk-short1 and AKIA1234 and AKIAIOSFODNN7EXAMPLEX");
    assert_kept("request 550e8400-e29b-41d4-a716-446655440000 failed");
    assert_kept("supercalifragilisticexpialidocious-and-more-letters-only");
    assert_kept("state-of-the-art-natural-language-processing");
    assert_kept("Use a bearer token for Bearer authentication. Bearer self-signed, Bearer 123");
}

/* ---- together ---------------------------------------------------------------------------- */

Test(redact, several_items_in_one_text)
{
    assert_redacts("Hi, I'm Ann (ann.lee@example.com, +1 555 123 4567). Card: 4111 1111 1111 "
                   "1111, exp 12/25. My API key is sk-abcdefABCDEF1234567890 and my order "
                   "number is 12345.",
                   "Hi, I'm Ann ([EMAIL], [PHONE]). Card: [CARD], exp 12/25. My API key is "
                   "[KEY] and my order number is 12345.");
}

Test(redact, utf8_around_items_survives_byte_for_byte)
{
    assert_redacts("Café ☕ — écrivez à élise@exemple.fr ou appelez le 06 12 34 56 78 🙂",
                   "Café ☕ — écrivez à [EMAIL] ou appelez le [PHONE] 🙂");
    assert_redacts("電話555-123-4567です。メールはjohn@example.comまで",
                   "電話[PHONE]です。メールは[EMAIL]まで");
    assert_redacts("Пишите: иван@почта.рф или ivan@mail.ru", "Пишите: [EMAIL] или [EMAIL]");
    assert_kept("naïve façade, 日本語のテキスト, emoji 👍🏽 and Ελληνικά");
}

Test(redact, json_escapes_are_separators)
{
    assert_redacts("\"line\\njohn@example.org\\n\"", "\"line\\n[EMAIL]\\n\"");
    assert_redacts("\"\\u96fb\\u8a71555-123-4567\"", "\"\\u96fb\\u8a71[PHONE]\"");
    assert_redacts("\"say \\\"sk-abc123def456ghi789jkl\\\"\"", "\"say \\\"[KEY]\\\"\"");
}

Test(redact, a_json_body_stays_valid_json)
{
    const char *body =
        "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"My e-mail is "
        "ann@example.com,\\nphone +44 20 7946 0958, key \\\"sk-abc123def456ghi789jkl\\\", card "
        "4111-1111-1111-1111. Caf\\u00e9 \\u2615\"}],\"max_tokens\":100}";
    char *got = redact(body, strlen(body));

    cr_assert(sl_json_valid(got, strlen(got)), "%s", got);
    cr_assert_null(strstr(got, "ann@"));
    cr_assert_null(strstr(got, "7946"));
    cr_assert_null(strstr(got, "sk-abc"));
    cr_assert_null(strstr(got, "4111"));
    cr_assert_not_null(strstr(got, "Caf\\u00e9 \\u2615"));
    free(got);
}

/* ---- items written with \u escapes ------------------------------------------------------- */

Test(redact, an_email_with_an_escaped_at_sign)
{
    assert_redacts("\"mail jane\\u0040example.com now\"", "\"mail [EMAIL] now\"");
    assert_redacts("j\\u0061ne.doe\\u0040example\\u002ecom", "[EMAIL]");
    assert_redacts("\\u002e\\u002ejane@example.com", "\\u002e\\u002e[EMAIL]"); /* leading dots */
    assert_kept("user\\u0040localhost and \\u0040handle");
}

Test(redact, an_email_with_escaped_accents_in_local_part_and_domain)
{
    /* what Python's json.dumps makes of "josé@müller.de" */
    assert_redacts("\"jos\\u00e9@m\\u00fcller.de\"", "\"[EMAIL]\"");
    assert_redacts("\\u00e9lise\\u0040exemple.fr", "[EMAIL]");
    assert_redacts(
        "\\u0438\\u0432\\u0430\\u043d@\\u043f\\u043e\\u0447\\u0442\\u0430.\\u0440\\u0444",
        "[EMAIL]");                                            /* иван@почта.рф */
    assert_kept("caf\\u00e9 \\u2615 and \\u96fb@\\u8a71.com"); /* U+0800 and above: separators */
}

Test(redact, cards_and_phones_with_escaped_digits_or_separators)
{
    assert_redacts("card \\u0034111 1111 1111 1111.", "card [CARD].");
    assert_redacts("4111\\u00201111\\u00201111\\u00201111", "[CARD]");
    assert_redacts("4111\\u002d1111-1111-111\\u0031 12/25", "[CARD] 12/25");
    assert_redacts("call \\u002b44 20 7946 0958", "call [PHONE]");
    assert_redacts("\\u0028555\\u0029\\u0020123\\u002d4567", "[PHONE]");
    assert_redacts("555\\u002e123\\u002e4567", "[PHONE]");
    assert_kept("4111\\u002d1111 1111 1111"); /* two kinds of separator */
    assert_kept("on 2024\\u002d01\\u002d15 version 1\\u002e2\\u002e3");
}

Test(redact, keys_with_an_escaped_character)
{
    assert_redacts("\"sk-\\u0041bc123def456ghi789jkl\"", "\"[KEY]\"");
    assert_redacts("sk\\u002dabc123def456ghi789jkl", "[KEY]");
    assert_redacts("aws AKIAIOSFODNN7EXAMPL\\u0045.", "aws [KEY].");
    assert_redacts("3f786850e387550fdab836ed7e6dc881de23001\\u0062 end", "[KEY] end");
    assert_kept("sk-learn\\u002dcompatible\\u002destimators");
}

Test(redact, a_bearer_token_after_an_escaped_space)
{
    assert_redacts("Authorization: Bearer\\u0020eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc",
                   "Authorization: Bearer\\u0020[KEY]");
    assert_redacts("Bearer\\u0020sk-proj-abcDEF1234567890abcdef", "Bearer\\u0020[KEY]");
    assert_redacts("\\u0042earer abcDEF123456\\u003d\\u003d.", "\\u0042earer [KEY].");
    assert_kept("Use a bearer\\u0020token for Bearer\\u0020authentication.");
}

Test(redact, hex_digits_of_escapes_in_either_case)
{
    assert_redacts("jos\\u00E9@M\\u00FCLLER.DE", "[EMAIL]");
    assert_redacts("jane\\u0040example\\u002Ecom", "[EMAIL]");
    assert_redacts("4111\\u002D1111\\u002D1111\\u002D1111", "[CARD]");
    assert_redacts("\\u004BEY sk-\\u004Bbc123def456ghi789jkl", "\\u004BEY [KEY]");
}

Test(redact, quotes_backslashes_and_newlines_next_to_items_stay)
{
    assert_redacts("\\u0022jane@example.com\\u0022", "\\u0022[EMAIL]\\u0022");
    assert_redacts("\\u005cjane\\u0040example.com\\u005c", "\\u005c[EMAIL]\\u005c");
    assert_redacts("\\njane\\u0040example.com\\n", "\\n[EMAIL]\\n");
    assert_redacts("\\\"\\u0034111111111111111\\\"", "\\\"[CARD]\\\"");
    assert_redacts("+44 20 7946 0958\\u000a", "[PHONE]\\u000a");
    assert_kept("jane\\u0022@example.com");       /* a quote is no local-part character */
    assert_kept("4111\\u000a1111 1111 1111");     /* nor a newline a card separator */
    assert_kept("Bearer\\tabcDEF123456, \\/\\/"); /* only \u escapes stand for characters */
}

Test(redact, incomplete_and_escaped_backslash_escapes_stay_separators)
{
    assert_kept("jane\\u004@example.com");       /* three hex digits: not '@' */
    assert_kept("\"jane\\\\u0040example.com\""); /* "\\" then the letters "u0040" */
    assert_kept("\\u00e9\\u00\\u0\\u\\");
}

Test(redact, escapes_outside_items_pass_through_byte_for_byte)
{
    assert_redacts("\\u0048\\u0069 \\u00e9\\u00E9 \\ud83d\\ude00 \\t\\r\\b\\f\\/ "
                   "ann@example.com \\u0041\\u0020\\u0031 \\u2615\\\\",
                   "\\u0048\\u0069 \\u00e9\\u00E9 \\ud83d\\ude00 \\t\\r\\b\\f\\/ "
                   "[EMAIL] \\u0041\\u0020\\u0031 \\u2615\\\\");
}

Test(redact, a_json_body_with_escaped_items_stays_valid_json)
{
    const char *body = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\""
                       "Je suis Jos\\u00e9, jos\\u00e9@m\\u00fcller.de\\u0022\\n"
                       "jane\\u0040example.com\\u005c \\u002b44 20 7946 0958\\u0022 "
                       "\\u0034111\\u00201111\\u00201111\\u00201111\\n"
                       "Authorization: Bearer\\u0020sk-\\u0041bc123def456ghi789jkl\\\"\"}],"
                       "\"max_tokens\":100}";
    char *got = redact(body, strlen(body));
    cJSON *root = cJSON_Parse(got), *content;

    cr_assert_not_null(root, "%s", got);
    content = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "messages"), 0);
    content = cJSON_GetObjectItem(content, "content");
    cr_assert(cJSON_IsString(content), "%s", got);
    cr_assert_str_eq(content->valuestring, "Je suis José, [EMAIL]\"\n[EMAIL]\\ [PHONE]\" "
                                           "[CARD]\nAuthorization: Bearer [KEY]\"");
    cJSON_Delete(root);
    free(got);
}

Test(redact, a_full_buffer_fails_without_leaking)
{
    const char *text = "short text then sk-abc123def456ghi789jkl and a long tail of words";
    struct sl_buf b;

    sl_buf_init(&b, 20);
    cr_assert_eq(sl_redact(text, strlen(text), &b), SL_ETOOBIG);
    cr_assert(b.len <= 20);
    cr_assert_null(b.data ? strstr(b.data, "sk-") : NULL);
    sl_buf_free(&b);
}

/* Inputs built to make a careless scanner quadratic or overrun a group table. */
Test(redact, pathological_inputs_pass_through)
{
    static const char *const units[] = {"1 ",   "a.", "+1-",     "(1)", "@",      "x@",
                                        "1.1.", "0 ", "Bearer ", "a-",  "12 34 ", "\\u1"};
    size_t n = 1 << 18;
    char *in = malloc(n + 1);

    for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
        size_t len = strlen(units[u]), k;
        char *got;

        for (k = 0; k + len <= n; k += len)
            memcpy(in + k, units[u], len);
        in[k] = '\0';
        got = redact(in, k);
        cr_assert_eq(strlen(got), k, "unit \"%s\"", units[u]);
        cr_assert_eq(memcmp(got, in, k), 0, "unit \"%s\"", units[u]);
        free(got);
    }
    free(in);
}

/* Items inside one long run of address characters: each used to rescan the rest of the run
 * for an '@', which made this quadratic. */
Test(redact, many_items_in_one_long_run)
{
    static const char *const units[][2] = {{"sk-AAAAAAAAAAAAAAAA1.", "[KEY]."},
                                           {"a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6.", "[KEY]."}};
    size_t count = 20000;

    for (size_t u = 0; u < 2; u++) {
        size_t in_len = strlen(units[u][0]), out_len = strlen(units[u][1]);
        char *in = malloc(count * in_len + 1), *want = malloc(count * out_len + 1), *got;

        for (size_t k = 0; k < count; k++) {
            memcpy(in + k * in_len, units[u][0], in_len);
            memcpy(want + k * out_len, units[u][1], out_len);
        }
        in[count * in_len] = '\0';
        want[count * out_len] = '\0';
        got = redact(in, count * in_len);
        cr_assert_str_eq(got, want, "unit \"%s\"", units[u][0]);
        free(got);
        free(want);
        free(in);
    }
}
