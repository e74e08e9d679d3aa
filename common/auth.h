/* Where a client's key is in an HTTP request, for the proxy's and the controller's APIs. The
 * returned key points into the header value given; nothing is allocated. */
#ifndef SL_AUTH_H
#define SL_AUTH_H

#include <stddef.h>

/* The key in the values of the request's "Authorization" ("Bearer KEY") and "x-api-key"
 * headers (either may be NULL), without surrounding spaces, its length in *len; NULL when
 * neither holds one. */
const char *sl_auth_key(const char *authorization, const char *x_api_key, size_t *len);

#endif
