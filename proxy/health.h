/* Health of each upstream deployment, shared by all worker threads: a circuit breaker
 * (closed -> open on consecutive failures or a high error rate -> half-open probe -> closed)
 * and a cool-down set by a Retry-After. The proxy owns one sl_health per deployment,
 * created with sl_health_create and freed with sl_health_destroy. */
#ifndef SL_HEALTH_H
#define SL_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

enum sl_circuit { SL_CIRCUIT_CLOSED = 0, SL_CIRCUIT_HALF_OPEN = 1, SL_CIRCUIT_OPEN = 2 };

struct sl_health;

struct sl_health *sl_health_create(const struct sl_breaker_config *cfg);
void sl_health_destroy(struct sl_health *h);

/* May a request be sent now (times are monotonic µs)? True when closed and not cooling
 * down, or open long enough for a probe. Has no side effect. */
bool sl_health_available(struct sl_health *h, uint64_t now_us);
/* Takes the deployment for one request just chosen with sl_health_available. False when
 * another request won the half-open probe in the meantime. *probe says whether this
 * request is the probe (then it must end with sl_health_record or sl_health_abandon). */
bool sl_health_acquire(struct sl_health *h, uint64_t now_us, bool *probe);
/* Records a finished attempt's outcome; may open or close the circuit. */
void sl_health_record(struct sl_health *h, bool success, uint64_t now_us);
/* A probe that ended with no verdict (the client left): let the next request probe. */
void sl_health_abandon(struct sl_health *h, uint64_t now_us);
/* Refuse requests until now + delay (a Retry-After from the upstream). */
void sl_health_cool_down(struct sl_health *h, uint64_t until_us);
/* When a cooling deployment is usable again (0 when not cooling). */
uint64_t sl_health_cool_until(struct sl_health *h);

enum sl_circuit sl_health_state(struct sl_health *h);
/* How many times the circuit has opened, for metrics. */
uint64_t sl_health_opens(struct sl_health *h);

#endif
