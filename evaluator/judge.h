/* The LLM judge's side of the conversation: the request bodies of grading, comparing and
 * premium (shadow) calls, and the strict parsers of the judge's replies. Pure functions: they
 * only append to the caller's buffer or fill the caller's struct, and keep no state.
 *
 * A grading call sends, with "temperature": 0, the rubric as the system message and one user
 * message:
 *
 *     <question>
 *     QUESTION
 *     </question>
 *
 *     <answer>ANSWER</answer>
 *
 * where QUESTION is the text of the sample's last user message and ANSWER the answer's text.
 * A comparing call sends <answer_a>CHEAP</answer_a> and <answer_b>PREMIUM</answer_b> instead.
 * In the embedded texts, a "<" that would open or close one of these tags ("<answer",
 * "</question", ..., in any case) is written "&lt;", so an answer cannot forge the judge's
 * input. The default rubrics are sl_judge_rubric and sl_judge_pairwise_rubric below.
 *
 * A reply is accepted only when its whole content (surrounding white space aside) is one JSON
 * object, or one such object inside a single ``` fence (an info string such as "json" after
 * the opening fence is allowed). A grade needs "score", an integer from 1 to 5, and "reason", a
 * string; a verdict needs "winner", exactly "A", "B" or "tie", and "reason". Other members are
 * ignored. */
#ifndef SL_JUDGE_H
#define SL_JUDGE_H

#include <stddef.h>

#include "buf.h"
#include "errors.h"

#define SL_JUDGE_REASON_MAX 512 /* reasons longer are cut (at a UTF-8 character boundary) */

/* The default system message of a grading call. */
extern const char sl_judge_rubric[];
/* The default system message of a comparing call. */
extern const char sl_judge_pairwise_rubric[];

/* Appends the text of the last message whose role is "user" in messages (a JSON array's
 * text, as in a sample): its content string, or its parts' "text" strings joined by newlines.
 * Appends nothing when there is no such message. SL_EPARSE when messages is not a JSON
 * array; SL_ENOMEM or SL_ETOOBIG from the buffer. */
int sl_judge_question(const char *messages, struct sl_buf *out) SL_MUST_CHECK;

/* Appends the JSON body of a grading call to model with rubric as the system message. */
int sl_judge_grade_body(struct sl_buf *out, const char *model, const char *rubric,
                        const char *question, const char *answer) SL_MUST_CHECK;
/* Appends the JSON body of a comparing call: answer_a is the cheap tier's, answer_b the
 * premium model's. */
int sl_judge_compare_body(struct sl_buf *out, const char *model, const char *rubric,
                          const char *question, const char *answer_a,
                          const char *answer_b) SL_MUST_CHECK;
/* Appends the JSON body of a premium (shadow) call: model, the sample's messages unchanged
 * (a JSON array's text), "stream": false. */
int sl_judge_shadow_body(struct sl_buf *out, const char *model, const char *messages) SL_MUST_CHECK;

struct sl_judge_grade {
    int score; /* 1..5 */
    char reason[SL_JUDGE_REASON_MAX];
};

/* The cheap answer's result against the premium one: A won, a tie, or B won. */
enum sl_verdict { SL_VERDICT_WIN, SL_VERDICT_TIE, SL_VERDICT_LOSS };

struct sl_judge_verdict {
    enum sl_verdict verdict;
    char reason[SL_JUDGE_REASON_MAX];
};

/* Parses a grading reply's content. SL_EPARSE with "what is wrong" in err (never the content
 * itself, which may quote the answer). */
int sl_judge_parse_grade(const char *content, struct sl_judge_grade *g, char *err,
                         size_t errlen) SL_MUST_CHECK;
/* Parses a comparing reply's content, the same way. */
int sl_judge_parse_verdict(const char *content, struct sl_judge_verdict *v, char *err,
                           size_t errlen) SL_MUST_CHECK;
/* "win", "tie" or "loss", as stored in results.verdict. */
const char *sl_judge_verdict_name(enum sl_verdict v);

#endif
