/*
 * server/serve.c - the mutual-TLS HTTPS service of fieldsync-server.
 *
 * TLS 1.2 only (mbedTLS 2.28 also compiles in 1.0/1.1: the floor is set explicitly),
 * ECDHE-ECDSA with AES-GCM or ChaCha20-Poly1305, renegotiation off, session cache and tickets
 * for resumption.  A client certificate is asked for on every connection and required on every
 * route but the CA download and enrollment; the identity (office, device) comes from the
 * verified certificate only, and revocation is checked on every request, so it also bites on
 * resumed sessions and on connections already open.  A fixed pool of workers, each with its
 * own database connection, serves connections from a bounded queue; beyond it, connections
 * wait in the listen backlog.  Every read and write runs against a deadline for the whole
 * handshake or request, so a slow client cannot hold a worker.
 */
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
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_cache.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/x509_crt.h>

#include "hlc.h"
#include "hq.h"
#include "http.h"
#include "pki.h"
#include "changeset.h"
#include "routes.h"

#define N_OPTS(o) (sizeof(o) / sizeof((o)[0]))
#define HANDSHAKE_MS 10000
#define REQUEST_MS 10000
#define QUEUE_MAX 256
#define BODY_MAX (64u * 1024 * 1024 + 65536) /* a change set, or a 64 MiB upload measured */
#define UNAUTH_BODY_MAX ENROLL_BODY_MAX
#define WORKERS_MAX 64

static volatile sig_atomic_t stopping;

struct tls {
	mbedtls_ssl_config conf;
	mbedtls_x509_crt cert;
	mbedtls_x509_crt ca;
	mbedtls_pk_context key;
	mbedtls_ssl_cache_context cache;
	mbedtls_ssl_ticket_context tickets;
};

struct service {
	struct tls tls;
	struct buf ca_der;
	int listen_fd;
	pthread_mutex_t lock;
	pthread_mutex_t push_lock; /* pushes one at a time: "first to reach the server" is exact */
	pthread_cond_t not_empty; /* workers wait here, woken one at a time */
	pthread_cond_t not_full;  /* the accept loop waits here */
	int queue[QUEUE_MAX];
	size_t head, count;
};

struct worker {
	struct service *svc;
	struct node *node;
	struct route_ctx ctx;
	pthread_t thread;
};

/* One connection's transport and what its certificate proved. */
struct conn {
	int fd;
	int64_t deadline_ms;
	struct route_peer id;
	uint64_t bytes_in, bytes_out; /* on the wire: TLS records, handshake included */
	unsigned requests;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until fd is ready or the connection's deadline passes. */
static int wait_fd(struct conn *c, short events)
{
	struct pollfd p = {c->fd, events, 0};
	int64_t left;
	int rc;

	for (;;) {
		left = c->deadline_ms - now_ms();
		if (left <= 0 || stopping)
			return MBEDTLS_ERR_SSL_TIMEOUT;
		rc = poll(&p, 1, (int)(left > 200 ? 200 : left));
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return MBEDTLS_ERR_NET_RECV_FAILED;
	}
}

/* Read or write at once when the socket is ready; poll against the deadline only if not. */
static int conn_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct conn *c = ctx;

	for (;;) {
		ssize_t n = recv(c->fd, buf, len, MSG_DONTWAIT);
		int rc;

		if (n >= 0) {
			c->bytes_in += (uint64_t)n;
			return (int)n;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return MBEDTLS_ERR_NET_RECV_FAILED;
		rc = wait_fd(c, POLLIN);
		if (rc)
			return rc;
	}
}

static int conn_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct conn *c = ctx;

	for (;;) {
		ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		int rc;

		if (n >= 0) {
			c->bytes_out += (uint64_t)n;
			return (int)n;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return MBEDTLS_ERR_NET_SEND_FAILED;
		rc = wait_fd(c, POLLOUT);
		if (rc)
			return rc;
	}
}

static int tls_fail(int rc, const char *what)
{
	char msg[128];

	mbedtls_strerror(rc, msg, sizeof(msg));
	return err_set(ERR_GENERIC, "%s: %s", what, msg);
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
	if (!error)
		error = hq_pki_get(&ca, n, "ca_cert");
	if (!error)
		error = hq_pki_get(&key, n, "server_key");
	if (error)
		goto out;
	rc = mbedtls_x509_crt_parse_der(&t->cert, (const uint8_t *)cert.ptr, cert.len);
	if (!rc)
		rc = mbedtls_x509_crt_parse_der(&t->ca, (const uint8_t *)ca.ptr, ca.len);
	if (!rc)
		rc = mbedtls_pk_parse_key(&t->key, (const uint8_t *)key.ptr, key.len, NULL, 0);
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

static int ssl_write_all(mbedtls_ssl_context *ssl, const struct buf *out)
{
	size_t off = 0;

	while (off < out->len) {
		int rc = mbedtls_ssl_write(ssl, (const unsigned char *)out->ptr + off, out->len - off);

		if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
			continue;
		if (rc < 0)
			return rc;
		off += (size_t)rc;
	}
	return 0;
}

/* Read one request (or fail at the deadline); leftover bytes stay in `pending`. */
static int read_request(struct http_reader *r, mbedtls_ssl_context *ssl, struct buf *pending)
{
	unsigned char chunk[16384];
	size_t used;
	int rc, error;

	while (!r->req.complete) {
		if (pending->len) {
			error = http_reader_feed(&used, r, pending->ptr, pending->len);
			memmove(pending->ptr, pending->ptr + used, pending->len - used);
			pending->len -= used;
			if (error)
				return error;
			continue;
		}
		rc = mbedtls_ssl_read(ssl, chunk, sizeof(chunk));
		if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
			continue;
		if (rc <= 0)
			return rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY ? ERR_NOTFOUND
										   : ERR_IO;
		/* straight to the parser; only what it leaves (a next pipelined request) waits */
		error = http_reader_feed(&used, r, (const char *)chunk, (size_t)rc);
		if (error)
			return error;
		if (used < (size_t)rc && buf_put(pending, chunk + used, (size_t)rc - used))
			return ERR_TOOBIG;
	}
	return 0;
}

static void serve_conn(struct worker *w, struct conn *c)
{
	mbedtls_ssl_context ssl;
	struct http_reader r;
	struct buf pending = BUF_INIT(BODY_MAX + 65536), out = BUF_INIT(BODY_MAX + 4096);
	int rc, error, keep = 1;

	mbedtls_ssl_init(&ssl);
	http_reader_init(&r, BODY_MAX);
	c->deadline_ms = now_ms() + HANDSHAKE_MS;
	rc = mbedtls_ssl_setup(&ssl, &w->svc->tls.conf);
	if (!rc) {
		mbedtls_ssl_set_bio(&ssl, c, conn_send, conn_recv, NULL);
		while ((rc = mbedtls_ssl_handshake(&ssl)) == MBEDTLS_ERR_SSL_WANT_READ ||
			rc == MBEDTLS_ERR_SSL_WANT_WRITE)
			;
	}
	if (rc) {
		char msg[128];

		mbedtls_strerror(rc, msg, sizeof(msg));
		routes_refusal(&w->ctx, &c->id, "tls.refused", msg);
		goto out;
	}
	identify(c, &ssl);
	/* Without a valid certificate only enrollment is open: a small body is all it needs. */
	http_reader_release(&r);
	http_reader_init(&r, c->id.cert_ok ? BODY_MAX : UNAUTH_BODY_MAX);
	while (keep && !stopping) {
		c->deadline_ms = now_ms() + REQUEST_MS;
		error = read_request(&r, &ssl, &pending);
		if (error == ERR_NOTFOUND)
			break; /* the client closed between requests */
		buf_reset(&out);
		if (error == ERR_TOOBIG || error == ERR_INVALID) {
			routes_refusal(&w->ctx, &c->id, "request.refused", err_msg());
			error = routes_error(&out, error == ERR_TOOBIG ? 413 : 400, err_msg(), 0);
			keep = 0;
		} else if (error) {
			if (r.req.url.len || pending.len)
				routes_refusal(&w->ctx, &c->id, "request.refused", "request not complete by the deadline");
			break;
		} else {
			keep = r.req.keep_alive;
			c->requests++;
			error = routes_handle(&out, &w->ctx, &c->id, &r.req);
			keep = keep && !strstr(buf_cstr(&out), "Connection: close");
		}
		c->deadline_ms = now_ms() + REQUEST_MS; /* a long merge must not eat the reply's time */
		if (error || ssl_write_all(&ssl, &out))
			break;
		http_reader_reset(&r);
	}
	mbedtls_ssl_close_notify(&ssl);
	serve_log("info", "conn.close", c->id.peer,
		"device %s: %u requests, %llu bytes in, %llu bytes out (TLS, handshake included)",
		c->id.device[0] ? c->id.device : "-", c->requests, (unsigned long long)c->bytes_in,
		(unsigned long long)c->bytes_out);
out:
	http_reader_release(&r);
	buf_wipe_release(&pending);
	buf_wipe_release(&out);
	mbedtls_ssl_free(&ssl);
	close(c->fd);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct service *s = w->svc;

	for (;;) {
		struct conn c;
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int one = 1;

		pthread_mutex_lock(&s->lock);
		while (s->count == 0 && !stopping)
			pthread_cond_wait(&s->not_empty, &s->lock);
		if (s->count == 0) {
			pthread_mutex_unlock(&s->lock);
			break;
		}
		memset(&c, 0, sizeof(c));
		c.fd = s->queue[s->head];
		s->head = (s->head + 1) % QUEUE_MAX;
		s->count--;
		pthread_cond_signal(&s->not_full);
		pthread_mutex_unlock(&s->lock);
		setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (getpeername(c.fd, (struct sockaddr *)&ss, &sl) == 0 &&
			getnameinfo((struct sockaddr *)&ss, sl, c.id.peer, sizeof(c.id.peer), NULL, 0,
				NI_NUMERICHOST) != 0)
			snprintf(c.id.peer, sizeof(c.id.peer), "?");
		serve_conn(w, &c);
	}
	return NULL;
}

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
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
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
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

/* Accept until SIGTERM/SIGINT, handing connections to the workers. */
static void accept_loop(struct service *s)
{
	struct pollfd p = {s->listen_fd, POLLIN, 0};

	while (!stopping) {
		int fd;

		if (poll(&p, 1, 200) <= 0)
			continue;
		fd = accept(s->listen_fd, NULL, NULL);
		if (fd < 0)
			continue;
		pthread_mutex_lock(&s->lock);
		while (s->count == QUEUE_MAX && !stopping)
			pthread_cond_wait(&s->not_full, &s->lock);
		if (stopping) {
			pthread_mutex_unlock(&s->lock);
			close(fd);
			break;
		}
		s->queue[(s->head + s->count) % QUEUE_MAX] = fd;
		s->count++;
		pthread_cond_signal(&s->not_empty);
		pthread_mutex_unlock(&s->lock);
	}
}

static const char run_help[] =
	"usage: fieldsync-server run [--listen HOST:PORT] [--workers N]\n"
	"\n"
	"Serve mutual TLS in the foreground, logging to stderr, until SIGTERM or SIGINT.  The\n"
	"listen address defaults to the one given at init; port 0 picks a free port (the log line\n"
	"'listening' names it).  Routes: GET /v1/ca and POST /v1/enroll without a client\n"
	"certificate; everything else (GET /v1/health, ...) with one.\n";

int cmd_server_run(struct cli *c)
{
	struct cli_opt opts[] = {{"--listen", 1, 0, {0}, 0}, {"--workers", 1, 0, {0}, 0}};
	struct worker workers[WORKERS_MAX];
	struct service svc;
	struct buf listen = BUF_INIT(256);
	char bound[300];
	const char *pos[1], *wopt;
	struct sigaction sa;
	int npos, rc, nworkers = 8, started = 0, i, error;

	if (cli_help(c, run_help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, "run [--listen HOST:PORT] [--workers N]", opts, N_OPTS(opts), pos, 0,
		&npos);
	if (rc)
		return rc;
	wopt = cli_opt(opts, N_OPTS(opts), "--workers");
	if (wopt) {
		char *end = NULL;
		long v = strtol(wopt, &end, 10);

		if (!end || *end || v < 1 || v > WORKERS_MAX)
			return cli_usage_error(c, "run [--workers N]", "--workers takes 1 to %d",
				WORKERS_MAX);
		nworkers = (int)v;
	}
	memset(&svc, 0, sizeof(svc));
	memset(workers, 0, sizeof(workers));
	tls_init(&svc.tls);
	buf_init(&svc.ca_der, 8192);
	svc.listen_fd = -1;
	pthread_mutex_init(&svc.lock, NULL);
	pthread_mutex_init(&svc.push_lock, NULL);
	pthread_cond_init(&svc.not_empty, NULL);
	pthread_cond_init(&svc.not_full, NULL);
	error = hq_open(&workers[0].node, c);
	if (!error)
		error = cli_opt(opts, N_OPTS(opts), "--listen")
				? buf_puts(&listen, cli_opt(opts, N_OPTS(opts), "--listen"))
				: store_meta_get(&listen, workers[0].node->store, "listen");
	if (!error)
		error = tls_setup(&svc.tls, workers[0].node);
	if (!error)
		error = hq_pki_get(&svc.ca_der, workers[0].node, "ca_cert");
	for (i = 1; !error && i < nworkers; i++)
		error = hq_open(&workers[i].node, c);
	if (!error)
		error = listen_on(&svc.listen_fd, bound, sizeof(bound), listen.ptr);
	if (error) {
		rc = cli_fail(c);
		goto out;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < nworkers; i++) {
		workers[i].svc = &svc;
		workers[i].ctx.node = workers[i].node;
		workers[i].ctx.ca_der = &svc.ca_der;
		workers[i].ctx.push_lock = &svc.push_lock;
		if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0)
			break;
		started++;
	}
	if (node_audit(workers[0].node, "server.start", bound, "success", NULL))
		serve_log("error", "audit", NULL, "%s", err_msg());
	serve_log("info", "listening", NULL, "listening on %s with %d workers", bound, started);
	accept_loop(&svc);
	pthread_mutex_lock(&svc.lock);
	stopping = 1;
	pthread_cond_broadcast(&svc.not_empty);
	pthread_cond_broadcast(&svc.not_full);
	pthread_mutex_unlock(&svc.lock);
	for (i = 0; i < started; i++)
		pthread_join(workers[i].thread, NULL);
	while (svc.count) { /* queued, never served */
		close(svc.queue[svc.head]);
		svc.head = (svc.head + 1) % QUEUE_MAX;
		svc.count--;
	}
	if (node_audit(workers[0].node, "server.stop", bound, "success", NULL))
		serve_log("error", "audit", NULL, "%s", err_msg());
	serve_log("info", "stopped", NULL, "clean shutdown");
	rc = CLI_EXIT_OK;
out:
	if (svc.listen_fd >= 0)
		close(svc.listen_fd);
	for (i = 0; i < nworkers; i++)
		node_free(workers[i].node);
	tls_release(&svc.tls);
	buf_release(&svc.ca_der);
	buf_release(&listen);
	pthread_mutex_destroy(&svc.lock);
	pthread_mutex_destroy(&svc.push_lock);
	pthread_cond_destroy(&svc.not_empty);
	pthread_cond_destroy(&svc.not_full);
	return rc;
}
