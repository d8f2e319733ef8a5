/* `zonectl xen` (gateway/zone_xen.c): xl domain configs generated from
 * the zones' run blocks, for a Xen host (docs/zones.md "The Xen side"). */
#ifndef ZG_ZONE_XEN_H
#define ZG_ZONE_XEN_H

/* Runs `zonectl [--config FILE] xen [ZONE]... [--out DIR] ...` with
 * zonectl's own argv (it parses every option itself). Writes the files,
 * prints their paths; returns zonectl's exit status (0, or 2 with a
 * message on stderr). */
int zone_xen_main(int argc, char **argv);

#endif
