/* Redaction: hand-written matchers tried at word starts in one left-to-right pass.
 *
 * Linear time: a matcher that scans a run of characters starts only where the run starts
 * (the byte before is outside the run's class) or right after an item; the pass remembers
 * where a failed scan of an e-mail local part or a key word ended and does not scan that
 * run again, so each run is read a bounded number of times. The number matchers stop after
 * a fixed count of digits and groups. */
#include "redact.h"

#include <stdbool.h>
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

struct item {
    size_t start, end; /* the bytes to replace */
    const char *label;
};

/* Where failed scans ended: a later start inside the same run would fail the same way. */
struct scanned {
    size_t email; /* end of a local part that is not followed by an address */
    size_t key;   /* end of a word that is not a generic key */
};

/* ---- character classes (ASCII only: bytes >= 0x80 are in none of them) ------------------ */

static inline bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static inline bool is_upper(unsigned char c)
{
    return c >= 'A' && c <= 'Z';
}

static inline bool is_alpha(unsigned char c)
{
    return is_upper(c) || (c >= 'a' && c <= 'z');
}

static inline bool is_alnum(unsigned char c)
{
    return is_alpha(c) || is_digit(c);
}

static inline bool is_word(unsigned char c)
{
    return is_alnum(c) || c == '_';
}

/* A character of a key or token word. */
static inline bool is_keych(unsigned char c)
{
    return is_word(c) || c == '-';
}

/* A character of an e-mail address's local part. */
static inline bool is_local(unsigned char c)
{
    return is_keych(c) || c == '.' || c == '%' || c == '+';
}

/* A character of a domain label. */
static inline bool is_label(unsigned char c)
{
    return is_alnum(c) || c == '-';
}

/* A character of an HTTP token68 (RFC 7235), less its trailing '='. */
static inline bool is_token68(unsigned char c)
{
    return is_keych(c) || c == '.' || c == '~' || c == '+' || c == '/';
}

static inline bool is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Punctuation that continues a number when a digit is on both sides: 1.5, 1,000, 10:30. */
static inline bool is_num_joiner(unsigned char c)
{
    return c == '.' || c == ',' || c == '-' || c == '/' || c == ':';
}

static size_t escape_len(const unsigned char *s, size_t n, size_t i)
{
    size_t j = i + 1;

    if (j >= n || s[j] >= 0x80)
        return 1;
    j++;
    if (s[j - 1] == 'u')
        while (j < n && j < i + 6 && is_hex(s[j]))
            j++;
    return j - i;
}

/* ---- e-mail ------------------------------------------------------------------------------ */

/* 2 when s[j] starts a two-byte UTF-8 character (Latin with accents, Greek, Cyrillic, ...),
 * which addresses may contain, else 0. */
static size_t utf8_pair(const unsigned char *s, size_t n, size_t j)
{
    return s[j] >= 0xC2 && s[j] <= 0xDF && j + 1 < n && (s[j + 1] & 0xC0) == 0x80 ? 2 : 0;
}

/* The length of the address character at s[j] (0 when there is none) for the class test. */
static size_t addr_char(const unsigned char *s, size_t n, size_t j, bool (*test)(unsigned char))
{
    return test(s[j]) ? 1 : utf8_pair(s, n, j);
}

/* Sets *run_end to the end of the local part scanned. */
static bool match_email(const unsigned char *s, size_t n, size_t i, struct item *it,
                        size_t *run_end)
{
    size_t j = i, k, at, start, label, last = 0, last_end = 0;
    int labels = 0;

    while (j < n && (k = addr_char(s, n, j, is_local)))
        j += k;
    *run_end = j;
    if (j >= n || s[j] != '@')
        return false;
    at = j;
    for (start = i; start < at && s[start] < 0x80 && !is_alnum(s[start]); start++)
        ;
    if (start == at)
        return false;
    for (j = at + 1;;) {
        label = j;
        while (j < n && (k = addr_char(s, n, j, is_label)))
            j += k;
        if (j == label)
            break;
        labels++;
        last = label;
        last_end = j;
        if (j + 1 < n && s[j] == '.' && addr_char(s, n, j + 1, is_label)) {
            j++;
            continue;
        }
        break;
    }
    if (labels < 2)
        return false;
    /* the top-level domain: two or more letters */
    for (j = last, k = 0; j < last_end; j += utf8_pair(s, n, j) ? 2 : 1, k++)
        if (s[j] < 0x80 && !is_alpha(s[j]))
            return false;
    if (k < 2)
        return false;
    *it = (struct item){start, last_end, EMAIL_LABEL};
    return true;
}

/* ---- keys -------------------------------------------------------------------------------- */

static bool match_bearer(const unsigned char *s, size_t n, size_t i, struct item *it)
{
    static const char word[] = "bearer";
    size_t j, tok, end;
    bool signal = false;

    if (n - i < sizeof(word))
        return false;
    for (j = 0; j < sizeof(word) - 1; j++)
        if ((s[i + j] | 0x20) != word[j])
            return false;
    j = i + sizeof(word) - 1;
    if (s[j] != ' ' && s[j] != '\t')
        return false;
    while (j < n && (s[j] == ' ' || s[j] == '\t'))
        j++;
    tok = j;
    while (j < n && is_token68(s[j]))
        j++;
    while (j < n && s[j] == '=')
        j++;
    end = j;
    while (end > tok && s[end - 1] == '.')
        end--;
    if (end - tok < BEARER_MIN)
        return false;
    for (j = tok; j < end && !signal; j++)
        signal = is_digit(s[j]) || (j > tok && is_upper(s[j])) || strchr("._~+/=", s[j]);
    if (!signal)
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
        size_t plen = strlen(prefixes[p]), j;
        bool signal = false;

        if (n - i < plen || memcmp(s + i, prefixes[p], plen))
            continue;
        for (j = i + plen; j < n && is_keych(s[j]); j++)
            signal = signal || is_digit(s[j]) || is_upper(s[j]) || s[j] == '_';
        if (j - (i + plen) < PREFIX_KEY_MIN || !signal)
            return false;
        *it = (struct item){i, j, KEY_LABEL};
        return true;
    }
    return false;
}

static bool match_aws(const unsigned char *s, size_t n, size_t i, struct item *it)
{
    if (n - i < 20 || memcmp(s + i, "AKIA", 4))
        return false;
    for (size_t j = i + 4; j < i + 20; j++)
        if (!is_upper(s[j]) && !is_digit(s[j]))
            return false;
    if (i + 20 < n && is_keych(s[i + 20]))
        return false;
    *it = (struct item){i, i + 20, KEY_LABEL};
    return true;
}

static bool is_uuid(const unsigned char *p, size_t len)
{
    if (len != 36)
        return false;
    for (size_t k = 0; k < len; k++) {
        bool dash = k == 8 || k == 13 || k == 18 || k == 23;
        if (dash ? p[k] != '-' : !is_hex(p[k]))
            return false;
    }
    return true;
}

/* Sets *run_end to the end of the word when a shorter tail of it cannot be a key either
 * (a UUID's tail can). */
static bool match_generic_key(const unsigned char *s, size_t n, size_t i, struct item *it,
                              size_t *run_end)
{
    size_t j;
    bool letter = false, digit = false;

    for (j = i; j < n && is_keych(s[j]); j++) {
        letter = letter || is_alpha(s[j]);
        digit = digit || is_digit(s[j]);
    }
    if (is_uuid(s + i, j - i))
        return false;
    *run_end = j;
    if (j - i < GENERIC_KEY_MIN || !letter || !digit)
        return false;
    *it = (struct item){i, j, KEY_LABEL};
    return true;
}

/* ---- numbers ----------------------------------------------------------------------------- */

static bool number_start_ok(unsigned char p1, unsigned char p2)
{
    return !is_word(p1) && p1 != '+' && !(is_num_joiner(p1) && is_digit(p2));
}

static bool number_end_ok(const unsigned char *s, size_t n, size_t e)
{
    if (e >= n)
        return true;
    if (is_word(s[e]))
        return false;
    return !(is_num_joiner(s[e]) && e + 1 < n && is_digit(s[e + 1]));
}

/* The Luhn check over the digits of s[i..end), separators skipped. */
static bool luhn_ok(const unsigned char *s, size_t i, size_t end)
{
    unsigned sum = 0;
    bool twice = false;

    for (size_t k = end; k-- > i;) {
        unsigned d;
        if (!is_digit(s[k]))
            continue;
        d = s[k] - '0';
        if (twice)
            d = d * 2 > 9 ? d * 2 - 9 : d * 2;
        sum += d;
        twice = !twice;
    }
    return sum % 10 == 0;
}

static bool match_card(const unsigned char *s, size_t n, size_t i, struct item *it)
{
    size_t glen[MAX_GROUPS], gend[MAX_GROUPS], j = i, digits = 0;
    int ng = 0;
    unsigned char sep = 0;

    for (;;) {
        size_t g = j;
        while (j < n && is_digit(s[j]) && j - g <= CARD_MAX_DIGITS)
            j++;
        if (digits + (j - g) > CARD_MAX_DIGITS)
            break;
        digits += j - g;
        glen[ng] = j - g;
        gend[ng++] = j;
        if (ng == MAX_GROUPS || j + 1 >= n || (s[j] != ' ' && s[j] != '-') ||
            (sep && s[j] != sep) || !is_digit(s[j + 1]))
            break;
        sep = s[j++];
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
        if ((ng == 1 || groups_ok) && luhn_ok(s, i, gend[ng - 1]) &&
            number_end_ok(s, n, gend[ng - 1])) {
            *it = (struct item){i, gend[ng - 1], CARD_LABEL};
            return true;
        }
    }
    return false;
}

/* Whether the digit groups of a national (no '+') number look like a phone number rather
 * than a date, an amount, a version or an address. */
static bool national_phone_ok(const unsigned char *first, const size_t *glen, int ng, bool paren,
                              unsigned char sep)
{
    bool all3 = true, all_short = true;

    if (ng < 2 || glen[0] > 5)
        return false;
    if (!paren && first[0] != '0' && glen[0] != 3 && !(glen[0] == 1 && first[0] == '1'))
        return false;
    if (ng == 2 && !paren && first[0] != '0')
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
    bool intl = s[i] == '+', paren0 = false;
    unsigned char sep = 0; /* the separator between plain groups, once one is seen */
    int ng = 0;

    if (intl)
        j++;
    for (;;) {
        bool paren = j < n && s[j] == '(';
        size_t g;

        if (paren)
            j++;
        g = j;
        while (j < n && is_digit(s[j]) && j - g <= PHONE_MAX_DIGITS)
            j++;
        if (j == g || (paren && (j - g > 5 || j >= n || s[j] != ')')))
            break;
        if (digits + (j - g) > PHONE_MAX_DIGITS || ng == MAX_GROUPS)
            return false;
        j += paren;
        digits += j - g - paren;
        paren0 = paren0 || (paren && ng == 0);
        glen[ng++] = j - g - paren;
        end = j;

        /* after the country code or ")" any separator may follow, between plain groups
         * only the one already used; a "(" may only follow the country code */
        bool free_sep = paren || (intl && ng == 1);
        bool paren_next = intl && ng == 1;
        unsigned char c = j < n ? s[j] : 0;
        if ((paren && is_digit(c)) || (paren_next && c == '('))
            continue;
        if ((c == ' ' || c == '-' || c == '.') && j + 1 < n &&
            (is_digit(s[j + 1]) || (paren_next && s[j + 1] == '('))) {
            if (!free_sep) {
                if (sep && c != sep)
                    break;
                sep = c;
            }
            j++;
            continue;
        }
        break;
    }
    if (digits < PHONE_MIN_DIGITS || !number_end_ok(s, n, end))
        return false;
    if (!intl && !national_phone_ok(s + i + paren0, glen, ng, paren0, sep))
        return false;
    *it = (struct item){i, end, PHONE_LABEL};
    return true;
}

/* ---- the pass ---------------------------------------------------------------------------- */

/* The item that starts at s[i] (or, for an e-mail address or a bearer token, a little after
 * it), given the two bytes before it. */
static bool find_item(const unsigned char *s, size_t n, size_t i, unsigned char p1,
                      unsigned char p2, struct scanned *done, struct item *it)
{
    unsigned char c = s[i];
    bool word_start = !is_keych(p1) && is_keych(c);
    bool after_local = is_local(p1) || ((p1 & 0xC0) == 0x80 && p2 >= 0xC2 && p2 <= 0xDF);

    if (!after_local && i >= done->email && (is_local(c) || utf8_pair(s, n, i)) &&
        match_email(s, n, i, it, &done->email))
        return true;
    if (c >= 0x80)
        return false;
    if (word_start && (c == 'b' || c == 'B') && match_bearer(s, n, i, it))
        return true;
    if (word_start && (match_prefixed(s, n, i, it) || match_aws(s, n, i, it)))
        return true;
    if (number_start_ok(p1, p2)) {
        if (is_digit(c) && match_card(s, n, i, it))
            return true;
        if ((is_digit(c) || ((c == '+' || c == '(') && i + 1 < n && is_digit(s[i + 1]))) &&
            match_phone(s, n, i, it))
            return true;
    }
    return word_start && i >= done->key && match_generic_key(s, n, i, it, &done->key);
}

int sl_redact(const char *in, size_t len, struct sl_buf *out)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0, copied = 0;
    unsigned char p1 = ' ', p2 = ' '; /* the two bytes before s[i], as the matchers see them */
    struct scanned done = {0, 0};
    struct item it;
    int rc = 0;

    if (len == 0)
        in = ""; /* in may be NULL then */
    while (i < len) {
        if (s[i] == '\\') {
            i += escape_len(s, len, i);
            p1 = p2 = ' ';
            continue;
        }
        if (find_item(s, len, i, p1, p2, &done, &it)) {
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
        p1 = s[i++];
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
