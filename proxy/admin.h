/* The admin API under /admin/: teams and virtual keys (see README). */
#ifndef SL_ADMIN_H
#define SL_ADMIN_H

#include <event2/http.h>
#include <stddef.h>

struct sl_worker;

/* Answers one request whose path (without the query) is path[0..plen). */
void sl_admin_handle(struct sl_worker *w, struct evhttp_request *req, const char *path,
                     size_t plen);

#endif
