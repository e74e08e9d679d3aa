/* Time helpers: a monotonic clock for durations and the wall clock for records. */
#ifndef SL_CLOCK_H
#define SL_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic time in microseconds, for measuring durations. */
uint64_t sl_clock_mono_us(void);
/* Wall-clock time in milliseconds since the Unix epoch. */
int64_t sl_clock_wall_ms(void);
/* Wall-clock time in microseconds since the Unix epoch, for latencies between processes. */
int64_t sl_clock_wall_us(void);
/* Writes wall-clock ms as ISO 8601 UTC ("2026-11-24T05:30:00.123Z") into out (>= 25 bytes). */
void sl_clock_iso8601(int64_t wall_ms, char *out, size_t outlen);

#endif
