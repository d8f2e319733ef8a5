/* The backend interface behind chan.h: each backend (chan_sim.c,
 * chan_xen.c, chan_unix.c) fills a struct chan_ops; chan.c dispatches to
 * it and keeps what every backend shares (role, address, identity). */
#ifndef ZG_CHAN_BACKEND_H
#define ZG_CHAN_BACKEND_H

#include <zonegate/chan.h>

struct chan_ops {
	const char *name;
	int needs_pollout; /* write space is signalled by POLLOUT, not POLLIN */
	ssize_t (*read)(chan *c, void *buf, size_t len);
	ssize_t (*write)(chan *c, const void *buf, size_t len);
	size_t (*data_ready)(chan *c);
	size_t (*buffer_space)(chan *c);
	int (*fd)(chan *c);
	int (*handle_events)(chan *c);
	int (*state)(chan *c);
	int (*reset)(chan *c);
	void (*close)(chan *c);
};

struct chan {
	const struct chan_ops *ops;
	void *impl; /* backend state */
	enum chan_role role;
	struct chan_addr addr;
	char text[16 + CHAN_PATH_MAX];
	unsigned generation;
};

/* Backend constructors: fill c->impl and c->ops from the parsed address,
 * or return -1 with a message in err (c->impl left NULL). */
int chan_sim_open(chan *c, const struct chan_opts *o, char *err, size_t errlen);
int chan_xen_open(chan *c, const struct chan_opts *o, char *err, size_t errlen);
int chan_unix_wrap(chan *c, int fd, char *err, size_t errlen);

/* snprintf into err when err is not NULL; returns -1 for tail calls. */
int chan_seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
