/* Test hooks of the Xen test double (xen_double.c): one simulated machine
 * with several domains inside the test process, standing in for
 * libxenvchan, libxenstore, xenevtchn, xengntshr and xc_evtchn_status.
 * Only test executables link it; see docs/testing.md for what it models. */
#ifndef ZG_XEN_DOUBLE_H
#define ZG_XEN_DOUBLE_H

#define XD_DOMS 64 /* the double's domids are 0..XD_DOMS-1 */

/* Handles opened from now on (xenstore, event channels, grants, vchans)
 * belong to domain domid, as if the process ran there; set it before a
 * channel's open or reset (relative xenstore paths resolve in it).
 * Creates the domain's xenstore "domid" node. */
void xd_set_domid(int domid);

/* The domain vanishes the way Xen destroys one: its event channels are
 * closed (their peers revert to unbound, with no event) and it never
 * writes to shared memory again; memory it granted stays mapped by the
 * peer. Its handles stay valid for the test to free. */
void xd_destroy_domain(int domid);

/* The next n xenevtchn_open() calls fail (as without /dev/xen/evtchn). */
void xd_fail_evtchn_open(int n);

/* The per-domain limit of shared grants (the gntalloc "limit" parameter,
 * 1024 by default) and the number a domain has shared now. */
void xd_set_grant_limit(unsigned n);
unsigned xd_grants_in_use(int domid);

/* Whether a xenstore node exists (absolute path); 1 or 0. */
int xd_xs_exists(const char *path);

/* xs_open() fails from now on while off is set (no xenstore). */
void xd_xenstore_off(int off);

#endif
