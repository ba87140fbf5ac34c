/*
 * tests/fuzz/fuzz_request.c - libFuzzer target for the server's whole request handling: bytes
 * are read as HTTP requests (as many as they hold) and each complete one is routed exactly as
 * a worker would (server/routes.c) against a real HQ store made once in a temporary directory,
 * with an enrolled device, through the same connection loop the server runs (http_conn:
 * several requests per connection, going on or closing as the server does).  The first byte
 * picks who the TLS layer proved the client to be: no certificate, a refused certificate, or
 * the enrolled device; the second how the bytes are split into reads.  Must never crash,
 * leak, or answer anything but a well-formed HTTP response.
 */
#define _XOPEN_SOURCE 700
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <unistd.h>

#include "base/crypto.h"
#include "pki/enroll.h"
#include "commands.h"
#include "hq.h"
#include "drive_conn.h"
#include "pki/http.h"
#include "store/odb.h"
#include "pki/pki.h"
#include "routes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct node *node;
static struct route_pki pki;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct route_ctx ctx;
static struct route_peer peers[3];

static int enroll_device(struct route_peer *p)
{
	struct enroll_token tok;
	struct enroll_request req;
	struct enroll_response resp;
	struct buf key = BUF_INIT(4096), pub = BUF_INIT(4096);
	char text[ENROLL_TOKEN_MAX];
	int error;

	enroll_request_init(&req);
	enroll_response_init(&resp);
	error = store_exec(node->store, "INSERT INTO offices(code, name, created_at)"
					" VALUES ('ELP', 'El Paso', '2026-01-01T00:00:00Z')");
	if (!error)
		error = hq_token_new(text, node, "ELP", 3600, 86400);
	if (!error)
		error = enroll_token_parse(&tok, text);
	if (!error)
		error = crypto_ec_keygen(&key);
	if (!error)
		error = pki_csr_create(&req.csr, (const uint8_t *)key.ptr, key.len, "device");
	if (!error) {
		memcpy(req.secret, tok.secret, sizeof(req.secret));
		snprintf(req.office, sizeof(req.office), "ELP");
		snprintf(req.device, sizeof(req.device), "%s", "0123456789abcdef0123456789abcdef");
		error = hq_enroll(&resp, node, &req, "fuzz");
	}
	if (!error)
		error = pki_identity(p->office, p->device, p->serial, (const uint8_t *)resp.cert.ptr,
			resp.cert.len);
	if (!error)
		error = crypto_ec_pubkey(&pub, (const uint8_t *)key.ptr, key.len);
	if (!error && pub.len <= sizeof(p->pub)) {
		memcpy(p->pub, pub.ptr, pub.len);
		p->publen = pub.len;
		p->has_cert = p->cert_ok = 1;
	}
	enroll_request_release(&req);
	enroll_response_release(&resp);
	buf_wipe_release(&key);
	buf_release(&pub);
	return error;
}

static char dir[] = "/tmp/fieldsync-fuzz-request-XXXXXX";

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* The temporary HQ goes when the process ends. */
static void cleanup(void)
{
	node_free(node);
	node = NULL;
	peers_free(ctx.peers);
	ctx.peers = NULL;
	nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int setup(void)
{
	static char home[sizeof(dir) + 4];
	static char *argv[] = {"--org", "Fuzz", "--listen", "127.0.0.1:0"};
	struct cli c;
	int out;

	if (!mkdtemp(dir))
		return -1;
	atexit(cleanup);
	snprintf(home, sizeof(home), "%s/hq", dir);
	memset(&c, 0, sizeof(c));
	c.prog = "fuzz_request";
	c.home = home;
	c.kdf = &CRYPTO_KDF_LOW;
	c.open_node = hq_open;
	c.argc = 4;
	c.argv = argv;
	out = dup(STDOUT_FILENO);
	freopen("/dev/null", "w", stdout); /* init prints the CA fingerprint */
	if (odb_global_init() || cmd_server_init(&c) != 0 || hq_open(&node, &c))
		return -1;
	fflush(stdout);
	dup2(out, STDOUT_FILENO);
	close(out);
	if (route_pki_load(&pki, node) || enroll_device(&peers[2]))
		return -1;
	snprintf(peers[0].why, sizeof(peers[0].why), "a client certificate is required");
	peers[1].has_cert = 1;
	snprintf(peers[1].why, sizeof(peers[1].why), "client certificate expired");
	for (out = 0; out < 3; out++)
		snprintf(peers[out].peer, sizeof(peers[out].peer), "127.0.0.1");
	ctx.node = node;
	ctx.pki = &pki;
	ctx.push_lock = &lock;
	/* the same limits as the server: throttled enrollment, folded refusals */
	if (peers_new(&ctx.peers, 32))
		return -1;
	return 0;
}

static int handle(void *arg, struct buf *out, const struct http_request *req)
{
	const struct route_peer *peer = arg;

	return routes_handle(out, &ctx, peer, req);
}

static void refused(void *arg, int status, const char *why)
{
	const struct route_peer *peer = arg;
	char msg[320];

	if (status < 400 || status > 499)
		abort();
	snprintf(msg, sizeof(msg), "%d: %s", status, why);
	routes_refusal(&ctx, peer, "request.refused", msg);
}

/* An answer is an HTTP response. */
static void check_answer(const struct buf *out)
{
	if (out->len < 12 || memcmp(out->ptr, "HTTP/1.1 ", 9) != 0)
		abort();
}

/*
 * The connection loop of server/serve.c without its sockets: the bytes after the first arrive
 * in pieces whose size the second byte picks, and requests are answered one after another on
 * the same connection until one closes it, as a worker would.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct http_conn hc;
	struct http_handler h;

	if (!ready) {
		if (setup()) {
			fprintf(stderr, "fuzz_request: set-up failed: %s\n", err_msg());
			abort();
		}
		ready = 1;
	}
	if (size < 2)
		return 0;
	h.handle = handle;
	h.refused = refused;
	h.ctx = &peers[data[0] % 3];
	http_conn_init(&hc, peers[data[0] % 3].cert_ok ? 1024 * 1024 : ENROLL_BODY_MAX,
		2 * 1024 * 1024);
	(void)fuzz_drive_conn(&hc, &h, data + 2, size - 2, data[1] ? (size_t)data[1] * 16 : size,
		16, check_answer);
	http_conn_release(&hc);
	return 0;
}
