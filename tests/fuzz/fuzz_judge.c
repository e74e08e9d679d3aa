/* libFuzzer target: what a judge model answers (grades, pairwise verdicts), the question taken
 * from a sample's messages, and the rule checks on an answer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "judge.h"
#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), err[256];
    struct sl_judge_grade g;
    struct sl_judge_verdict v;
    struct sl_buf q;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (sl_judge_parse_grade(text, &g, err, sizeof(err)) == 0 && !(g.score >= 1 && g.score <= 5))
        __builtin_trap(); /* a parsed score is always 1..5 */
    if (sl_judge_parse_verdict(text, &v, err, sizeof(err))) {
        /* refused: nothing to check */
    }
    sl_buf_init(&q, 1 << 20);
    if (sl_judge_question(text, &q)) {
        /* not messages: refused */
    }
    sl_buf_free(&q);
    (void)sl_rules_refusal(text);
    (void)sl_rules_blank(text);
    (void)sl_rules_json_valid(text);
    free(text);
    return 0;
}
