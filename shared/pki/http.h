/*
 * shared/pki/http.h - bounded HTTP/1.1 request reading and response writing.
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

#include "base/buf.h"
#include "base/err.h"

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

/* Where the strict check of a request's head is (see http_reader_feed). */
struct http_head_scan {
	int done;     /* the blank line that ends the head was seen */
	int started;  /* the request line began (empty lines before it are skipped) */
	int cr;	      /* the last byte was CR */
	unsigned line; /* 0: the request line */
	size_t col;   /* bytes in the current line */
	int spaces;   /* spaces in the request line */
	int colon;    /* the header line's colon was seen */
	char last;    /* the previous byte of the line */
};

struct http_reader {
	struct http_head_scan scan;
	http_parser parser;
	http_parser_settings settings;
	struct http_request req;
	int in_value; /* the last header callback was a value */
	int error;    /* first limit violation seen in a callback */
};

/* Ready to read one request with a body of at most max_body bytes; cannot fail. */
void http_reader_init(struct http_reader *r, size_t max_body);

/* Forget the current request (complete, refused or half read) and read the next one with the
 * same limits; cannot fail. */
void http_reader_reset(struct http_reader *r);

void http_reader_release(struct http_reader *r);

/*
 * Feed bytes.  *consumed is how many were used: fewer than len once a request is complete
 * (the rest belongs to the next one).  Returns 0 (check r->req.complete), ERR_INVALID for a
 * malformed request, ERR_TOOBIG for one over a limit (the message names the limit).
 *
 * The head is held to RFC 9112's strict grammar, beyond what http-parser checks: every line
 * ends in CRLF (no bare LF or CR), the request line is three parts split by single spaces,
 * no obsolete line folding, no whitespace in or after a header name, HTTP/1.0 or 1.1 only.
 * What a lenient parser would guess at is refused instead.
 */
int http_reader_feed(size_t *consumed, struct http_reader *r, const char *data, size_t len) WUR;

/* The value of a header (name in lowercase), or NULL. */
const char *http_header(const struct http_request *req, const char *name);

/* The reason phrase of a status code. */
const char *http_status_text(int status);

/*
 * Append a complete response: status line, Content-Type, Content-Length, Cache-Control,
 * Connection, then the body.
 */
int http_response(struct buf *out, int status, const char *content_type, const void *body,
	size_t len, int keep_alive) WUR;

/* The same with more header lines (`extra`: "Name: value\r\n" each, or NULL). */
int http_response_with(struct buf *out, int status, const char *content_type, const char *extra,
	const void *body, size_t len, int keep_alive) WUR;

/* 1 if the response in `out` (as built above) closes the connection. */
int http_response_closes(const struct buf *out);

/*
 * One connection's HTTP exchange, apart from its transport: the bytes received go in, one
 * answer at a time comes out, and whether the connection may carry another request.  The
 * server's connection handling and the fuzz targets run this same loop:
 *
 *	http_conn_init(&hc, max_body, max_pending);
 *	on bytes received:  http_conn_input(&hc, data, len);
 *	                    while ((rc = http_conn_step(&hc, &handler)) == 1) {
 *	                            send hc.out;
 *	                            if (hc.closing) close;
 *	                            http_conn_sent(&hc);
 *	                    }
 *	                    if (rc < 0) close;
 *
 * A request refused before it reaches the handler (malformed, over a limit, an upgrade) gets
 * its 4xx answer with "Connection: close" and the connection closes after it: the bytes after
 * a broken request cannot be trusted to start the next one.
 */
struct http_handler {
	/* Answer one complete request into out (a whole response); an error closes at once. */
	int (*handle)(void *ctx, struct buf *out, const struct http_request *req);
	/* A request refused before `handle`: status 400, 413 or 431 and why. */
	void (*refused)(void *ctx, int status, const char *why);
	void *ctx;
};

struct http_conn {
	struct http_reader reader;
	struct buf pending; /* received, not yet parsed (pipelined requests) */
	struct buf out;	    /* the answer to send */
	int closing;	    /* close once `out` is sent */
	unsigned requests;  /* answered so far */
};

/* Ready for the first request; cannot fail. */
void http_conn_init(struct http_conn *hc, size_t max_body, size_t max_pending);
void http_conn_release(struct http_conn *hc);

/* Bytes received.  ERR_TOOBIG when more is pipelined than max_pending. */
int http_conn_input(struct http_conn *hc, const char *data, size_t len) WUR;

/*
 * Parse what was received: 1 when an answer is ready in hc->out (send it, then call
 * http_conn_sent()), 0 when more bytes are needed, a negative error when the connection must
 * close now without an answer.
 */
int http_conn_step(struct http_conn *hc, const struct http_handler *h) WUR;

/* The answer in hc->out was sent: go on with the next request. */
void http_conn_sent(struct http_conn *hc);

/* 1 if part of a request has arrived (a connection closed now cuts a request short). */
int http_conn_partial(const struct http_conn *hc);

#endif
