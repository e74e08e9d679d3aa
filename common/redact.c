/* Redaction: hand-written matchers tried at word starts in one left-to-right pass.
 *
 * The matchers read characters, not bytes, through char_at: an ASCII byte, a two-byte UTF-8
 * character or a JSON \uXXXX escape is one character with its code point; any other
 * escape or non-ASCII byte is one character in no class. The pass and the matchers only
 * ever step from one character to the next, so an item never starts or ends inside an
 * escape or a UTF-8 sequence.
 *
 * Linear time: a matcher that scans a run of characters starts only where the run starts
 * (the character before is outside the run's class) or right after an item; the pass
 * remembers where a failed scan of an e-mail local part or a key word ended and does not
 * scan that run again, so each run is read a bounded number of times. The number matchers
 * stop after a fixed count of digits and groups. */
#include "redact.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define EMAIL_LABEL      "[EMAIL]"
#define PHONE_LABEL      "[PHONE]"
#define CARD_LABEL       "[CARD]"
#define KEY_LABEL        "[KEY]"
#define PHONE_MIN_DIGITS 7
#define PHONE_MAX_DIGITS 15
#define CARD_MIN_DIGITS  13
#define CARD_MAX_DIGITS  19
#define MAX_GROUPS       12
#define BEARER_MIN       8  /* token characters after "Bearer " */
#define PREFIX_KEY_MIN   16 /* characters after a known key prefix */
#define GENERIC_KEY_MIN  32
#define NO_CP            UINT32_MAX /* the code point of a character in no class */

struct item {
    size_t start, end; /* the bytes to replace */
    const char *label;
};

/* Where failed scans ended: a later start inside the same run would fail the same way. */
struct scanned {
    size_t email; /* end of a local part that is not followed by an address */
    size_t key;   /* end of a word that is not a generic key */
};

/* One character of the text as the matchers see it. */
struct ch {
    uint32_t cp; /* its code point, or NO_CP */
    size_t len;  /* the bytes it takes; 0 past the end of the text */
};

/* ---- character classes (ASCII, except that addresses take U+0080..U+07FF) --------------- */

static inline bool is_digit(uint32_t c)
{
    return c >= '0' && c <= '9';
}

static inline bool is_upper(uint32_t c)
{
    return c >= 'A' && c <= 'Z';
}

static inline bool is_alpha(uint32_t c)
{
    return is_upper(c) || (c >= 'a' && c <= 'z');
}

static inline bool is_alnum(uint32_t c)
{
    return is_alpha(c) || is_digit(c);
}

static inline bool is_word(uint32_t c)
{
    return is_alnum(c) || c == '_';
}

/* A character of a key or token word. */
static inline bool is_keych(uint32_t c)
{
    return is_word(c) || c == '-';
}

/* A two-byte UTF-8 character (Latin with accents, Greek, Cyrillic, ...), raw or escaped. */
static inline bool is_wide(uint32_t c)
{
    return c >= 0x80 && c <= 0x7FF;
}

/* A character of an e-mail address's local part. */
static inline bool is_local(uint32_t c)
{
    return is_keych(c) || c == '.' || c == '%' || c == '+' || is_wide(c);
}

/* A character of a domain label. */
static inline bool is_label(uint32_t c)
{
    return is_alnum(c) || c == '-' || is_wide(c);
}

/* A character of an HTTP token68 (RFC 7235), less its trailing '='. */
static inline bool is_token68(uint32_t c)
{
    return is_keych(c) || c == '.' || c == '~' || c == '+' || c == '/';
}

static inline bool is_hex(uint32_t c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Punctuation that continues a number when a digit is on both sides: 1.5, 1,000, 10:30. */
static inline bool is_num_joiner(uint32_t c)
{
    return c == '.' || c == ',' || c == '-' || c == '/' || c == ':';
}

/* ---- reading characters ------------------------------------------------------------------ */

static uint32_t hex_value(uint32_t c)
{
    return is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* The character at s[j], which the caller has reached by stepping from one to the next. A
 * \uXXXX escape is its code point, even '"' or '\' (which no class contains); a shorter "\u"
 * or a backslash and the byte after it ("\n", "\"") are one character in no class. */
static struct ch char_at(const unsigned char *s, size_t n, size_t j)
{
    uint32_t cp = 0;
    size_t k;

    if (j >= n)
        return (struct ch){NO_CP, 0};
    if (s[j] < 0x80 && s[j] != '\\')
        return (struct ch){s[j], 1};
    if (s[j] >= 0xC2 && s[j] <= 0xDF && j + 1 < n && (s[j + 1] & 0xC0) == 0x80)
        return (struct ch){(uint32_t)(s[j] & 0x1F) << 6 | (s[j + 1] & 0x3F), 2};
    if (s[j] >= 0x80 || j + 1 == n || s[j + 1] >= 0x80)
        return (struct ch){NO_CP, 1}; /* never take half of a UTF-8 character */
    if (s[j + 1] != 'u')
        return (struct ch){NO_CP, 2};
    for (k = j + 2; k < n && k < j + 6 && is_hex(s[k]); k++)
        cp = cp << 4 | hex_value(s[k]);
    return (struct ch){k == j + 6 ? cp : NO_CP, k - j};
}

/* The code point of the character after the one at s[j]. */
static uint32_t cp_after(const unsigned char *s, size_t n, size_t j)
{
    return char_at(s, n, j + char_at(s, n, j).len).cp;
}

/* Whether the characters from s[j] spell the ASCII word w (in any case when fold, and w is
 * then lower-case); sets *end after them. */
static bool match_word(const unsigned char *s, size_t n, size_t j, const char *w, bool fold,
                       size_t *end)
{
    for (; *w; w++) {
        struct ch c = char_at(s, n, j);
        uint32_t cp = fold && is_upper(c.cp) ? c.cp | 0x20 : c.cp;

        if (cp != (unsigned char)*w)
            return false;
        j += c.len;
    }
    *end = j;
    return true;
}

/* ---- e-mail ------------------------------------------------------------------------------ */

/* Sets *run_end to the end of the local part scanned. */
static bool match_email(const unsigned char *s, size_t n, size_t i, struct item *it,
                        size_t *run_end)
{
    size_t j = i, start = i, label, tld = 0; /* tld: letters in the last label, 0 if not all */
    int labels = 0;
    struct ch c;

    while ((c = char_at(s, n, j)).len && is_local(c.cp))
        j += c.len;
    *run_end = j;
    if (c.cp != '@')
        return false;
    for (struct ch l; start < j && (l = char_at(s, n, start)).cp < 0x80 && !is_alnum(l.cp);)
        start += l.len;
    if (start == j)
        return false;
    for (j += c.len;;) {
        bool letters = true;

        label = j;
        for (tld = 0; (c = char_at(s, n, j)).len && is_label(c.cp); tld++, j += c.len)
            letters = letters && (is_alpha(c.cp) || is_wide(c.cp));
        if (j == label)
            break;
        labels++;
        tld = letters ? tld : 0;
        if (c.cp == '.' && is_label(cp_after(s, n, j))) {
            j += c.len;
            continue;
        }
        break;
    }
    if (labels < 2 || tld < 2)
        return false;
    *it = (struct item){start, j, EMAIL_LABEL};
    return true;
}

/* ---- keys -------------------------------------------------------------------------------- */

static bool match_bearer(const unsigned char *s, size_t n, size_t i, struct item *it)
{
    size_t j, k, tok, end, chars = 0; /* the token is s[tok..end), chars characters */
    bool signal = false, end_signal = false;
    struct ch c;

    if (!match_word(s, n, i, "bearer", true, &j))
        return false;
    c = char_at(s, n, j);
    if (c.cp != ' ' && c.cp != '\t')
        return false;
    while ((c = char_at(s, n, j)).cp == ' ' || c.cp == '\t')
        j += c.len;
    tok = end = j;
    /* trailing dots, being punctuation, are left out of the token */
    for (k = 0; (c = char_at(s, n, j)).len && is_token68(c.cp); k++) {
        signal =
            signal || is_digit(c.cp) || (k > 0 && is_upper(c.cp)) || strchr("._~+/", (int)c.cp);
        j += c.len;
        if (c.cp != '.') {
            end = j;
            chars = k + 1;
            end_signal = signal;
        }
    }
    for (; (c = char_at(s, n, j)).cp == '='; k++) {
        end = j += c.len;
        chars = k + 1;
        end_signal = true;
    }
    if (chars < BEARER_MIN || !end_signal)
        return false;
    *it = (struct item){tok, end, KEY_LABEL};
    return true;
}

static bool match_prefixed(const unsigned char *s, size_t n, size_t i, struct item *it)
{
    static const char *const prefixes[] = {"sk-",      "sk_live_",    "sk_test_", "pk_live_",
                                           "rk_live_", "xoxb-",       "xoxp-",    "ghp_",
                                           "gho_",     "github_pat_", "AIza"};

    for (size_t p = 0; p < sizeof(prefixes) / sizeof(prefixes[0]); p++) {
        size_t j, chars = 0;
        bool signal = false;
        struct ch c;

        if (!match_word(s, n, i, prefixes[p], false, &j))
            continue;
        for (; (c = char_at(s, n, j)).len && is_keych(c.cp); chars++, j += c.len)
            signal = signal || is_digit(c.cp) || is_upper(c.cp) || c.cp == '_';
        if (chars < PREFIX_KEY_MIN || !signal)
            return false;
        *it = (struct item){i, j, KEY_LABEL};
        return true;
    }
    return false;
}

static bool match_aws(const unsigned char *s, size_t n, size_t i, struct item *it)
{
    size_t j;
    struct ch c;

    if (!match_word(s, n, i, "AKIA", false, &j))
        return false;
    for (int k = 0; k < 16; k++) {
        c = char_at(s, n, j);
        if (!is_upper(c.cp) && !is_digit(c.cp))
            return false;
        j += c.len;
    }
    if (is_keych(char_at(s, n, j).cp))
        return false;
    *it = (struct item){i, j, KEY_LABEL};
    return true;
}

/* Whether the k-th character of a word can be that of a UUID (8-4-4-4-12 hex digits). */
static bool uuid_char(size_t k, uint32_t c)
{
    bool dash = k == 8 || k == 13 || k == 18 || k == 23;

    return k < 36 && (dash ? c == '-' : is_hex(c));
}

/* Sets *run_end to the end of the word when a shorter tail of it cannot be a key either
 * (a UUID's tail can). */
static bool match_generic_key(const unsigned char *s, size_t n, size_t i, struct item *it,
                              size_t *run_end)
{
    size_t j = i, chars = 0;
    bool letter = false, digit = false, uuid = true;
    struct ch c;

    for (; (c = char_at(s, n, j)).len && is_keych(c.cp); chars++, j += c.len) {
        letter = letter || is_alpha(c.cp);
        digit = digit || is_digit(c.cp);
        uuid = uuid && uuid_char(chars, c.cp);
    }
    if (uuid && chars == 36)
        return false;
    *run_end = j;
    if (chars < GENERIC_KEY_MIN || !letter || !digit)
        return false;
    *it = (struct item){i, j, KEY_LABEL};
    return true;
}

/* ---- numbers ----------------------------------------------------------------------------- */

static bool number_start_ok(uint32_t p1, uint32_t p2)
{
    return !is_word(p1) && p1 != '+' && !(is_num_joiner(p1) && is_digit(p2));
}

static bool number_end_ok(const unsigned char *s, size_t n, size_t e)
{
    uint32_t c = char_at(s, n, e).cp;

    return !is_word(c) && !(is_num_joiner(c) && is_digit(cp_after(s, n, e)));
}

/* The Luhn check over d[0..count), digit values. */
static bool luhn_ok(const unsigned char *d, size_t count)
{
    unsigned sum = 0;
    bool twice = false;

    for (size_t k = count; k-- > 0;) {
        unsigned v = d[k];
        if (twice)
            v = v * 2 > 9 ? v * 2 - 9 : v * 2;
        sum += v;
        twice = !twice;
    }
    return sum % 10 == 0;
}

static bool match_card(const unsigned char *s, size_t n, size_t i, struct item *it)
{
    size_t glen[MAX_GROUPS], gend[MAX_GROUPS], j = i, digits = 0;
    unsigned char d[CARD_MAX_DIGITS];
    int ng = 0;
    uint32_t sep = 0;
    struct ch c;

    for (;;) {
        size_t g = 0;
        while ((c = char_at(s, n, j)).len && is_digit(c.cp) && g <= CARD_MAX_DIGITS) {
            if (digits + g < CARD_MAX_DIGITS)
                d[digits + g] = (unsigned char)(c.cp - '0');
            g++;
            j += c.len;
        }
        if (digits + g > CARD_MAX_DIGITS)
            break;
        digits += g;
        glen[ng] = g;
        gend[ng++] = j;
        if (ng == MAX_GROUPS || (c.cp != ' ' && c.cp != '-') || (sep && c.cp != sep) ||
            !is_digit(cp_after(s, n, j)))
            break;
        sep = c.cp;
        j += c.len;
    }
    /* the longest run of leading groups that is a card */
    for (; ng > 0; ng--) {
        bool groups_ok = true;

        digits = 0;
        for (int k = 0; k < ng; k++) {
            digits += glen[k];
            groups_ok = groups_ok && glen[k] >= 3 && glen[k] <= 6;
        }
        if (digits < CARD_MIN_DIGITS)
            return false; /* fewer groups only have fewer digits */
        if ((ng == 1 || groups_ok) && luhn_ok(d, digits) && number_end_ok(s, n, gend[ng - 1])) {
            *it = (struct item){i, gend[ng - 1], CARD_LABEL};
            return true;
        }
    }
    return false;
}

/* Whether the digit groups of a national (no '+') number look like a phone number rather
 * than a date, an amount, a version or an address; first is the first digit. */
static bool national_phone_ok(uint32_t first, const size_t *glen, int ng, bool paren, uint32_t sep)
{
    bool all3 = true, all_short = true;

    if (ng < 2 || glen[0] > 5)
        return false;
    if (!paren && first != '0' && glen[0] != 3 && !(glen[0] == 1 && first == '1'))
        return false;
    if (ng == 2 && !paren && first != '0')
        return false;
    for (int k = 1; k < ng; k++) {
        if (glen[k] < 2 || glen[k] > 8)
            return false;
        all3 = all3 && glen[k] == 3;
    }
    for (int k = 0; k < ng; k++)
        all_short = all_short && glen[k] <= 3;
    if (sep == '.' && (glen[0] < 2 || (ng == 4 && all_short)))
        return false; /* a version or an IPv4 address */
    if (paren)
        return true;
    if ((sep == ' ' || sep == '.') && glen[0] <= 3 && all3)
        return false; /* thousands */
    if (ng == 3 && ((glen[0] == 4 && glen[1] <= 2 && glen[2] <= 2) ||
                    (glen[0] <= 2 && glen[1] <= 2 && glen[2] == 4)))
        return false; /* a date */
    return true;
}

static bool match_phone(const unsigned char *s, size_t n, size_t i, struct item *it)
{
    size_t glen[MAX_GROUPS], j = i, end = i, digits = 0;
    struct ch c = char_at(s, n, i);
    bool intl = c.cp == '+', paren0 = false;
    uint32_t sep = 0, first = 0; /* the separator between plain groups, the first digit */
    int ng = 0;

    if (intl)
        j += c.len;
    for (;;) {
        bool paren = (c = char_at(s, n, j)).cp == '(';
        size_t g = 0;

        if (paren)
            j += c.len;
        while ((c = char_at(s, n, j)).len && is_digit(c.cp) && g <= PHONE_MAX_DIGITS) {
            first = ng == 0 && g == 0 ? c.cp : first;
            g++;
            j += c.len;
        }
        if (g == 0 || (paren && (g > 5 || c.cp != ')')))
            break;
        if (digits + g > PHONE_MAX_DIGITS || ng == MAX_GROUPS)
            return false;
        j += paren ? c.len : 0;
        digits += g;
        paren0 = paren0 || (paren && ng == 0);
        glen[ng++] = g;
        end = j;

        /* after the country code or ")" any separator may follow, between plain groups
         * only the one already used; a "(" may only follow the country code */
        bool free_sep = paren || (intl && ng == 1);
        bool paren_next = intl && ng == 1;
        c = char_at(s, n, j);
        if ((paren && is_digit(c.cp)) || (paren_next && c.cp == '('))
            continue;
        uint32_t next = cp_after(s, n, j);
        if ((c.cp == ' ' || c.cp == '-' || c.cp == '.') &&
            (is_digit(next) || (paren_next && next == '('))) {
            if (!free_sep) {
                if (sep && c.cp != sep)
                    break;
                sep = c.cp;
            }
            j += c.len;
            continue;
        }
        break;
    }
    if (digits < PHONE_MIN_DIGITS || !number_end_ok(s, n, end))
        return false;
    if (!intl && !national_phone_ok(first, glen, ng, paren0, sep))
        return false;
    *it = (struct item){i, end, PHONE_LABEL};
    return true;
}

/* ---- the pass ---------------------------------------------------------------------------- */

/* The item that starts with the character c at s[i] (or, for an e-mail address or a bearer
 * token, a little after it), given the code points of the two characters before it. */
static bool find_item(const unsigned char *s, size_t n, size_t i, struct ch c, uint32_t p1,
                      uint32_t p2, struct scanned *done, struct item *it)
{
    bool word_start = !is_keych(p1) && is_keych(c.cp);

    if (!is_local(p1) && i >= done->email && is_local(c.cp) &&
        match_email(s, n, i, it, &done->email))
        return true;
    if (c.cp >= 0x80)
        return false;
    if (word_start && (c.cp == 'b' || c.cp == 'B') && match_bearer(s, n, i, it))
        return true;
    if (word_start && (match_prefixed(s, n, i, it) || match_aws(s, n, i, it)))
        return true;
    if (number_start_ok(p1, p2)) {
        if (is_digit(c.cp) && match_card(s, n, i, it))
            return true;
        if ((is_digit(c.cp) || ((c.cp == '+' || c.cp == '(') && is_digit(cp_after(s, n, i)))) &&
            match_phone(s, n, i, it))
            return true;
    }
    return word_start && i >= done->key && match_generic_key(s, n, i, it, &done->key);
}

int sl_redact(const char *in, size_t len, struct sl_buf *out)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0, copied = 0;
    uint32_t p1 = ' ', p2 = ' '; /* the two characters before s[i], as the matchers see them */
    struct scanned done = {0, 0};
    struct item it;
    int rc = 0;

    if (len == 0)
        in = ""; /* in may be NULL then */
    while (i < len) {
        struct ch c = char_at(s, len, i);

        if (find_item(s, len, i, c, p1, p2, &done, &it)) {
            size_t label_len = strlen(it.label);
            if ((rc = sl_buf_add(out, in + copied, it.start - copied)) ||
                (rc = sl_buf_add(out, it.label, label_len)))
                goto out;
            copied = i = it.end;
            /* what follows sees the label before it, as it would on a second pass */
            p1 = (unsigned char)it.label[label_len - 1];
            p2 = (unsigned char)it.label[label_len - 2];
            continue;
        }
        p2 = p1;
        p1 = c.cp;
        i += c.len;
    }
    rc = sl_buf_add(out, in + copied, len - copied);
out:
    return rc;
}

char *sl_redact_copy(const char *in, size_t len)
{
    struct sl_buf b;

    sl_buf_init(&b, len + len / 6 + 64); /* the longest output sl_redact can make */
    if (sl_redact(in, len, &b)) {
        sl_buf_free(&b);
        return NULL;
    }
    return sl_buf_take(&b, NULL);
}
