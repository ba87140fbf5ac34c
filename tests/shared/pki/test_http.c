/* tests/shared/pki/test_http.c - bounded HTTP request reading. */
#include <stdio.h>
#include <string.h>

#include "pki/http.h"
#include "testutil.h"

/* Feed the whole text (in pieces of `step` bytes); returns the error and bytes consumed. */
static int feed(struct http_reader *r, const char *text, size_t step, size_t *used)
{
	size_t len = strlen(text), off = 0, n;
	int error = 0;

	while (off < len && !r->req.complete) {
		size_t chunk = len - off < step ? len - off : step;

		error = http_reader_feed(&n, r, text + off, chunk);
		off += n;
		if (error)
			break;
		if (n < chunk && !r->req.complete)
			fail_msg("parser stopped early at %zu", off);
	}
	*used = off;
	return error;
}

static void test_simple_get(void **state)
{
	struct http_reader r;
	size_t used;

	(void)state;
	http_reader_init(&r, 1024);
	assert_int_equal(feed(&r, "GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Thing: A b\r\n\r\n",
				 1000, &used),
		0);
	assert_true(r.req.complete);
	assert_string_equal(r.req.method, "GET");
	assert_string_equal(buf_cstr(&r.req.url), "/v1/health");
	assert_string_equal(http_header(&r.req, "x-thing"), "A b");
	assert_string_equal(http_header(&r.req, "host"), "x");
	assert_null(http_header(&r.req, "X-Thing")); /* names are looked up lowercased */
	assert_true(r.req.keep_alive);
	http_reader_release(&r);
}

static void test_byte_by_byte_with_body(void **state)
{
	const char *req = "POST /v1/enroll HTTP/1.1\r\nContent-Length: 5\r\n"
			  "Content-Type: application/json\r\n\r\nhello";
	struct http_reader r;
	size_t used;

	(void)state;
	http_reader_init(&r, 1024);
	assert_int_equal(feed(&r, req, 1, &used), 0);
	assert_true(r.req.complete);
	assert_int_equal(used, strlen(req));
	assert_int_equal(r.req.body.len, 5);
	assert_memory_equal(r.req.body.ptr, "hello", 5);
	assert_string_equal(http_header(&r.req, "content-type"), "application/json");
	http_reader_release(&r);
}

static void test_pipelined_requests(void **state)
{
	const char *two = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: y\r\n\r\n";
	struct http_reader r;
	size_t used, n;

	(void)state;
	http_reader_init(&r, 1024);
	assert_int_equal(feed(&r, two, 1000, &used), 0);
	assert_true(r.req.complete);
	assert_string_equal(buf_cstr(&r.req.url), "/a");
	assert_true(used < strlen(two));
	http_reader_reset(&r);
	assert_int_equal(http_reader_feed(&n, &r, two + used, strlen(two) - used), 0);
	assert_true(r.req.complete);
	assert_string_equal(buf_cstr(&r.req.url), "/b");
	assert_string_equal(http_header(&r.req, "host"), "y");
	http_reader_release(&r);
}

static void test_chunked_body(void **state)
{
	const char *req = "POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
			  "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
	struct http_reader r;
	size_t used;

	(void)state;
	http_reader_init(&r, 1024);
	assert_int_equal(feed(&r, req, 7, &used), 0);
	assert_true(r.req.complete);
	assert_int_equal(r.req.body.len, 5);
	assert_memory_equal(r.req.body.ptr, "abcde", 5);
	http_reader_release(&r);
}

static void test_limits(void **state)
{
	char big[HTTP_URL_MAX + 100], hdrs[8192];
	struct http_reader r;
	size_t used, i, off = 0;

	(void)state;
	/* body over the cap, announced by Content-Length: refused before it arrives */
	http_reader_init(&r, 10);
	assert_int_equal(feed(&r, "POST /p HTTP/1.1\r\nContent-Length: 11\r\n\r\n", 100, &used),
		ERR_TOOBIG);
	http_reader_release(&r);
	/* chunked body over the cap */
	http_reader_init(&r, 4);
	assert_int_equal(feed(&r, "POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
				  "5\r\nabcde\r\n0\r\n\r\n",
				 100, &used),
		ERR_TOOBIG);
	http_reader_release(&r);
	/* URL too long */
	snprintf(big, sizeof(big), "GET /");
	memset(big + 5, 'a', HTTP_URL_MAX);
	snprintf(big + 5 + HTTP_URL_MAX, sizeof(big) - 5 - HTTP_URL_MAX, " HTTP/1.1\r\n\r\n");
	http_reader_init(&r, 10);
	assert_int_equal(feed(&r, big, 512, &used), ERR_TOOBIG);
	assert_non_null(strstr(err_msg(), "URL"));
	http_reader_release(&r);
	/* too many headers */
	off = (size_t)snprintf(hdrs, sizeof(hdrs), "GET / HTTP/1.1\r\n");
	for (i = 0; i < HTTP_HEADERS_MAX + 1; i++)
		off += (size_t)snprintf(hdrs + off, sizeof(hdrs) - off, "h%zu: v\r\n", i);
	snprintf(hdrs + off, sizeof(hdrs) - off, "\r\n");
	http_reader_init(&r, 10);
	assert_int_equal(feed(&r, hdrs, 64, &used), ERR_TOOBIG);
	assert_non_null(strstr(err_msg(), "too many"));
	/* the error sticks: nothing more is accepted */
	assert_int_equal(http_reader_feed(&used, &r, "x", 1), ERR_TOOBIG);
	http_reader_release(&r);
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {"GARBAGE\r\n\r\n", "GET / HTTP/1.1\r\nNo colon here\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"};
	struct http_reader r;
	size_t used, i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		http_reader_init(&r, 100);
		assert_int_equal(feed(&r, bad[i], 100, &used), ERR_INVALID);
		assert_false(r.req.complete);
		assert_non_null(strstr(err_msg(), "malformed request"));
		http_reader_release(&r);
	}
}

/* A reader that refused a request can be reset and read the next one: the reset must not
 * pause a parser in its error state (http-parser asserts on that; one request aborted HQ). */
static void test_reset_after_error(void **state)
{
	static const char *const bad[] = {"GET /v1/ca HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
		"G\x01T / HTTP/1.1\r\n\r\n", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"};
	struct http_reader r;
	size_t used, i;

	(void)state;
	http_reader_init(&r, 100);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_not_equal(feed(&r, bad[i], 100, &used), 0);
		http_reader_reset(&r);
		assert_int_equal(feed(&r, "GET /ok HTTP/1.1\r\n\r\n", 100, &used), 0);
		assert_true(r.req.complete);
		assert_string_equal(buf_cstr(&r.req.url), "/ok");
		http_reader_reset(&r);
	}
	http_reader_release(&r);
}

/* What a lenient parser would guess at is refused, in every split of the bytes. */
static void test_strict_head(void **state)
{
	static const char *const bad[] = {"GET  / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1 \r\n\r\n",
		"GET /\tHTTP/1.1\r\n\r\n", "GET / HTTP/9.9\r\n\r\n", "GET / HTTP/1.1\nHost: x\n\n",
		"GET / HTTP/1.1\r\nHost: x\r\n continued\r\n\r\n", "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
		"GET / HTTP/1.1\r\n: x\r\n\r\n", "GET / HTTP/1.1\r\nHost: x\rY: z\r\n\r\n",
		" GET / HTTP/1.1\r\n\r\n"};
	static const char *const good[] = {"\r\nGET / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.0\r\nA:b\r\nC:  d e \r\n\r\n"};
	struct http_reader r;
	size_t used, i, step;

	(void)state;
	for (step = 1; step <= 100; step += 99) {
		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			http_reader_init(&r, 100);
			if (feed(&r, bad[i], step, &used) != ERR_INVALID)
				fail_msg("accepted: %s (step %zu)", bad[i], step);
			assert_non_null(strstr(err_msg(), "malformed request"));
			http_reader_release(&r);
		}
		for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
			http_reader_init(&r, 100);
			assert_int_equal(feed(&r, good[i], step, &used), 0);
			assert_true(r.req.complete);
			http_reader_release(&r);
		}
	}
}

static int answer_url(void *ctx, struct buf *out, const struct http_request *req)
{
	(void)ctx;
	return http_response(out, strcmp(buf_cstr(&req->url), "/missing") ? 200 : 404, "text/plain",
		req->url.ptr, req->url.len, req->keep_alive);
}

static void count_refusal(void *ctx, int status, const char *why)
{
	(void)why;
	*(int *)ctx = status;
}

/* Feed text to a connection in one piece; the answers, one after another, into `all`. */
static int converse(struct http_conn *hc, struct http_handler *h, const char *text,
	struct buf *all)
{
	int rc;

	assert_int_equal(http_conn_input(hc, text, strlen(text)), 0);
	while ((rc = http_conn_step(hc, h)) == 1) {
		assert_int_equal(buf_put(all, hc->out.ptr, hc->out.len), 0);
		if (hc->closing)
			return 1;
		http_conn_sent(hc);
	}
	return rc;
}

/* The connection loop: pipelined requests answered in turn; a refusal or an error answer
 * closes the connection, and nothing after it is read. */
static void test_conn_loop(void **state)
{
	struct buf all = BUF_INIT(1 << 20);
	struct http_conn hc;
	int refused = 0;
	struct http_handler h = {answer_url, count_refusal, &refused};

	(void)state;
	http_conn_init(&hc, 100, 4096);
	assert_int_equal(converse(&hc, &h, "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c", &all),
		0);
	assert_int_equal(hc.requests, 2);
	assert_true(http_conn_partial(&hc));
	assert_int_equal(converse(&hc, &h, " HTTP/1.1\r\nContent-Length: -1\r\n\r\nGET /d HTTP/1.1\r\n\r\n",
				 &all),
		1);
	assert_int_equal(refused, 400);
	assert_non_null(strstr(buf_cstr(&all), "HTTP/1.1 400 Bad Request"));
	assert_non_null(strstr(buf_cstr(&all), "Connection: close\r\n\r\n{\"error\""));
	assert_null(strstr(buf_cstr(&all), "/d"));
	assert_int_equal(http_conn_step(&hc, &h), 0); /* closed: nothing more is answered */
	http_conn_release(&hc);

	/* an error answer of the handler closes too, and says so */
	buf_reset(&all);
	http_conn_init(&hc, 100, 4096);
	assert_int_equal(converse(&hc, &h, "GET /missing HTTP/1.1\r\n\r\nGET /e HTTP/1.1\r\n\r\n", &all),
		1);
	assert_non_null(strstr(buf_cstr(&all), "404"));
	assert_non_null(strstr(buf_cstr(&all), "Connection: close\r\n\r\n/missing"));
	assert_null(strstr(buf_cstr(&all), "/e"));
	http_conn_release(&hc);

	/* an Upgrade header is ignored; a CONNECT tunnel is refused */
	buf_reset(&all);
	http_conn_init(&hc, 100, 4096);
	assert_int_equal(converse(&hc, &h,
				 "GET /u HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
				 "GET /v HTTP/1.1\r\n\r\nCONNECT x:443 HTTP/1.1\r\n\r\n",
				 &all),
		1);
	assert_int_equal(hc.requests, 2);
	assert_non_null(strstr(buf_cstr(&all), "CONNECT is not supported"));
	http_conn_release(&hc);

	/* more pipelined than the cap is an error for the transport to close on */
	http_conn_init(&hc, 100, 16);
	assert_int_equal(http_conn_input(&hc, "GET /a HTTP/1.1\r\n\r\n", 19), 0);
	assert_int_equal(http_conn_input(&hc, "GET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n", 38),
		ERR_TOOBIG);
	http_conn_release(&hc);
	buf_release(&all);
}

static void test_connection_close(void **state)
{
	struct http_reader r;
	size_t used;

	(void)state;
	http_reader_init(&r, 100);
	assert_int_equal(feed(&r, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 100, &used), 0);
	assert_false(r.req.keep_alive);
	http_reader_release(&r);
	http_reader_init(&r, 100);
	assert_int_equal(feed(&r, "GET / HTTP/1.0\r\n\r\n", 100, &used), 0);
	assert_false(r.req.keep_alive);
	http_reader_release(&r);
}

static void test_response(void **state)
{
	struct buf out = BUF_INIT(4096);

	(void)state;
	TU_OK(http_response(&out, 404, "application/json", "{\"error\":\"x\"}", 13, 1));
	assert_string_equal(buf_cstr(&out),
		"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 13\r\n"
		"Cache-Control: no-store\r\nConnection: keep-alive\r\n\r\n{\"error\":\"x\"}");
	buf_release(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_get),
		cmocka_unit_test(test_byte_by_byte_with_body),
		cmocka_unit_test(test_pipelined_requests),
		cmocka_unit_test(test_chunked_body),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_reset_after_error),
		cmocka_unit_test(test_strict_head),
		cmocka_unit_test(test_conn_loop),
		cmocka_unit_test(test_connection_close),
		cmocka_unit_test(test_response),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
