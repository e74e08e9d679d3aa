/* Raw-text JSON scanning: just enough structure to find a top-level member's value. */
#include "json.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <string.h>

static size_t skip_ws(const char *s, size_t i, size_t n)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* s[i] is the opening quote; returns the index just past the closing quote, or n. */
static size_t skip_string(const char *s, size_t i, size_t n)
{
    for (i++; i < n; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return n;
}

/* Returns the index just past the value starting at s[i], or n when it does not end. */
static size_t skip_value(const char *s, size_t i, size_t n)
{
    int depth = 0;

    if (i >= n)
        return n;
    if (s[i] == '"')
        return skip_string(s, i, n);
    if (s[i] != '{' && s[i] != '[') {
        while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\t' &&
               s[i] != '\n' && s[i] != '\r')
            i++;
        return i;
    }
    while (i < n) {
        char c = s[i];
        if (c == '"') {
            i = skip_string(s, i, n);
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if ((c == '}' || c == ']') && --depth == 0)
            return i + 1;
        i++;
    }
    return n;
}

bool sl_json_member_span(const char *text, size_t len, const char *key, size_t *vstart,
                         size_t *vend)
{
    size_t klen = strlen(key);
    size_t i = skip_ws(text, 0, len);

    if (i >= len || text[i] != '{')
        return false;
    i = skip_ws(text, i + 1, len);
    while (i < len && text[i] == '"') {
        size_t kstart = i + 1, kend = skip_string(text, i, len) - 1;
        bool match = kend - kstart == klen && memcmp(text + kstart, key, klen) == 0;

        i = skip_ws(text, kend + 1, len);
        if (i >= len || text[i] != ':')
            return false;
        i = skip_ws(text, i + 1, len);
        size_t vs = i;
        i = skip_value(text, i, len);
        if (i >= len || i == vs)
            return false; /* a missing value, or one that runs off the end */
        if (match) {
            *vstart = vs;
            *vend = i;
            return true;
        }
        i = skip_ws(text, i, len);
        if (i < len && text[i] == ',')
            i = skip_ws(text, i + 1, len);
    }
    return false;
}

int sl_json_add_string(struct sl_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const char *run = s;
    int rc = sl_buf_add(b, "\"", 1);

    for (; rc == 0 && *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[7] = {'\\', 0};
        size_t elen = 2;

        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        rc = sl_buf_add(b, run, (size_t)(s - run));
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        if (rc == 0)
            rc = sl_buf_add(b, esc, elen);
        run = s + 1;
    }
    if (rc == 0)
        rc = sl_buf_add(b, run, (size_t)(s - run));
    if (rc == 0)
        rc = sl_buf_add(b, "\"", 1);
    return rc;
}

/* A validating recursive-descent scan: returns the index past the value at i, or 0 on error
 * (0 is never a valid end, since a value takes at least one byte). */
static size_t valid_value(const char *s, size_t i, size_t n, int depth);

/* Bytes that end a run of plain string characters: controls, quote, backslash. */
static const unsigned char string_stop[256] = {
    [0 ... 0x1f] = 1,
    ['"'] = 1,
    ['\\'] = 1,
};

static size_t valid_string(const char *s, size_t i, size_t n)
{
    for (i++; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!string_stop[c])
            continue;
        if (c == '"')
            return i + 1;
        if (c < 0x20)
            return 0;
        if (c == '\\') {
            if (++i >= n)
                return 0;
            if (s[i] == 'u') {
                for (int k = 1; k <= 4; k++)
                    if (i + k >= n || !strchr("0123456789abcdefABCDEF", s[i + k]) || !s[i + k])
                        return 0;
                i += 4;
            } else if (!strchr("\"\\/bfnrt", s[i]) || !s[i]) {
                return 0;
            }
        }
    }
    return 0;
}

static size_t valid_number(const char *s, size_t i, size_t n)
{
    size_t start;

    if (i < n && s[i] == '-')
        i++;
    if (i < n && s[i] == '0') {
        i++;
    } else {
        start = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return 0;
    }
    if (i < n && s[i] == '.') {
        start = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        start = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return 0;
    }
    return i;
}

static size_t valid_container(const char *s, size_t i, size_t n, int depth, char close)
{
    i = skip_ws(s, i + 1, n);
    if (i < n && s[i] == close)
        return i + 1;
    for (;;) {
        if (close == '}') {
            if (i >= n || s[i] != '"' || !(i = valid_string(s, i, n)))
                return 0;
            i = skip_ws(s, i, n);
            if (i >= n || s[i] != ':')
                return 0;
            i = skip_ws(s, i + 1, n);
        }
        if (!(i = valid_value(s, i, n, depth + 1)))
            return 0;
        i = skip_ws(s, i, n);
        if (i < n && s[i] == close)
            return i + 1;
        if (i >= n || s[i] != ',')
            return 0;
        i = skip_ws(s, i + 1, n);
    }
}

static size_t valid_value(const char *s, size_t i, size_t n, int depth)
{
    if (i >= n || depth > 128)
        return 0;
    switch (s[i]) {
    case '{':
        return valid_container(s, i, n, depth, '}');
    case '[':
        return valid_container(s, i, n, depth, ']');
    case '"':
        return valid_string(s, i, n);
    case 't':
        return n - i >= 4 && memcmp(s + i, "true", 4) == 0 ? i + 4 : 0;
    case 'f':
        return n - i >= 5 && memcmp(s + i, "false", 5) == 0 ? i + 5 : 0;
    case 'n':
        return n - i >= 4 && memcmp(s + i, "null", 4) == 0 ? i + 4 : 0;
    default:
        return valid_number(s, i, n);
    }
}

bool sl_json_valid(const char *text, size_t len)
{
    size_t i = valid_value(text, skip_ws(text, 0, len), len, 0);
    return i && skip_ws(text, i, len) == len;
}

int sl_json_chat_text(const char *text, size_t len, struct sl_buf *out, char *finish,
                      size_t finish_size)
{
    cJSON *root = cJSON_ParseWithLength(text, len);
    const cJSON *choice;
    int rc = root ? 0 : SL_EPARSE;

    cJSON_ArrayForEach(choice, cJSON_GetObjectItemCaseSensitive(root, "choices"))
    {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(choice, "message");
        const cJSON *fr = cJSON_GetObjectItemCaseSensitive(choice, "finish_reason");
        const cJSON *content;
        if (finish && cJSON_IsString(fr))
            snprintf(finish, finish_size, "%s", fr->valuestring);
        if (!m)
            m = cJSON_GetObjectItemCaseSensitive(choice, "delta");
        content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (cJSON_IsString(content) && rc == 0)
            rc = sl_buf_adds(out, content->valuestring);
    }
    cJSON_Delete(root);
    return rc;
}

/* A string, or null for NULL. */
static int add_string_or_null(struct sl_buf *b, const char *s)
{
    return s ? sl_json_add_string(b, s) : sl_buf_adds(b, "null");
}

int sl_json_add_error(struct sl_buf *b, const char *type, const char *code, const char *param,
                      const char *message)
{
    int rc = sl_buf_adds(b, "{\"error\":{\"message\":");

    rc = rc ? rc : sl_json_add_string(b, message);
    rc = rc ? rc : sl_buf_adds(b, ",\"type\":");
    rc = rc ? rc : sl_json_add_string(b, type);
    rc = rc ? rc : sl_buf_adds(b, ",\"param\":");
    rc = rc ? rc : add_string_or_null(b, param);
    rc = rc ? rc : sl_buf_adds(b, ",\"code\":");
    rc = rc ? rc : add_string_or_null(b, code);
    return rc ? rc : sl_buf_adds(b, "}}");
}
