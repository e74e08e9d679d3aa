/* libFuzzer target: a configuration version document, as the controller's admin API takes it
 * and a proxy builds it, on arbitrary text (A/B arms, policies and fallbacks included). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char file[] =
    "{\"providers\": {\"p\": {\"base_url\": \"http://127.0.0.1:9/v1\"}},"
    " \"models\": {\"cheap\": {\"price\": {\"input\": 1, \"output\": 1},"
    "   \"deployments\": [{\"provider\": \"p\", \"model\": \"c\"}]},"
    "  \"big\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"b\"}]}}}";

static struct sl_classifier *clf;

/* Every "classifier" is the same one, thresholds [0.5]. */
static struct sl_classifier *resolve(void *ctx, const char *f, const char *ref, char *err,
                                     size_t errlen)
{
    (void)ctx, (void)f, (void)ref, (void)err, (void)errlen;
    return sl_classifier_ref(clf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cJSON *root;
    char err[512];
    cJSON *doc;

    if (!root) {
        static const char model[] = "{\"v\":1,\"feature_spec_hash\":\"%s\",\"messages\":"
                                    "\"last_user\",\"bias\":0,\"weights\":{\"dim\":%u,\"idx\":[],"
                                    "\"val\":[]},\"thresholds\":[0.5]}";
        char text[512];
        int n =
            snprintf(text, sizeof(text), model, sl_features_spec_hash(), (unsigned)SL_FEATURES_DIM);
        root = cJSON_Parse(file);
        clf = sl_classifier_parse("fuzz-model", text, (size_t)n, err, sizeof(err));
        if (!root || !clf)
            abort();
    }
    doc = cJSON_ParseWithLength((const char *)data, size);
    if (doc) {
        sl_config_destroy(
            sl_config_build("fuzz", "fuzz.json", root, doc, resolve, NULL, err, sizeof(err)));
        cJSON_Delete(doc);
    }
    return 0;
}
