/* Request ids: "req_" and 16 hex digits, unique with overwhelming probability, made without
 * locks or allocation. An incoming id is kept when it is safe to echo. */
#ifndef SL_REQID_H
#define SL_REQID_H

#include <stdbool.h>

#define SL_REQID_MAX 64 /* longest id accepted from a client, without the NUL */

/* Writes a fresh id into out (at least 21 bytes). Thread-safe: each thread has its own state. */
void sl_reqid_new(char out[21]);
/* True when a client-supplied id is 1..SL_REQID_MAX characters of [A-Za-z0-9._:-], so it
 * can be echoed in headers and logs as it is. */
bool sl_reqid_valid(const char *id);

#endif
