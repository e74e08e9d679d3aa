/* mockllm's quality knobs on their own: bad answers to hard prompts (p_bad_hard, p_bad),
 * changed while it runs, and the deterministic judge, plain and streamed. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define BAD_LEAD "Sorry, I cannot answer that precisely."

static struct proc mock;

static const char mock_config[] = "{\"models\": {\"*\": {},"
                                  " \"cheap\": {\"p_bad_hard\": 1, \"output_tokens\": 5},"
                                  " \"sloppy\": {\"p_bad\": 1},"
                                  " \"coin\": {\"p_bad_hard\": 0.5},"
                                  " \"mock-judge\": {},"
                                  " \"grader\": {\"judge\": true}}}";

static void init(void)
{
    mock_start(&mock, mock_config, 5);
}

static void fini(void)
{
    proc_stop_clean(&mock);
}

TestSuite(mock_quality, .init = init, .fini = fini, .timeout = 60);

/* A chat request with one user message (text is put in a JSON string as is: no quotes). */
static void chat(struct resp *r, const char *model, const char *text, bool stream)
{
    char *body;

    cr_assert_geq(asprintf(&body,
                           "{\"model\":\"%s\",\"stream\":%s,\"messages\":["
                           "{\"role\":\"system\",\"content\":\"Prove everything.\"},"
                           "{\"role\":\"user\",\"content\":\"%s\"}]}",
                           model, stream ? "true" : "false", text),
                  0);
    http(r, mock.port, NULL, "/v1/chat/completions", body, NULL, 0);
    free(body);
}

/* The answer's content, plain or put together from a stream's deltas; the caller frees it. */
static char *content(const char *model, const char *text, bool stream)
{
    struct resp r;
    char *out;

    chat(&r, model, text, stream);
    cr_assert_eq(r.status, 200, "%s: %ld %s", model, r.status, r.body);
    if (!stream) {
        cJSON *j = resp_json(&r);
        const cJSON *msg = cJSON_GetObjectItem(
            cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0), "message");
        cr_assert(cJSON_IsString(cJSON_GetObjectItem(msg, "content")), "%s", r.body);
        out = strdup(cJSON_GetObjectItem(msg, "content")->valuestring);
        cJSON_Delete(j);
    } else {
        size_t len = 0;
        out = calloc(1, strlen(r.body) + 1);
        cr_assert_not_null(strstr(r.body, "data: [DONE]"), "%s", r.body);
        for (const char *p = strstr(r.body, "data: {"); p; p = strstr(p + 1, "data: {")) {
            const char *end = strstr(p, "\n\n");
            cJSON *j = cJSON_ParseWithLength(p + 6, (size_t)(end - p - 6));
            const cJSON *delta, *c;

            cr_assert_not_null(j, "%s", p);
            delta = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0),
                                        "delta");
            c = cJSON_GetObjectItem(delta, "content");
            if (cJSON_IsString(c)) {
                memcpy(out + len, c->valuestring, strlen(c->valuestring));
                len += strlen(c->valuestring);
            }
            cJSON_Delete(j);
        }
    }
    resp_free(&r);
    return out;
}

static bool is_bad(const char *model, const char *text)
{
    char *c = content(model, text, false);
    bool bad = strncmp(c, BAD_LEAD, strlen(BAD_LEAD)) == 0;

    free(c);
    return bad;
}

/* 40 words: hard by length alone. */
#define LONG_PROMPT                                                                                \
    "one two three four five six seven eight nine ten one two three four five six seven eight "    \
    "nine ten one two three four five six seven eight nine ten one two three four five six "       \
    "seven eight nine ten"

Test(mock_quality, hard_prompts_get_bad_answers_and_easy_ones_do_not)
{
    char *c = content("cheap", "Prove that there are infinitely many primes.", false);

    /* The lead, a space, then the usual 5 words. */
    cr_assert_eq(strncmp(c, BAD_LEAD " ", strlen(BAD_LEAD) + 1), 0, "%s", c);
    cr_assert_eq(strlen(c) > strlen(BAD_LEAD) + 2, true, "%s", c);
    free(c);
    cr_assert(is_bad("cheap", "Explain why the sky is blue."));
    cr_assert(is_bad("cheap", "Walk me through it STEP BY STEP please"));
    cr_assert(is_bad("cheap", "Can you implementing a queue?"));
    cr_assert(is_bad("cheap", LONG_PROMPT));
    /* Easy: short, and "improve" is not "prove". */
    cr_assert_not(is_bad("cheap", "How can I improve this sentence?"));
    cr_assert_not(is_bad("cheap", "What is the capital of France?"));
    /* 39 words. */
    cr_assert_not(is_bad("cheap",
                         "two three four five six seven eight nine ten one two three four "
                         "five six seven eight nine ten one two three four five six seven "
                         "eight nine ten one two three four five six seven eight nine ten"));
    cr_assert_eq(mock_stat(&mock, "bad_answers"), 5);
}

Test(mock_quality, only_the_last_user_message_decides)
{
    /* The system message says "Prove", the user's does not. */
    cr_assert_not(is_bad("cheap", "hello"));
}

Test(mock_quality, bad_answers_count_their_lead_in_the_usage)
{
    struct resp r;
    cJSON *j;

    chat(&r, "cheap", "Derive the formula.", false);
    j = resp_json(&r);
    cr_assert_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "usage"), "completion_tokens")->valueint, 5 + 6,
        "%s", r.body);
    cJSON_Delete(j);
    resp_free(&r);
}

Test(mock_quality, streamed_bad_answers_start_with_the_lead)
{
    char *plain = content("cheap", "Analyze this.", false);
    char *streamed = content("cheap", "Analyze this.", true);

    /* The same prompt gives the same words, streamed or not. */
    cr_assert_str_eq(streamed, plain);
    cr_assert_eq(strncmp(streamed, BAD_LEAD, strlen(BAD_LEAD)), 0, "%s", streamed);
    free(plain);
    free(streamed);
}

Test(mock_quality, p_bad_makes_any_answer_bad)
{
    cr_assert(is_bad("sloppy", "hi"));
    cr_assert_not(is_bad("other", "Prove it."), "p_bad_hard defaults to 0");
}

Test(mock_quality, p_bad_hard_changes_while_running)
{
    cr_assert_not(is_bad("drifting", "Optimize this loop."));
    mock_set(&mock, "drifting", "{\"p_bad_hard\": 1}");
    cr_assert(is_bad("drifting", "Optimize this loop."));
    cr_assert_not(is_bad("drifting", "Say hello."));
    mock_set(&mock, "drifting", "{\"p_bad_hard\": 0}");
    cr_assert_not(is_bad("drifting", "Optimize this loop."));
}

Test(mock_quality, bad_answers_are_drawn_deterministically)
{
    char first[64] = "", second[64] = "";
    struct resp r;
    int bad = 0;

    for (int i = 0; i < 40; i++) {
        first[i] = is_bad("coin", "Prove it.") ? 'x' : '.';
        bad += first[i] == 'x';
    }
    /* About half, and never all or none. */
    cr_assert(bad > 5 && bad < 35, "%s", first);
    http(&r, mock.port, NULL, "/mock/reset", "{}", NULL, 0);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    for (int i = 0; i < 40; i++)
        second[i] = is_bad("coin", "Prove it.") ? 'x' : '.';
    cr_assert_str_eq(second, first);
}

Test(mock_quality, quality_settings_are_validated)
{
    struct resp r;

    http(&r, mock.port, NULL, "/mock/models/cheap", "{\"p_bad_hard\": 1.5}", NULL, 0);
    assert_openai_error(&r, 400, NULL);
    cr_assert_not_null(strstr(r.body, "p_bad_hard: must be a number in [0, 1]"), "%s", r.body);
    resp_free(&r);
    http(&r, mock.port, NULL, "/mock/models/cheap", "{\"judge\": 1}", NULL, 0);
    assert_openai_error(&r, 400, NULL);
    cr_assert_not_null(strstr(r.body, "judge: must be true or false"), "%s", r.body);
    resp_free(&r);
}

/* The judge's verdict on text, parsed. */
static cJSON *verdict(const char *model, const char *text, bool stream)
{
    char *c = content(model, text, stream);
    cJSON *j = cJSON_Parse(c);

    cr_assert_not_null(j, "not JSON: %s", c);
    cr_assert(cJSON_IsString(cJSON_GetObjectItem(j, "reason")), "%s", c);
    free(c);
    return j;
}

static void assert_score(const char *text, int score)
{
    cJSON *j = verdict("mock-judge", text, false);

    cr_assert_eq(cJSON_GetObjectItem(j, "score")->valueint, score, "%s", text);
    cJSON_Delete(j);
}

static void assert_winner(const char *text, const char *winner)
{
    cJSON *j = verdict("mock-judge", text, false);

    cr_assert_str_eq(cJSON_GetObjectItem(j, "winner")->valuestring, winner, "%s", text);
    cJSON_Delete(j);
}

Test(mock_quality, the_judge_grades_one_answer)
{
    assert_score("Grade it. <answer>" BAD_LEAD " river stone</answer>", 1);
    assert_score("<answer> \\n Sorry, I cannot answer that precisely</answer>", 1);
    assert_score("<answer>Paris is the capital.</answer>", 5);
    assert_score("<answer>I am " BAD_LEAD "</answer>", 5);
    cr_assert_eq(mock_stat(&mock, "judged"), 4);
}

Test(mock_quality, the_judge_compares_two_answers)
{
    assert_winner("<answer_a>fine</answer_a> <answer_b>" BAD_LEAD "</answer_b>", "A");
    assert_winner("<answer_a>" BAD_LEAD " x</answer_a><answer_b>fine</answer_b>", "B");
    assert_winner("<answer_a>fine</answer_a><answer_b>also fine</answer_b>", "tie");
    assert_winner("<answer_a>" BAD_LEAD "</answer_a><answer_b>" BAD_LEAD "</answer_b>", "tie");
}

Test(mock_quality, the_judge_reads_the_answer_after_instructions_that_name_the_tags)
{
    assert_score("The answer is between <answer> and </answer>, or <answer_a> and "
                 "</answer_a>.\n<question>Why?</question><answer>" BAD_LEAD "</answer>",
                 1);
}

Test(mock_quality, the_judge_streams_the_same_verdict)
{
    cJSON *j = verdict("mock-judge", "<answer>" BAD_LEAD "</answer>", true);

    cr_assert_eq(cJSON_GetObjectItem(j, "score")->valueint, 1);
    cJSON_Delete(j);
}

Test(mock_quality, any_model_can_judge_and_usage_is_counted)
{
    struct resp r;
    cJSON *j, *usage;
    char *c;

    chat(&r, "grader", "<answer>fine</answer>", false);
    j = resp_json(&r);
    usage = cJSON_GetObjectItem(j, "usage");
    cr_assert_gt(cJSON_GetObjectItem(usage, "prompt_tokens")->valueint, 0, "%s", r.body);
    cr_assert_gt(cJSON_GetObjectItem(usage, "completion_tokens")->valueint, 0, "%s", r.body);
    cJSON_Delete(j);
    resp_free(&r);
    mock_set(&mock, "grader", "{\"judge\": false}");
    c = content("grader", "<answer>fine</answer>", false);
    cr_assert_neq(c[0], '{', "%s", c);
    free(c);
}

Test(mock_quality, without_answers_the_judge_says_something_unparseable)
{
    char *c = content("mock-judge", "How are you?", false);
    cJSON *j = cJSON_Parse(c);

    cr_assert_null(j, "%s", c);
    free(c);
}

Test(mock_quality, the_judge_spots_the_cheap_models_bad_answer)
{
    char *bad = content("cheap", "Prove that 7 is prime.", false);
    char *good = content("cheap", "Say hi.", false);
    char prompt[1024];
    cJSON *j;

    snprintf(prompt, sizeof(prompt), "<answer_a>%s</answer_a><answer_b>%s</answer_b>", bad, good);
    j = verdict("mock-judge", prompt, false);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "winner")->valuestring, "B");
    cJSON_Delete(j);
    free(bad);
    free(good);
}
