/* The three calls of libxenctrl the xen backend uses (event channel
 * status, as Qubes' libvchan_is_open asks it), declared here because
 * <xenctrl.h> does not compile as strict C11. Signatures as in Xen 4.17;
 * test/vchan/xen_double.c defines them for the tests. */
#ifndef ZG_XEN_CTRL_H
#define ZG_XEN_CTRL_H

#include <stdint.h>
#include <xen/xen.h>
#include <xen/event_channel.h>

struct xentoollog_logger;
typedef struct xc_interface_core xc_interface;
typedef struct evtchn_status xc_evtchn_status_t;

xc_interface *xc_interface_open(struct xentoollog_logger *logger,
				struct xentoollog_logger *dombuild_logger,
				unsigned open_flags);
int xc_interface_close(xc_interface *xch);
int xc_evtchn_status(xc_interface *xch, xc_evtchn_status_t *status);

#endif
