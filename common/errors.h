/* Error codes shared by every Sluice module.
 * Functions that can fail return 0 or a negative SL_E* code; sl_strerror() names it.
 * Constructors return NULL instead. */
#ifndef SL_ERRORS_H
#define SL_ERRORS_H

#define SL_MUST_CHECK __attribute__((warn_unused_result))

/* X(name, value, message): one row per error, the single source of codes and messages. */
#define SL_ERROR_LIST(X)                                                                           \
    X(SL_ENOMEM, -1, "out of memory")                                                              \
    X(SL_EINVAL, -2, "invalid argument")                                                           \
    X(SL_EIO, -3, "input/output error")                                                            \
    X(SL_EPARSE, -4, "malformed input")                                                            \
    X(SL_ETOOBIG, -5, "size limit exceeded")                                                       \
    X(SL_ENOTFOUND, -6, "not found")                                                               \
    X(SL_ESYS, -7, "system call failed")                                                           \
    X(SL_EAGAIN, -8, "try again")

enum sl_error {
    SL_OK = 0,
#define SL__ERROR_ENUM(name, value, msg) name = value,
    SL_ERROR_LIST(SL__ERROR_ENUM)
#undef SL__ERROR_ENUM
};

/* Returns a static, human-readable message for an SL_E* code (or "success" for 0). */
const char *sl_strerror(int err);

#endif
