/* Tests for evaluator/rules: each rule's positives and negatives, and the order they are
 * tried in. */
#include <criterion/criterion.h>
#include <string.h>

#include "rules.h"

/* A good sample: status 200, a plain answer that stopped on its own. */
static struct sl_sample good(const char *answer)
{
    struct sl_sample s;

    memset(&s, 0, sizeof(s));
    s.status = 200;
    s.answer = (char *)answer;
    strcpy(s.finish_reason, "stop");
    return s;
}

Test(rules, a_plain_answer_passes)
{
    struct sl_sample s = good("Paris is the capital of France.");

    cr_assert_eq(sl_rules_check(&s), SL_RULE_PASS);
    cr_assert_str_eq(sl_rules_name(SL_RULE_PASS), "pass");
}

Test(rules, blank_answers_are_empty)
{
    const char *blanks[] = {"", " ", "\n\n", " \t\r\n "};

    for (size_t i = 0; i < sizeof(blanks) / sizeof(*blanks); i++) {
        struct sl_sample s = good(blanks[i]);
        cr_assert(sl_rules_blank(blanks[i]), "\"%s\"", blanks[i]);
        cr_assert_eq(sl_rules_check(&s), SL_RULE_EMPTY, "\"%s\"", blanks[i]);
    }
    cr_assert_not(sl_rules_blank(" ."));
    cr_assert_not(sl_rules_blank("0"));
    cr_assert_str_eq(sl_rules_name(SL_RULE_EMPTY), "empty");
}

Test(rules, a_missing_answer_is_empty)
{
    struct sl_sample s = good(NULL);

    cr_assert_eq(sl_rules_check(&s), SL_RULE_EMPTY);
}

Test(rules, refusals_at_the_start_are_found_in_any_case)
{
    const char *refusals[] = {
        "I'm sorry, but I can't help with that.",
        "i'm sorry, but i cannot do this",
        "  \nI'M SORRY, I CAN'T assist.",
        "I cannot help with requests like this.",
        "I can't assist with that request.",
        "As an AI, I do not have opinions.",
        "As an AI language model, I cannot browse.",
        "Sorry, I cannot answer that precisely. The value is roughly 3.",
        "Sorry, but I can't share that.",
        "I\xe2\x80\x99m sorry, but I can\xe2\x80\x99t help with that.", /* typographic apostrophes
                                                                         */
        "I am unable to help with this.",
        "I apologize, but I cannot provide that information.",
    };

    for (size_t i = 0; i < sizeof(refusals) / sizeof(*refusals); i++) {
        struct sl_sample s = good(refusals[i]);
        cr_assert(sl_rules_refusal(refusals[i]), "%s", refusals[i]);
        cr_assert_eq(sl_rules_check(&s), SL_RULE_REFUSAL, "%s", refusals[i]);
    }
    cr_assert_str_eq(sl_rules_name(SL_RULE_REFUSAL), "refusal");
}

Test(rules, phrases_elsewhere_or_inside_words_are_not_refusals)
{
    const char *answers[] = {
        "The capital is Paris. I'm sorry, but I can't be more precise.",
        "As an AIrline pilot would tell you, the wings hold the plane up.",
        "As announced, the library ships version 2.",
        "I cannot help noticing that the loop never ends: fix the condition.",
        "Sorry for the delay! Here is the code.",
        "I can provide three options.",
    };

    for (size_t i = 0; i < sizeof(answers) / sizeof(*answers); i++) {
        struct sl_sample s = good(answers[i]);
        cr_assert_not(sl_rules_refusal(answers[i]), "%s", answers[i]);
        cr_assert_eq(sl_rules_check(&s), SL_RULE_PASS, "%s", answers[i]);
    }
}

Test(rules, length_is_truncated_other_reasons_are_not)
{
    struct sl_sample s = good("The first three steps are: one, two,");

    strcpy(s.finish_reason, "length");
    cr_assert_eq(sl_rules_check(&s), SL_RULE_TRUNCATED);
    cr_assert_str_eq(sl_rules_name(SL_RULE_TRUNCATED), "truncated");
    strcpy(s.finish_reason, "content_filter");
    cr_assert_eq(sl_rules_check(&s), SL_RULE_PASS);
    s.finish_reason[0] = '\0';
    cr_assert_eq(sl_rules_check(&s), SL_RULE_PASS);
}

Test(rules, json_mode_needs_one_json_value)
{
    struct sl_sample s = good("{\"name\": \"Ada\", \"born\": 1815}");

    s.json_mode = true;
    cr_assert_eq(sl_rules_check(&s), SL_RULE_PASS);
    s.answer = " [1, 2, 3]\n";
    cr_assert_eq(sl_rules_check(&s), SL_RULE_PASS);
    s.answer = "{\"name\": \"Ada\", \"born\": 1815";
    cr_assert_eq(sl_rules_check(&s), SL_RULE_INVALID_JSON);
    s.answer = "Here it is: {\"name\": \"Ada\"}";
    cr_assert_eq(sl_rules_check(&s), SL_RULE_INVALID_JSON);
    s.answer = "```json\n{\"name\": \"Ada\"}\n```";
    cr_assert_eq(sl_rules_check(&s), SL_RULE_INVALID_JSON);
    cr_assert_str_eq(sl_rules_name(SL_RULE_INVALID_JSON), "invalid_json");
}

Test(rules, prose_is_fine_without_json_mode)
{
    struct sl_sample s = good("{\"name\": \"Ada\"");

    cr_assert_eq(sl_rules_check(&s), SL_RULE_PASS);
}

Test(rules, an_error_status_or_code_is_an_upstream_error)
{
    struct sl_sample s = good("");

    s.status = 502;
    strcpy(s.error, "upstream_failed");
    cr_assert_eq(sl_rules_check(&s), SL_RULE_UPSTREAM_ERROR);
    cr_assert_str_eq(sl_rules_name(SL_RULE_UPSTREAM_ERROR), "upstream_error");
    s.status = 429;
    s.error[0] = '\0';
    cr_assert_eq(sl_rules_check(&s), SL_RULE_UPSTREAM_ERROR);
    /* a stream cut after its status line went out: 200, but with an error code */
    s = good("The answer begins");
    strcpy(s.error, "upstream_stream_error");
    cr_assert_eq(sl_rules_check(&s), SL_RULE_UPSTREAM_ERROR);
    s.error[0] = '\0';
    s.status = 399;
    cr_assert_eq(sl_rules_check(&s), SL_RULE_PASS);
}

Test(rules, the_first_failing_rule_is_reported)
{
    struct sl_sample s = good("Sorry, I cannot answer that.");

    strcpy(s.finish_reason, "length");
    s.json_mode = true;
    cr_assert_eq(sl_rules_check(&s), SL_RULE_REFUSAL);
    s.answer = "{\"a\": [1, 2";
    cr_assert_eq(sl_rules_check(&s), SL_RULE_TRUNCATED);
    s.status = 500;
    cr_assert_eq(sl_rules_check(&s), SL_RULE_UPSTREAM_ERROR);
}
