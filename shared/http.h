/*
 * shared/http.h - bounded HTTP/1.1 request reading and response writing.
 *
 * The server reads requests from untrusted peers: http-parser does the parsing, this module
 * caps everything (URL, each header, the header block, the number of headers, the body) and
 * stops at a message boundary so that keep-alive connections carry one request after
 * another.  Bytes after a complete request stay with the caller for the next one.
 */
#ifndef FIELDSYNC_HTTP_H
#define FIELDSYNC_HTTP_H

#include <stddef.h>

#include <http_parser.h>

#include "buf.h"
#include "err.h"

#define HTTP_URL_MAX 2048
#define HTTP_HEADER_BLOCK_MAX (16 * 1024)
#define HTTP_HEADERS_MAX 48

struct http_header {
	size_t name;  /* offset into the request's header text */
	size_t value; /* offset into the request's header text */
};

struct http_request {
	char method[16];
	struct buf url;
	struct buf header_text; /* "name\0value\0" pairs, names lowercased */
	struct http_header headers[HTTP_HEADERS_MAX];
	size_t nheaders;
	struct buf body;
	int keep_alive;
	int complete;
};

struct http_reader {
	http_parser parser;
	http_parser_settings settings;
	struct http_request req;
	int in_value; /* the last header callback was a value */
	int error;    /* first limit violation seen in a callback */
};

/* Ready to read one request with a body of at most max_body bytes; cannot fail. */
void http_reader_init(struct http_reader *r, size_t max_body);

/* Forget the current request and read the next one (same limits); cannot fail. */
void http_reader_reset(struct http_reader *r);

void http_reader_release(struct http_reader *r);

/*
 * Feed bytes.  *consumed is how many were used: fewer than len once a request is complete
 * (the rest belongs to the next one).  Returns 0 (check r->req.complete), ERR_INVALID for a
 * malformed request, ERR_TOOBIG for one over a limit (the message names the limit).
 */
int http_reader_feed(size_t *consumed, struct http_reader *r, const char *data, size_t len) WUR;

/* The value of a header (name in lowercase), or NULL. */
const char *http_header(const struct http_request *req, const char *name);

/* The reason phrase of a status code. */
const char *http_status_text(int status);

/*
 * Append a complete response: status line, Content-Type, Content-Length, Connection, then
 * the body.
 */
int http_response(struct buf *out, int status, const char *content_type, const void *body,
	size_t len, int keep_alive) WUR;

#endif
