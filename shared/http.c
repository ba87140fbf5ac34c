/* shared/http.c - bounded HTTP/1.1 requests over http-parser. */
#include "http.h"

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
	http_parser_pause(&r->parser, 0);
	http_parser_init(&r->parser, HTTP_REQUEST);
	r->parser.data = r;
}

void http_reader_release(struct http_reader *r)
{
	if (r)
		request_release(&r->req);
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

int http_response(struct buf *out, int status, const char *content_type, const void *body,
	size_t len, int keep_alive)
{
	int error = buf_printf(out,
		"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		"Cache-Control: no-store\r\nConnection: %s\r\n\r\n",
		status, http_status_text(status), content_type, len,
		keep_alive ? "keep-alive" : "close");

	if (!error && len)
		error = buf_put(out, body, len);
	return error;
}
