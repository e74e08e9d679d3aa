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
 * the lead bytes of three- and four-byte UTF-8 characters (only two-byte ones can be part
 * of an e-mail address), and (once the labels are in) brackets. Backslashes are checked by
 * escapes_match. */
static bool kept(uint8_t c, bool brackets)
{
    return c >= 0xE0 || c == 0xC0 || c == 0xC1 || c == '"' || c == '{' || c == '}' || c == ':' ||
           c == ',' || c == '\n' || (brackets && (c == '[' || c == ']'));
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

static bool is_hex(uint8_t c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* The next escape in s[i..n) as the redactor reads escapes (a backslash and the byte after
 * it, or a backslash, 'u' and up to four hex digits); sets *len, returns n when none. A
 * backslash before a non-ASCII byte is alone, and so is one before '[' here: an item may
 * follow the first (\é@example.com gives \[EMAIL]). */
static size_t next_escape(const uint8_t *s, size_t n, size_t i, size_t *len)
{
    size_t j;

    while (i < n && s[i] != '\\')
        i++;
    if (i == n)
        return n;
    j = i + 1;
    if (j < n && s[j] < 0x80 && s[j] != '[' && s[j++] == 'u')
        while (j < n && j < i + 6 && is_hex(s[j]))
            j++;
    *len = j - i;
    return i;
}

/* Whether the escape e[0..len) is a "\uXXXX" of a character that some item may contain, so
 * that redaction may drop it: never '"', '\' or a control character. */
static bool droppable(const uint8_t *e, size_t len)
{
    unsigned cp = 0;

    if (len != 6 || e[1] != 'u')
        return false;
    for (size_t k = 2; k < 6; k++)
        cp = cp << 4 | (unsigned)(e[k] <= '9' ? e[k] - '0' : (e[k] | 0x20) - 'a' + 10);
    return (cp >= 0x80 && cp <= 0x7FF) ||
           (cp > 0 && cp < 0x80 &&
            (strchr("._%+-@~/=() _", (int)cp) || (cp | 0x20) - 'a' < 26 || cp - '0' < 10));
}

/* True when the escapes of b[0..bn) are those of a[0..an), in order, less some droppable
 * ones: redaction never splits an escape, makes one, or drops one that a JSON string needs. */
static bool escapes_match(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    size_t i = 0, j = 0, il = 0, jl = 0;

    for (;;) {
        i = next_escape(a, an, i, &il);
        j = next_escape(b, bn, j, &jl);
        while (i < an && (j == bn || il != jl || memcmp(a + i, b + j, il))) {
            if (!droppable(a + i, il))
                return false;
            i = next_escape(a, an, i + il, &il);
        }
        if (i == an || j == bn)
            return i == an && j == bn;
        i += il;
        j += jl;
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
        __builtin_trap(); /* quotes and non-ASCII bytes pass through untouched */
    if (!escapes_match(data, size, (const uint8_t *)once.data, once.len))
        __builtin_trap(); /* so do escapes, but for \u escapes inside items */
    /* a second pass may find more (adding labels), but never reaches into a label */
    if (sl_redact(once.data, once.len, &twice) || twice.len > once.len + once.len / 6)
        __builtin_trap();
    if (!kept_bytes_match((const uint8_t *)once.data, once.len, (const uint8_t *)twice.data,
                          twice.len, true, true) ||
        !escapes_match((const uint8_t *)once.data, once.len, (const uint8_t *)twice.data,
                       twice.len))
        __builtin_trap();
    sl_buf_free(&once);
    sl_buf_free(&twice);
    return 0;
}
