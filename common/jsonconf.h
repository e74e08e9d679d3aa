/* Helpers for loading a JSON configuration file with precise messages: every getter checks one
 * member and records the first problem as "file: key: what is wrong" (later ones are dropped:
 * the first is the one to fix). Shared by sluice.json's and evaluator.json's loaders. */
#ifndef SL_JSONCONF_H
#define SL_JSONCONF_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* The loading state; the caller owns err[errlen]. failed counts the problems found. A NULL
 * file (for a request body) leaves the "file: " out of messages. */
struct sl_jsonconf {
    const char *file;
    char *err;
    size_t errlen;
    int failed;
};

/* Writes "path.name", or "name" at the top level, into key[size]. */
void sl_jsonconf_key(char *key, size_t size, const char *path, const char *name);
void sl_jsonconf_fail(struct sl_jsonconf *ld, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Fails on members that no rule reads, and on members given twice: a misspelt or repeated key
 * must not be silently ignored. known is NULL-terminated. */
void sl_jsonconf_check_keys(struct sl_jsonconf *ld, const cJSON *obj, const char *path,
                            const char *const *known);
/* Optional members of obj; path is obj's own key ("" at the top level). Each leaves *out alone
 * when the member is absent, and fails when it has the wrong type or is out of [min, max]. */
void sl_jsonconf_long(struct sl_jsonconf *ld, const cJSON *obj, const char *name, const char *path,
                      long min, long max, long *out);
void sl_jsonconf_int(struct sl_jsonconf *ld, const cJSON *obj, const char *name, const char *path,
                     long min, long max, int *out);
void sl_jsonconf_double(struct sl_jsonconf *ld, const cJSON *obj, const char *name,
                        const char *path, double min, double max, double *out);
void sl_jsonconf_bool(struct sl_jsonconf *ld, const cJSON *obj, const char *name, const char *path,
                      bool *out);
/* An optional non-empty string member, or NULL. */
const char *sl_jsonconf_string(struct sl_jsonconf *ld, const cJSON *obj, const char *name,
                               const char *path);
/* An optional object member, or NULL (failing when it is not an object). */
const cJSON *sl_jsonconf_object(struct sl_jsonconf *ld, const cJSON *obj, const char *name,
                                const char *path);
/* Reads the whole file at path (at most max bytes) into a NUL-terminated heap buffer that the
 * caller frees, its length in *len; NULL with "path: what is wrong" in err. */
char *sl_jsonconf_read(const char *path, size_t max, size_t *len, char *err, size_t errlen);
/* Parses text[0..len) as one JSON object (nothing but white space after it); NULL with
 * "name:line: invalid JSON near byte N" or "name:1: the top level must be a JSON object" in
 * err. The caller frees the tree with cJSON_Delete. */
cJSON *sl_jsonconf_parse(const char *name, const char *text, size_t len, char *err, size_t errlen);
/* path as given when absolute, else taken from the configuration file's directory ("." when
 * file names none). The caller frees it. */
char *sl_jsonconf_path(const char *file, const char *path);

#endif
