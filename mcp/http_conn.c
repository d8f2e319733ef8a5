/* Connection admission for the Streamable HTTP transport: a connection is
 * pending until the headers of its first request arrived and passed the
 * backend's authorize (or the backend admitted its peer at once); pending
 * connections have a cap of their own (the rest of the connection limit
 * stays free for admitted clients) and a deadline, and a new connection
 * over the cap evicts the oldest pending one, so idle or half-open
 * connections can lock nobody out: a client that sends its request
 * promptly gets in. */
#include <microhttpd.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "http_internal.h"

/* One connection, MHD's socket context; on h->conns while open. */
struct hconn {
	struct hconn *prev, *next;
	int fd;
	time_t start;
	int admitted, reaped;
	int idle_set; /* its timeout is HTTP_IDLE_TIMEOUT now */
};

static time_t mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* Under cmu: shuts hc down (its thread sees EOF and MHD closes it); it
 * no longer counts as pending. */
static void evict(struct mcp_http *h, struct hconn *hc)
{
	if (hc->fd >= 0)
		shutdown(hc->fd, SHUT_RDWR);
	hc->reaped = 1;
	h->npending--;
}

enum MHD_Result http_conn_accept(void *cls, const struct sockaddr *addr,
				 socklen_t addrlen)
{
	struct mcp_http *h = cls;
	struct hconn *oldest = NULL;

	(void)addr;
	(void)addrlen;
	pthread_mutex_lock(&h->cmu);
	if (h->npending >= h->cfg.max_pending) {
		/* the list is newest first: the last pending one is the
		 * oldest */
		for (struct hconn *hc = h->conns; hc; hc = hc->next)
			if (!hc->admitted && !hc->reaped)
				oldest = hc;
		if (oldest)
			evict(h, oldest);
	}
	pthread_mutex_unlock(&h->cmu);
	return MHD_YES;
}

void http_conn_notify(void *cls, struct MHD_Connection *c, void **ctx,
		      enum MHD_ConnectionNotificationCode code)
{
	struct mcp_http *h = cls;
	struct hconn *hc;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
			c, MHD_CONNECTION_INFO_CONNECTION_FD);
		hc = calloc(1, sizeof(*hc));
		*ctx = hc;
		if (!hc)
			return; /* untracked: still capped by MHD's limit */
		hc->fd = ci ? ci->connect_fd : -1;
		hc->start = mono_s();
		/* a peer the backend knows already (a unix peer's uid) */
		hc->admitted =
			hc->fd >= 0 && h->cfg.backend &&
			h->cfg.backend->admit_peer &&
			h->cfg.backend->admit_peer(h->cfg.backend->ctx, hc->fd);
		pthread_mutex_lock(&h->cmu);
		hc->next = h->conns;
		if (h->conns)
			h->conns->prev = hc;
		h->conns = hc;
		if (!hc->admitted)
			h->npending++;
		pthread_mutex_unlock(&h->cmu);
		return;
	}
	hc = *ctx;
	if (!hc)
		return;
	/* MHD closes the socket only after this returns: the reaper never
	 * touches a descriptor that was reused. */
	pthread_mutex_lock(&h->cmu);
	if (hc->prev)
		hc->prev->next = hc->next;
	else
		h->conns = hc->next;
	if (hc->next)
		hc->next->prev = hc->prev;
	if (!hc->admitted && !hc->reaped)
		h->npending--;
	pthread_mutex_unlock(&h->cmu);
	free(hc);
	*ctx = NULL;
}

void http_conn_admit(struct mcp_http *h, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct hconn *hc = ci ? ci->socket_context : NULL;
	int first = 0;

	if (!hc)
		return;
	pthread_mutex_lock(&h->cmu);
	if (!hc->admitted) {
		hc->admitted = 1;
		if (!hc->reaped)
			h->npending--;
	}
	first = !hc->idle_set;
	hc->idle_set = 1;
	pthread_mutex_unlock(&h->cmu);
	if (first) /* from the header deadline to the idle timeout */
		MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT,
					  (unsigned)HTTP_IDLE_TIMEOUT);
}

void http_conn_reap(struct mcp_http *h)
{
	time_t now = mono_s();

	pthread_mutex_lock(&h->cmu);
	for (struct hconn *hc = h->conns; hc; hc = hc->next) {
		if (hc->admitted || hc->reaped ||
		    now - hc->start < (time_t)h->cfg.header_timeout)
			continue;
		evict(h, hc);
	}
	pthread_mutex_unlock(&h->cmu);
}
