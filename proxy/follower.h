/* Follows the controller: one thread that keeps the proxy's configuration in step with the
 * controller's versions over ZeroMQ (the clone pattern of common/clone.h), builds each version
 * off the hot path and publishes it to the workers (sl_server_publish), and reports the version
 * it serves. When the controller goes silent the proxy keeps serving its last version and
 * catches up with a new snapshot once the controller answers again. */
#ifndef SL_FOLLOWER_H
#define SL_FOLLOWER_H

struct sl_server;
struct sl_follower;

/* Starts following the controller that srv's configuration names (controller.*). srv must
 * outlive the follower. NULL after logging why. */
struct sl_follower *sl_follower_create(struct sl_server *srv);
/* Stops the thread and frees everything; NULL is a no-op. */
void sl_follower_destroy(struct sl_follower *f);

#endif
