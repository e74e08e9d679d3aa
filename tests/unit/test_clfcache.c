/* Tests for common/clfcache: classifiers parsed once and shared by reference. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clfcache.h"

static char dir[64], path[128], err[512];

static void write_model(double threshold)
{
    float *w = calloc(SL_FEATURES_DIM, sizeof(*w));

    w[7] = 1.0f;
    cr_assert_eq(sl_classifier_save(path, w, 0.5, SL_MESSAGES_LAST_USER, &threshold, 1, NULL, NULL,
                                    err, sizeof(err)),
                 0, "%s", err);
    free(w);
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/sl_clfcache_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/m.json", dir);
    write_model(0.5);
}

static void teardown(void)
{
    unlink(path);
    rmdir(dir);
}

TestSuite(clfcache, .init = setup, .fini = teardown);

Test(clfcache, a_file_is_parsed_once_until_it_changes)
{
    struct sl_clfcache *cc = sl_clfcache_create();
    char conf[160];
    struct sl_classifier *a, *b, *c;

    snprintf(conf, sizeof(conf), "%s/sluice.json", dir);
    a = sl_clfcache_file(cc, conf, "m.json", err, sizeof(err)); /* relative to the config */
    cr_assert_not_null(a, "%s", err);
    b = sl_clfcache_file(cc, conf, path, err, sizeof(err));
    cr_assert_eq(a, b, "the same file is the same classifier");
    cr_assert_eq(a->refs, 3, "the cache's reference and two handed out");
    sleep(1); /* a new modification time, whatever the file system's resolution */
    write_model(0.25);
    c = sl_clfcache_file(cc, conf, "m.json", err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    cr_assert_neq(c, a, "a changed file is read again");
    cr_assert_float_eq(c->thresholds[0], 0.25, 1e-12);
    sl_classifier_destroy(a);
    sl_classifier_destroy(b);
    sl_clfcache_prune(cc); /* the old one: only the cache held it */
    cr_assert_eq(c->refs, 2, "the one in use stays");
    sl_classifier_destroy(c);
    sl_clfcache_destroy(cc);
}

Test(clfcache, a_missing_file_is_an_error_naming_it)
{
    struct sl_clfcache *cc = sl_clfcache_create();

    cr_assert_null(sl_clfcache_file(cc, path, "nope.json", err, sizeof(err)));
    cr_assert(strstr(err, "nope.json: cannot read"), "%s", err);
    sl_clfcache_destroy(cc);
}

Test(clfcache, put_get_and_prune_by_key)
{
    struct sl_clfcache *cc = sl_clfcache_create();
    struct sl_classifier *c = sl_classifier_load(path, err, sizeof(err));

    cr_assert_not_null(c, "%s", err);
    cr_assert_eq(sl_clfcache_put(cc, "sha256:aa", sl_classifier_ref(c)), 0);
    cr_assert_eq(sl_clfcache_get(cc, "sha256:aa"), c);
    cr_assert_null(sl_clfcache_get(cc, "sha256:bb"));
    sl_clfcache_prune(cc);
    cr_assert_eq(sl_clfcache_get(cc, "sha256:aa"), c, "kept while someone holds it");
    sl_classifier_destroy(c);
    sl_clfcache_prune(cc);
    cr_assert_null(sl_clfcache_get(cc, "sha256:aa"), "dropped when only the cache does");
    sl_clfcache_destroy(cc);
}
