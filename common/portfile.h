/* The --port-file of Sluice's programs: the port they bound, for tests and scripts that let
 * the kernel choose it. */
#ifndef SL_PORTFILE_H
#define SL_PORTFILE_H

#include "errors.h"

/* Writes port and a newline to path through a temporary file and a rename, so that a reader
 * polling for the file never sees half a number. Returns 0, or SL_EIO after perror(path). */
int sl_portfile_write(const char *path, int port) SL_MUST_CHECK;
/* The port the socket fd is bound to (IPv4 or IPv6), or -1. */
int sl_portfile_bound(int fd);

#endif
