/*
 * tests/bench/bench_tls.c - fieldsync-server's TLS service beside the raw crypto, in one run.
 *
 * A TLS 1.2 mbedTLS client without a client certificate, against a running server on
 * 127.0.0.1:PORT, measures for SECONDS each:
 *   full      - new connection, full ECDHE-ECDSA handshake, GET /v1/ca, close (1 and 2 threads),
 *               and once more with the client offering only P-256 for ECDHE;
 *   resumed   - the same with the session of a first handshake offered again, by session ticket
 *               and by session id (the server's cache); each handshake is checked to be really
 *               abbreviated (the client's state machine skipped the server's Certificate and
 *               ServerKeyExchange) and the fraction resumed is printed;
 *   keep-alive - many GET /v1/ca in sequence on one connection (1 and 2 connections).
 * The baseline, measured in-process in the same run: AES-128-GCM and ChaCha20-Poly1305
 * encryption of 16 KiB records (MB/s), and the public-key work of one handshake: P-256 ECDH
 * (key generation + shared secret), ECDSA sign (the server's part) and verify (the client's).
 * The server's full-handshake rate is bounded by ECDH + sign per server core; on loopback the
 * client's ECDH + verify runs on the same CPUs.  With the server's pid, the server's CPU time per
 * operation is read from /proc, to show where the time goes.
 *
 * usage: bench_tls PORT [SECONDS [SERVER_PID]]   (SECONDS per measurement, default 3)
 *        bench_tls aead                          (only the raw AEAD speeds, MB/s)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/chachapoly.h>
#include <mbedtls/ecdh.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/error.h>
#include <mbedtls/gcm.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_internal.h> /* the curve of the handshake in progress */
#include <mbedtls/version.h>

#include "base/crypto.h"

#define MAX_THREADS 2
#define RECORD 16384
#define RESPONSE_MAX 65536
#define BASELINE_S 1.0
#define KEEPALIVE_TARGET 15000.0

static const char get_close[] = "GET /v1/ca HTTP/1.1\r\nHost: hq\r\nConnection: close\r\n\r\n";
static const char get_keep[] = "GET /v1/ca HTTP/1.1\r\nHost: hq\r\n\r\n";

enum mode { FULL, FULL_P256, RESUME_TICKET, RESUME_ID, KEEPALIVE };

static const char *const mode_names[] = {"full handshake + GET", "full, offer P-256 only + GET",
	"resumed (ticket) + GET", "resumed (session id) + GET", "keep-alive GET"};

/* One client connection and its response buffer. */
struct conn {
	int fd;
	size_t rx;                  /* bytes received from the server since connect */
	size_t body_len;            /* of the last response */
	mbedtls_ecp_group_id curve; /* of the last full handshake's ECDHE */
	mbedtls_ssl_context ssl;
	size_t len;
	char buf[RESPONSE_MAX];
};

/* One client thread of one measurement. */
struct job {
	enum mode mode;
	int port;
	double seconds;
	const mbedtls_ssl_config *conf;
	pthread_barrier_t *start;
	long ops, resumed;
	size_t hs_bytes; /* bytes received during the measured handshakes */
	double elapsed;
	char err[200];
};

struct result {
	enum mode mode;
	int threads;
	double rate;       /* operations per second, all threads */
	double resumed;    /* fraction of handshakes abbreviated */
	double hs_bytes;   /* server bytes per handshake */
	double srv_cpu_us; /* server CPU per operation, or < 0 if unknown */
	double cli_cpu_us; /* this process's CPU per operation */
	long ops;
	int errors;
	char err[200];
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* utime + stime of a process, from /proc/PID/stat, or -1 if unreadable. */
static double proc_cpu_s(long pid)
{
	char path[64], text[1024], *p, *end;
	unsigned long long ticks = 0;
	size_t n;
	FILE *f;
	int field;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	p = strrchr(text, ')'); /* the command name may hold spaces */
	if (!p)
		return -1;
	p++;
	/* after ')': field 3 is the state; utime and stime are fields 14 and 15 */
	for (field = 3; field <= 15; field++) {
		unsigned long long v;

		while (*p == ' ')
			p++;
		v = strtoull(p, &end, 10);
		if (field >= 14) {
			if (end == p)
				return -1;
			ticks += v;
		}
		while (*end && *end != ' ')
			end++;
		p = end;
	}
	return (double)ticks / (double)sysconf(_SC_CLK_TCK);
}

static void die(const char *what, int rc)
{
	char msg[128] = "";

	if (rc)
		mbedtls_strerror(rc, msg, sizeof(msg));
	fprintf(stderr, "bench_tls: %s%s%s\n", what, rc ? ": " : "", msg);
	exit(1);
}

static int job_fail(struct job *j, const char *what, int rc)
{
	char msg[128];

	if (j->err[0])
		return -1;
	if (rc)
		mbedtls_strerror(rc, msg, sizeof(msg));
	else
		snprintf(msg, sizeof(msg), "%s", errno ? strerror(errno) : "unexpected");
	snprintf(j->err, sizeof(j->err), "%s: %s", what, msg);
	return -1;
}

static int bio_send(void *ctx, const unsigned char *b, size_t len)
{
	struct conn *c = ctx;
	ssize_t n = send(c->fd, b, len, MSG_NOSIGNAL);

	if (n < 0)
		return errno == EINTR ? MBEDTLS_ERR_SSL_WANT_WRITE : MBEDTLS_ERR_NET_SEND_FAILED;
	return (int)n;
}

static int bio_recv(void *ctx, unsigned char *b, size_t len)
{
	struct conn *c = ctx;
	ssize_t n = recv(c->fd, b, len, 0);

	if (n < 0)
		return errno == EINTR ? MBEDTLS_ERR_SSL_WANT_READ : MBEDTLS_ERR_NET_RECV_FAILED;
	c->rx += (size_t)n;
	return (int)n;
}

static void conn_init(struct conn *c)
{
	c->fd = -1;
	c->rx = 0;
	c->curve = MBEDTLS_ECP_DP_NONE;
	c->len = 0;
	mbedtls_ssl_init(&c->ssl);
}

/*
 * Close the connection.  With wait_peer, first read until the server closes (it does after a
 * "Connection: close" response), so that TIME_WAIT stays on the server's side and thousands of
 * short connections do not use up the client's ephemeral ports.
 */
static void conn_close(struct conn *c, int wait_peer)
{
	unsigned char scratch[512];
	int rc;

	if (c->fd >= 0 && wait_peer) {
		do
			rc = mbedtls_ssl_read(&c->ssl, scratch, sizeof(scratch));
		while (rc > 0 || rc == MBEDTLS_ERR_SSL_WANT_READ ||
			rc == MBEDTLS_ERR_SSL_WANT_WRITE);
	} else if (c->fd >= 0) {
		mbedtls_ssl_close_notify(&c->ssl);
	}
	if (c->fd >= 0)
		close(c->fd);
	mbedtls_ssl_free(&c->ssl);
	conn_init(c);
}

/* The curve the server chose in its ServerKeyExchange (mbedTLS 2.28 internals). */
static mbedtls_ecp_group_id ecdh_curve(const mbedtls_ecdh_context *ctx)
{
#if defined(MBEDTLS_ECDH_LEGACY_CONTEXT)
	return ctx->grp.id;
#else
	return ctx->grp_id;
#endif
}

/*
 * Connect and handshake, offering `session` if not NULL.  *resumed_out tells whether the
 * handshake was abbreviated: the client's state machine (a public field in mbedTLS 2.28) never
 * went through the server's Certificate or ServerKeyExchange.
 */
static int conn_open(
	int *resumed_out, struct conn *c, struct job *j, const mbedtls_ssl_session *session)
{
	struct sockaddr_in sa;
	int one = 1, rc = 0, full = 0;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return job_fail(j, "socket", 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)j->port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)))
		return job_fail(j, "connect", 0);
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	rc = mbedtls_ssl_setup(&c->ssl, j->conf);
	if (!rc && session)
		rc = mbedtls_ssl_set_session(&c->ssl, session);
	if (rc)
		return job_fail(j, "ssl setup", rc);
	mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
	while (c->ssl.state != MBEDTLS_SSL_HANDSHAKE_OVER) {
		rc = mbedtls_ssl_handshake_step(&c->ssl);
		if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
			continue;
		if (rc)
			return job_fail(j, "handshake", rc);
		if (c->ssl.state == MBEDTLS_SSL_SERVER_CERTIFICATE ||
			c->ssl.state == MBEDTLS_SSL_SERVER_KEY_EXCHANGE)
			full = 1;
		if (c->ssl.state == MBEDTLS_SSL_CERTIFICATE_REQUEST && c->ssl.handshake)
			c->curve = ecdh_curve(&c->ssl.handshake->ecdh_ctx);
	}
	*resumed_out = !full;
	return 0;
}

/* The first occurrence of needle in hay[0..len) (memmem is a GNU extension), or NULL. */
static const char *find(const char *hay, size_t len, const char *needle)
{
	size_t n = strlen(needle), i;

	for (i = 0; n <= len && i <= len - n; i++)
		if (hay[i] == needle[0] && !memcmp(hay + i, needle, n))
			return hay + i;
	return NULL;
}

/* The value of Content-Length in a response head (the server spells it so), or -1. */
static int content_length(size_t *out, const char *head, size_t len)
{
	static const char key[] = "\r\nContent-Length:";
	const char *p = find(head, len, key), *end = head + len;
	size_t v = 0;

	if (!p)
		return -1;
	p += sizeof(key) - 1;
	while (p < end && *p == ' ')
		p++;
	if (p == end || *p < '0' || *p > '9')
		return -1;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (size_t)(*p - '0');
		if (v > RESPONSE_MAX)
			return -1;
	}
	*out = v;
	return 0;
}

/* Send one request and read its whole response; it must be 200 with the CA document. */
static int http_get(struct conn *c, struct job *j, const char *req, size_t reqlen)
{
	size_t off = 0, head = 0, body = 0;
	int rc;

	while (off < reqlen) {
		rc = mbedtls_ssl_write(&c->ssl, (const unsigned char *)req + off, reqlen - off);
		if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
			continue;
		if (rc < 0)
			return job_fail(j, "write", rc);
		off += (size_t)rc;
	}
	for (;;) {
		const char *end = c->len ? find(c->buf, c->len, "\r\n\r\n") : NULL;

		if (end) {
			head = (size_t)(end + 4 - c->buf);
			if (content_length(&body, c->buf, head))
				return job_fail(j, "response without a valid Content-Length", 0);
			if (c->len >= head + body)
				break;
		}
		if (c->len == sizeof(c->buf))
			return job_fail(j, "response too large", 0);
		rc = mbedtls_ssl_read(
			&c->ssl, (unsigned char *)c->buf + c->len, sizeof(c->buf) - c->len);
		if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
			continue;
		if (rc <= 0)
			return job_fail(j, "read", rc ? rc : MBEDTLS_ERR_SSL_CONN_EOF);
		c->len += (size_t)rc;
	}
	if (memcmp(c->buf, "HTTP/1.1 200 ", 13) || body < 7 ||
		memcmp(c->buf + head, "{\"ca\":\"", 7))
		return job_fail(j, "unexpected response to GET /v1/ca", 0);
	c->body_len = body;
	memmove(c->buf, c->buf + head + body, c->len - head - body);
	c->len -= head + body;
	return 0;
}

/* A first full handshake whose session the thread then offers again. */
static int take_session(mbedtls_ssl_session *out, struct conn *c, struct job *j)
{
	int resumed, rc;

	if (conn_open(&resumed, c, j, NULL) || http_get(c, j, get_close, sizeof(get_close) - 1))
		return -1;
	rc = mbedtls_ssl_get_session(&c->ssl, out);
	if (rc)
		return job_fail(j, "get session", rc);
	if (j->mode == RESUME_TICKET && out->ticket_len == 0)
		return job_fail(j, "the server sent no session ticket", 0);
	if (j->mode == RESUME_ID && out->id_len == 0)
		return job_fail(j, "the server gave no session id", 0);
	conn_close(c, 1);
	return 0;
}

static void *job_main(void *arg)
{
	struct job *j = arg;
	struct conn *c = malloc(sizeof(*c));
	mbedtls_ssl_session saved;
	const mbedtls_ssl_session *offer = NULL;
	double t0, deadline;
	int resumed;

	mbedtls_ssl_session_init(&saved);
	if (c)
		conn_init(c);
	else
		job_fail(j, "malloc", 0);
	/* Outside the clock: the session to resume, or the keep-alive connection. */
	if (c && (j->mode == RESUME_TICKET || j->mode == RESUME_ID)) {
		take_session(&saved, c, j);
		offer = &saved;
	} else if (c && j->mode == KEEPALIVE) {
		conn_open(&resumed, c, j, NULL);
	}
	pthread_barrier_wait(j->start);
	t0 = now_s();
	deadline = t0 + j->seconds;
	while (!j->err[0] && now_s() < deadline) {
		if (j->mode == KEEPALIVE) {
			if (http_get(c, j, get_keep, sizeof(get_keep) - 1))
				break;
			j->ops++;
			continue;
		}
		if (conn_open(&resumed, c, j, offer))
			break;
		j->hs_bytes += c->rx;
		if (http_get(c, j, get_close, sizeof(get_close) - 1))
			break;
		conn_close(c, 1);
		j->ops++;
		j->resumed += resumed;
	}
	j->elapsed = now_s() - t0;
	if (c)
		conn_close(c, 0);
	free(c);
	mbedtls_ssl_session_free(&saved);
	return NULL;
}

static void measure(struct result *r, enum mode mode, int threads, int port, double seconds,
	const mbedtls_ssl_config *conf, long server_pid)
{
	struct job jobs[MAX_THREADS];
	pthread_t tid[MAX_THREADS];
	pthread_barrier_t start;
	double srv0, cli0, srv1;
	size_t hs_bytes = 0;
	long resumed = 0;
	int i;

	memset(r, 0, sizeof(*r));
	memset(jobs, 0, sizeof(jobs));
	r->mode = mode;
	r->threads = threads;
	if (pthread_barrier_init(&start, NULL, (unsigned)threads + 1))
		die("pthread_barrier_init", 0);
	for (i = 0; i < threads; i++) {
		jobs[i].mode = mode;
		jobs[i].port = port;
		jobs[i].seconds = seconds;
		jobs[i].conf = conf;
		jobs[i].start = &start;
		if (pthread_create(&tid[i], NULL, job_main, &jobs[i]))
			die("pthread_create", 0);
	}
	pthread_barrier_wait(&start);
	srv0 = proc_cpu_s(server_pid);
	cli0 = cpu_s();
	for (i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	r->cli_cpu_us = cpu_s() - cli0;
	srv1 = proc_cpu_s(server_pid);
	pthread_barrier_destroy(&start);
	for (i = 0; i < threads; i++) {
		r->ops += jobs[i].ops;
		resumed += jobs[i].resumed;
		hs_bytes += jobs[i].hs_bytes;
		if (jobs[i].elapsed > 0)
			r->rate += (double)jobs[i].ops / jobs[i].elapsed;
		if (jobs[i].err[0] && !r->errors++)
			snprintf(r->err, sizeof(r->err), "%s", jobs[i].err);
	}
	r->resumed = r->ops ? (double)resumed / (double)r->ops : 0;
	r->hs_bytes = r->ops ? (double)hs_bytes / (double)r->ops : 0;
	r->cli_cpu_us = r->ops ? r->cli_cpu_us * 1e6 / (double)r->ops : 0;
	r->srv_cpu_us =
		srv0 >= 0 && srv1 >= 0 && r->ops ? (srv1 - srv0) * 1e6 / (double)r->ops : -1;
}

/* ---- the in-process baseline ---------------------------------------------------------- */

/* AES-128-GCM (chacha == 0) or ChaCha20-Poly1305 encryption of 16 KiB records, in MB/s. */
static double aead_mbps(int chacha)
{
	static unsigned char in[RECORD], out[RECORD];
	unsigned char key[32], nonce[12] = {0}, aad[13] = {0}, tag[16];
	mbedtls_gcm_context gcm;
	mbedtls_chachapoly_context cp;
	unsigned long long n = 0;
	double t0, t;
	int rc, i;

	mbedtls_gcm_init(&gcm);
	mbedtls_chachapoly_init(&cp);
	if (crypto_random(key, sizeof(key)))
		die("random", 0);
	rc = chacha ? mbedtls_chachapoly_setkey(&cp, key)
		    : mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, 128);
	if (rc)
		die("aead setkey", rc);
	t0 = now_s();
	do {
		for (i = 0; i < 16; i++, n++) {
			memcpy(nonce + 4, &n, sizeof(n)); /* a record counter, as TLS does */
			rc = chacha ? mbedtls_chachapoly_encrypt_and_tag(
					      &cp, RECORD, nonce, aad, sizeof(aad), in, out, tag)
				    : mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, RECORD,
					      nonce, sizeof(nonce), aad, sizeof(aad), in, out,
					      sizeof(tag), tag);
			if (rc)
				die("aead encrypt", rc);
		}
		t = now_s() - t0;
	} while (t < BASELINE_S);
	mbedtls_platform_zeroize(key, sizeof(key));
	mbedtls_gcm_free(&gcm);
	mbedtls_chachapoly_free(&cp);
	return (double)n * RECORD / t / 1e6;
}

struct ecc_bench {
	mbedtls_ecdsa_context key;    /* the server's long-term key: its group stays loaded */
	mbedtls_ecp_keypair peer;     /* the other side's ephemeral ECDH key */
	mbedtls_ecp_keypair peer_neg; /* the same on the curve the server negotiates */
	mbedtls_ecp_group_id neg;
	unsigned char hash[32];
	unsigned char sig[MBEDTLS_ECDSA_MAX_LEN];
	size_t sig_len;
};

/* One ECDHE on `id`: a fresh group as each handshake loads, key generation, shared secret. */
static int ecdh_once(mbedtls_ecp_group_id id, const mbedtls_ecp_point *peer)
{
	mbedtls_ecp_group grp;
	mbedtls_ecp_point q;
	mbedtls_mpi d, z;
	int rc;

	mbedtls_ecp_group_init(&grp);
	mbedtls_ecp_point_init(&q);
	mbedtls_mpi_init(&d);
	mbedtls_mpi_init(&z);
	rc = mbedtls_ecp_group_load(&grp, id);
	if (!rc)
		rc = mbedtls_ecdh_gen_public(&grp, &d, &q, crypto_rng, NULL);
	if (!rc)
		rc = mbedtls_ecdh_compute_shared(&grp, &z, peer, &d, crypto_rng, NULL);
	mbedtls_ecp_group_free(&grp);
	mbedtls_ecp_point_free(&q);
	mbedtls_mpi_free(&d);
	mbedtls_mpi_free(&z);
	return rc;
}

static int op_ecdh(struct ecc_bench *e)
{
	return ecdh_once(MBEDTLS_ECP_DP_SECP256R1, &e->peer.Q);
}

static int op_ecdh_neg(struct ecc_bench *e)
{
	return ecdh_once(e->neg, &e->peer_neg.Q);
}

/* The server's ServerKeyExchange signature (deterministic ECDSA over SHA-256, as pk_sign). */
static int op_sign(struct ecc_bench *e)
{
	return mbedtls_ecdsa_write_signature(&e->key, MBEDTLS_MD_SHA256, e->hash, sizeof(e->hash),
		e->sig, &e->sig_len, crypto_rng, NULL);
}

/* The client's check of it, with the key freshly loaded as from the server's certificate. */
static int op_verify(struct ecc_bench *e)
{
	mbedtls_ecdsa_context k;
	int rc;

	mbedtls_ecdsa_init(&k);
	rc = mbedtls_ecp_group_load(&k.grp, MBEDTLS_ECP_DP_SECP256R1);
	if (!rc)
		rc = mbedtls_ecp_copy(&k.Q, &e->key.Q);
	if (!rc)
		rc = mbedtls_ecdsa_read_signature(&k, e->hash, sizeof(e->hash), e->sig, e->sig_len);
	mbedtls_ecdsa_free(&k);
	return rc;
}

/* Seconds per call of op, over BASELINE_S. */
static double time_op(int (*op)(struct ecc_bench *), struct ecc_bench *e, const char *name)
{
	double t0 = now_s(), t;
	long n = 0;
	int rc;

	do {
		rc = op(e);
		if (rc)
			die(name, rc);
		n++;
		t = now_s() - t0;
	} while (t < BASELINE_S);
	return t / (double)n;
}

/*
 * Handshakes/s the public-key work allows: the server's side per core, the client's side per
 * core, and both on the machine's CPUs (on loopback they share them).
 */
struct bounds {
	double server_hs, client_hs, loopback_hs;
};

struct baseline {
	double gcm_mbps, chacha_mbps;
	double ecdh_s, ecdh_neg_s, sign_s, verify_s; /* seconds per operation */
	mbedtls_ecp_group_id neg;                    /* the ECDHE curve the server chose */
	struct bounds p256;                          /* with ECDHE on P-256 */
	struct bounds neg_bounds;                    /* with ECDHE on the curve it chose */
};

static void bounds_of(struct bounds *out, double ecdh_s, const struct baseline *b, long ncpu)
{
	out->server_hs = 1.0 / (ecdh_s + b->sign_s);
	out->client_hs = 1.0 / (ecdh_s + b->verify_s);
	out->loopback_hs = (double)ncpu / (ecdh_s + b->sign_s + ecdh_s + b->verify_s);
}

static void run_baseline(struct baseline *b, long ncpu, mbedtls_ecp_group_id neg)
{
	struct ecc_bench e;
	int rc;

	memset(&e, 0, sizeof(e));
	mbedtls_ecdsa_init(&e.key);
	mbedtls_ecp_keypair_init(&e.peer);
	mbedtls_ecp_keypair_init(&e.peer_neg);
	e.neg = neg;
	b->neg = neg;
	rc = mbedtls_ecdsa_genkey(&e.key, MBEDTLS_ECP_DP_SECP256R1, crypto_rng, NULL);
	if (!rc)
		rc = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, &e.peer, crypto_rng, NULL);
	if (!rc)
		rc = mbedtls_ecp_gen_key(neg, &e.peer_neg, crypto_rng, NULL);
	if (rc)
		die("P-256 key generation", rc);
	crypto_sha256(e.hash, "ServerKeyExchange params", 24);
	b->gcm_mbps = aead_mbps(0);
	b->chacha_mbps = aead_mbps(1);
	b->ecdh_s = time_op(op_ecdh, &e, "ECDH");
	b->ecdh_neg_s =
		neg == MBEDTLS_ECP_DP_SECP256R1 ? b->ecdh_s : time_op(op_ecdh_neg, &e, "ECDH");
	b->sign_s = time_op(op_sign, &e, "ECDSA sign");
	b->verify_s = time_op(op_verify, &e, "ECDSA verify");
	bounds_of(&b->p256, b->ecdh_s, b, ncpu);
	bounds_of(&b->neg_bounds, b->ecdh_neg_s, b, ncpu);
	mbedtls_ecdsa_free(&e.key);
	mbedtls_ecp_keypair_free(&e.peer);
	mbedtls_ecp_keypair_free(&e.peer_neg);
}

/* ---- report -------------------------------------------------------------------------- */

/*
 * A client configuration: TLS 1.2, with or without session tickets; p256_only restricts the
 * curves offered for ECDHE to P-256 (by default an mbedTLS client offers all it has).
 */
static void client_conf(mbedtls_ssl_config *conf, int tickets, int p256_only)
{
	static const mbedtls_ecp_group_id p256[] = {MBEDTLS_ECP_DP_SECP256R1, MBEDTLS_ECP_DP_NONE};
	int rc;

	mbedtls_ssl_config_init(conf);
	rc = mbedtls_ssl_config_defaults(conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
		MBEDTLS_SSL_PRESET_DEFAULT);
	if (rc)
		die("ssl config", rc);
	mbedtls_ssl_conf_rng(conf, crypto_rng, NULL);
	mbedtls_ssl_conf_min_version(
		conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_max_version(
		conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
	/*
	 * No verification of the server's certificate: a local benchmark against a server we have
	 * just started on loopback, not a client to copy.  The server's ServerKeyExchange
	 * signature is still checked by mbedTLS, so the handshake costs what a real one does.
	 */
	mbedtls_ssl_conf_authmode(conf, MBEDTLS_SSL_VERIFY_NONE);
	mbedtls_ssl_conf_session_tickets(conf, tickets ? MBEDTLS_SSL_SESSION_TICKETS_ENABLED
						       : MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
	if (p256_only)
		mbedtls_ssl_conf_curves(conf, p256);
}

static const char *curve_name(mbedtls_ecp_group_id id)
{
	const mbedtls_ecp_curve_info *info = mbedtls_ecp_curve_info_from_grp_id(id);

	return info ? info->name : "unknown";
}

/* One connection to check the server is there; returns the ECDHE curve it chose. */
static mbedtls_ecp_group_id probe(int port, const mbedtls_ssl_config *conf)
{
	mbedtls_ecp_group_id curve;
	struct job j;
	struct conn *c = malloc(sizeof(*c));
	int resumed;

	memset(&j, 0, sizeof(j));
	j.port = port;
	j.conf = conf;
	if (!c)
		die("malloc", 0);
	conn_init(c);
	if (conn_open(&resumed, c, &j, NULL) || http_get(c, &j, get_close, sizeof(get_close) - 1)) {
		fprintf(stderr, "bench_tls: no fieldsync-server on 127.0.0.1:%d: %s\n", port,
			j.err);
		exit(1);
	}
	curve = c->curve;
	printf("negotiated: %s %s, ECDHE on %s\n(the client offered all its curves); "
	       "GET /v1/ca answers %zu body bytes;\na full handshake brings %zu bytes from the "
	       "server\n",
		mbedtls_ssl_get_version(&c->ssl), mbedtls_ssl_get_ciphersuite(&c->ssl),
		curve_name(curve), c->body_len, c->rx);
	conn_close(c, 1);
	free(c);
	if (curve == MBEDTLS_ECP_DP_NONE)
		die("cannot tell the ECDHE curve of the handshake", 0);
	return curve;
}

static void print_baseline(const struct baseline *b, long ncpu)
{
	printf("\nbaseline, in-process, 1 thread:\n");
	printf("  AES-128-GCM encrypt, 16 KiB records          %9.1f MB/s\n", b->gcm_mbps);
	printf("  ChaCha20-Poly1305 encrypt, 16 KiB records    %9.1f MB/s\n", b->chacha_mbps);
	printf("  ECDH P-256 (keygen + shared secret)          %9.0f /s  (%.3f ms)\n",
		1 / b->ecdh_s, b->ecdh_s * 1e3);
	if (b->neg != MBEDTLS_ECP_DP_SECP256R1)
		printf("  ECDH %-9s (the curve the server chose)  %9.0f /s  (%.3f ms)\n",
			curve_name(b->neg), 1 / b->ecdh_neg_s, b->ecdh_neg_s * 1e3);
	printf("  ECDSA P-256 sign, SHA-256                    %9.0f /s  (%.3f ms)\n",
		1 / b->sign_s, b->sign_s * 1e3);
	printf("  ECDSA P-256 verify                           %9.0f /s  (%.3f ms)\n",
		1 / b->verify_s, b->verify_s * 1e3);
	printf("  full handshakes/s the public-key work allows, ECDHE on:  %9s %9s\n", "P-256",
		curve_name(b->neg));
	printf("    server side, ECDH + sign, per core                     %9.0f %9.0f\n",
		b->p256.server_hs, b->neg_bounds.server_hs);
	printf("    client side, ECDH + verify, per core                   %9.0f %9.0f\n",
		b->p256.client_hs, b->neg_bounds.client_hs);
	printf("    both sides on %ld shared CPUs (the loopback bound)      %9.0f %9.0f\n", ncpu,
		b->p256.loopback_hs, b->neg_bounds.loopback_hs);
}

static void print_row(const struct result *r)
{
	char resumed[16] = "-", bytes[16] = "-", srv[16] = "n/a";

	if (r->mode != KEEPALIVE) {
		snprintf(resumed, sizeof(resumed), "%.1f%%", 100.0 * r->resumed);
		snprintf(bytes, sizeof(bytes), "%.0f", r->hs_bytes);
	}
	if (r->srv_cpu_us >= 0)
		snprintf(srv, sizeof(srv), "%.0f", r->srv_cpu_us);
	printf("%-29s %5d %9.0f %8.3f %8s %6s %9s %9.0f %6d\n", mode_names[r->mode], r->threads,
		r->rate, r->rate > 0 ? 1e3 * r->threads / r->rate : 0.0, resumed, bytes, srv,
		r->cli_cpu_us, r->errors);
}

static const char *resumption_verdict(const struct result *r)
{
	if (!r->ops)
		return "NOT MEASURED (error)";
	if (r->resumed >= 0.99)
		return "WORKS";
	if (r->resumed > 0)
		return "ONLY PARTLY";
	return "DOES NOT HAPPEN, every handshake was full";
}

/* One line of ratios; `curve`, if not NULL, is named after the label. */
static void print_ratio(const char *label, const char *curve, double value)
{
	char text[96];

	snprintf(text, sizeof(text), "%s%s%s%s", label, curve ? " (" : "", curve ? curve : "",
		curve ? ")" : "");
	printf("  %-58s %7.2f\n", text, value);
}

static void print_ratios(const struct result *full1, const struct result *full2,
	const struct result *p256, const struct result *tick1, const struct result *id1,
	const struct result *keep1, const struct baseline *b)
{
	const char *neg = curve_name(b->neg);

	printf("\nratios:\n");
	print_ratio("full, 1 conn / server ECDH+sign per core", neg,
		full1->rate / b->neg_bounds.server_hs);
	print_ratio("full, 1 conn / server ECDH+sign per core", "P-256",
		full1->rate / b->p256.server_hs);
	print_ratio("full, 2 conns / loopback bound", neg, full2->rate / b->neg_bounds.loopback_hs);
	print_ratio("full offering P-256 only / full, 1 conn", NULL, p256->rate / full1->rate);
	if (full1->srv_cpu_us >= 0 && p256->srv_cpu_us >= 0) {
		print_ratio("server CPU per full handshake / ECDH+sign", neg,
			full1->srv_cpu_us / ((b->ecdh_neg_s + b->sign_s) * 1e6));
		print_ratio("server CPU per P-256 handshake / ECDH+sign", "P-256",
			p256->srv_cpu_us / ((b->ecdh_s + b->sign_s) * 1e6));
	}
	print_ratio("resumed (ticket) / full, 1 conn", NULL, tick1->rate / full1->rate);
	print_ratio("resumed (session id) / full, 1 conn", NULL, id1->rate / full1->rate);
	print_ratio("keep-alive, 1 conn / full, 1 conn", NULL, keep1->rate / full1->rate);
}

int main(int argc, char **argv)
{
	long port = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
	double seconds = argc > 2 ? strtod(argv[2], NULL) : 3.0;
	long server_pid = argc > 3 ? strtol(argv[3], NULL, 10) : 0;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	mbedtls_ssl_config tickets, no_tickets, p256_only;
	struct result full1, full2, p256, tick1, tick2, id1, keep1, keep2;
	const struct result *all[] = {&full1, &full2, &p256, &tick1, &tick2, &id1, &keep1, &keep2};
	const struct result *keep;
	struct baseline b;
	size_t i;
	int failed = 0;

	if (argc == 2 && !strcmp(argv[1], "aead")) { /* the raw cipher speeds only */
		printf("aes-128-gcm %.1f\nchacha20-poly1305 %.1f\n", aead_mbps(0), aead_mbps(1));
		return 0;
	}
	if (port <= 0 || port > 65535 || seconds <= 0) {
		fprintf(stderr, "usage: bench_tls PORT [SECONDS [SERVER_PID]]\n");
		return 2;
	}
	if (ncpu < 1)
		ncpu = 1;
	client_conf(&tickets, 1, 0);
	client_conf(&no_tickets, 0, 0);
	client_conf(&p256_only, 1, 1);
	printf("fieldsync TLS benchmark: fieldsync-server on 127.0.0.1:%ld, %.1f s per\n"
	       "measurement, %ld CPUs online (client: mbedTLS %s, TLS 1.2, no client certificate;\n"
	       "client and server share the CPUs)\n",
		port, seconds, ncpu, MBEDTLS_VERSION_STRING);
	memset(&b, 0, sizeof(b));
	run_baseline(&b, ncpu, probe((int)port, &tickets));
	print_baseline(&b, ncpu);

	measure(&full1, FULL, 1, (int)port, seconds, &tickets, server_pid);
	measure(&full2, FULL, 2, (int)port, seconds, &tickets, server_pid);
	measure(&p256, FULL_P256, 1, (int)port, seconds, &p256_only, server_pid);
	measure(&tick1, RESUME_TICKET, 1, (int)port, seconds, &tickets, server_pid);
	measure(&tick2, RESUME_TICKET, 2, (int)port, seconds, &tickets, server_pid);
	measure(&id1, RESUME_ID, 1, (int)port, seconds, &no_tickets, server_pid);
	measure(&keep1, KEEPALIVE, 1, (int)port, seconds, &tickets, server_pid);
	measure(&keep2, KEEPALIVE, 2, (int)port, seconds, &tickets, server_pid);

	printf("\n%-29s %5s %9s %8s %8s %6s %9s %9s %6s\n", "measurement", "conns", "ops/s",
		"ms/op", "resumed", "B/hs", "srv us/op", "cli us/op", "errors");
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		print_row(all[i]);
	printf("(an op includes GET /v1/ca; B/hs: bytes from the server in the handshake;\n"
	       "us/op: CPU time per op of the server process (all threads) and of this client)\n");
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (!all[i]->errors)
			continue;
		printf("ERROR in %s, %d conns: %s\n", mode_names[all[i]->mode], all[i]->threads,
			all[i]->err);
		failed = 1;
	}
	print_ratios(&full1, &full2, &p256, &tick1, &id1, &keep1, &b);

	keep = keep2.rate > keep1.rate ? &keep2 : &keep1;
	printf("\ntargets:\n");
	printf("  session resumption working: tickets %s (%.1f%% resumed),\n"
	       "    session ids %s (%.1f%% resumed)\n",
		resumption_verdict(&tick1), 100 * tick1.resumed, resumption_verdict(&id1),
		100 * id1.resumed);
	printf("  >= %.0f keep-alive requests/s on loopback: %s (best %.0f/s, with %d conn%s;\n"
	       "    1 conn alone: %.0f/s, %s)\n",
		KEEPALIVE_TARGET, keep->rate >= KEEPALIVE_TARGET ? "MET" : "NOT MET", keep->rate,
		keep->threads, keep->threads > 1 ? "s" : "", keep1.rate,
		keep1.rate >= KEEPALIVE_TARGET ? "met" : "not met");
	printf("  upload of 64 MiB vs AES-GCM speed: measured by bench_upload.py, next in run.sh\n"
	       "    (for scale: AES-128-GCM alone encrypts 64 MiB in %.2f s on a core here)\n",
		64.0 * 1048576.0 / (b.gcm_mbps * 1e6));
	mbedtls_ssl_config_free(&tickets);
	mbedtls_ssl_config_free(&no_tickets);
	mbedtls_ssl_config_free(&p256_only);
	return failed;
}
