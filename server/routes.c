/*
 * server/routes.c - what the server answers to each request, given who the TLS layer proved
 * the client to be.  Kept apart from the transport (serve.c) so that the whole request
 * handling can be fuzzed without sockets (tests/fuzz/fuzz_request.c).
 */
#include "routes.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "changeset.h"
#include "enroll.h"
#include "hlc.h"
#include "hq.h"
#include "hqaudit.h"
#include "hqsync.h"

void serve_log(const char *level, const char *event, const char *peer, const char *fmt, ...)
{
	char when[HLC_STR_MAX], msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	hlc_iso8601(when, hlc_now_ms());
	fprintf(stderr, "ts=%s level=%s event=%s peer=%s msg=\"%s\"\n", when, level, event,
		peer ? peer : "-", msg);
}

static int reply(struct buf *out, int status, json_t *doc, int keep_alive)
{
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	int error = http_response(out, status, "application/json", text ? text : "{}",
		text ? strlen(text) : 2, keep_alive);

	free(text);
	json_decref(doc);
	return error;
}

int routes_error(struct buf *out, int status, const char *msg, int keep_alive)
{
	return reply(out, status, json_pack("{s:s}", "error", msg), keep_alive);
}

void routes_refusal(const struct route_ctx *w, const struct route_peer *c, const char *action,
	const char *reason)
{
	char detail[256];

	snprintf(detail, sizeof(detail), "%s (from %s)", reason, c->peer);
	if (node_audit(w->node, action, c->device[0] ? c->device : c->peer, "denied", detail))
		serve_log("error", "audit", c->peer, "cannot record refusal: %s", err_msg());
	serve_log("warn", action, c->peer, "%s", reason);
}

static int route_enroll(struct buf *out, const struct route_ctx *w, const struct route_peer *c,
	const struct http_request *req)
{
	struct enroll_request er;
	struct enroll_response resp;
	struct buf body = BUF_INIT(ENROLL_BODY_MAX);
	int error, status;

	enroll_request_init(&er);
	enroll_response_init(&resp);
	error = enroll_request_decode(&er, req->body.ptr ? req->body.ptr : "", req->body.len);
	if (error)
		node_audit_failure(w->node, "device.enroll", c->peer, error);
	else
		error = hq_enroll(&resp, w->node, &er, c->peer);
	if (!error)
		error = enroll_response_encode(&body, &resp);
	if (!error) {
		serve_log("info", "device.enroll", c->peer, "device %s of office %s enrolled", resp.device,
			resp.office);
		error = http_response(out, 200, "application/json", body.ptr, body.len,
			req->keep_alive);
	} else {
		status = error == ERR_AUTH ? 403 : error == ERR_PERM ? 403 : error == ERR_EXISTS ? 409
													       : 400;
		serve_log("warn", "device.enroll", c->peer, "refused: %s", err_msg());
		error = routes_error(out, status, err_msg(), req->keep_alive);
	}
	enroll_request_release(&er);
	enroll_response_release(&resp);
	buf_release(&body);
	return error;
}

/* An unsigned number from the query string ("name=N"), or `dflt`. */
static uint64_t query_u64(const char *url, const char *name, uint64_t dflt)
{
	const char *q = strchr(url, '?'), *p;
	size_t nl = strlen(name);
	uint64_t v = 0;

	for (p = q; p; p = strchr(p + 1, '&')) {
		const char *d = p + 1;

		if (strncmp(d, name, nl) || d[nl] != '=')
			continue;
		for (d += nl + 1; *d >= '0' && *d <= '9' && v < UINT64_MAX / 10; d++)
			v = v * 10 + (uint64_t)(*d - '0');
		return v;
	}
	return dflt;
}

/* POST /v1/sync/push, GET /v1/sync/changes?since=N&limit=M, POST /v1/sync/fetch,
 * POST /v1/audit/upload. */
static int route_sync(struct buf *out, const struct route_ctx *w, const struct route_peer *c,
	const struct http_request *req)
{
	struct hq_peer peer = {c->office, c->device, c->pub, c->publen, c->peer};
	struct buf body = BUF_INIT(CHANGESET_ENCODED_MAX);
	const char *url = buf_cstr(&req->url);
	int status = 500, is_cs = 0, error;

	if (!strcmp(url, "/v1/sync/push") && !strcmp(req->method, "POST")) {
		pthread_mutex_lock(w->push_lock);
		error = hq_push(&status, &body, w->node, &peer, (const uint8_t *)req->body.ptr,
			req->body.len);
		pthread_mutex_unlock(w->push_lock);
	} else if (!strncmp(url, "/v1/sync/changes", 16) && !strcmp(req->method, "GET")) {
		error = hq_changes(&status, &body, w->node, &peer, query_u64(url, "since", 0),
			(unsigned)query_u64(url, "limit", HQSYNC_CHANGES_MAX));
	} else if (!strcmp(url, "/v1/audit/upload") && !strcmp(req->method, "POST")) {
		pthread_mutex_lock(w->push_lock);
		error = hq_audit_upload(&status, &body, w->node, &peer, req->body.ptr,
			req->body.len);
		pthread_mutex_unlock(w->push_lock);
	} else if (!strcmp(url, "/v1/sync/fetch") && !strcmp(req->method, "POST")) {
		error = hq_fetch(&status, &body, &is_cs, w->node, &peer, req->body.ptr,
			req->body.len);
	} else {
		buf_release(&body);
		return routes_error(out, 404, "no such route", req->keep_alive);
	}
	if (!error && status != 200)
		serve_log("warn", "sync", c->peer, "device %s: %s", c->device, buf_cstr(&body));
	if (!error)
		error = http_response(out, status, is_cs ? "application/octet-stream" : "application/json",
			body.ptr ? body.ptr : "", body.len, req->keep_alive);
	else
		error = routes_error(out, 500, err_msg(), 0);
	buf_release(&body);
	return error;
}

/* POST /v1/renew {"csr": base64 DER} -> {"certificate": base64 DER}: same key, same subject. */
static int route_renew(struct buf *out, const struct route_ctx *w, const struct route_peer *c,
	const struct http_request *req)
{
	json_t *doc = json_loadb(req->body.ptr ? req->body.ptr : "", req->body.len, 0, NULL);
	const char *csr64 = json_string_value(json_object_get(doc, "csr"));
	struct buf csr = BUF_INIT(ENROLL_DER_MAX), cert = BUF_INIT(ENROLL_DER_MAX);
	struct buf b64 = BUF_INIT(2 * ENROLL_DER_MAX);
	int error = csr64 ? enroll_b64_decode(&csr, csr64)
			  : err_set(ERR_INVALID, "a renewal names a CSR in 'csr'");

	if (!error)
		error = hq_renew(&cert, w->node, c->office, c->device, c->pub, c->publen,
			(const uint8_t *)csr.ptr, csr.len);
	if (!error)
		error = enroll_b64_encode(&b64, (const uint8_t *)cert.ptr, cert.len);
	if (!error) {
		serve_log("info", "device.renew", c->peer, "device %s of office %s renewed", c->device,
			c->office);
		error = reply(out, 200, json_pack("{s:s}", "certificate", b64.ptr), req->keep_alive);
	} else {
		error = routes_error(out, error == ERR_AUTH ? 403 : 400, err_msg(), req->keep_alive);
	}
	json_decref(doc);
	buf_release(&csr);
	buf_release(&cert);
	buf_release(&b64);
	return error;
}

/* Routes that need a valid, unrevoked client certificate. */
static int route_authenticated(struct buf *out, const struct route_ctx *w, const struct route_peer *c,
	const struct http_request *req)
{
	const char *url = buf_cstr(&req->url);
	char held[512];
	int revoked = 1;

	if (!c->cert_ok) {
		routes_refusal(w, c, "request.refused", c->why);
		return routes_error(out, 401, c->why, 0);
	}
	/* On every request: a revocation also ends connections already open. */
	if (hq_serial_revoked(&revoked, w->node, c->serial))
		return routes_error(out, 500, "cannot check revocation", 0);
	if (revoked) {
		routes_refusal(w, c, "request.refused", "device or office revoked");
		return routes_error(out, 403, "this device or its office is revoked", 0);
	}
	if (hq_device_held(held, sizeof(held), w->node, c->device))
		return routes_error(out, 500, "cannot read the device record", 0);
	if (held[0] && (!strncmp(url, "/v1/sync/", 9) || !strncmp(url, "/v1/audit/", 10))) {
		char msg[700];

		snprintf(msg, sizeof(msg),
			"this device is held after a failed audit-trail check (%s); an administrator "
			"must review it and run 'fieldsync-server device release %s'",
			held, c->device);
		routes_refusal(w, c, "request.refused", "device held after a security alert");
		return routes_error(out, 403, msg, req->keep_alive);
	}
	if (!strncmp(url, "/v1/sync/", 9) || !strncmp(url, "/v1/audit/", 10))
		return route_sync(out, w, c, req);
	if (hq_serial_in_use(w->node, c->serial))
		return routes_error(out, 500, "cannot record the certificate in use", 0);
	if (!strcmp(url, "/v1/renew") && !strcmp(req->method, "POST"))
		return route_renew(out, w, c, req);
	if (!strcmp(url, "/v1/health") && !strcmp(req->method, "GET"))
		return reply(out, 200,
			json_pack("{s:s, s:s, s:s}", "status", "ok", "office", c->office, "device",
				c->device),
			req->keep_alive);
	return routes_error(out, 404, "no such route", req->keep_alive);
}

int routes_handle(struct buf *out, const struct route_ctx *w, const struct route_peer *c,
	const struct http_request *req)
{
	const char *url = buf_cstr(&req->url);
	struct buf b64 = BUF_INIT(16384);
	int error;

	if (!strcmp(url, "/v1/ca") && !strcmp(req->method, "GET")) {
		error = enroll_b64_encode(&b64, (const uint8_t *)w->ca_der->ptr,
			w->ca_der->len);
		if (!error)
			error = reply(out, 200, json_pack("{s:s}", "ca", b64.ptr), req->keep_alive);
		buf_release(&b64);
		return error;
	}
	if (!strcmp(url, "/v1/enroll"))
		return strcmp(req->method, "POST")
			       ? routes_error(out, 405, "use POST", req->keep_alive)
			       : route_enroll(out, w, c, req);
	return route_authenticated(out, w, c, req);
}

