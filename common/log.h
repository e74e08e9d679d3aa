/* Logging: one level-checked macro, printf-checked, to stderr.
 * Each .c file defines SL_LOG_MODULE before including this header to name itself.
 * Never pass API keys, and pass prompt or response text only at debug level. */
#ifndef SL_LOG_H
#define SL_LOG_H

enum sl_log_level { SL_LOG_DEBUG, SL_LOG_INFO, SL_LOG_WARN, SL_LOG_ERROR, SL_LOG_OFF };

/* The current threshold; messages below it cost one comparison. Default SL_LOG_INFO. */
extern int sl_log_level;

/* Sets the threshold from "debug", "info", "warn", "error" or "off"; -SL_EINVAL otherwise. */
int sl_log_set_level(const char *name);

/* Writes one line "time level module: message" with a single write(2), so that lines
 * from several threads never interleave. Use the sl_log macro instead. */
void sl_log_write(int level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#ifndef SL_LOG_MODULE
#define SL_LOG_MODULE "sluice"
#endif

#define sl_log(level, ...)                                                                         \
    do {                                                                                           \
        if ((level) >= sl_log_level)                                                               \
            sl_log_write((level), SL_LOG_MODULE, __VA_ARGS__);                                     \
    } while (0)

#define sl_debug(...) sl_log(SL_LOG_DEBUG, __VA_ARGS__)
#define sl_info(...)  sl_log(SL_LOG_INFO, __VA_ARGS__)
#define sl_warn(...)  sl_log(SL_LOG_WARN, __VA_ARGS__)
#define sl_error(...) sl_log(SL_LOG_ERROR, __VA_ARGS__)

#endif
