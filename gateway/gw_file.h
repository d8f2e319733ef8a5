/* Opening the files an operator names (config inputs, the audit log)
 * without ever blocking on a FIFO or a device: shared by gw_read_file
 * (util.c) and the audit log (audit.c). */
#ifndef GW_FILE_H
#define GW_FILE_H

#include <stddef.h>
#include <sys/types.h>

/* open(path, flags | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, mode): the open
 * itself never blocks (a FIFO with no writer or reader, a device), and
 * anything that is not a regular file once symlinks are followed is
 * closed and refused. The returned fd is blocking again (O_NONBLOCK
 * cleared) and the caller closes it. -1 with "PATH: message" in err on
 * failure; nothing is left open. */
int gw_open_regular(const char *path, int flags, mode_t mode, char *err,
		    size_t errlen);

#endif
