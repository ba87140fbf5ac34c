/*
 * tests/fuzz/fuzz_http.c - libFuzzer target for one connection's HTTP exchange (http_conn,
 * the loop the server runs): arbitrary bytes, delivered in pieces whose sizes come from the
 * first input byte, through as many requests as they hold, each answered and the connection
 * going on or closing exactly as the server's would.  Must never crash, leak, hit an
 * assertion in http-parser, accept a request over the limits, or answer with anything but a
 * well-formed response; after an answer that closes, nothing more is parsed.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drive_conn.h"
#include "pki/http.h"

#define MAX_BODY 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int handle(void *ctx, struct buf *out, const struct http_request *req)
{
	(void)ctx;
	if (req->body.len > MAX_BODY || req->url.len > HTTP_URL_MAX ||
		req->nheaders > HTTP_HEADERS_MAX || !req->complete)
		abort();
	(void)http_header(req, "content-length");
	return http_response(out, 200, "text/plain", req->url.ptr, req->url.len, req->keep_alive);
}

static void refused(void *ctx, int status, const char *why)
{
	(void)why;
	if (status < 400 || status > 499)
		abort();
	++*(int *)ctx;
}

/* An answer is one whole response: a status line, a header block, Content-Length bytes. */
static void check_answer(const struct buf *out)
{
	size_t i;

	if (out->len < 12 || memcmp(out->ptr, "HTTP/1.1 ", 9) != 0)
		abort();
	for (i = 0; i + 4 <= out->len; i++)
		if (!memcmp(out->ptr + i, "\r\n\r\n", 4))
			return;
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int nrefused = 0;
	struct http_handler h = {handle, refused, &nrefused};
	struct http_conn hc;
	int closed;

	if (size < 1)
		return 0;
	http_conn_init(&hc, MAX_BODY, 64 * 1024);
	closed = fuzz_drive_conn(&hc, &h, data + 1, size - 1, (size_t)(data[0] % 64) + 1, UINT_MAX,
		check_answer);
	/* once a refusal closed the connection, a further step answers nothing */
	if (closed && nrefused && http_conn_step(&hc, &h) != 0)
		abort();
	http_conn_release(&hc);
	return 0;
}
