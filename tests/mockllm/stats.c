/* Request counters shared by the server threads, and GET /mock/stats. */
#include "mockllm.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Counters are relaxed atomics: each is read on its own, and they are on every request's path. */
struct mock_stats {
    atomic_ullong requests;
    atomic_ullong completed;
    atomic_ullong cancelled;
    atomic_llong in_flight;
    atomic_ullong faults[MOCK_FAULT_COUNT];
    atomic_ullong bad_answers;
    atomic_ullong judged;
    pthread_mutex_t mu;
    char *last_authorization; /* guarded by mu */
};

/* The order of the "faults" object. */
static const struct {
    enum mock_fault fault;
    const char *name;
} fault_names[] = {
    {MOCK_FAULT_429, "429"},
    {MOCK_FAULT_500, "500"},
    {MOCK_FAULT_503, "503"},
    {MOCK_FAULT_HANG, "hang"},
    {MOCK_FAULT_CLOSE, "close_mid_stream"},
    {MOCK_FAULT_MALFORMED, "malformed"},
};

struct mock_stats *mock_stats_create(void)
{
    struct mock_stats *st = calloc(1, sizeof(*st));

    if (!st)
        return NULL;
    pthread_mutex_init(&st->mu, NULL);
    return st;
}

void mock_stats_destroy(struct mock_stats *st)
{
    if (!st)
        return;
    free(st->last_authorization);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

static void add(atomic_ullong *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

void mock_stats_begin(struct mock_stats *st, const char *authorization)
{
    add(&st->requests);
    atomic_fetch_add_explicit(&st->in_flight, 1, memory_order_relaxed);

    pthread_mutex_lock(&st->mu);
    /* A client sends the same header every time: copy only when it changes. */
    if (!authorization || !st->last_authorization ||
        strcmp(authorization, st->last_authorization) != 0) {
        free(st->last_authorization);
        st->last_authorization = authorization ? strdup(authorization) : NULL;
    }
    pthread_mutex_unlock(&st->mu);
}

void mock_stats_end(struct mock_stats *st, enum mock_outcome outcome)
{
    atomic_fetch_sub_explicit(&st->in_flight, 1, memory_order_relaxed);
    if (outcome == MOCK_COMPLETED)
        add(&st->completed);
    else if (outcome == MOCK_CANCELLED)
        add(&st->cancelled);
}

void mock_stats_fault(struct mock_stats *st, enum mock_fault fault)
{
    if (fault > MOCK_FAULT_NONE && fault < MOCK_FAULT_COUNT)
        add(&st->faults[fault]);
}

void mock_stats_bad_answer(struct mock_stats *st)
{
    add(&st->bad_answers);
}

void mock_stats_judged(struct mock_stats *st)
{
    add(&st->judged);
}

void mock_stats_reset(struct mock_stats *st)
{
    atomic_store_explicit(&st->requests, 0, memory_order_relaxed);
    atomic_store_explicit(&st->completed, 0, memory_order_relaxed);
    atomic_store_explicit(&st->cancelled, 0, memory_order_relaxed);
    for (int i = 0; i < MOCK_FAULT_COUNT; i++)
        atomic_store_explicit(&st->faults[i], 0, memory_order_relaxed);
    atomic_store_explicit(&st->bad_answers, 0, memory_order_relaxed);
    atomic_store_explicit(&st->judged, 0, memory_order_relaxed);
    pthread_mutex_lock(&st->mu);
    free(st->last_authorization);
    st->last_authorization = NULL;
    pthread_mutex_unlock(&st->mu);
}

static bool add_count(cJSON *obj, const char *name, atomic_ullong *c)
{
    return cJSON_AddNumberToObject(obj, name,
                                   (double)atomic_load_explicit(c, memory_order_relaxed)) != NULL;
}

static bool add_last_authorization(struct mock_stats *st, cJSON *root)
{
    bool ok;

    pthread_mutex_lock(&st->mu);
    if (st->last_authorization)
        ok = cJSON_AddStringToObject(root, "last_authorization", st->last_authorization);
    else
        ok = cJSON_AddNullToObject(root, "last_authorization");
    pthread_mutex_unlock(&st->mu);
    return ok;
}

char *mock_stats_json(struct mock_stats *st, struct mock_models *m)
{
    cJSON *root = cJSON_CreateObject(), *by_model, *faults;
    char *out = NULL;
    bool ok;

    if (!root)
        return NULL;
    ok = add_count(root, "requests", &st->requests);
    by_model = cJSON_AddObjectToObject(root, "by_model");
    ok = ok && by_model && mock_models_add_counts(m, by_model) == 0;
    ok = ok && add_count(root, "completed", &st->completed);
    ok = ok && add_count(root, "cancelled", &st->cancelled);
    ok = ok &&
         cJSON_AddNumberToObject(
             root, "in_flight", (double)atomic_load_explicit(&st->in_flight, memory_order_relaxed));
    faults = ok ? cJSON_AddObjectToObject(root, "faults") : NULL;
    ok = ok && faults;
    for (size_t i = 0; ok && i < sizeof(fault_names) / sizeof(fault_names[0]); i++)
        ok = add_count(faults, fault_names[i].name, &st->faults[fault_names[i].fault]);
    ok = ok && add_count(root, "bad_answers", &st->bad_answers);
    ok = ok && add_count(root, "judged", &st->judged);
    ok = ok && add_last_authorization(st, root);
    if (ok)
        out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}
