/* shared/pki/http.c - bounded HTTP/1.1 requests over http-parser. */
#define _GNU_SOURCE /* memmem */
#include "pki/http.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

static struct http_reader *reader_of(http_parser *p)
{
	return p->data;
}

/* Stop the parser from a callback, remembering why. */
static int fail(http_parser *p, int code, const char *what)
{
	struct http_reader *r = reader_of(p);

	if (!r->error)
		r->error = err_set(code, "%s", what);
	return -1;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	if (buf_put(&reader_of(p)->req.url, at, len))
		return fail(p, ERR_TOOBIG, "request URL too long");
	return 0;
}

static int put_header_bytes(http_parser *p, const char *at, size_t len, int lower)
{
	struct buf *t = &reader_of(p)->req.header_text;
	size_t i;

	for (i = 0; i < len; i++) {
		char c = at[i];

		if (c == '\0')
			return fail(p, ERR_INVALID, "NUL byte in a header");
		if (lower && c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (buf_putc(t, c))
			return fail(p, ERR_TOOBIG, "request headers too large");
	}
	return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct http_reader *r = reader_of(p);
	struct http_request *q = &r->req;

	if (r->in_value || q->nheaders == 0) {
		/* a new header starts: close the previous value */
		if (q->nheaders && buf_putc(&q->header_text, '\0'))
			return fail(p, ERR_TOOBIG, "request headers too large");
		if (q->nheaders == HTTP_HEADERS_MAX)
			return fail(p, ERR_TOOBIG, "too many request headers");
		q->headers[q->nheaders].name = q->header_text.len;
		q->headers[q->nheaders].value = (size_t)-1;
		q->nheaders++;
		r->in_value = 0;
	}
	return put_header_bytes(p, at, len, 1);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct http_reader *r = reader_of(p);
	struct http_request *q = &r->req;

	if (!r->in_value) {
		if (buf_putc(&q->header_text, '\0'))
			return fail(p, ERR_TOOBIG, "request headers too large");
		q->headers[q->nheaders - 1].value = q->header_text.len;
		r->in_value = 1;
	}
	return put_header_bytes(p, at, len, 0);
}

static int on_headers_complete(http_parser *p)
{
	struct http_reader *r = reader_of(p);
	struct http_request *q = &r->req;

	if (p->http_major != 1 || p->http_minor > 1)
		return fail(p, ERR_INVALID, "malformed request: HTTP version not supported (HTTP/1.0 and 1.1 only)");
	if (q->nheaders && buf_putc(&q->header_text, '\0'))
		return fail(p, ERR_TOOBIG, "request headers too large");
	if (q->nheaders && q->headers[q->nheaders - 1].value == (size_t)-1) {
		q->headers[q->nheaders - 1].value = q->header_text.len - 1;
	}
	if (p->content_length != ULLONG_MAX && p->content_length > q->body.max)
		return fail(p, ERR_TOOBIG, "request body larger than the limit");
	/* room for the announced body at once (it is within the cap): no copies while it grows */
	if (p->content_length != ULLONG_MAX && p->content_length > 0 &&
		buf_grow(&q->body, (size_t)p->content_length))
		return fail(p, ERR_NOMEM, "out of memory for the request body");
	snprintf(q->method, sizeof(q->method), "%s", http_method_str((enum http_method)p->method));
	q->keep_alive = http_should_keep_alive(p);
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	if (buf_put(&reader_of(p)->req.body, at, len))
		return fail(p, ERR_TOOBIG, "request body larger than the limit");
	return 0;
}

static int on_message_complete(http_parser *p)
{
	reader_of(p)->req.complete = 1;
	/* stop at the boundary: the next request's bytes stay with the caller */
	http_parser_pause(p, 1);
	return 0;
}

static void request_init(struct http_request *q, size_t max_body)
{
	memset(q, 0, sizeof(*q));
	buf_init(&q->url, HTTP_URL_MAX);
	buf_init(&q->header_text, HTTP_HEADER_BLOCK_MAX);
	buf_init(&q->body, max_body);
}

static void request_release(struct http_request *q)
{
	buf_release(&q->url);
	buf_release(&q->header_text);
	buf_wipe_release(&q->body);
}

void http_reader_init(struct http_reader *r, size_t max_body)
{
	memset(r, 0, sizeof(*r));
	http_parser_settings_init(&r->settings);
	r->settings.on_url = on_url;
	r->settings.on_header_field = on_header_field;
	r->settings.on_header_value = on_header_value;
	r->settings.on_headers_complete = on_headers_complete;
	r->settings.on_body = on_body;
	r->settings.on_message_complete = on_message_complete;
	http_parser_init(&r->parser, HTTP_REQUEST);
	r->parser.data = r;
	request_init(&r->req, max_body);
}

void http_reader_reset(struct http_reader *r)
{
	size_t max_body = r->req.body.max;

	request_release(&r->req);
	request_init(&r->req, max_body);
	r->in_value = 0;
	r->error = 0;
	memset(&r->scan, 0, sizeof(r->scan));
	/* http_parser_init() clears the pause and any error: http_parser_pause() must not be
	 * called here, it asserts on a parser in an error state (a refused request) */
	http_parser_init(&r->parser, HTTP_REQUEST);
	r->parser.data = r;
}

void http_reader_release(struct http_reader *r)
{
	if (r)
		request_release(&r->req);
}

/* One line of the head ended (at its CRLF): is it well formed? */
static int scan_line_end(struct http_head_scan *h)
{
	if (h->col == 0) {
		if (h->started)
			h->done = 1;
		return 0; /* an empty line before the request line is skipped (RFC 9112 2.2) */
	}
	if (h->line == 0 && (h->spaces != 2 || h->last == ' '))
		return err_set(ERR_INVALID, "malformed request: bad request line");
	if (h->line > 0 && !h->colon)
		return err_set(ERR_INVALID, "malformed request: header line without a colon");
	h->line++;
	h->col = 0;
	h->colon = 0;
	h->last = 0;
	return 0;
}

/* Check the head's bytes in data, up to the blank line that ends it. */
static int scan_head(struct http_head_scan *h, const char *data, size_t len)
{
	size_t i;

	for (i = 0; i < len && !h->done; i++) {
		char c = data[i];

		if (h->cr) {
			h->cr = 0;
			if (c != '\n')
				return err_set(ERR_INVALID, "malformed request: bare CR in the request head");
			if (scan_line_end(h))
				return ERR_INVALID;
			continue;
		}
		if (c == '\r') {
			h->cr = 1;
			continue;
		}
		if (c == '\n')
			return err_set(ERR_INVALID, "malformed request: bare LF in the request head (lines end in CRLF)");
		h->col++;
		if (h->line == 0) {
			h->started = 1;
			if (c == '\t' || (c == ' ' && (h->col == 1 || h->last == ' ')))
				return err_set(ERR_INVALID, "malformed request: bad request line");
			if (c == ' ')
				h->spaces++;
		} else if (h->col == 1 && (c == ' ' || c == '\t')) {
			return err_set(ERR_INVALID, "malformed request: folded header line (obsolete line folding)");
		} else if (!h->colon && c == ':') {
			if (h->col == 1)
				return err_set(ERR_INVALID, "malformed request: header line without a name");
			h->colon = 1;
		} else if (!h->colon && (c == ' ' || c == '\t')) {
			return err_set(ERR_INVALID, "malformed request: whitespace in a header name");
		}
		h->last = c;
	}
	return 0;
}

int http_reader_feed(size_t *consumed, struct http_reader *r, const char *data, size_t len)
{
	size_t n;
	enum http_errno e;

	*consumed = 0;
	if (r->req.complete)
		return 0;
	if (r->error)
		return r->error;
	if (!r->scan.done && scan_head(&r->scan, data, len)) {
		r->error = ERR_INVALID;
		return r->error;
	}
	n = http_parser_execute(&r->parser, &r->settings, data, len);
	e = HTTP_PARSER_ERRNO(&r->parser);
	*consumed = n;
	if (r->error)
		return r->error;
	if (e == HPE_PAUSED) {
		/* a paused parser reports the byte it stopped on as unparsed */
		return 0;
	}
	if (e != HPE_OK) {
		r->error = err_set(e == HPE_HEADER_OVERFLOW ? ERR_TOOBIG : ERR_INVALID,
			"malformed request: %s", http_errno_description(e));
		return r->error;
	}
	return 0;
}

const char *http_header(const struct http_request *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->nheaders; i++)
		if (req->headers[i].value != (size_t)-1 &&
			strcmp(req->header_text.ptr + req->headers[i].name, name) == 0)
			return req->header_text.ptr + req->headers[i].value;
	return NULL;
}

const char *http_status_text(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	default:
		return "Unknown";
	}
}

int http_response_with(struct buf *out, int status, const char *content_type, const char *extra,
	const void *body, size_t len, int keep_alive)
{
	int error = buf_printf(out,
		"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		"Cache-Control: no-store\r\n%sConnection: %s\r\n\r\n",
		status, http_status_text(status), content_type, len, extra ? extra : "",
		keep_alive ? "keep-alive" : "close");

	if (!error && len)
		error = buf_put(out, body, len);
	return error;
}

int http_response(struct buf *out, int status, const char *content_type, const void *body,
	size_t len, int keep_alive)
{
	return http_response_with(out, status, content_type, NULL, body, len, keep_alive);
}

/* Where the header block of a response ends (just past its blank line); 0 if it has none. */
static size_t header_end(const struct buf *out)
{
	const char *p = out->len >= 4 ? memmem(out->ptr, out->len, "\r\n\r\n", 4) : NULL;

	return p ? (size_t)(p - out->ptr) + 4 : 0;
}

int http_response_closes(const struct buf *out)
{
	static const char mark[] = "\r\nConnection: close\r\n\r\n";
	size_t end = header_end(out);

	/* Connection is the last header line we write; no header block at all closes too */
	return !end || end < sizeof(mark) - 1 ||
	       memcmp(out->ptr + end - (sizeof(mark) - 1), mark, sizeof(mark) - 1) == 0;
}

/* Turn the "Connection: keep-alive" of a response built by http_response() into "close". */
static void set_close(struct buf *out)
{
	static const char ka[] = "Connection: keep-alive\r\n\r\n", cl[] = "Connection: close\r\n\r\n";
	size_t end = header_end(out);

	if (end < sizeof(ka) - 1 || memcmp(out->ptr + end - (sizeof(ka) - 1), ka, sizeof(ka) - 1))
		return;
	memcpy(out->ptr + end - (sizeof(ka) - 1), cl, sizeof(cl) - 1);
	memmove(out->ptr + end - (sizeof(ka) - sizeof(cl)), out->ptr + end, out->len - end);
	out->len -= sizeof(ka) - sizeof(cl);
	out->ptr[out->len] = '\0';
}

void http_conn_init(struct http_conn *hc, size_t max_body, size_t max_pending)
{
	memset(hc, 0, sizeof(*hc));
	http_reader_init(&hc->reader, max_body);
	buf_init(&hc->pending, max_pending);
	/* an answer is at most a body the size of the largest request, plus its header */
	buf_init(&hc->out, max_body + 65536);
}

void http_conn_release(struct http_conn *hc)
{
	if (!hc)
		return;
	http_reader_release(&hc->reader);
	buf_wipe_release(&hc->pending);
	buf_wipe_release(&hc->out);
}

int http_conn_input(struct http_conn *hc, const char *data, size_t len)
{
	size_t used = 0;
	int error;

	/* straight to the parser while it wants bytes; only what it leaves waits in pending */
	if (!hc->pending.len && !hc->reader.req.complete && !hc->reader.error && !hc->closing) {
		error = http_reader_feed(&used, &hc->reader, data, len);
		if (error)
			used = len; /* refused: what follows is never parsed (see http_conn_step) */
	}
	if (used < len && buf_put(&hc->pending, data + used, len - used))
		return err_set(ERR_TOOBIG, "too many pipelined bytes");
	return 0;
}

/* The answer to a request refused before the handler; the connection closes after it. */
static int refuse(struct http_conn *hc, const struct http_handler *h, int code)
{
	char why[256], body[300];
	int status = code == ERR_TOOBIG ? 413 : 400;
	size_t i;

	snprintf(why, sizeof(why), "%s", err_msg()[0] ? err_msg() : "malformed request");
	if (code == ERR_TOOBIG && strstr(why, "URL"))
		status = 414;
	else if (code == ERR_TOOBIG && strstr(why, "header"))
		status = 431;
	if (h->refused)
		h->refused(h->ctx, status, why);
	/* our own messages: printable ASCII, nothing a JSON string would need escaped */
	for (i = 0; why[i]; i++)
		if (why[i] < 0x20 || why[i] > 0x7e || why[i] == '"' || why[i] == '\\')
			why[i] = '?';
	snprintf(body, sizeof(body), "{\"error\":\"%s\"}", why);
	hc->closing = 1;
	buf_reset(&hc->out);
	return http_response(&hc->out, status, "application/json", body, strlen(body), 0);
}

int http_conn_step(struct http_conn *hc, const struct http_handler *h)
{
	struct http_reader *r = &hc->reader;
	size_t used;
	int error;

	if (hc->closing)
		return 0; /* an answer that closes was the last */
	if (!r->req.complete && !r->error && hc->pending.len) {
		error = http_reader_feed(&used, r, hc->pending.ptr, hc->pending.len);
		if (!error) {
			memmove(hc->pending.ptr, hc->pending.ptr + used, hc->pending.len - used);
			hc->pending.len -= used;
		}
	}
	if (r->error)
		return refuse(hc, h, r->error) ? ERR_NOMEM : 1;
	if (!r->req.complete)
		return 0;
	/* An Upgrade header is ignored (RFC 9110 7.8: the answer is plain HTTP/1.1 and the bytes
	 * after it a next request); a tunnel is refused. */
	if (r->parser.upgrade && r->parser.method == HTTP_CONNECT) {
		err_set(ERR_INVALID, "CONNECT is not supported");
		return refuse(hc, h, ERR_INVALID) ? ERR_NOMEM : 1;
	}
	buf_reset(&hc->out);
	error = h->handle(h->ctx, &hc->out, &r->req);
	if (error)
		return error;
	hc->requests++;
	hc->closing = !r->req.keep_alive || http_response_closes(&hc->out);
	/* after an error, the client's idea of the exchange and ours may differ: start anew */
	if (!hc->closing && hc->out.len > 9 && hc->out.ptr[9] >= '4') {
		set_close(&hc->out);
		hc->closing = 1;
	}
	return 1;
}

void http_conn_sent(struct http_conn *hc)
{
	buf_reset(&hc->out);
	if (!hc->closing)
		http_reader_reset(&hc->reader);
}

int http_conn_partial(const struct http_conn *hc)
{
	return hc->pending.len || hc->reader.req.url.len || hc->reader.req.nheaders ||
	       hc->reader.parser.nread;
}
