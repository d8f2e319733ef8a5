/* Connection admission for the Streamable HTTP transport: a connection is
 * pending until the headers of its first request arrived and passed the
 * backend's authorize (or the backend admitted its peer at once); pending
 * connections have a cap of their own (the rest of the connection limit
 * stays free for admitted clients) and a deadline, and a new connection
 * over the cap evicts the oldest pending one that is past a short grace,
 * so idle or half-open connections can lock nobody out, and a burst of
 * clients that send their requests promptly does not evict itself.
 *
 * Why a grace by age (since accept) and not by idle time or bytes seen:
 * a half request trickled a byte at a time would look busy forever, and
 * MHD reads a new connection's bytes on its event thread, so a fresh client
 * whose request is still in the socket buffer looks exactly like an idle
 * one. A client that sends promptly is admitted well within the grace;
 * anything still pending after it is fair game, whatever it sent. Fresh
 * connections over the cap wait in a burst room (up to twice the cap,
 * never more than half the connection limit); only when that is full too, i.e.
 * a flood of brand-new connections, is a pending one evicted anyway, so
 * a flood can still never fill the slots kept for admitted clients; and
 * then it is the oldest one whose peer has sent nothing yet: a client
 * whose request is on its way (in the socket, or read and being parsed)
 * is not pushed out by a flood of silent connections opened after it
 * before the server had the time to read it. Only when every fresh one
 * has sent something is the oldest evicted whatever it sent. An evicted
 * connection stays in MHD's table until its event thread has closed it, which
 * under such a flood lags behind: MHD's table has room for that many more
 * (http_conn_table_limit), so evicted ones cannot fill the slots of
 * clients, and the connections not evicted are kept within the limit
 * here. */
#include <linux/tcp.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

#include "http_internal.h"

/* One connection, MHD's socket context; on h->conns while open. */
struct hconn {
	struct hconn *prev, *next;
	int fd;
	long long start; /* ms, CLOCK_MONOTONIC */
	int admitted, reaped;
	int idle_set; /* its timeout is HTTP_IDLE_TIMEOUT now */
};

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The most connections that may be pending at once: the cap, plus as
 * much again for a burst of connections all younger than the grace, but
 * never more than half the connection limit (unless the cap itself is):
 * the other half stays free for admitted clients. */
static unsigned burst_cap(const struct mcp_http *h)
{
	unsigned cap = h->cfg.max_pending * 2u;

	if (cap < h->cfg.max_pending || cap > h->cfg.max_connections / 2)
		cap = h->cfg.max_connections / 2;
	return cap > h->cfg.max_pending ? cap : h->cfg.max_pending;
}

/* Whether the peer of fd has sent any byte: a TCP socket's received
 * byte count (read or not), else (a unix socket) bytes waiting in it. */
static int peer_sent(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int n = 0;

	if (fd < 0)
		return 0;
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0)
		return len >= offsetof(struct tcp_info, tcpi_bytes_received) +
				       sizeof(ti.tcpi_bytes_received) &&
		       ti.tcpi_bytes_received > 0;
	return ioctl(fd, FIONREAD, &n) == 0 && n > 0;
}

/* Under cmu: shuts hc down (MHD sees EOF and closes it); it
 * no longer counts as pending. */
static void evict(struct mcp_http *h, struct hconn *hc)
{
	if (hc->fd >= 0)
		shutdown(hc->fd, SHUT_RDWR);
	hc->reaped = 1;
	h->npending--;
	h->nreaped++;
}

unsigned http_conn_table_limit(const struct mcp_http *h)
{
	return h->cfg.max_connections + 2 * burst_cap(h);
}

enum MHD_Result http_conn_accept(void *cls, const struct sockaddr *addr,
				 socklen_t addrlen)
{
	struct mcp_http *h = cls;
	struct hconn *oldest = NULL, *stale = NULL, *silent = NULL;
	long long now;

	(void)addr;
	(void)addrlen;
	pthread_mutex_lock(&h->cmu);
	if (h->nconns - h->nreaped >= h->cfg.max_connections) {
		pthread_mutex_unlock(&h->cmu);
		return MHD_NO; /* full of live ones: MHD's limit would be */
	}
	if (h->npending >= h->cfg.max_pending) {
		/* the list is newest first: the last match is the oldest */
		now = mono_ms();
		for (struct hconn *hc = h->conns; hc; hc = hc->next) {
			if (hc->admitted || hc->reaped)
				continue;
			oldest = hc;
			if (now - hc->start >= HTTP_PENDING_GRACE_MS)
				stale = hc;
		}
		if (stale || (oldest && h->npending >= burst_cap(h))) {
			/* of those, the oldest silent one, if any */
			for (struct hconn *hc = h->conns; hc; hc = hc->next)
				if (!hc->admitted && !hc->reaped &&
				    (!stale || now - hc->start >=
						       HTTP_PENDING_GRACE_MS) &&
				    !peer_sent(hc->fd))
					silent = hc;
			evict(h, silent ? silent : stale ? stale : oldest);
		}
		/* else: every pending one is fresh, room for the burst */
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
		hc->start = mono_ms();
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
		h->nconns++;
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
	if (hc->reaped)
		h->nreaped--;
	h->nconns--;
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
	long long now = mono_ms();

	pthread_mutex_lock(&h->cmu);
	for (struct hconn *hc = h->conns; hc; hc = hc->next) {
		if (hc->admitted || hc->reaped ||
		    now - hc->start < (long long)h->cfg.header_timeout * 1000)
			continue;
		evict(h, hc);
	}
	pthread_mutex_unlock(&h->cmu);
}
