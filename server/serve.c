/*
 * server/serve.c - the mutual-TLS HTTPS service of fieldsync-server.
 *
 * TLS 1.2 only (mbedTLS 2.28 also compiles in 1.0/1.1: the floor is set explicitly),
 * ECDHE-ECDSA with AES-GCM or ChaCha20-Poly1305, renegotiation off, session cache and tickets
 * for resumption.  A client certificate is asked for on every connection and required on every
 * route but the CA download and enrollment; the identity (office, device) comes from the
 * verified certificate only, and revocation is checked on every request, so it also bites on
 * resumed sessions and on connections already open.
 *
 * No thread ever waits on a client.  Every socket is non-blocking; one event thread waits for
 * all of them (epoll, one-shot) and for new connections, and hands a connection that can make
 * progress to the pool of workers (each with its own database connection).  A worker runs one
 * step: as much of the handshake, of reading the request, of answering it or of writing the
 * answer as the socket allows at once, then gives the connection back to the event thread.
 * So a client that is slow or silent, in the handshake or mid-request, holds a connection
 * slot but no worker.  Each connection has a deadline (the whole handshake; the whole request
 * without a certificate; each stretch without progress with one); the event thread hands an
 * expired connection to a worker, which records it and closes it.  Limits: a cap on
 * connections in all, a cap per client address on connections without a proven identity
 * (server/peers.h), and a request that waited too long for a worker is answered 503 with
 * Retry-After instead of being served late.  The HTTP exchange itself (several requests per
 * connection, and which refusals close it) is http_conn in shared/pki/http.h, the same loop the
 * fuzz targets drive.
 */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ecp.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_cache.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/x509_crt.h>

#include "sync/changeset.h"
#include "base/hlc.h"
#include "cmd_config.h"
#include "notify.h"
#include "commands.h"
#include "hq.h"
#include "pki/http.h"
#include "peers.h"
#include "pki/pki.h"
#include "metrics.h"
#include "routes.h"

#define HANDSHAKE_MS 10000
#define REQUEST_MS 10000
#define QUEUE_WAIT_MS 3000 /* a request that waited longer for a worker gets a 503 */
#define LINGER_MS 5	   /* a worker waits this long for more of a request before parking it */
#define BODY_MAX (64u * 1024 * 1024 + 65536) /* a change set, or a 64 MiB upload measured */
#define UNAUTH_BODY_MAX ENROLL_BODY_MAX
#define WORKERS_MAX 64
#define PEER_LIMIT_DEFAULT 32
#define CONNS_DEFAULT 4096

static volatile sig_atomic_t stopping;

struct tls {
	mbedtls_ssl_config conf;
	mbedtls_x509_crt cert;
	mbedtls_x509_crt ca;
	mbedtls_pk_context key;
	mbedtls_ssl_cache_context cache;
	mbedtls_ssl_ticket_context tickets;
};

enum conn_state { CONN_HANDSHAKE, CONN_READ, CONN_WRITE };

/* One connection: its transport, what its certificate proved, its HTTP exchange. */
struct conn {
	struct conn *prev, *next; /* every open connection (service lock) */
	struct conn *qnext;	  /* the run queue */
	struct service *svc;
	int fd;
	enum conn_state state;
	int parked;	     /* waiting in epoll: only the event thread may touch it */
	int expired;	     /* its deadline passed while parked */
	int counted;	     /* counted by peers_conn_open() */
	int64_t deadline_ms;
	int64_t queued_ms;   /* when it was handed to the workers */
	size_t out_off;	     /* bytes of hc.out already written */
	mbedtls_ssl_context ssl;
	struct http_conn hc;
	struct route_peer id;
	uint64_t bytes_in, bytes_out; /* on the wire: TLS records, handshake included */
	int overloaded;		      /* this step's request waited too long for a worker */
	struct worker *w;	      /* the worker running the current step */
};

struct service {
	struct tls tls;
	struct route_pki pki;
	struct peers *peers;
	int listen_fd, epoll_fd;
	unsigned max_conns;
	pthread_mutex_t lock;	   /* the lists, the queue, every conn's `parked` */
	pthread_mutex_t push_lock; /* pushes one at a time: "first to reach the server" is exact */
	pthread_cond_t not_empty;  /* workers wait here, woken one at a time */
	struct conn *all;	   /* every open connection */
	unsigned nconns;
	struct conn *qhead, *qtail; /* connections ready for a step */
	struct route_ctx house;	    /* the event thread's own node: folded refusals */
};

struct worker {
	struct service *svc;
	struct node *node;
	struct route_ctx ctx;
	pthread_t thread;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The TLS layer's transport: never waits (the event thread does). */
static int conn_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct conn *c = ctx;

	for (;;) {
		ssize_t n = recv(c->fd, buf, len, MSG_DONTWAIT);

		if (n >= 0) {
			c->bytes_in += (uint64_t)n;
			metrics_bytes_in((uint64_t)n);
			return (int)n;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return MBEDTLS_ERR_SSL_WANT_READ;
		return MBEDTLS_ERR_NET_RECV_FAILED;
	}
}

static int conn_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct conn *c = ctx;

	for (;;) {
		ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n >= 0) {
			c->bytes_out += (uint64_t)n;
			metrics_bytes_out((uint64_t)n);
			return (int)n;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return MBEDTLS_ERR_SSL_WANT_WRITE;
		return MBEDTLS_ERR_NET_SEND_FAILED;
	}
}

static int tls_fail(int rc, const char *what)
{
	char msg[128];

	mbedtls_strerror(rc, msg, sizeof(msg));
	return err_set(ERR_GENERIC, "%s: %s", what, msg);
}

/* At start, a server certificate in the last third of its life is reissued (same key). */
static int renew_server_cert(struct node *n)
{
	char until[11];
	int due, error = hq_server_cert_due(&due, n);

	if (!error && due) {
		error = hq_server_cert_renew(until, n, HQ_SERVER_CERT_DAYS,
			"renewed at start: a third of its life left");
		if (!error)
			serve_log("info", "pki.server.renew", NULL,
				"the server certificate was renewed (same key and names), valid "
				"until %s",
				until);
	}
	return error;
}

static int tls_setup(struct tls *t, struct node *n)
{
	static const int suites[] = {MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, 0};
	static const mbedtls_ecp_group_id curves[] = {MBEDTLS_ECP_DP_SECP256R1,
		MBEDTLS_ECP_DP_CURVE25519, MBEDTLS_ECP_DP_NONE};
	struct buf cert = BUF_INIT(8192), ca = BUF_INIT(8192), key = BUF_INIT(8192);
	int rc, error;

	error = hq_pki_get(&cert, n, "server_cert");
	if (!error) /* client certificates of the current CA and of the next one of a rollover */
		error = pki_trust_get(&ca, n->store, 0);
	if (!error)
		error = hq_pki_get(&key, n, "server_key");
	if (!error)
		error = pki_trust_parse(&t->ca, (const uint8_t *)ca.ptr, ca.len);
	if (error)
		goto out;
	rc = mbedtls_x509_crt_parse_der(&t->cert, (const uint8_t *)cert.ptr, cert.len);
	if (!rc)
		rc = mbedtls_pk_parse_key(&t->key, (const uint8_t *)key.ptr, key.len, NULL, 0);
	/* the private scalar stays for the life of the service: out of swap (wiped on exit by
	 * mbedtls_pk_free) */
	if (!rc && mbedtls_pk_get_type(&t->key) == MBEDTLS_PK_ECKEY)
		crypto_lock(mbedtls_pk_ec(t->key)->d.p,
			mbedtls_pk_ec(t->key)->d.n * sizeof(mbedtls_mpi_uint));
	if (!rc)
		rc = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_SERVER,
			MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
	if (rc) {
		error = tls_fail(rc, "cannot load the server's TLS material");
		goto out;
	}
	mbedtls_ssl_conf_rng(&t->conf, crypto_rng, NULL);
	mbedtls_ssl_conf_min_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
		MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_max_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
		MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_ciphersuites(&t->conf, suites);
	/* mbedTLS 2.28 prefers P-521 by default: about twice the cost of P-256 per handshake */
	mbedtls_ssl_conf_curves(&t->conf, curves);
	mbedtls_ssl_conf_renegotiation(&t->conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
	/* Optional at the TLS layer so enrollment works without one; required per route. */
	mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_OPTIONAL);
	mbedtls_ssl_conf_ca_chain(&t->conf, &t->ca, NULL);
	mbedtls_ssl_conf_session_cache(&t->conf, &t->cache, mbedtls_ssl_cache_get,
		mbedtls_ssl_cache_set);
	rc = mbedtls_ssl_conf_own_cert(&t->conf, &t->cert, &t->key);
	if (!rc)
		rc = mbedtls_ssl_ticket_setup(&t->tickets, crypto_rng, NULL, MBEDTLS_CIPHER_AES_256_GCM,
			4 * 3600);
	if (rc) {
		error = tls_fail(rc, "cannot configure TLS");
		goto out;
	}
	mbedtls_ssl_conf_session_tickets_cb(&t->conf, mbedtls_ssl_ticket_write,
		mbedtls_ssl_ticket_parse, &t->tickets);
out:
	buf_wipe_release(&key);
	buf_release(&cert);
	buf_release(&ca);
	return error;
}

static void tls_init(struct tls *t)
{
	mbedtls_ssl_config_init(&t->conf);
	mbedtls_x509_crt_init(&t->cert);
	mbedtls_x509_crt_init(&t->ca);
	mbedtls_pk_init(&t->key);
	mbedtls_ssl_cache_init(&t->cache);
	mbedtls_ssl_ticket_init(&t->tickets);
}

static void tls_release(struct tls *t)
{
	mbedtls_ssl_config_free(&t->conf);
	mbedtls_x509_crt_free(&t->cert);
	mbedtls_x509_crt_free(&t->ca);
	mbedtls_pk_free(&t->key);
	mbedtls_ssl_cache_free(&t->cache);
	mbedtls_ssl_ticket_free(&t->tickets);
}

/* What the certificate the client presented proves (after the handshake). */
static void identify(struct conn *c, mbedtls_ssl_context *ssl)
{
	const mbedtls_x509_crt *peer = mbedtls_ssl_get_peer_cert(ssl);
	uint32_t flags = mbedtls_ssl_get_verify_result(ssl);

	c->id.has_cert = peer != NULL;
	if (!peer) {
		snprintf(c->id.why, sizeof(c->id.why), "a client certificate is required");
		return;
	}
	if (flags) {
		if (flags & MBEDTLS_X509_BADCERT_EXPIRED)
			snprintf(c->id.why, sizeof(c->id.why), "client certificate expired");
		else if (flags & MBEDTLS_X509_BADCERT_FUTURE)
			snprintf(c->id.why, sizeof(c->id.why), "client certificate not yet valid");
		else if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
			snprintf(c->id.why, sizeof(c->id.why),
				"client certificate not issued by this organisation's CA");
		else
			snprintf(c->id.why, sizeof(c->id.why), "client certificate refused (flags 0x%x)",
				(unsigned)flags);
		return;
	}
	if (pki_identity(c->id.office, c->id.device, c->id.serial, peer->raw.p, peer->raw.len)) {
		snprintf(c->id.why, sizeof(c->id.why), "client certificate without a device identity");
		return;
	}
	{
		unsigned char tmp[sizeof(c->id.pub)];
		int n = mbedtls_pk_write_pubkey_der((mbedtls_pk_context *)&peer->pk, tmp, sizeof(tmp));

		if (n <= 0) {
			snprintf(c->id.why, sizeof(c->id.why), "client certificate key unreadable");
			return;
		}
		memcpy(c->id.pub, tmp + sizeof(tmp) - n, (size_t)n);
		c->id.publen = (size_t)n;
	}
	c->id.cert_ok = 1;
}

static int listen_on(int *fd_out, char *bound, size_t size, const char *addr)
{
	struct addrinfo hints, *ai = NULL;
	char host[256], port[16];
	const char *colon = strrchr(addr, ':');
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = -1, one = 1, rc;

	if (!colon || (size_t)(colon - addr) >= sizeof(host) || strlen(colon + 1) >= sizeof(port))
		return err_set(ERR_INVALID, "'%s' is not HOST:PORT", addr);
	snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
	snprintf(port, sizeof(port), "%s", colon + 1);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc)
		return err_set(ERR_INVALID, "cannot resolve '%s': %s", addr, gai_strerror(rc));
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
		bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 1024)) {
		rc = errno;
		freeaddrinfo(ai);
		if (fd >= 0)
			close(fd);
		return err_set_errno(ERR_IO, rc, "cannot listen on '%s'", addr);
	}
	freeaddrinfo(ai);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(bound, size, "%s:%s", host, port);
	*fd_out = fd;
	return 0;
}

/* ---- the run queue and parking (service lock held by the callers marked so) ------------- */

static void enqueue_locked(struct service *s, struct conn *c)
{
	c->qnext = NULL;
	c->queued_ms = now_ms();
	if (s->qtail)
		s->qtail->qnext = c;
	else
		s->qhead = c;
	s->qtail = c;
	pthread_cond_signal(&s->not_empty);
}

/* Give a connection back to the event thread until its socket is ready for `events`. */
static void park(struct conn *c, uint32_t events)
{
	struct service *s = c->svc;
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events | EPOLLONESHOT | EPOLLRDHUP;
	ev.data.ptr = c;
	pthread_mutex_lock(&s->lock);
	c->parked = 1;
	if (epoll_ctl(s->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
		/* cannot wait for it: let a worker end it */
		c->parked = 0;
		c->expired = 1;
		enqueue_locked(s, c);
	}
	pthread_mutex_unlock(&s->lock);
}

/* Wait up to LINGER_MS in the worker for the socket, when more is likely to come at once. */
static int linger(const struct conn *c, short events)
{
	struct pollfd p = {c->fd, events, 0};

	return poll(&p, 1, LINGER_MS) > 0;
}

/* Close and free a connection a worker holds. */
static void conn_close(struct conn *c, int notify)
{
	struct service *s = c->svc;

	if (notify && c->state != CONN_HANDSHAKE)
		(void)mbedtls_ssl_close_notify(&c->ssl); /* one try: the socket never waits */
	if (c->state != CONN_HANDSHAKE || c->bytes_in)
		serve_log("info", "conn.close", c->id.peer,
			"device %s: %u requests, %llu bytes in, %llu bytes out (TLS, handshake "
			"included)",
			c->id.device[0] ? c->id.device : "-", c->hc.requests,
			(unsigned long long)c->bytes_in, (unsigned long long)c->bytes_out);
	if (c->counted)
		peers_conn_release(s->peers, c->id.peer);
	pthread_mutex_lock(&s->lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->all = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	pthread_mutex_unlock(&s->lock);
	close(c->fd);
	http_conn_release(&c->hc);
	mbedtls_ssl_free(&c->ssl);
	free(c);
}

/* ---- the HTTP exchange's callbacks ---------------------------------------------------------- */

/* The status of the whole response in `out` ("HTTP/1.1 200 ..."), for the metrics. */
static int status_of(const struct buf *out, size_t from)
{
	const char *p = out->ptr ? out->ptr + from : NULL;

	if (!p || out->len < from + 12 || p[9] < '1' || p[9] > '5')
		return 0;
	return (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
}

static int handle(void *ctx, struct buf *out, const struct http_request *req)
{
	struct conn *c = ctx;
	struct timespec t0, t1;
	size_t from = out->len;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (c->overloaded) {
		serve_log("warn", "overload", c->id.peer, "request waited over %d ms for a worker",
			QUEUE_WAIT_MS);
		rc = http_response_with(out, 503, "application/json", "Retry-After: 2\r\n",
			"{\"error\":\"the server is overloaded: try again shortly\"}", 55, 0);
	} else {
		rc = routes_handle(out, &c->w->ctx, &c->id, req);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	metrics_request(buf_cstr(&req->url), rc ? 500 : status_of(out, from),
		(double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return rc;
}

static void refused(void *ctx, int status, const char *why)
{
	struct conn *c = ctx;
	char msg[320];

	snprintf(msg, sizeof(msg), "%d: %s", status, why);
	routes_refusal(&c->w->ctx, &c->id, "request.refused", msg);
}

/* ---- one step of a connection, run by a worker --------------------------------------------- */

/* What a step did: moved the connection to another state (go on), or parked or closed it. */
enum { AGAIN, GONE };

static int step_expired(struct conn *c)
{
	if (c->state == CONN_HANDSHAKE) {
		if (c->bytes_in)
			routes_refusal(&c->w->ctx, &c->id, "tls.refused",
				"handshake not complete by the deadline");
	} else if (c->state == CONN_READ && http_conn_partial(&c->hc)) {
		struct buf out = BUF_INIT(1024);

		routes_refusal(&c->w->ctx, &c->id, "request.refused",
			"request not complete by the deadline");
		/* one try at telling the client: the socket never waits */
		if (!routes_error(&out, 408, "request not complete by the deadline", 0))
			(void)mbedtls_ssl_write(&c->ssl, (const unsigned char *)out.ptr, out.len);
		buf_release(&out);
	}
	conn_close(c, 1);
	return GONE;
}

static int step_handshake(struct conn *c)
{
	int rc = mbedtls_ssl_handshake(&c->ssl);
	char msg[128];

	if (rc == MBEDTLS_ERR_SSL_WANT_READ) {
		park(c, EPOLLIN);
		return GONE;
	}
	if (rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
		park(c, EPOLLOUT);
		return GONE;
	}
	if (rc) {
		/* a connection closed before it said anything (a port check) is no refusal */
		mbedtls_strerror(rc, msg, sizeof(msg));
		if (c->bytes_in)
			routes_refusal(&c->w->ctx, &c->id, "tls.refused", msg);
		conn_close(c, 0);
		return GONE;
	}
	identify(c, &c->ssl);
	if (c->id.cert_ok && c->counted) {
		/* a proven device no longer counts against its address's cap */
		peers_conn_release(c->svc->peers, c->id.peer);
		c->counted = 0;
	}
	/* Without a valid certificate only enrollment is open: a small body is all it needs. */
	http_conn_release(&c->hc);
	http_conn_init(&c->hc, c->id.cert_ok ? BODY_MAX : UNAUTH_BODY_MAX, BODY_MAX + 65536);
	c->state = CONN_READ;
	c->deadline_ms = now_ms() + REQUEST_MS;
	return AGAIN;
}

static int step_write(struct conn *c)
{
	struct http_conn *hc = &c->hc;

	while (c->out_off < hc->out.len) {
		int rc = mbedtls_ssl_write(&c->ssl, (const unsigned char *)hc->out.ptr + c->out_off,
			hc->out.len - c->out_off);

		if (rc == MBEDTLS_ERR_SSL_WANT_WRITE || rc == MBEDTLS_ERR_SSL_WANT_READ) {
			if (linger(c, rc == MBEDTLS_ERR_SSL_WANT_WRITE ? POLLOUT : POLLIN))
				continue;
			park(c, rc == MBEDTLS_ERR_SSL_WANT_WRITE ? EPOLLOUT : EPOLLIN);
			return GONE;
		}
		if (rc < 0) {
			conn_close(c, 0);
			return GONE;
		}
		c->out_off += (size_t)rc;
		if (c->id.cert_ok)
			c->deadline_ms = now_ms() + REQUEST_MS; /* progress */
	}
	if (hc->closing || stopping) {
		conn_close(c, 1);
		return GONE;
	}
	http_conn_sent(hc);
	c->out_off = 0;
	c->state = CONN_READ;
	c->deadline_ms = now_ms() + REQUEST_MS;
	return AGAIN;
}

static int step_read(struct conn *c)
{
	unsigned char chunk[16384];

	for (;;) {
		int rc = http_conn_step(&c->hc, &(struct http_handler){handle, refused, c});

		if (rc < 0) {
			serve_log("error", "request", c->id.peer, "no answer could be built: %s",
				err_msg());
			conn_close(c, 1);
			return GONE;
		}
		if (rc == 1) {
			c->state = CONN_WRITE;
			c->out_off = 0;
			c->deadline_ms = now_ms() + REQUEST_MS; /* a long merge must not eat the reply's time */
			return AGAIN;
		}
		c->overloaded = 0; /* only the request that waited is refused */
		rc = mbedtls_ssl_read(&c->ssl, chunk, sizeof(chunk));
		if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
			/* mid-request from a device, the rest is usually a moment away */
			if (c->id.cert_ok && http_conn_partial(&c->hc) &&
				linger(c, rc == MBEDTLS_ERR_SSL_WANT_READ ? POLLIN : POLLOUT))
				continue;
			park(c, rc == MBEDTLS_ERR_SSL_WANT_READ ? EPOLLIN : EPOLLOUT);
			return GONE;
		}
		if (rc <= 0) {
			/* closed by the client (between requests, or cutting one short) */
			if (rc != 0 && rc != MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
				serve_log("info", "conn.reset", c->id.peer, "read failed (-0x%04x)",
					(unsigned)-rc);
			conn_close(c, rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY);
			return GONE;
		}
		if (c->id.cert_ok)
			c->deadline_ms = now_ms() + REQUEST_MS; /* progress */
		if (http_conn_input(&c->hc, (const char *)chunk, (size_t)rc)) {
			refused(c, 413, err_msg());
			conn_close(c, 1);
			return GONE;
		}
	}
}

/* Run a connection as far as its socket allows without waiting; then it is parked or closed
 * (and belongs to the event thread, or is gone: not to be touched again here). */
static void conn_step(struct worker *w, struct conn *c)
{
	int next = AGAIN;

	c->w = w;
	if (c->expired || stopping) {
		(void)step_expired(c);
		return;
	}
	c->overloaded = now_ms() - c->queued_ms > QUEUE_WAIT_MS;
	while (next == AGAIN) {
		switch (c->state) {
		case CONN_HANDSHAKE:
			next = step_handshake(c);
			break;
		case CONN_READ:
			next = step_read(c);
			break;
		default:
			next = step_write(c);
			break;
		}
	}
}

/* ---- workers ------------------------------------------------------------------------------- */

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct service *s = w->svc;

	for (;;) {
		struct conn *c;

		pthread_mutex_lock(&s->lock);
		while (!s->qhead && !stopping)
			pthread_cond_wait(&s->not_empty, &s->lock);
		if (stopping) {
			pthread_mutex_unlock(&s->lock);
			break;
		}
		c = s->qhead;
		s->qhead = c->qnext;
		if (!s->qhead)
			s->qtail = NULL;
		pthread_mutex_unlock(&s->lock);
		conn_step(w, c);
	}
	return NULL;
}

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

/* ---- the event thread ---------------------------------------------------------------------- */

/* A connection refused at the door: logged, and recorded unless its address is over its
 * allowance of refusals (then counted for one folded entry). */
static void door_refusal(struct service *s, const char *addr, const char *why)
{
	struct route_peer id;

	memset(&id, 0, sizeof(id));
	snprintf(id.peer, sizeof(id.peer), "%s", addr);
	routes_refusal(&s->house, &id, "tls.refused", why);
}

static void accept_new(struct service *s)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct epoll_event ev;
		struct conn *c;
		char addr[64] = "?";
		int fd = accept4(s->listen_fd, (struct sockaddr *)&ss, &sl,
			SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				serve_log("error", "accept", NULL, "out of file descriptors");
			return; /* EAGAIN: all taken */
		}
		if (getnameinfo((struct sockaddr *)&ss, sl, addr, sizeof(addr), NULL, 0,
			    NI_NUMERICHOST) != 0)
			snprintf(addr, sizeof(addr), "?");
		if (s->nconns >= s->max_conns) {
			/* overload is answered at once, not queued */
			serve_log("warn", "overload", addr, "%u connections open: refused", s->nconns);
			close(fd);
			continue;
		}
		if (peers_conn_open(s->peers, addr)) {
			char why[160];

			snprintf(why, sizeof(why), "connection refused: %s", err_msg());
			close(fd);
			door_refusal(s, addr, why);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			peers_conn_release(s->peers, addr);
			close(fd);
			continue;
		}
		c->svc = s;
		c->fd = fd;
		c->counted = 1;
		c->state = CONN_HANDSHAKE;
		c->deadline_ms = now_ms() + HANDSHAKE_MS;
		snprintf(c->id.peer, sizeof(c->id.peer), "%s", addr);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		mbedtls_ssl_init(&c->ssl);
		http_conn_init(&c->hc, UNAUTH_BODY_MAX, UNAUTH_BODY_MAX);
		if (mbedtls_ssl_setup(&c->ssl, &s->tls.conf)) {
			serve_log("error", "accept", addr, "out of memory for a TLS context");
			mbedtls_ssl_free(&c->ssl);
			http_conn_release(&c->hc);
			peers_conn_release(s->peers, addr);
			close(fd);
			free(c);
			continue;
		}
		mbedtls_ssl_set_bio(&c->ssl, c, conn_send, conn_recv, NULL);
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
		ev.data.ptr = c;
		pthread_mutex_lock(&s->lock);
		c->next = s->all;
		if (s->all)
			s->all->prev = c;
		s->all = c;
		s->nconns++;
		c->parked = 1;
		if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
			c->parked = 0;
			c->expired = 1;
			enqueue_locked(s, c);
		}
		pthread_mutex_unlock(&s->lock);
	}
}

/* Hand every parked connection past its deadline to the workers, to be recorded and closed. */
static void expire(struct service *s)
{
	int64_t now = now_ms();
	struct conn *c;

	pthread_mutex_lock(&s->lock);
	for (c = s->all; c; c = c->next) {
		if (!c->parked || c->deadline_ms > now)
			continue;
		epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
		c->parked = 0;
		c->expired = 1;
		enqueue_locked(s, c);
	}
	pthread_mutex_unlock(&s->lock);
}

/* Until SIGTERM/SIGINT: accept, wake the connections that can go on, expire the others. */
static void event_loop(struct service *s, const void *listen_marker)
{
	struct epoll_event evs[256];
	int64_t last_expire = 0, last_fold = now_ms();

	while (!stopping) {
		int n = epoll_wait(s->epoll_fd, evs, 256, 100), i;
		int64_t now;

		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (evs[i].data.ptr == listen_marker) {
				accept_new(s);
				continue;
			}
			pthread_mutex_lock(&s->lock);
			if (c->parked) {
				c->parked = 0;
				enqueue_locked(s, c);
			}
			pthread_mutex_unlock(&s->lock);
		}
		now = now_ms();
		if (now - last_expire >= 100) {
			expire(s);
			last_expire = now;
		}
		if (now - last_fold >= 5000) {
			peers_flush(s->peers, 0, routes_fold, &s->house);
			last_fold = now;
		}
	}
}

/* Let the process hold as many sockets as the system allows it. */
static unsigned raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur > 1u << 20 ? 1u << 20 : (unsigned)rl.rlim_cur;
}

static const char run_help[] =
	"usage: fieldsync-server run [--listen HOST:PORT] [--workers N] [--max-connections N]\n"
	"                            [--peer-limit N] [--metrics HOST:PORT [--silent-days N]\n"
	"                            [--force-metrics-listen]]\n"
	"\n"
	"Serve mutual TLS in the foreground, logging to stderr, until SIGTERM or SIGINT.  The\n"
	"listen address defaults to the one given at init; port 0 picks a free port (the log line\n"
	"'listening' names it; a stored port 0, from a store made before init picked a port, is\n"
	"replaced by the port bound, so the next start keeps it).  Routes: GET /v1/ca and POST /v1/enroll without a client\n"
	"certificate; everything else (GET /v1/health, ...) with one.\n"
	"\n"
	"  --workers N          threads that handle requests, each with its own database\n"
	"                       connection (default 8, at most 64); no worker ever waits on a\n"
	"                       client: handshakes and slow clients wait in one event loop\n"
	"  --max-connections N  connections held open at once (default 4096, bounded by the open\n"
	"                       file limit); beyond it new connections are closed at once\n"
	"  --peer-limit N       connections one client address may hold before it has proved a\n"
	"                       device identity (default 32); beyond it they are closed at once\n"
	"  --metrics HOST:PORT  serve Prometheus text-format metrics at http://HOST:PORT/metrics\n"
	"                       (plain HTTP, no authentication: a loopback address only, unless\n"
	"                       --force-metrics-listen); port 0 picks one (logged as 'metrics on')\n"
	"  --silent-days N      the devices_silent gauge counts devices with no sync for more\n"
	"                       than N days (default 7)\n"
	"\n"
	"Metrics: fieldsync_requests_total{route,code}, fieldsync_request_duration_seconds\n"
	"(histogram by route), fieldsync_syncs_total, fieldsync_refusals_total{reason},\n"
	"fieldsync_received_bytes_total, fieldsync_sent_bytes_total, and the gauges\n"
	"fieldsync_devices, fieldsync_devices_silent{days}, fieldsync_audit_entries{trail},\n"
	"fieldsync_connections.\n"
	"\n"
	"A request that waited more than 3 s for a worker is answered 503 with Retry-After.  After\n"
	"5 failed enrollments an address backs off (429 with Retry-After, 10 s doubling to 300 s);\n"
	"refusals of clients without a certificate beyond 10 a minute per address are recorded in\n"
	"the audit trail as one entry with their count.\n"
	"\n"
	"Each option may also be set in the [run] section of server.conf or with its FIELDSYNC_...\n"
	"variable (fieldsync.conf(5); `fieldsync-server config show`).  Under systemd the\n"
	"credential fieldsync-server.key ($CREDENTIALS_DIRECTORY) unlocks the store unless\n"
	"--key-file is given; READY=1 is sent once it listens, STOPPING=1 at SIGTERM.\n";

/* A whole number option in [lo, hi]; *v is left alone when the option is absent. */
static int opt_uint(unsigned *v, struct cli *c, const struct cli_opt *opts, size_t n,
	const char *name, unsigned lo, unsigned hi)
{
	const char *s = cli_opt(opts, n, name);
	char *end = NULL;
	long long x;

	if (!s)
		return 0;
	x = strtoll(s, &end, 10);
	if (!end || end == s || *end || x < (long long)lo || x > (long long)hi)
		return cli_usage_error(c, "run", "%s takes %u to %u", name, lo, hi);
	*v = (unsigned)x;
	return 0;
}

/* Say in the log what unlocked the store: the key file, or systemd's credential. */
static void log_unlock(const struct cli *c)
{
	struct buf path = BUF_INIT(4096);
	const char *home = NULL;
	int credential = 0;

	if (!cli_home(&home, c) && !hq_unlock_path(&path, &credential, c, home))
		serve_log("info", "unlocked", NULL, "unlocked with %s %s",
			credential ? "the systemd credential" : "the key file", path.ptr);
	buf_release(&path);
}

static void service_stop_all(struct service *s)
{
	while (s->all) {
		struct conn *c = s->all;

		c->w = NULL;
		conn_close(c, 1);
	}
}

/* ---- the metrics listener (metrics.h): plain HTTP, one small request at a time ------------- */

struct metrics_srv {
	struct service *svc;
	struct node *node; /* its own database connection, for the gauges */
	int fd, silent_days;
	pthread_t thread;
};

static int is_loopback(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss.ss_family == AF_INET6) {
		const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (!memcmp(a->s6_addr, mapped, 12) && a->s6_addr[12] == 127);
	}
	return 0;
}

static void metrics_answer(struct metrics_srv *m, int fd)
{
	struct timeval tv = {2, 0};
	struct buf out = BUF_INIT(4u << 20), body = BUF_INIT(4u << 20);
	char req[4096];
	size_t len = 0;
	unsigned conns;
	int status = 400, error = 0;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (len < sizeof(req) - 1) {
		ssize_t n = recv(fd, req + len, sizeof(req) - 1 - len, 0);

		if (n <= 0)
			break;
		len += (size_t)n;
		req[len] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	req[len] = '\0';
	if (!strstr(req, "\r\n\r\n"))
		status = 400;
	else if (strncmp(req, "GET ", 4) != 0)
		status = 405;
	else if (strncmp(req + 4, "/metrics ", 9) != 0 && strncmp(req + 4, "/metrics?", 9) != 0)
		status = 404;
	else
		status = 200;
	if (status == 200) {
		pthread_mutex_lock(&m->svc->lock);
		conns = m->svc->nconns;
		pthread_mutex_unlock(&m->svc->lock);
		error = metrics_render(&body, m->node, m->silent_days, conns);
		if (error) {
			serve_log("error", "metrics", NULL, "%s", err_msg());
			status = 500;
			buf_reset(&body);
		}
	}
	if (status != 200)
		error = buf_printf(&body, "%s\n",
			status == 404	? "not found: the metrics are at /metrics"
			: status == 405 ? "use GET"
			: status == 500 ? "cannot read the store"
					: "bad request");
	if (!error)
		error = buf_printf(&out,
			"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			"Cache-Control: no-store\r\nConnection: close\r\n\r\n",
			status, status == 200 ? "OK" : "Error",
			status == 200 ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain",
			body.len);
	if (!error)
		error = buf_put(&out, body.ptr, body.len);
	for (len = 0; !error && len < out.len;) {
		ssize_t n = send(fd, out.ptr + len, out.len - len, MSG_NOSIGNAL);

		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf_release(&out);
	buf_release(&body);
}

static void *metrics_main(void *arg)
{
	struct metrics_srv *m = arg;

	while (!stopping) {
		struct pollfd p = {m->fd, POLLIN, 0};
		int fd;

		if (poll(&p, 1, 200) <= 0)
			continue;
		fd = accept4(m->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		metrics_answer(m, fd);
		close(fd);
	}
	return NULL;
}

/*
 * Store the address actually bound in place of a stored port 0, so the next start and every
 * enrolled device find the server where it is now.
 */
static int keep_port(struct node *house, const char *bound)
{
	struct buf adv = BUF_INIT(ENROLL_URL_MAX + 1);
	int error = store_meta_set(house->store, "listen", bound);

	if (!error && store_meta_get(&adv, house->store, "advertise") == ERR_NOTFOUND &&
		strncmp(bound, "0.0.0.0:", 8) != 0 && bound[0] != ':') {
		error = buf_printf(&adv,
			strchr(bound, ']') || strchr(bound, ':') != strrchr(bound, ':')
				? "https://[%.*s]%s"
				: "https://%.*s%s",
			(int)(strrchr(bound, ':') - bound), bound, strrchr(bound, ':'));
		if (!error)
			error = store_meta_set(house->store, "advertise", adv.ptr);
	}
	if (!error)
		error = node_audit(house, "server.listen", bound, "success",
			"the port picked at start is kept for the next one");
	buf_release(&adv);
	return error;
}

int cmd_server_run(struct cli *c)
{
	struct cli_opt opts[] = {{"--listen", 1, 0, {0}, 0}, {"--workers", 1, 0, {0}, 0},
		{"--max-connections", 1, 0, {0}, 0}, {"--peer-limit", 1, 0, {0}, 0},
		{"--metrics", 1, 0, {0}, 0}, {"--silent-days", 1, 0, {0}, 0},
		{"--force-metrics-listen", 0, 0, {0}, 0}};
	struct metrics_srv msrv = {NULL, NULL, -1, 7, 0};
	char mbound[300] = "";
	unsigned silent_days = 7;
	int metrics_started = 0;
	struct worker workers[WORKERS_MAX];
	struct service svc;
	struct node *house = NULL;
	struct buf listen = BUF_INIT(256);
	struct epoll_event ev;
	char bound[300];
	const char *pos[1];
	struct sigaction sa;
	char status[400];
	unsigned nworkers = 8, max_conns = CONNS_DEFAULT, peer_limit = PEER_LIMIT_DEFAULT, fds;
	int npos, rc, started = 0, i, error, listen_marker = 0;

	if (cli_help(c, run_help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c,
		"run [--listen HOST:PORT] [--workers N] [--max-connections N] [--peer-limit N] "
		"[--metrics HOST:PORT [--silent-days N] [--force-metrics-listen]]",
		opts, CLI_N_OPTS(opts), pos, 0, &npos);
	if (!rc)
		cli_config_opts(c, "run", opts, CLI_N_OPTS(opts)); /* server.conf, FIELDSYNC_... */
	if (!rc)
		rc = opt_uint(&nworkers, c, opts, CLI_N_OPTS(opts), "--workers", 1, WORKERS_MAX);
	if (!rc)
		rc = opt_uint(&max_conns, c, opts, CLI_N_OPTS(opts), "--max-connections", 1, 1u << 20);
	if (!rc)
		rc = opt_uint(&peer_limit, c, opts, CLI_N_OPTS(opts), "--peer-limit", 1, 1u << 20);
	if (!rc)
		rc = opt_uint(&silent_days, c, opts, CLI_N_OPTS(opts), "--silent-days", 0, 3650);
	if (!rc && !cli_opt(opts, CLI_N_OPTS(opts), "--metrics") &&
		(cli_opt(opts, CLI_N_OPTS(opts), "--silent-days") ||
			cli_opt(opts, CLI_N_OPTS(opts), "--force-metrics-listen")))
		rc = cli_usage_error(c, "run",
			"--silent-days and --force-metrics-listen go with "
			"--metrics HOST:PORT");
	if (rc)
		return rc;
	msrv.silent_days = (int)silent_days;
	fds = raise_fd_limit();
	memset(&svc, 0, sizeof(svc));
	memset(workers, 0, sizeof(workers));
	tls_init(&svc.tls);
	svc.listen_fd = svc.epoll_fd = -1;
	/* room for the workers' databases, the log and the listener */
	svc.max_conns = fds > 64 + nworkers * 8 && max_conns > fds - 64 - nworkers * 8
				? fds - 64 - nworkers * 8
				: max_conns;
	pthread_mutex_init(&svc.lock, NULL);
	pthread_mutex_init(&svc.push_lock, NULL);
	pthread_cond_init(&svc.not_empty, NULL);
	error = peers_new(&svc.peers, peer_limit);
	if (!error)
		error = hq_open(&house, c);
	if (!error)
		error = cli_opt(opts, CLI_N_OPTS(opts), "--listen")
				? buf_puts(&listen, cli_opt(opts, CLI_N_OPTS(opts), "--listen"))
				: store_meta_get(&listen, house->store, "listen");
	if (!error)
		error = renew_server_cert(house);
	if (!error)
		error = tls_setup(&svc.tls, house);
	if (!error)
		error = route_pki_load(&svc.pki, house);
	for (i = 0; !error && i < (int)nworkers; i++)
		error = hq_open(&workers[i].node, c);
	if (!error)
		error = listen_on(&svc.listen_fd, bound, sizeof(bound), listen.ptr);
	if (!error && !cli_opt(opts, CLI_N_OPTS(opts), "--listen") && listen.len > 2 &&
		!strcmp(listen.ptr + listen.len - 2, ":0"))
		error = keep_port(house, bound); /* a store from before init chose its port */
	if (!error && cli_opt(opts, CLI_N_OPTS(opts), "--metrics")) {
		error = listen_on(&msrv.fd, mbound, sizeof(mbound),
			cli_opt(opts, CLI_N_OPTS(opts), "--metrics"));
		if (!error && !is_loopback(msrv.fd) &&
			!cli_opt(opts, CLI_N_OPTS(opts), "--force-metrics-listen"))
			error = err_set(ERR_INVALID,
				"--metrics %s is not a loopback address: the "
				"metrics have no authentication (give "
				"--force-metrics-listen to serve them there)",
				mbound);
		if (!error)
			error = hq_open(&msrv.node, c);
	}
	if (!error) {
		svc.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.ptr = &listen_marker;
		if (svc.epoll_fd < 0 ||
			epoll_ctl(svc.epoll_fd, EPOLL_CTL_ADD, svc.listen_fd, &ev))
			error = err_set_errno(ERR_IO, errno, "cannot set up the event loop");
	}
	if (error) {
		rc = cli_fail(c);
		goto out;
	}
	svc.house.node = house;
	svc.house.pki = &svc.pki;
	svc.house.push_lock = &svc.push_lock;
	svc.house.peers = svc.peers;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < (int)nworkers; i++) {
		workers[i].svc = &svc;
		workers[i].ctx.node = workers[i].node;
		workers[i].ctx.pki = &svc.pki;
		workers[i].ctx.push_lock = &svc.push_lock;
		workers[i].ctx.peers = svc.peers;
		if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0)
			break;
		started++;
	}
	msrv.svc = &svc;
	if (msrv.fd >= 0 && pthread_create(&msrv.thread, NULL, metrics_main, &msrv) == 0) {
		metrics_started = 1;
		serve_log("info", "metrics", NULL, "metrics on http://%s/metrics", mbound);
	}
	if (node_audit(house, "server.start", bound, "success", NULL))
		serve_log("error", "audit", NULL, "%s", err_msg());
	log_unlock(c);
	serve_log("info", "listening", NULL,
		"listening on %s with %d workers, up to %u connections, %u per address without a "
		"certificate",
		bound, started, svc.max_conns, peer_limit);
	snprintf(status, sizeof(status), "listening on %s with %d workers", bound, started);
	cli_notify_ready(status);
	event_loop(&svc, &listen_marker);
	cli_notify_stopping("stopping: finishing the requests in progress");
	pthread_mutex_lock(&svc.lock);
	stopping = 1;
	pthread_cond_broadcast(&svc.not_empty);
	pthread_mutex_unlock(&svc.lock);
	for (i = 0; i < started; i++)
		pthread_join(workers[i].thread, NULL);
	if (metrics_started)
		pthread_join(msrv.thread, NULL);
	service_stop_all(&svc); /* parked or queued, never finished */
	peers_flush(svc.peers, 1, routes_fold, &svc.house);
	if (node_audit(house, "server.stop", bound, "success", NULL))
		serve_log("error", "audit", NULL, "%s", err_msg());
	serve_log("info", "stopped", NULL, "clean shutdown");
	rc = CLI_EXIT_OK;
out:
	if (svc.epoll_fd >= 0)
		close(svc.epoll_fd);
	if (svc.listen_fd >= 0)
		close(svc.listen_fd);
	if (msrv.fd >= 0)
		close(msrv.fd);
	node_free(msrv.node);
	for (i = 0; i < (int)nworkers; i++)
		node_free(workers[i].node);
	node_free(house);
	peers_free(svc.peers);
	tls_release(&svc.tls);
	route_pki_release(&svc.pki);
	buf_release(&listen);
	pthread_mutex_destroy(&svc.lock);
	pthread_mutex_destroy(&svc.push_lock);
	pthread_cond_destroy(&svc.not_empty);
	return rc;
}
