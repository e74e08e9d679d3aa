/* Redaction of personal data and secrets in free text (prompts, answers) before it is stored
 * or sent to an evaluator. The caller owns the output buffer; sl_redact only appends to it.
 *
 * One left-to-right pass in linear time over characters. A character is an ASCII byte, a
 * two-byte UTF-8 character, or a JSON escape "\uXXXX" (hex digits in either case), which
 * counts as the character it encodes: clients may write any character that way ("\u0040"
 * for '@', "\u00e9" for é). Items are made of ASCII characters, except that an e-mail
 * address may also contain characters U+0080..U+07FF (josé@, müller.de), raw or escaped;
 * every other non-ASCII byte is a separator, so items are found inside text in any script,
 * and no multibyte sequence or escape is ever split. An item is replaced whole, escapes
 * included; text around items passes through byte for byte, escapes too.
 *
 * The rules, tried in this order at each character (the first that matches wins):
 *
 * Escapes. Every escape but a complete "\uXXXX" is a separator and never part of an item:
 * a backslash and the byte after it ("\n", "\t", "\"", "\\", "\/"), or a backslash, 'u'
 * and fewer than four hex digits. So is a "\uXXXX" of a character outside the item's
 * classes ("\u000a", "\u2615"). No class contains '"' or '\', so "\u0022" and "\u005c"
 * never go into an item either, and a redacted JSON string literal stays well-formed. Only
 * strings are safe, though: a bare JSON number that passes as a card becomes [CARD].
 *
 * Below, "character" and the classes in brackets mean characters as above: "j\u0061ne" is
 * a run of four letters, "\u0034111 1111 1111 1111" a card, "Bearer\u0020" the scheme and
 * its space.
 *
 * [EMAIL]  local@domain. The local part is the whole run of [A-Za-z0-9._%+-] and two-byte
 *          characters U+0080..U+07FF before the '@', less any leading ASCII characters that
 *          are not letters or digits (those stay). The domain is two or more labels of
 *          [A-Za-z0-9-] and characters U+0080..U+07FF joined by single dots; the last label
 *          is two or more letters. "user@localhost" and "@handle" stay.
 *
 * [KEY]    Only at the start of a word (the character before is not [A-Za-z0-9_-]):
 *          - "Bearer" (any case), spaces or tabs, then a token of at least 8 characters of
 *            [A-Za-z0-9._~+/-] with optional trailing '=' (trailing dots, being punctuation,
 *            stay). "Bearer " stays; only the token is replaced. The token must contain a
 *            digit, one of "._~+/=", or an upper-case letter after its first character, so
 *            prose ("bearer tokens", "Bearer authentication") stays.
 *          - A known prefix, then at least 16 characters of [A-Za-z0-9_-] of which one is a
 *            digit, an upper-case letter or '_': sk-, sk_live_, sk_test_, pk_live_,
 *            rk_live_, xoxb-, xoxp-, ghp_, gho_, github_pat_, AIza. The whole word goes.
 *            ("sk-learn-compatible" stays: lower-case letters and dashes only.)
 *          - "AKIA" and exactly 16 of [A-Z0-9], ending the word (an AWS access key id).
 *          - Checked after cards and phones: any whole word of 32 or more characters of
 *            [A-Za-z0-9_-] containing both a letter and a digit (hex and base64url secrets,
 *            but also git hashes and long identifiers with digits). A UUID in its canonical
 *            8-4-4-4-12 hex form stays: UUIDs are identifiers in logs and code far more often
 *            than credentials.
 *
 * Numbers (cards and phones) start where the character before is not [A-Za-z0-9_+] and is
 * not one of ".,-/:" that itself follows a digit (so no match starts inside 1.2.3 or
 * 10:30), and end where the character after is not [A-Za-z0-9_] and is not one of ".,-/:"
 * followed by a digit.
 *
 * [CARD]   13 to 19 digits, Luhn-valid: one unbroken run, or groups of 3 to 6 digits joined
 *          by single spaces or by single dashes (one kind throughout: 4-4-4-4, 4-6-5, ...).
 *          If the groups that follow make it too long or invalid, the longest valid leading
 *          groups count ("4111 1111 1111 1111 12/25" keeps " 12/25"). A run that fails Luhn
 *          is not a card; it may still be a phone number.
 *
 * [PHONE]  7 to 15 digits in all, in groups joined by single spaces, dots or dashes.
 *          - International: '+' and digits. Groups may have any size, and a parenthesised
 *            group may follow the country code: +14155552671, +44 20 7946 0958,
 *            +1 (555) 123-4567, +44 (0)20 7946 0958, +33 6 12 34 56 78, +49-30-1234567.
 *          - National: at least two groups. The first is parenthesised, or starts with 0,
 *            or has exactly 3 digits, or is the single digit 1; when there are only two
 *            groups the first must be parenthesised or start with 0. The first group has at
 *            most 5 digits, the others 2 to 8. Examples: (555) 123-4567, 555-123-4567,
 *            555.123.4567, 1-800-555-1234, 020 7946 0958, 06 12 34 56 78, 030 12345678.
 *          - Between plain groups one separator kind is used throughout; after the country
 *            code or a parenthesised group any separator (or, after ')', none) may follow.
 *          - Not phones: thousands (1 000 000, 100.000.000: space or dot separated, a first
 *            group of 1 to 3 digits, then groups of exactly 3), dates (2024-01-15,
 *            15.01.2024, 1.12.2024: three groups of 4, 1-2, 1-2 or 1-2, 1-2, 4 digits),
 *            dotted groups of 1 digit (1.800.555.1234 reads as a version), IPv4 addresses
 *            (four dot-separated groups of at most 3 digits), 555-1234 (7-digit local numbers
 *            need a 0 or parentheses), years and amounts (1234, 2024 2025: no valid first
 *            group), and unbroken runs without '+' (5551234567 is as likely an id).
 *            A US social security number such as 123-45-6789 is phone-shaped and goes too.
 */
#ifndef SL_REDACT_H
#define SL_REDACT_H

#include <stddef.h>

#include "buf.h"

/* Appends in[0..len) to out with every item above replaced by its label. Returns 0, or
 * SL_ENOMEM / SL_ETOOBIG from the buffer, in which case out holds a redacted prefix of the
 * text (never unredacted bytes) and the caller should discard it. The output is at most
 * len + len / 6 bytes long (only an e-mail address, of 6 bytes or more, can be shorter
 * than its label, by one byte). */
int sl_redact(const char *in, size_t len, struct sl_buf *out) SL_MUST_CHECK;
/* A redacted, NUL-terminated copy of in[0..len) that the caller frees; NULL when out of memory. */
char *sl_redact_copy(const char *in, size_t len);

#endif
