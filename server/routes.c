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

#include "audit/wire.h"
#include "sync/changeset.h"
#include "pki/enroll.h"
#include "base/crypto.h"
#include "base/hlc.h"
#include "pki/pki.h"
#include "hq.h"
#include "hqaudit.h"
#include "hqsync.h"
#include "hqevidence.h"
#include "metrics.h"

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

/* A JSON error answer with more header lines. */
static int error_with(struct buf *out, int status, const char *extra, const char *msg,
	int keep_alive)
{
	json_t *doc = json_pack("{s:s}", "error", msg);
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	int error = http_response_with(out, status, "application/json", extra,
		text ? text : "{}", text ? strlen(text) : 2, keep_alive);

	free(text);
	json_decref(doc);
	return error;
}

int routes_error(struct buf *out, int status, const char *msg, int keep_alive)
{
	return error_with(out, status, NULL, msg, keep_alive);
}

void routes_refusal(const struct route_ctx *w, const struct route_peer *c, const char *action,
	const char *reason)
{
	char detail[256];

	metrics_refusal(action, reason);
	serve_log("warn", action, c->peer, "%s", reason);
	if (!c->cert_ok && !peers_refusal_record(w->peers, c->peer))
		return; /* counted: recorded with the others by routes_fold() */
	snprintf(detail, sizeof(detail), "%s (from %s)", reason, c->peer);
	if (node_audit(w->node, action, c->device[0] ? c->device : c->peer, "denied", detail))
		serve_log("error", "audit", c->peer, "cannot record refusal: %s", err_msg());
}

void routes_fold(void *ctx, const char *addr, const char *what, uint64_t count)
{
	const struct route_ctx *w = ctx;
	char detail[256];
	int enroll = !strcmp(what, "enroll");

	if (enroll)
		snprintf(detail, sizeof(detail),
			"%llu enrollment attempts from %s refused while throttled (the first "
			"recorded on its own)",
			(unsigned long long)count, addr);
	else
		snprintf(detail, sizeof(detail),
			"%llu further refusals of unauthenticated connections from %s (over %d a "
			"minute, not recorded one by one)",
			(unsigned long long)count, addr, PEERS_REFUSALS_PER_MINUTE);
	if (node_audit(w->node, enroll ? "device.enroll" : "request.refused", addr, "denied",
		    detail))
		serve_log("error", "audit", addr, "cannot record refusals: %s", err_msg());
	serve_log("warn", enroll ? "device.enroll" : "request.refused", addr, "%s", detail);
}

static int route_enroll(struct buf *out, const struct route_ctx *w, const struct route_peer *c,
	const struct http_request *req)
{
	struct enroll_request er;
	struct enroll_response resp;
	struct buf body = BUF_INIT(ENROLL_BODY_MAX);
	int error, status;

	unsigned retry_after = 0;
	int first = 0;

	enroll_request_init(&er);
	enroll_response_init(&resp);
	if (peers_enroll_check(&retry_after, &first, w->peers, c->peer)) {
		char hdr[64], detail[256];

		if (first) {
			snprintf(detail, sizeof(detail), "%s; later attempts are counted", err_msg());
			if (node_audit(w->node, "device.enroll", c->peer, "denied", detail))
				serve_log("error", "audit", c->peer, "%s", err_msg());
			serve_log("warn", "device.enroll", c->peer, "%s", detail);
		}
		metrics_refusal("device.enroll", "throttled");
		snprintf(hdr, sizeof(hdr), "Retry-After: %u\r\n", retry_after);
		error = error_with(out, 429, hdr, err_msg(), req->keep_alive);
		goto out;
	}
	error = enroll_request_decode(&er, req->body.ptr ? req->body.ptr : "", req->body.len);
	if (error)
		node_audit_failure(w->node, "device.enroll", c->peer, error);
	else
		error = hq_enroll(&resp, w->node, &er, c->peer);
	peers_enroll_result(w->peers, c->peer, error != 0);
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
		metrics_refusal("device.enroll", err_msg());
		serve_log("warn", "device.enroll", c->peer, "refused: %s", err_msg());
		error = routes_error(out, status, err_msg(), req->keep_alive);
	}
out:
	enroll_request_release(&er);
	enroll_response_release(&resp);
	buf_release(&body);
	return error;
}

/*
 * The feed's query string: since=N (0 to 2^63-1) and limit=M (1 to HQSYNC_CHANGES_MAX), each
 * at most once, digits only; anything else is refused with the parameter named.
 */
static int changes_query(uint64_t *since, unsigned *limit, const char *query)
{
	const char *p = query;
	int seen_since = 0, seen_limit = 0;

	*since = 0;
	*limit = HQSYNC_CHANGES_MAX;
	while (p && *p) {
		const char *eq = strchr(p, '='), *amp = strchr(p, '&'), *d;
		size_t nl = eq && (!amp || eq < amp) ? (size_t)(eq - p) : 0;
		uint64_t v = 0, max;
		int *seen;

		if (nl == 5 && !strncmp(p, "since", 5)) {
			seen = &seen_since;
			max = INT64_MAX;
		} else if (nl == 5 && !strncmp(p, "limit", 5)) {
			seen = &seen_limit;
			max = HQSYNC_CHANGES_MAX;
		} else {
			size_t len = amp ? (size_t)(amp - p) : strlen(p);

			return err_set(ERR_INVALID, "unknown query parameter '%.*s'",
				(int)(len > 64 ? 64 : len), p);
		}
		if (*seen)
			return err_set(ERR_INVALID, "query parameter '%.5s' given twice", p);
		*seen = 1;
		d = eq + 1;
		if (!(*d >= '0' && *d <= '9'))
			return err_set(ERR_INVALID, "query parameter '%.5s' takes a decimal number", p);
		for (; *d >= '0' && *d <= '9'; d++) {
			if (v > (max - (uint64_t)(*d - '0')) / 10)
				return err_set(ERR_INVALID, "query parameter '%.5s' out of range (%s%llu)",
					p, seen == &seen_limit ? "1 to " : "0 to ",
					(unsigned long long)max);
			v = v * 10 + (uint64_t)(*d - '0');
		}
		if (*d && *d != '&')
			return err_set(ERR_INVALID, "query parameter '%.5s' takes a decimal number", p);
		if (seen == &seen_limit && v == 0)
			return err_set(ERR_INVALID, "query parameter 'limit' out of range (1 to %d)",
				HQSYNC_CHANGES_MAX);
		if (seen == &seen_since)
			*since = v;
		else
			*limit = (unsigned)v;
		p = *d ? d + 1 : d;
	}
	return 0;
}

/* The path of a URL without its query string, compared whole. */
static int path_is(const char *url, const char *path)
{
	size_t n = strlen(path);

	return !strncmp(url, path, n) && (url[n] == '\0' || url[n] == '?');
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
	} else if (path_is(url, "/v1/sync/changes") && !strcmp(req->method, "GET")) {
		uint64_t since;
		unsigned limit;
		const char *q = strchr(url, '?');

		if (changes_query(&since, &limit, q ? q + 1 : "")) {
			buf_release(&body);
			return routes_error(out, 400, err_msg(), req->keep_alive);
		}
		json_t *pki = json_pack("{s:s, s:s?}", "ca", w->pki->ca_fp, "next",
			w->pki->next_fp[0] ? w->pki->next_fp : NULL);

		error = pki ? hq_changes(&status, &body, w->node, &peer, since, limit, pki,
				      w->pki->generation)
			    : err_set(ERR_NOMEM, "out of memory");
		json_decref(pki);
	} else if (!strcmp(url, "/v1/audit/upload") && !strcmp(req->method, "POST")) {
		/* the agent's body is compressed (audit/wire.h); plain JSON is still taken */
		const char *type = http_header(req, "content-type");
		struct buf json = BUF_INIT(AUDIT_WIRE_INFLATED_MAX);
		int packed = type && !strcmp(type, AUDIT_WIRE_TYPE);

		if (packed && audit_wire_unpack(&json, req->body.ptr, req->body.len)) {
			buf_release(&json);
			buf_release(&body);
			return routes_error(out, 400, err_msg(), req->keep_alive);
		}
		pthread_mutex_lock(w->push_lock);
		error = hq_audit_upload(&status, &body, w->node, &peer,
			packed ? json.ptr : req->body.ptr, packed ? json.len : req->body.len);
		pthread_mutex_unlock(w->push_lock);
		buf_release(&json);
	} else if (!strcmp(url, "/v1/evidence/lack") && !strcmp(req->method, "POST")) {
		error = hq_evidence_lack(&status, &body, w->node, &peer, req->body.ptr,
			req->body.len);
	} else if (!strcmp(url, "/v1/evidence/upload") && !strcmp(req->method, "POST")) {
		pthread_mutex_lock(w->push_lock);
		error = hq_evidence_upload(&status, &body, w->node, &peer,
			(const uint8_t *)req->body.ptr, req->body.len);
		pthread_mutex_unlock(w->push_lock);
	} else if (!strcmp(url, "/v1/evidence/download") && !strcmp(req->method, "POST")) {
		error = hq_evidence_download(&status, &body, &is_cs, w->node, &peer, req->body.ptr,
			req->body.len);
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

/*
 * POST /v1/renew {"csr": base64 DER[, "issuer": CA fingerprint hex]} -> {"certificate": base64
 * DER}: same key, same subject; under the current CA, or the one named (the next CA of a
 * rollover).
 */
static int route_renew(struct buf *out, const struct route_ctx *w, const struct route_peer *c,
	const struct http_request *req)
{
	json_t *doc = json_loadb(req->body.ptr ? req->body.ptr : "", req->body.len, 0, NULL);
	const char *csr64 = json_string_value(json_object_get(doc, "csr"));
	struct buf csr = BUF_INIT(ENROLL_DER_MAX), cert = BUF_INIT(ENROLL_DER_MAX);
	struct buf b64 = BUF_INIT(2 * ENROLL_DER_MAX);
	int error = csr64 ? enroll_b64_decode(&csr, csr64)
			  : err_set(ERR_INVALID, "a renewal names a CSR in 'csr'");

	const char *issuer = json_string_value(json_object_get(doc, "issuer"));

	/* only under a CA this service admits: the new certificate must work at the next request */
	if (!error && issuer && strcmp(issuer, w->pki->ca_fp) && strcmp(issuer, w->pki->next_fp))
		error = err_set(ERR_INVALID, "this service does not issue under the CA %.16s...",
			issuer);
	if (!error)
		error = hq_renew(&cert, w->node, c->office, c->device, c->pub, c->publen,
			(const uint8_t *)csr.ptr, csr.len, issuer);
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

static json_t *b64_of(const void *der, size_t len)
{
	struct buf b64 = BUF_INIT(2 * ENROLL_DER_MAX);
	json_t *v = NULL;

	if (!enroll_b64_encode(&b64, der, len))
		v = json_string(b64.ptr);
	buf_release(&b64);
	return v;
}

/*
 * GET /v1/pki -> {"ca": b64, "next": b64|null, "cross": b64|null, "retired": [b64...]}: the CAs
 * a device needs through a rollover, and the retired ones that signed older receipts.
 */
static int route_pki(struct buf *out, const struct route_ctx *w, const struct http_request *req)
{
	const struct route_pki *p = w->pki;
	json_t *retired = json_array(), *doc;
	const uint8_t *one = NULL;
	size_t len = 0, pos = 0;

	while (retired && pki_trust_next(&one, &len, (const uint8_t *)p->retired.ptr,
				  p->retired.len, &pos) > 0) {
		json_array_append_new(retired, b64_of(one, len));
	}
	doc = json_pack("{s:o, s:o, s:o, s:o}", "ca", b64_of(p->ca.ptr, p->ca.len), "next",
		p->next.len ? b64_of(p->next.ptr, p->next.len) : json_null(), "cross",
		p->cross.len ? b64_of(p->cross.ptr, p->cross.len) : json_null(), "retired",
		retired);
	if (!doc)
		return routes_error(out, 500, "out of memory", 0);
	return reply(out, 200, doc, req->keep_alive);
}

static void fp_hex(char out[65], const struct buf *der)
{
	out[0] = '\0';
	if (der->len)
		pki_fingerprint_hex(out, (const uint8_t *)der->ptr, der->len);
}

int route_pki_load(struct route_pki *p, struct node *n)
{
	int error;

	buf_init(&p->ca, PKI_DER_MAX);
	buf_init(&p->next, PKI_DER_MAX);
	buf_init(&p->cross, PKI_DER_MAX);
	buf_init(&p->retired, PKI_TRUST_MAX * PKI_DER_MAX);
	error = hq_pki_get(&p->ca, n, "ca_cert");
	if (!error && hq_pki_get(&p->next, n, "ca_next_cert") == 0)
		error = hq_pki_get(&p->cross, n, "ca_next_cross");
	if (!error && hq_pki_get(&p->retired, n, "ca_prev_certs") == ERR_NOTFOUND)
		buf_reset(&p->retired);
	fp_hex(p->ca_fp, &p->ca);
	fp_hex(p->next_fp, &p->next);
	if (!error)
		error = hq_generation(p->generation, n);
	return error;
}

void route_pki_release(struct route_pki *p)
{
	buf_release(&p->ca);
	buf_release(&p->next);
	buf_release(&p->cross);
	buf_release(&p->retired);
}

/* POST /v1/device/restored (hqaudit.h). */
static int route_restored(struct buf *out, const struct route_ctx *w, const struct route_peer *c,
	const struct http_request *req)
{
	struct hq_peer peer = {c->office, c->device, c->pub, c->publen, c->peer};
	struct buf body = BUF_INIT(4096);
	int status = 500, error;

	pthread_mutex_lock(w->push_lock);
	error = hq_device_restored(&status, &body, w->node, &peer, req->body.ptr, req->body.len);
	pthread_mutex_unlock(w->push_lock);
	if (!error)
		error = http_response(out, status, "application/json", body.ptr ? body.ptr : "",
			body.len, req->keep_alive);
	else
		error = routes_error(out, 500, err_msg(), 0);
	buf_release(&body);
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
	if (!strcmp(url, "/v1/device/restored")) /* answered while held: it is why it is held */
		return strcmp(req->method, "POST")
			       ? routes_error(out, 405, "use POST", req->keep_alive)
			       : route_restored(out, w, c, req);
	if (hq_device_held(held, sizeof(held), w->node, c->device))
		return routes_error(out, 500, "cannot read the device record", 0);
	if (held[0] && (!strncmp(url, "/v1/sync/", 9) || !strncmp(url, "/v1/audit/", 10) ||
			       !strncmp(url, "/v1/evidence/", 13))) {
		char msg[700];

		if (!strncmp(held, HQAUDIT_RESTORED, strlen(HQAUDIT_RESTORED)))
			snprintf(msg, sizeof(msg),
				"this device is held: %s; an administrator must review it and run "
				"'fieldsync-server device release %s'",
				held, c->device);
		else
			snprintf(msg, sizeof(msg),
				"this device is held after a failed audit-trail check (%s); an "
				"administrator must review it and run 'fieldsync-server device release "
				"%s'",
				held, c->device);
		routes_refusal(w, c, "request.refused", "device held after a security alert");
		return routes_error(out, 403, msg, req->keep_alive);
	}
	if (!strncmp(url, "/v1/sync/", 9) || !strncmp(url, "/v1/audit/", 10) ||
		!strncmp(url, "/v1/evidence/", 13))
		return route_sync(out, w, c, req);
	if (hq_serial_in_use(w->node, c->serial))
		return routes_error(out, 500, "cannot record the certificate in use", 0);
	if (!strcmp(url, "/v1/renew") && !strcmp(req->method, "POST"))
		return route_renew(out, w, c, req);
	if (!strcmp(url, "/v1/pki") && !strcmp(req->method, "GET"))
		return route_pki(out, w, req);
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
		error = enroll_b64_encode(&b64, (const uint8_t *)w->pki->ca.ptr, w->pki->ca.len);
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

