/* Token counts estimated without a vocabulary, for when an upstream reports no usage.
 * Pure functions: they allocate nothing and keep no state.
 *
 * The text is split as the GPT pre-tokenizer (cl100k_base, o200k_base) splits it, and
 * each piece is given a cost:
 *   - a run of letters, with the space, tab or single punctuation character before it
 *     (" hello", "'s", "(word", "_name"): 1 token up to 9 letters, then 1 more per 4
 *     letters or part (10-13 letters: 2, 14-17: 3, ...). A capital after a small letter
 *     starts a new run ("getUserName" is 3). A two-byte UTF-8 character (accented Latin,
 *     Greek, Cyrillic, ...) is a letter weighing 2;
 *   - a run of digits: 1 token per 3 digits or part ("1234567" is 3);
 *   - a run of ASCII punctuation, with one space before it and any newlines after it:
 *     1 token per 3 characters or part;
 *   - white space not taken by what follows: 1 token if it holds newlines, plus 1 per 16
 *     spaces or tabs or part;
 *   - each three-byte UTF-8 character (CJK, kana, hangul, typographic quotes and dashes):
 *     1 token; each four-byte one (emoji): 2; any other byte: 1.
 *
 * Accuracy, measured against the real cl100k_base and o200k_base counts: English prose
 * and documentation within about 7% (the tokenizers give 4.2 to 5.5 characters per token
 * there, and so does the estimate), C source and JSON within about 5%; German and French
 * near o200k and 25-30% below cl100k; Cyrillic and CJK between the two (o200k counts far
 * fewer); base64 and other random text about 35% low. Use it for budgets and rough cost,
 * never where an exact count matters. Appending text never lowers the estimate. */
#ifndef SL_TOKENS_H
#define SL_TOKENS_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* The estimated token count of text[0..len); 0 for empty text. */
long sl_tokens_estimate(const char *text, size_t len);

/* The estimated prompt tokens of an OpenAI chat "messages" array: for each message (an
 * object) 4 tokens of framing plus the estimate of its "content", a string or an array of
 * parts whose string "text" members count (images, tool calls and names are not counted);
 * plus 3 for priming the reply. 0 when messages is NULL or not an array (an empty array
 * gives 3). */
long sl_tokens_estimate_messages(const cJSON *messages);

#endif
