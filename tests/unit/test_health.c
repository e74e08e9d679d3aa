/* Circuit breaker: open on consecutive failures or error rate, half-open probe, close. */
#include <criterion/criterion.h>

#include "health.h"

static const struct sl_breaker_config cfg = {
    .consecutive_failures = 3, .error_rate = 0.5, .window = 10, .min_calls = 6, .open_ms = 1000};

#define MS 1000u

Test(health, opens_after_consecutive_failures_and_refuses_until_open_time_passes)
{
    struct sl_health *h = sl_health_create(&cfg);
    bool probe;

    for (int i = 0; i < 2; i++)
        sl_health_record(h, false, 10 * MS);
    cr_assert_eq(sl_health_state(h), SL_CIRCUIT_CLOSED);
    sl_health_record(h, false, 10 * MS);
    cr_assert_eq(sl_health_state(h), SL_CIRCUIT_OPEN);
    cr_assert_eq(sl_health_opens(h), 1);
    cr_assert_not(sl_health_available(h, 500 * MS));
    cr_assert_not(sl_health_acquire(h, 500 * MS, &probe));
    cr_assert(sl_health_available(h, 1010 * MS));
    sl_health_destroy(h);
}

Test(health, one_half_open_probe_at_a_time_and_success_closes)
{
    struct sl_health *h = sl_health_create(&cfg);
    bool probe;

    for (int i = 0; i < 3; i++)
        sl_health_record(h, false, 0);
    cr_assert(sl_health_acquire(h, 1000 * MS, &probe));
    cr_assert(probe);
    cr_assert_eq(sl_health_state(h), SL_CIRCUIT_HALF_OPEN);
    cr_assert_not(sl_health_available(h, 1000 * MS), "a second request must not probe too");
    cr_assert_not(sl_health_acquire(h, 1000 * MS, &probe));
    sl_health_record(h, true, 1001 * MS);
    cr_assert_eq(sl_health_state(h), SL_CIRCUIT_CLOSED);
    cr_assert(sl_health_acquire(h, 1002 * MS, &probe));
    cr_assert_not(probe);
    sl_health_destroy(h);
}

Test(health, failed_probe_reopens_for_another_full_period)
{
    struct sl_health *h = sl_health_create(&cfg);
    bool probe;

    for (int i = 0; i < 3; i++)
        sl_health_record(h, false, 0);
    cr_assert(sl_health_acquire(h, 1000 * MS, &probe));
    sl_health_record(h, false, 1000 * MS);
    cr_assert_eq(sl_health_state(h), SL_CIRCUIT_OPEN);
    cr_assert_eq(sl_health_opens(h), 2);
    cr_assert_not(sl_health_available(h, 1500 * MS));
    cr_assert(sl_health_available(h, 2000 * MS));
    sl_health_destroy(h);
}

Test(health, abandoned_probe_lets_the_next_request_probe)
{
    struct sl_health *h = sl_health_create(&cfg);
    bool probe;

    for (int i = 0; i < 3; i++)
        sl_health_record(h, false, 0);
    cr_assert(sl_health_acquire(h, 1000 * MS, &probe));
    sl_health_abandon(h, 1100 * MS);
    cr_assert(sl_health_acquire(h, 1100 * MS, &probe));
    cr_assert(probe);
    sl_health_destroy(h);
}

Test(health, opens_on_error_rate_without_a_run_of_failures)
{
    struct sl_health *h = sl_health_create(&cfg);

    /* alternate: never 3 failures in a row, but half of the calls fail */
    for (int i = 0; i < 5; i++) {
        sl_health_record(h, i % 2 == 0, 0);
        cr_assert_eq(sl_health_state(h), SL_CIRCUIT_CLOSED, "call %d", i);
    }
    sl_health_record(h, false, 0); /* 6 calls, 3 failures: rate 0.5 with min_calls 6 */
    cr_assert_eq(sl_health_state(h), SL_CIRCUIT_OPEN);
    sl_health_destroy(h);
}

Test(health, old_outcomes_leave_the_window)
{
    struct sl_health *h = sl_health_create(&cfg);

    for (int i = 0; i < 4; i++) /* 4 failures spread out by successes */
        for (int k = 0; k < 3; k++)
            sl_health_record(h, k != 0, 0);
    /* the window of 10 holds at most 4 failures (< 50%) at any time */
    cr_assert_eq(sl_health_state(h), SL_CIRCUIT_CLOSED);
    sl_health_destroy(h);
}

Test(health, retry_after_cool_down_refuses_until_it_ends)
{
    struct sl_health *h = sl_health_create(&cfg);

    sl_health_cool_down(h, 2000 * MS);
    sl_health_cool_down(h, 1500 * MS); /* an earlier deadline does not shorten it */
    cr_assert_not(sl_health_available(h, 1999 * MS));
    cr_assert(sl_health_available(h, 2000 * MS));
    cr_assert_eq(sl_health_cool_until(h), 2000 * MS);
    sl_health_destroy(h);
}
