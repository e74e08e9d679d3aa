/* Parsed classifiers kept for configuration versions to share, by key: "sha256:HEX" for one
 * that came by content, or a file's identity (its path, modification time and size), so that
 * a file is parsed once and again only when it changes. Used by the controller (to validate
 * versions) and by the proxy's follower (to build them). The cache holds one reference to each
 * classifier it keeps; what it hands out are new references. Not thread-safe. */
#ifndef SL_CLFCACHE_H
#define SL_CLFCACHE_H

#include <stddef.h>

#include "classifier.h"
#include "errors.h"

struct sl_clfcache;

struct sl_clfcache *sl_clfcache_create(void);
void sl_clfcache_destroy(struct sl_clfcache *cc);

/* The classifier kept under key (borrowed), or NULL. */
struct sl_classifier *sl_clfcache_get(struct sl_clfcache *cc, const char *key);
/* Keeps c (whose reference the cache takes) under key. SL_ENOMEM: c is dropped. */
int sl_clfcache_put(struct sl_clfcache *cc, const char *key, struct sl_classifier *c) SL_MUST_CHECK;
/* Drops what only the cache still holds: call it after a version is built, when everything
 * that version needs holds its own references. */
void sl_clfcache_prune(struct sl_clfcache *cc);
/* A new reference to the classifier in the file ref names (relative to the configuration
 * file), parsed once per version of the file on disk; NULL with "what is wrong" in err. */
struct sl_classifier *sl_clfcache_file(struct sl_clfcache *cc, const char *file, const char *ref,
                                       char *err, size_t errlen);

#endif
