/* libFuzzer target: redaction of arbitrary bytes, and the invariants every output keeps.
 * Idempotence is not one of them: a rejected candidate can overlap a later item (in
 * "020 7946 0-150450" the last group reads as a phone), and once that item is a label the
 * candidate may pass. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "redact.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Bytes that no item contains, so redaction must keep them all, in order: JSON structure,
 * escapes, the lead bytes of three- and four-byte UTF-8 characters (only two-byte ones can
 * be part of an e-mail address), and (once the labels are in) brackets. */
static bool kept(uint8_t c, bool brackets)
{
    return c >= 0xE0 || c == 0xC0 || c == 0xC1 || c == '"' || c == '\\' || c == '{' || c == '}' ||
           c == ':' || c == ',' || c == '\n' || (brackets && (c == '[' || c == ']'));
}

/* True when the kept bytes of a[0..an) are those of b[0..bn) (all of them, in order); with
 * `more`, b may have others between them. */
static bool kept_bytes_match(const uint8_t *a, size_t an, const uint8_t *b, size_t bn,
                             bool brackets, bool more)
{
    size_t i = 0, j = 0;

    for (;;) {
        while (i < an && !kept(a[i], brackets))
            i++;
        while (j < bn && !kept(b[j], brackets))
            j++;
        if (i == an || j == bn)
            return i == an && (j == bn || more);
        if (a[i] == b[j])
            i++;
        else if (!more)
            return false;
        j++;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_buf once, twice;

    sl_buf_init(&once, 2 * size + 64);
    sl_buf_init(&twice, 2 * size + 64);
    if (sl_redact((const char *)data, size, &once) || !once.data)
        __builtin_trap(); /* only the buffer can fail, and its cap is ample */
    if (once.len > size + size / 6 || once.data[once.len] != '\0')
        __builtin_trap(); /* the documented bound; the output stays NUL-terminated */
    if (!kept_bytes_match(data, size, (const uint8_t *)once.data, once.len, false, false))
        __builtin_trap(); /* quotes, escapes and non-ASCII bytes pass through untouched */
    /* a second pass may find more (adding labels), but never reaches into a label */
    if (sl_redact(once.data, once.len, &twice) || twice.len > once.len + once.len / 6)
        __builtin_trap();
    if (!kept_bytes_match((const uint8_t *)once.data, once.len, (const uint8_t *)twice.data,
                          twice.len, true, true))
        __builtin_trap();
    sl_buf_free(&once);
    sl_buf_free(&twice);
    return 0;
}
