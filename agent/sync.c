/*
 * agent/sync.c - `fieldsync-agent sync`: push the work HQ has not seen, pull what changed,
 * merge (DESIGN.md section 4).
 *
 * Push: the unpushed cases (head differs from the server head last seen) go in signed change
 * sets of bounded size; a case the server fast-forwarded gets its new base at once, a merged
 * one comes back through the pull.  Pull: the changes feed since our cursor, then the objects
 * of the changed cases; each answer is applied in one transaction that fast-forwards or merges
 * local work on top of the server head ("ours" is the server's: it reached the server first),
 * and the cursor moves only after every listed case is in.  An interruption anywhere leaves both
 * sides consistent; the next sync continues.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "node/backup.h"
#include "node/casedb.h"
#include "pki/pki.h"
#include "sync/purge.h"
#include "case/evidence.h"
#include "store/chunks.h"
#include "auditsync.h"
#include "sync/changeset.h"
#include "commands.h"
#include "base/crypto.h"
#include "device.h"
#include "case/merge.h"
#include "lane.h"
#include "net.h"
#include "sync/sync.h"
#include "sync.h"

#define PUSH_FIRST (256u * 1024)      /* inflated object bytes in the first push request, */
#define PUSH_SPLIT (1024u * 1024)     /* and in each later one (push_all) */
#define PUSH_CASES 2000		      /* cases per push request */
#define FETCH_CASES 1000	      /* cases per fetch request */

#define EV_LANES 2 /* evidence requests in flight at once (agent/lane.h) */

struct round;

struct syncer {
	struct node *n;
	struct device_tls d;
	struct net *net;
	struct lane *lanes[EV_LANES]; /* evidence transfers, on connections of their own */
	struct round *first; /* the first push round, built while HQ takes the audit upload */
	struct buf key;	 /* the device key (DER), wiped */
	long pushed;	 /* cases the server took */
	long pulled;	 /* cases that changed here from the server */
	long merged;	 /* cases merged (at HQ on push, or here on pull) */
	long conflicts;	 /* conflict versions those merges kept */
	json_t *refused; /* [{"id", "reason"}] */
	json_t *accepted; /* {id: true} for each case HQ took in this sync */
	json_t *pki;	  /* the CAs HQ's changes feed named, for a CA rollover */
	int hq_went_back; /* HQ's store is of a new generation: restored from a backup */
	long purged;	  /* cases removed: this office may no longer see them */
	int tty;
	int rounds;
	double sent, received; /* HTTP bytes (headers and bodies) each way */
	double seconds;	       /* from the first request to the last */
	long audited;	       /* audit entries uploaded */
	sync_progress_fn on_progress; /* a service's background sync: progress goes here, */
	void *progress_ctx;	      /* nothing is printed */
	uint64_t ev_up, ev_up_bytes, ev_down, ev_down_bytes; /* evidence chunks moved */
	uint64_t ev_todo_bytes, ev_base;		     /* of the current transfer */
	int64_t ev_t0;
};

/* "sync: <what> <done> of <total>", on one updating line on a terminal. */
static void progress(struct syncer *s, const char *what, long done, long total)
{
	if (s->on_progress) {
		s->on_progress(s->progress_ctx, what, done, total);
		return;
	}
	if (!s->tty && s->rounds < 2)
		return; /* one round: the summary says it all */
	fprintf(stderr, "%ssync: %s %ld%s%.0ld%s", s->tty ? "\r" : "", what, done,
		total ? " of " : "", total, s->tty ? "   " : "\n");
	fflush(stderr);
}

static int url_of(struct buf *out, struct syncer *s, const char *path)
{
	buf_reset(out);
	return buf_printf(out, "%s%s", s->d.url.ptr, path);
}

/* One request; anything but 200 becomes an error saying what the server said. */
/* 0 for a 200 answer, else the error it stands for. */
static int reply_ok(long status, const struct buf *resp)
{
	if (status == 401 || status == 403)
		return err_set(ERR_AUTH, "the server refused this device: %s",
			net_error_text(resp));
	if (status != 200)
		return err_set(status >= 500 ? ERR_IO : ERR_INVALID, "the server answered %ld: %s",
			status, net_error_text(resp));
	return 0;
}

static int call(struct buf *resp, struct syncer *s, const char *path, const char *method,
	const char *type, const void *body, size_t len)
{
	struct buf url = BUF_INIT(4096);
	long status = 0;
	int error = url_of(&url, s, path);

	if (!error)
		error = net_call(&status, resp, s->net, url.ptr, method, type, body, len);
	if (!error)
		error = reply_ok(status, resp);
	buf_release(&url);
	return error;
}

/* ---- evidence --------------------------------------------------------------------------- */

#define EV_LACK_IDS 1024 /* chunk ids per "which do you lack" request */
#define EV_PER_REQUEST 4 /* chunks per upload or download request */
#define EV_RESP_MAX (EV_PER_REQUEST * (CHUNKS_SIZE + CHUNKS_WIRE_HEADER) + 4096)

/* One request of a transfer: the chunks it carries (raw ids) and their bytes. */
struct ev_flight {
	uint8_t ids[EV_PER_REQUEST * CHUNKS_HASH_LEN];
	size_t len;
	uint64_t bytes;
};

/* The lanes of this sync, opened at its first evidence transfer. */
static int ev_lanes(struct syncer *s)
{
	size_t i;
	int error = 0;

	for (i = 0; !error && i < EV_LANES; i++)
		if (!s->lanes[i])
			error = lane_open(&s->lanes[i], &s->d.tls, EV_RESP_MAX);
	return error;
}

/* Keep the first error of a transfer (and its message) while the lanes still in flight end. */
static int first_error(int error, int later, char *msg, size_t size)
{
	if (error)
		return error;
	if (later)
		snprintf(msg, size, "%s", err_msg());
	return later;
}

/* "sync: evidence up 12.0 of 256.0 MiB, ETA 40 s" on one updating line, on a terminal only. */
static void ev_progress(struct syncer *s, const char *dir, uint64_t done)
{
	double secs = (double)(hlc_now_ms() - s->ev_t0) / 1000.0;
	double rate = secs > 0 ? (double)done / secs : 0;
	double left = s->ev_todo_bytes > done ? (double)(s->ev_todo_bytes - done) : 0;

	if (!s->tty)
		return;
	fprintf(stderr, "\rsync: evidence %s %.1f of %.1f MiB, ETA %.0f s   ", dir,
		(double)done / 1048576.0, (double)s->ev_todo_bytes / 1048576.0,
		rate > 0 ? left / rate : 0.0);
	fflush(stderr);
}

/* The case and item that list a chunk, for the message about a damaged one. */
static void owner_of(char *out, size_t size, struct node *n, const uint8_t *hash)
{
	struct buf list = BUF_INIT((size_t)(EVIDENCE_SIZE_MAX / CHUNKS_SIZE) * CHUNKS_HASH_LEN);
	struct evidence_item *items = NULL;
	sqlite3_stmt *st = NULL;
	size_t count = 0, i, k;
	git_oid head;

	snprintf(out, size, "an evidence item");
	if (store_prepare(&st, n->store, "SELECT case_id, head FROM case_heads"))
		return;
	while (store_next(n->store, st) > 0 && sqlite3_column_bytes(st, 1) == GIT_OID_RAWSZ) {
		git_oid_fromraw(&head, sqlite3_column_blob(st, 1));
		if (evidence_read_all(&items, &count, n->repo, &head))
			continue;
		for (i = 0; i < count; i++) {
			buf_reset(&list);
			if (evidence_read_chunks(&list, n->repo, &head, &items[i]))
				continue;
			for (k = 0; k < list.len; k += CHUNKS_HASH_LEN)
				if (!memcmp(list.ptr + k, hash, CHUNKS_HASH_LEN))
					snprintf(out, size, "item %s of case %s", items[i].id,
						(const char *)sqlite3_column_text(st, 0));
		}
		evidence_items_free(items, count);
	}
	sqlite3_finalize(st);
	buf_release(&list);
}

static int collect_id(void *ctx, const uint8_t hash[CHUNKS_HASH_LEN])
{
	return buf_put(ctx, hash, CHUNKS_HASH_LEN);
}

static int raise_all(struct node *n, const uint8_t *ids, size_t len)
{
	size_t i;
	int error = store_begin(n->store);

	for (i = 0; !error && i < len; i += CHUNKS_HASH_LEN)
		error = chunks_raise(n->store, ids + i, CHUNKS_HELD);
	if (!error)
		error = store_commit(n->store);
	else
		store_rollback(n->store);
	return error;
}

/* One kind of evidence transfer, run by ev_pipeline(). */
struct ev_transfer {
	const char *path; /* "/v1/evidence/upload" */
	const char *type; /* of the request bodies */
	size_t body_max;
	/* the request for `len` bytes of raw ids (at most EV_PER_REQUEST), recorded in f */
	int (*prepare)(struct buf *body, struct ev_flight *f, struct syncer *s, const uint8_t *ids,
		size_t len, void *ctx);
	/* the end of the request in flight on l */
	int (*finish)(struct syncer *s, struct lane *l, struct ev_flight *f, void *ctx);
	void *ctx;
};

/* Move the chunks `ids` names, EV_PER_REQUEST per request, EV_LANES requests in flight: one
 * lane's answer is finished (stored, recorded) while the others are on the wire. */
static int ev_pipeline(struct syncer *s, const struct buf *ids, const struct ev_transfer *t)
{
	struct buf body = BUF_INIT(t->body_max), url = BUF_INIT(4096);
	struct ev_flight f[EV_LANES];
	char msg[1024] = "";
	size_t k, j, i, step = EV_PER_REQUEST * CHUNKS_HASH_LEN;
	int error = ev_lanes(s);

	memset(f, 0, sizeof(f));
	if (!error)
		error = url_of(&url, s, t->path);
	for (k = 0, j = 0; !error && k < ids->len; k += step, j++) {
		struct lane *l = s->lanes[j % EV_LANES];
		struct ev_flight *fl = &f[j % EV_LANES];

		if (fl->len)
			error = t->finish(s, l, fl, t->ctx);
		if (!error)
			error = t->prepare(&body, fl, s, (const uint8_t *)ids->ptr + k,
				ids->len - k < step ? ids->len - k : step, t->ctx);
		if (!error)
			error = lane_start(l, url.ptr, t->type, &body);
		if (error)
			fl->len = 0;
	}
	if (error)
		snprintf(msg, sizeof(msg), "%s", err_msg());
	/* in order: a request HQ answered is finished even when another failed */
	for (i = 0; i < EV_LANES; i++, j++)
		if (f[j % EV_LANES].len)
			error = first_error(error,
				t->finish(s, s->lanes[j % EV_LANES], &f[j % EV_LANES], t->ctx), msg,
				sizeof(msg));
	buf_wipe_release(&body);
	buf_release(&url);
	return error ? err_set(error, "%s", msg) : 0;
}

/* The upload body of `len` bytes of raw ids (at most EV_PER_REQUEST), each chunk re-hashed on
 * the way out; f records what it carries. */
static int ev_body(struct buf *body, struct ev_flight *f, struct syncer *s, const uint8_t *ids,
	size_t len, void *ctx)
{
	struct buf chunk = BUF_INIT(CHUNKS_SIZE);
	char where[256];
	size_t i;
	int error = 0;

	(void)ctx;
	f->bytes = 0;
	for (i = 0; !error && i < len; i += CHUNKS_HASH_LEN) {
		error = chunks_get(&chunk, s->n->store, ids + i);
		if (error) {
			char why[512];

			snprintf(why, sizeof(why), "%s", err_msg());
			owner_of(where, sizeof(where), s->n, ids + i);
			error = err_set(ERR_CORRUPT, "evidence not sent: %s is damaged: %s", where,
				why);
			break;
		}
		error = chunks_wire_put(body, ids + i, chunk.ptr, chunk.len);
		f->bytes += chunk.len;
	}
	memcpy(f->ids, ids, len);
	f->len = error ? 0 : len;
	buf_wipe_release(&chunk);
	return error;
}

/* The end of an upload in flight on l: HQ holds its chunks from now on. */
static int ev_sent(struct syncer *s, struct lane *l, struct ev_flight *f, void *ctx)
{
	long status;
	int error = lane_wait(&status, l);

	(void)ctx;
	if (!error)
		error = reply_ok(status, &l->resp);
	if (!error)
		error = raise_all(s->n, f->ids, f->len);
	if (!error) {
		s->ev_up += f->len / CHUNKS_HASH_LEN;
		s->ev_up_bytes += f->bytes;
		ev_progress(s, "up", s->ev_up_bytes);
	}
	f->len = 0;
	return error;
}

/* Upload the chunks `lack` names. */
static int ev_send_all(struct syncer *s, const struct buf *lack)
{
	const struct ev_transfer up = {"/v1/evidence/upload", "application/octet-stream",
		EV_PER_REQUEST * (CHUNKS_SIZE + CHUNKS_WIRE_HEADER), ev_body, ev_sent, NULL};

	return ev_pipeline(s, lack, &up);
}

/* One round: up to EV_LACK_IDS pending chunks; HQ names those it lacks, the rest are held. */
static int ev_upload_round(int *done, struct syncer *s, struct buf *ids)
{
	struct buf resp = BUF_INIT(EV_LACK_IDS * 80),
		   lack = BUF_INIT(EV_LACK_IDS * CHUNKS_HASH_LEN);
	json_t *arr = json_array(), *doc = NULL, *list;
	char hex[2 * CHUNKS_HASH_LEN + 1], *text = NULL;
	uint8_t raw[CHUNKS_HASH_LEN];
	size_t i, k;
	int error;

	buf_reset(ids);
	error = chunks_foreach_state(s->n->store, CHUNKS_PENDING, NULL, EV_LACK_IDS, collect_id,
		ids);
	*done = !error && ids->len == 0;
	for (i = 0; !error && !*done && i < ids->len; i += CHUNKS_HASH_LEN) {
		crypto_hex(hex, (const uint8_t *)ids->ptr + i, CHUNKS_HASH_LEN);
		json_array_append_new(arr, json_string(hex));
	}
	doc = json_pack("{s:O}", "chunks", arr);
	text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	doc = NULL;
	if (!error && !*done)
		error = text ? call(&resp, s, "/v1/evidence/lack", "POST", "application/json", text,
				       strlen(text))
			     : err_set(ERR_NOMEM, "out of memory");
	if (!error && !*done) {
		doc = json_loadb(resp.ptr, resp.len, 0, NULL);
		list = json_object_get(doc, "lack");
		if (!json_is_array(list))
			error = err_set(ERR_INVALID,
				"the server's answer about chunks is malformed");
		for (k = 0; !error && k < json_array_size(list); k++) {
			const char *h = json_string_value(json_array_get(list, k));

			error = h && !crypto_unhex(raw, sizeof(raw), h)
					? buf_put(&lack, raw, sizeof(raw))
					: err_set(ERR_INVALID,
						  "the server named a malformed chunk");
		}
	}
	/* what HQ holds already from this office is acknowledged: never sent again */
	for (i = 0; !error && !*done && i < ids->len; i += CHUNKS_HASH_LEN) {
		for (k = 0; k < lack.len && memcmp(lack.ptr + k, ids->ptr + i, CHUNKS_HASH_LEN);
			k += CHUNKS_HASH_LEN)
			;
		if (k == lack.len)
			error = raise_all(s->n, (const uint8_t *)ids->ptr + i, CHUNKS_HASH_LEN);
	}
	s->ev_todo_bytes += (uint64_t)(lack.len / CHUNKS_HASH_LEN) * CHUNKS_SIZE;
	if (!error && lack.len)
		error = ev_send_all(s, &lack);
	free(text);
	json_decref(arr);
	json_decref(doc);
	buf_release(&resp);
	buf_release(&lack);
	return error;
}

/* Every chunk of this node's new items, before the commits that list them are pushed. */
static int ev_upload(struct syncer *s)
{
	struct buf ids = BUF_INIT(EV_LACK_IDS * CHUNKS_HASH_LEN);
	int done = 0, error = 0;

	s->ev_t0 = hlc_now_ms();
	s->ev_todo_bytes = 0;
	while (!error && !done)
		error = ev_upload_round(&done, s, &ids);
	if (s->tty && s->ev_up)
		fputc('\n', stderr);
	buf_release(&ids);
	return error;
}

/* The download request for `len` bytes of raw ids (at most EV_PER_REQUEST) of a case. */
static int ev_fetch_body(struct buf *body, struct ev_flight *f, struct syncer *s,
	const uint8_t *ids, size_t len, void *ctx)
{
	const char *case_id = ctx;
	json_t *arr = json_array(), *doc;
	char hex[2 * CHUNKS_HASH_LEN + 1], *text;
	size_t i;
	int error;

	(void)s;
	for (i = 0; i < len; i += CHUNKS_HASH_LEN) {
		crypto_hex(hex, ids + i, CHUNKS_HASH_LEN);
		json_array_append_new(arr, json_string(hex));
	}
	doc = json_pack("{s:s, s:o}", "case", case_id, "chunks", arr);
	text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	error = text ? buf_puts(body, text) : err_set(ERR_NOMEM, "out of memory");
	free(text);
	memcpy(f->ids, ids, len);
	f->len = error ? 0 : len;
	return error;
}

/* The end of a download in flight on l: each chunk re-hashed and stored on arrival. */
static int ev_fetched(struct syncer *s, struct lane *l, struct ev_flight *f, void *ctx)
{
	const char *case_id = ctx;
	char hex[2 * CHUNKS_HASH_LEN + 1];
	const uint8_t *p, *hash, *data;
	uint8_t got[CHUNKS_HASH_LEN];
	size_t left, dlen, n = 0, len = f->len;
	long status;
	int rc = 0, error;

	f->len = 0;
	error = lane_wait(&status, l);
	if (!error)
		error = reply_ok(status, &l->resp);
	p = (const uint8_t *)l->resp.ptr;
	left = l->resp.len;
	if (!error)
		error = store_begin(s->n->store);
	while (!error && (rc = chunks_wire_next(&hash, &data, &dlen, &p, &left)) > 0) {
		crypto_hex(hex, hash, CHUNKS_HASH_LEN);
		if (n * CHUNKS_HASH_LEN >= len ||
			memcmp(hash, f->ids + n * CHUNKS_HASH_LEN, CHUNKS_HASH_LEN))
			error = err_set(ERR_INVALID,
				"the server sent chunk %s, not the one asked for", hex);
		if (!error)
			error = chunks_put(got, NULL, s->n->store, data, dlen, CHUNKS_HELD);
		if (!error && !crypto_equal(got, hash, CHUNKS_HASH_LEN))
			error = err_set(ERR_CORRUPT, "chunk %s of case %s arrived damaged", hex,
				case_id);
		n++;
		s->ev_down_bytes += dlen;
	}
	if (!error && rc < 0)
		error = rc;
	if (!error && n * CHUNKS_HASH_LEN != len)
		error = err_set(ERR_INVALID, "the server sent %zu of %zu chunks", n,
			len / CHUNKS_HASH_LEN);
	if (!error)
		error = store_commit(s->n->store);
	else
		store_rollback(s->n->store);
	if (!error) {
		s->ev_down += n;
		ev_progress(s, "down", s->ev_down_bytes - s->ev_base);
	}
	buf_wipe_release(&l->resp); /* evidence in clear */
	return error;
}

/* The chunks a fetched case lists and this node lacks, fetched before the case goes in. */
static int ev_download(struct syncer *s, const char *case_id, const struct buf *missing)
{
	const struct ev_transfer down = {"/v1/evidence/download", "application/json",
		EV_PER_REQUEST * 80 + 1024, ev_fetch_body, ev_fetched, (void *)case_id};
	int error;

	s->ev_t0 = hlc_now_ms();
	s->ev_todo_bytes = (uint64_t)(missing->len / CHUNKS_HASH_LEN) * CHUNKS_SIZE;
	s->ev_base = s->ev_down_bytes;
	error = ev_pipeline(s, missing, &down);
	if (s->tty && missing->len)
		fputc('\n', stderr);
	return error;
}

/* ---- push ------------------------------------------------------------------------------- */

struct batch {
	struct syncer *s;
	struct changeset_writer *w;
	size_t split; /* inflated object bytes after which the request is full */
	char last[SCHEMA_CASE_ID_MAX + 1];
	size_t ncases;
	int full;
};

static int add_unpushed(void *ctx, const char *id, const git_oid *head, const git_oid *base)
{
	struct batch *b = ctx;
	struct changeset_case c;
	int error;

	if (b->ncases && changeset_writer_size(b->w) >= b->split) {
		b->full = 1;
		return 1;
	}
	memset(&c, 0, sizeof(c));
	snprintf(c.id, sizeof(c.id), "%s", id);
	c.head = *head;
	c.has_base = base != NULL;
	if (base)
		c.base = *base;
	error = sync_collect(b->w, b->s->n->repo, head, base, base ? 1 : 0);
	if (!error)
		error = changeset_writer_add_case(b->w, &c);
	if (!error) {
		snprintf(b->last, sizeof(b->last), "%s", id);
		b->ncases++;
	}
	return error;
}

static const char *reason_of(json_t *r)
{
	const char *reason = json_string_value(json_object_get(r, "reason"));

	return reason ? reason : "refused without a reason";
}

static int is_kind(json_t *r, const char *kind)
{
	const char *k = json_string_value(json_object_get(r, "kind"));

	return k && !strcmp(k, kind);
}

/* Apply the server's answer to a push: new bases for the cases it took as they are. */
static int push_results(struct syncer *s, const struct buf *resp)
{
	json_t *doc = json_loadb(resp->ptr, resp->len, 0, NULL);
	json_t *cases = json_object_get(doc, "cases");
	size_t i;
	int error;

	if (!json_is_array(cases)) {
		json_decref(doc);
		return err_set(ERR_INVALID, "the server's answer to a push is malformed");
	}
	error = store_begin(s->n->store);
	for (i = 0; !error && i < json_array_size(cases); i++) {
		json_t *r = json_array_get(cases, i);
		const char *id = json_string_value(json_object_get(r, "id"));
		const char *status = json_string_value(json_object_get(r, "status"));
		const char *head = json_string_value(json_object_get(r, "head"));
		git_oid sh, local;

		if (!id || !status)
			continue;
		if (strcmp(status, "accepted")) {
			json_array_append_new(s->refused,
				json_pack("{s:s, s:s}", "id", id, "reason",
					reason_of(r)));
			continue;
		}
		s->pushed++;
		json_object_set_new(s->accepted, id, json_true());
		if (is_kind(r, "merged")) { /* merged at HQ with work that reached it first */
			s->merged++;
			s->conflicts += (long)json_integer_value(json_object_get(r, "conflicts"));
		}
		/* taken as it is: the server head is our head, whose objects we have */
		if (head && git_oid_fromstr(&sh, head) == 0 && casedb_head(&local, s->n, id) == 0 &&
			git_oid_equal(&sh, &local))
			error = casedb_set_base(s->n, id, &sh);
	}
	if (!error)
		error = store_commit(s->n->store);
	else
		store_rollback(s->n->store);
	json_decref(doc);
	return error;
}

/* One push request: the unpushed cases after some case id, up to `split` bytes of objects. */
struct round {
	struct buf body; /* the signed change set; empty when ncases is 0 */
	char last[SCHEMA_CASE_ID_MAX + 1];
	size_t ncases;
	int more; /* it stopped short: cases after `last` may be unpushed */
};

static int push_build(struct round *r, struct syncer *s, const char *after, size_t split)
{
	struct batch b;
	uint8_t bundle[CHANGESET_BUNDLE_LEN];
	int error;

	memset(&b, 0, sizeof(b));
	b.s = s;
	b.split = split;
	r->ncases = 0;
	buf_reset(&r->body);
	error = changeset_writer_new(&b.w);
	if (!error) {
		error = casedb_unpushed(s->n, after, PUSH_CASES, add_unpushed, &b);
		if (error == 1)
			error = 0;
	}
	if (!error && b.ncases)
		error = crypto_random(bundle, sizeof(bundle));
	if (!error && b.ncases)
		error = changeset_writer_finish(&r->body, b.w, bundle, s->n->device, s->n->office,
			0, 0, (const uint8_t *)s->key.ptr, s->key.len);
	if (!error) {
		r->ncases = b.ncases;
		snprintf(r->last, sizeof(r->last), "%s", b.last);
		r->more = b.full || b.ncases == PUSH_CASES;
	}
	changeset_writer_free(b.w);
	return error;
}

/*
 * Push every unpushed case, a round per request, pipelined on the sync's connection: while HQ
 * takes one round in (its checks and its write are most of a push), this thread builds the
 * next, and records one answer while HQ takes the round after it.  The first round is small so
 * that HQ starts at once.  A round's answer is recorded before the sync goes on past a failure,
 * so what HQ acknowledged is never offered as new; a round in flight when a later step fails is
 * waited for, and its unrecorded cases are offered again by the next sync (HQ takes a head it
 * holds as it is).
 */
static int push_all(struct syncer *s)
{
	struct round r;
	struct buf url = BUF_INIT(4096), resp = BUF_INIT(NET_RESPONSE_MAX), swap;
	struct lane *l = NULL;
	char after[SCHEMA_CASE_ID_MAX + 1];
	long status;
	int error, later = 0;

	memset(&r, 0, sizeof(r));
	if (s->first) { /* built beside the audit upload */
		r = *s->first;
		free(s->first);
		s->first = NULL;
		error = 0;
	} else {
		buf_init(&r.body, CHANGESET_ENCODED_MAX);
		error = push_build(&r, s, "", PUSH_FIRST);
	}
	if (!error && r.ncases) {
		error = url_of(&url, s, "/v1/sync/push");
		if (!error)
			error = lane_borrow(&l, s->net, NET_RESPONSE_MAX);
		if (!error)
			error = lane_start(l, url.ptr, "application/octet-stream", &r.body);
	}
	while (!error && r.ncases) {
		int more = r.more;

		snprintf(after, sizeof(after), "%s", r.last);
		r.ncases = 0;
		if (more) /* the next round, built while HQ takes this one in */
			later = push_build(&r, s, after, PUSH_SPLIT);
		error = lane_wait(&status, l);
		if (!error)
			error = reply_ok(status, &l->resp);
		if (error)
			break;
		swap = resp;
		resp = l->resp;
		l->resp = swap;
		if (!later && r.ncases) /* HQ takes it while this answer is recorded */
			error = lane_start(l, url.ptr, "application/octet-stream", &r.body);
		if (!error)
			error = push_results(s, &resp);
		if (!error) {
			s->rounds++;
			progress(s, "pushed cases:", s->pushed, 0);
			error = later;
		}
	}
	lane_close(l); /* waits for a round still in flight */
	buf_release(&r.body);
	buf_release(&url);
	buf_release(&resp);
	return error;
}

/* A first round built but never sent (the sync ended before its push). */
static void drop_first(struct syncer *s)
{
	if (s->first)
		buf_release(&s->first->body);
	free(s->first);
	s->first = NULL;
}

/* auditsync_upload's `meanwhile`: the first push round, built while HQ takes the audit
 * trail in (it is sent only after HQ's receipt, as before). */
static int build_first(void *ctx)
{
	struct syncer *s = ctx;
	int error;

	if (s->first)
		return 0;
	s->first = calloc(1, sizeof(*s->first));
	if (!s->first)
		return err_set(ERR_NOMEM, "out of memory");
	buf_init(&s->first->body, CHANGESET_ENCODED_MAX);
	error = push_build(s->first, s, "", PUSH_FIRST);
	if (error)
		drop_first(s);
	return error;
}

/* ---- pull ------------------------------------------------------------------------------- */

/* Bring one case of a fetch answer in: fast-forward, or merge local work onto it. */
static int apply_case(struct syncer *s, const struct changeset *cs, const struct changeset_case *c)
{
	struct sync_rules rules = {c->id, NULL, NULL, 1};
	struct casefile_author me = {s->n->user, s->n->office, s->n->device, {0, 0}, s->n->role};
	struct merge_result mr;
	git_oid local, *commits = NULL;
	size_t ncommits = 0;
	int has_local, error;

	error = sync_ingest(&commits, &ncommits, s->n->repo, cs, &c->head);
	if (!error)
		error = sync_check_commits(s->n->repo, commits, ncommits, &rules);
	free(commits);
	if (error)
		return error;
	error = casedb_head(&local, s->n, c->id);
	has_local = error == 0;
	if (error && error != ERR_NOTFOUND)
		return error;
	error = 0;
	memset(&mr, 0, sizeof(mr));
	mr.head = c->head;
	if (has_local) {
		error = node_next_hlc(&me.hlc, s->n);
		if (!error)
			error = merge_commits(&mr, s->n->repo, c->id, &c->head, &local, &me);
	}
	if (!error && (!has_local || !git_oid_equal(&mr.head, &local))) {
		error = casedb_advance(s->n, c->id, &mr.head);
		s->pulled++;
	}
	if (!error && has_local && mr.kind == MERGE_MERGED) {
		s->merged++;
		s->conflicts += (long)mr.conflicts;
	}
	if (!error)
		error = casedb_set_base(s->n, c->id, &c->head);
	return error;
}

/*
 * Apply the cases of a fetch answer in one transaction.  *lacking (the first case whose items
 * list chunks this node lacks, with the chunks in `missing`) rolls it back: the caller
 * fetches those chunks and applies the answer again, so a case is never in without its bytes.
 */
static int apply_cases(const char **lacking, struct buf *missing, struct syncer *s,
	const struct changeset *cs)
{
	long pulled = s->pulled, merged = s->merged, conflicts = s->conflicts;
	size_t i;
	int error = store_begin(s->n->store);

	*lacking = NULL;
	buf_reset(missing);
	for (i = 0; !error && i < cs->ncases; i++) {
		error = apply_case(s, cs, &cs->cases[i]);
		if (!error)
			error = evidence_missing_chunks(missing, NULL, s->n->store, s->n->repo,
				&cs->cases[i].head);
		if (!error && missing->len) {
			*lacking = cs->cases[i].id;
			break;
		}
	}
	if (!error && !*lacking)
		return store_commit(s->n->store);
	store_rollback(s->n->store);
	s->pulled = pulled;
	s->merged = merged;
	s->conflicts = conflicts;
	return error;
}

/* Apply a fetch answer; the ids it carried are removed from `want`. */
static int apply_fetch(size_t *taken, struct syncer *s, const struct buf *resp, json_t *want)
{
	struct changeset cs;
	struct buf missing = BUF_INIT((size_t)64 << 20);
	const char *lacking = NULL;
	size_t i, j, rounds = 0;
	int error;

	*taken = 0;
	error = changeset_decode(&cs, (const uint8_t *)resp->ptr, resp->len);
	if (error) {
		char why[256];

		snprintf(why, sizeof(why), "%s", err_msg());
		changeset_release(&cs);
		buf_release(&missing);
		return err_set(error, "the server's answer is malformed: %s", why);
	}
	do {
		error = apply_cases(&lacking, &missing, s, &cs);
		if (!error && lacking && rounds++ > cs.ncases)
			error = err_set(ERR_INVALID,
				"case %s lists evidence the server does not send", lacking);
		if (!error && lacking)
			error = ev_download(s, lacking, &missing);
	} while (!error && lacking);
	buf_release(&missing);
	for (i = 0; !error && i < cs.ncases; i++)
		for (j = 0; j < json_array_size(want); j++)
			if (!strcmp(json_string_value(json_array_get(want, j)), cs.cases[i].id)) {
				json_array_remove(want, j);
				(*taken)++;
				break;
			}
	changeset_release(&cs);
	return error;
}

/* {"cases":[{"id", "have":[base, head]}]} for the first FETCH_CASES of `want`. */
static int fetch_body(struct buf *out, struct syncer *s, json_t *want)
{
	json_t *cases = json_array(), *doc;
	char *text;
	size_t i;
	int error = 0;

	for (i = 0; i < json_array_size(want) && i < FETCH_CASES; i++) {
		const char *id = json_string_value(json_array_get(want, i));
		json_t *have = json_array();
		git_oid oid;
		int has_base = 0;

		if (casedb_base(&oid, &has_base, s->n, id) == 0 && has_base)
			json_array_append_new(have, json_string(git_oid_tostr_s(&oid)));
		if (casedb_head(&oid, s->n, id) == 0)
			json_array_append_new(have, json_string(git_oid_tostr_s(&oid)));
		json_array_append_new(cases, json_pack("{s:s, s:o}", "id", id, "have", have));
	}
	doc = json_pack("{s:o}", "cases", cases);
	text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	error = text ? buf_puts(out, text) : err_set(ERR_NOMEM, "out of memory");
	free(text);
	json_decref(doc);
	return error;
}

static int fetch_all(struct syncer *s, json_t *want)
{
	struct buf body = BUF_INIT(4u * 1024 * 1024), resp = BUF_INIT(NET_RESPONSE_MAX);
	size_t taken = 1, total = json_array_size(want);
	int error = 0;

	while (!error && json_array_size(want) && taken) {
		buf_reset(&body);
		buf_reset(&resp);
		error = fetch_body(&body, s, want);
		if (!error)
			error = call(&resp, s, "/v1/sync/fetch", "POST", "application/json", body.ptr,
				body.len);
		if (!error)
			error = apply_fetch(&taken, s, &resp, want);
		if (!error && json_array_size(want))
			s->rounds++;
		progress(s, "pulled changed cases:", (long)(total - json_array_size(want)),
			(long)total);
	}
	/* what the server would not send is no longer visible to this office */
	buf_release(&body);
	buf_release(&resp);
	return error;
}

static int load_cursor(uint64_t *out, struct node *n)
{
	struct buf v = BUF_INIT(64);
	int error = store_meta_get(&v, n->store, "sync_cursor");

	*out = 0;
	if (!error)
		*out = strtoull(v.ptr, NULL, 10);
	buf_release(&v);
	return error == ERR_NOTFOUND ? 0 : error;
}

static int save_cursor(struct node *n, uint64_t cursor)
{
	char v[32];

	snprintf(v, sizeof(v), "%llu", (unsigned long long)cursor);
	return store_meta_set(n->store, "sync_cursor", v);
}

/* Whether a listed head is the server head we already hold (our own push, fast-forwarded). */
static int already_have(struct syncer *s, const char *id, json_t *head)
{
	const char *hex = json_string_value(head);
	git_oid listed, base;
	int has_base = 0;

	return hex && git_oid_fromstr(&listed, hex) == 0 &&
	       casedb_base(&base, &has_base, s->n, id) == 0 && has_base &&
	       git_oid_equal(&listed, &base);
}

/*
 * A case this office may no longer see (HQ transferred it or ended a share): removed once
 * nothing written here on it can be lost, that is when HQ took this sync's push of it or it
 * holds no work HQ has not seen.  Otherwise it stays, and the push's refusal names it.
 */
static int revoked(struct syncer *s, const char *id)
{
	char reason[96];
	git_oid head, base;
	int has_base = 0, error = casedb_head(&head, s->n, id);

	if (error == ERR_NOTFOUND)
		return 0;
	if (!error)
		error = casedb_base(&base, &has_base, s->n, id);
	if (error)
		return error;
	if (!json_object_get(s->accepted, id) && !(has_base && git_oid_equal(&head, &base)))
		return 0;
	snprintf(reason, sizeof(reason),
		"office %s may no longer see it (HQ moved it or ended a "
		"share)",
		s->n->office);
	error = purge_case(NULL, s->n, id, reason);
	if (!error)
		s->purged++;
	return error;
}

/*
 * HQ names the generation of its store in the changes feed; a new one means HQ was restored
 * from a backup and may lack what it acknowledged since.  Nothing is lost: every case is
 * offered again from its root (base forgotten), every evidence chunk HQ held is asked about
 * again, and the feed is read from the start.  One transaction, audited.
 */
static int check_generation(struct syncer *s, const char *gen)
{
	struct buf was = BUF_INIT(128);
	char detail[300];
	int error = store_meta_get(&was, s->n->store, "hq.generation");

	if (error == ERR_NOTFOUND) { /* the first contact: remembered */
		error = strlen(gen) < 100 ? store_meta_set(s->n->store, "hq.generation", gen) : 0;
		goto out;
	}
	if (error || !strcmp(was.ptr, gen) || strlen(gen) >= 100)
		goto out;
	snprintf(detail, sizeof(detail),
		"HQ's store is of generation %s, no longer %s: it was restored from a backup; every "
		"case and evidence chunk is offered again",
		gen, was.ptr);
	error = store_begin(s->n->store);
	if (!error)
		error = store_run(s->n->store, "UPDATE case_heads SET base = NULL", "");
	if (!error)
		error = store_run(s->n->store,
			"UPDATE evidence_chunk_state SET state = ?1 WHERE state = ?2", "ii",
			(int64_t)CHUNKS_PENDING, (int64_t)CHUNKS_HELD);
	if (!error)
		error = save_cursor(s->n, 0);
	if (!error)
		error = store_meta_set(s->n->store, "hq.generation", gen);
	if (!error)
		error = node_audit(s->n, "sync.hq.restored", gen, "success", detail);
	if (!error)
		error = store_commit(s->n->store);
	else
		store_rollback(s->n->store);
	if (!error) {
		s->hq_went_back = 1;
		if (!s->on_progress)
			fprintf(stderr,
				"sync: HQ was restored from a backup: offering it everything "
				"this device holds again\n");
	}
out:
	buf_release(&was);
	return error;
}

/* One page of the changes feed: fetch every case it names, then move the cursor. */
static int pull_page(int *more, uint64_t *cursor, struct syncer *s)
{
	struct buf resp = BUF_INIT(4u * 1024 * 1024);
	char path[96];
	json_t *doc = NULL, *changes, *want = json_array(), *gone = json_array();
	json_int_t next;
	size_t i;
	int error;

	snprintf(path, sizeof(path), "/v1/sync/changes?since=%llu", (unsigned long long)*cursor);
	error = call(&resp, s, path, "GET", NULL, NULL, 0);
	if (!error) {
		doc = json_loadb(resp.ptr, resp.len, 0, NULL);
		changes = json_object_get(doc, "changes");
		next = json_integer_value(json_object_get(doc, "cursor"));
		*more = json_is_true(json_object_get(doc, "more"));
		if (!json_is_array(changes) || next < 0)
			error = err_set(ERR_INVALID, "the server's changes feed is malformed");
		if (!error && json_is_object(json_object_get(doc, "pki")) && !s->pki)
			s->pki = json_incref(json_object_get(doc, "pki"));
		if (!error && json_is_string(json_object_get(doc, "generation")))
			error = check_generation(s,
				json_string_value(json_object_get(doc, "generation")));
		if (!error && s->hq_went_back) { /* everything is offered again first */
			*more = 0;
			changes = NULL;
		}
	}
	for (i = 0; !error && i < json_array_size(changes); i++) {
		json_t *ch = json_array_get(changes, i);
		const char *id = json_string_value(json_object_get(ch, "id"));

		if (!id || schema_check_case_id(id))
			continue;
		if (json_is_true(json_object_get(ch, "revoked")))
			json_array_append_new(gone, json_string(id));
		else if (!already_have(s, id, json_object_get(ch, "head")))
			json_array_append_new(want, json_string(id));
	}
	if (!error)
		error = fetch_all(s, want);
	for (i = 0; !error && i < json_array_size(gone); i++)
		error = revoked(s, json_string_value(json_array_get(gone, i)));
	if (!error && !s->hq_went_back && (uint64_t)next != *cursor) {
		*cursor = (uint64_t)next;
		error = save_cursor(s->n, *cursor);
	}
	json_decref(want);
	json_decref(gone);
	json_decref(doc);
	buf_release(&resp);
	return error;
}

static int pull_all(struct syncer *s)
{
	uint64_t cursor = 0;
	int more = 1, error = load_cursor(&cursor, s->n);

	while (!error && more)
		error = pull_page(&more, &cursor, s);
	return error;
}

/* ---- the command ------------------------------------------------------------------------ */

static const char sync_help[] =
	"usage: fieldsync-agent sync\n"
	"\n"
	"Push every change HQ has not seen (signed with this device's key), pull what changed at\n"
	"HQ and in other devices since the last sync, and merge: edits to different fields, notes\n"
	"and lines of the narrative are all kept; where two versions of one value meet, the one\n"
	"that reached HQ first stays and the other is kept as a conflict for a person to settle\n"
	"('fieldsync-agent conflicts').  Safe to interrupt: the next sync goes on from there.\n"
	"Every sync first uploads this device's new audit entries with a signed checkpoint and\n"
	"keeps HQ's receipt, and renews the device certificate in the last third of its life.\n"
	"Prints a summary; --json prints {\"pushed\",\"pulled\",\"merged\",\"conflicts\",\"refused\",\n"
	"\"audit_uploaded\",\"bytes\":{\"sent\",\"received\"},\"seconds\"}.\n"
	"Exits 1 with the reason if the server cannot be reached, refuses this device, or refuses\n"
	"a case (each refused case is named with the server's reason; the rest still syncs).\n";

static int record(struct syncer *s, int failed)
{
	char detail[256], now[HLC_STR_MAX];
	int error;

	snprintf(detail, sizeof(detail),
		"pushed %ld, pulled %ld, merged %ld, conflicts %ld, refused %zu, audit entries "
		"uploaded %ld",
		s->pushed, s->pulled, s->merged, s->conflicts, json_array_size(s->refused),
		s->audited);
	if (failed)
		return 0;
	hlc_iso8601(now, hlc_now_ms());
	error = store_begin(s->n->store);
	if (!error)
		error = store_meta_set(s->n->store, "last_sync", now);
	if (!error)
		error = node_audit(s->n, "sync", s->d.url.ptr, "success", detail);
	if (!error)
		error = store_commit(s->n->store);
	else
		store_rollback(s->n->store);
	return error;
}

static void renew(struct syncer *s);

/* A CA rollover HQ names: learn the next CA, or make it ours; then renew under it at once. */
static int follow_pki(struct syncer *s)
{
	int changed = 0, error;

	error = device_pki_update(&changed, s->n, s->net, s->d.url.ptr, s->pki);
	if (!error && changed)
		renew(s);
	return error;
}

/* A certificate in the last third of its life is renewed; a failure is said, not fatal. */
static void renew(struct syncer *s)
{
	int64_t until = 0;
	char when[HLC_STR_MAX];
	int renewed = 0;

	if (device_renew_if_due(&renewed, s->n, s->net, s->d.url.ptr) == 0) {
		if (renewed && !s->on_progress && device_cert_expiry(&until, s->n) == 0) {
			hlc_iso8601(when, until * 1000);
			fprintf(stderr, "sync: this device's certificate was renewed; valid until %s\n",
				when);
		}
		return;
	}
	if (s->on_progress)
		return; /* a background sync: the service's status shows the expiry */
	if (device_cert_expiry(&until, s->n) == 0)
		hlc_iso8601(when, until * 1000);
	else
		snprintf(when, sizeof(when), "(unknown)");
	fprintf(stderr, "fieldsync-agent: warning: certificate renewal failed: %s; the certificate "
			"expires %s\n",
		err_msg(), when);
}

/*
 * A device restored from a backup says so before anything else (shared/node/backup.h): HQ
 * records it and holds the device until an administrator releases it, so the log that went
 * back is reviewed instead of raising a tampering alert.  Once HQ has it on record the mark
 * is cleared; the audit upload that follows is then refused as held, which ends this sync
 * with HQ's reason.
 */
static int declare_restore(struct syncer *s)
{
	struct buf when = BUF_INIT(HLC_STR_MAX), resp = BUF_INIT(4096);
	char *text = NULL, detail[600];
	int64_t size = 0;
	json_t *doc = NULL;
	int error = node_restore_pending(&when, s->n);

	if (error == ERR_NOTFOUND) {
		error = 0;
		goto out;
	}
	if (!error)
		error = store_query_int64(&size, s->n->store,
			"SELECT coalesce(max(seq) + 1, 0) FROM audit_log", "");
	if (!error) {
		text = json_dumps(json_pack("{s:s, s:I}", "taken_at", when.ptr, "audit_size",
					  (json_int_t)size),
			JSON_COMPACT);
		if (!text)
			error = err_set(ERR_NOMEM, "out of memory");
	}
	if (!error)
		error = call(&resp, s, "/v1/device/restored", "POST", "application/json", text,
			strlen(text));
	if (!error) {
		doc = json_loadb(resp.ptr, resp.len, 0, NULL);
		snprintf(detail, sizeof(detail), "HQ holds this device: %s",
			json_string_value(json_object_get(doc, "held"))
				? json_string_value(json_object_get(doc, "held"))
				: "(no reason given)");
		error = node_restore_declared(s->n, detail);
	}
	if (!error && !s->on_progress)
		fprintf(stderr,
			"sync: declared to HQ that this device was restored from a backup of "
			"%s\n",
			when.ptr);
out:
	json_decref(doc);
	free(text);
	buf_release(&when);
	buf_release(&resp);
	return error;
}

static int sync_run(struct syncer *s)
{
	struct buf ca = BUF_INIT(16384);
	int64_t t0;
	int error = device_tls_load(&s->d, s->n);

	s->accepted = json_object();
	if (!s->accepted && !error)
		error = err_set(ERR_NOMEM, "out of memory");

	if (!error)
		error = store_material_get(&s->key, s->n->store, "device_key");
	if (!error)
		crypto_lock(s->key.ptr, s->key.len); /* held for the whole sync */
	if (!error)
		error = net_open(&s->net, &s->d.tls);
	t0 = hlc_now_ms();
	if (!error)
		error = declare_restore(s);
	if (!error)
		renew(s);
	/* the audit trail first: HQ refuses a device whose log went back or was changed */
	if (!error) /* receipts signed under a retired CA stay verifiable */
		error = pki_trust_get(&ca, s->n->store, 1);
	if (!error)
		error = auditsync_upload(&s->audited, s->n, s->net, s->d.url.ptr, &s->key, NULL,
			&ca, build_first, s);
	buf_reset(&ca);
	if (!error)
		error = ev_upload(s); /* the bytes before the commits that list them */
	if (!error)
		error = push_all(s);
	if (!error)
		error = pull_all(s);
	if (!error && s->hq_went_back) { /* HQ lost what it acknowledged: all of it again */
		error = ev_upload(s);
		if (!error)
			error = push_all(s);
		s->hq_went_back = 0;
		if (!error)
			error = pull_all(s);
	}
	if (!error && s->pki)
		error = follow_pki(s);
	/* a purge is an audit event HQ should hold now, not at the next sync */
	if (!error && s->purged)
		error = pki_trust_get(&ca, s->n->store, 1);
	if (!error && s->purged) {
		long more = 0;

		error = auditsync_upload(&more, s->n, s->net, s->d.url.ptr, &s->key, NULL, &ca,
			NULL, NULL);
		s->audited += more;
	}
	buf_release(&ca);
	drop_first(s); /* built, and the sync failed before its push */
	s->seconds = (double)(hlc_now_ms() - t0) / 1000.0;
	if (s->net)
		net_counts(s->net, &s->sent, &s->received);
	for (size_t i = 0; i < EV_LANES; i++) {
		double up, down;

		lane_counts(s->lanes[i], &up, &down);
		s->sent += up;
		s->received += down;
	}
	if (!error)
		error = record(s, 0);
	json_decref(s->accepted);
	s->accepted = NULL;
	json_decref(s->pki);
	s->pki = NULL;
	return error;
}

static int print_summary(const struct syncer *s, const struct cli *c)
{
	size_t i;

	for (i = 0; i < json_array_size(s->refused); i++) {
		json_t *r = json_array_get(s->refused, i);

		fprintf(stderr, "fieldsync-agent: case %s refused by the server: %s\n",
			json_string_value(json_object_get(r, "id")),
			json_string_value(json_object_get(r, "reason")));
	}
	if (c->json)
		return cli_print_json(json_pack("{s:I, s:I, s:I, s:I, s:I, s:O, s:I, s:{s:f, s:f}, "
						"s:f, s:{s:I, s:I, s:I, s:I}}",
			"pushed", (json_int_t)s->pushed, "pulled", (json_int_t)s->pulled, "merged",
			(json_int_t)s->merged, "conflicts", (json_int_t)s->conflicts, "purged",
			(json_int_t)s->purged, "refused", s->refused, "audit_uploaded",
			(json_int_t)s->audited, "bytes", "sent", s->sent, "received", s->received,
			"seconds", s->seconds, "evidence", "chunks_sent", (json_int_t)s->ev_up,
			"bytes_sent", (json_int_t)s->ev_up_bytes, "chunks_received",
			(json_int_t)s->ev_down, "bytes_received", (json_int_t)s->ev_down_bytes));
	if (s->tty && s->rounds >= 2)
		fputc('\n', stderr);
	printf("pushed %ld case%s, pulled %ld, merged %ld, %ld new conflict%s%s\n", s->pushed,
		s->pushed == 1 ? "" : "s", s->pulled, s->merged, s->conflicts,
		s->conflicts == 1 ? "" : "s",
		s->conflicts ? " (see 'fieldsync-agent conflicts')" : "");
	if (s->purged)
		printf("removed %ld case%s this office may no longer see (moved or no longer shared "
		       "at HQ; what was written here on %s reached HQ first)\n",
			s->purged, s->purged == 1 ? "" : "s", s->purged == 1 ? "it" : "them");
	return CLI_EXIT_OK;
}

int cmd_sync(struct cli *c)
{
	struct syncer s;
	const char *pos[1];
	int npos, rc, error;

	if (cli_help(c, sync_help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, "sync", NULL, 0, pos, 0, &npos);
	if (rc)
		return rc;
	memset(&s, 0, sizeof(s));
	device_tls_init(&s.d);
	buf_init(&s.key, 8192);
	s.refused = json_array();
	s.tty = isatty(STDERR_FILENO);
	net_preload(); /* beside the log-on (Argon2id, the store's first pages) */
	error = cli_open_node(&s.n, c);
	if (!error)
		error = node_require(s.n, NODE_PERM_SYNC, "sync", "");
	if (!error) {
		error = sync_run(&s);
		if (error)
			node_audit_failure(s.n, "sync", s.d.url.ptr ? s.d.url.ptr : "", error);
	}
	if (error) {
		rc = cli_fail(c);
	} else {
		rc = print_summary(&s, c);
		if (json_array_size(s.refused) && rc == CLI_EXIT_OK)
			rc = CLI_EXIT_FAIL;
	}
	net_close(s.net);
	for (size_t i = 0; i < EV_LANES; i++)
		lane_close(s.lanes[i]);
	buf_wipe_release(&s.key);
	device_tls_release(&s.d);
	json_decref(s.refused);
	node_free(s.n);
	net_preload_end();
	return rc;
}

int sync_background(struct sync_report *out, struct node *n, sync_progress_fn fn, void *ctx)
{
	struct syncer s;
	int error;

	memset(&s, 0, sizeof(s));
	device_tls_init(&s.d);
	buf_init(&s.key, 8192);
	s.n = n;
	s.refused = json_array();
	s.on_progress = fn;
	s.progress_ctx = ctx;
	error = s.refused ? node_require(n, NODE_PERM_SYNC, "sync", "")
			  : err_set(ERR_NOMEM, "out of memory");
	if (!error) {
		error = sync_run(&s);
		if (error)
			node_audit_failure(n, "sync", s.d.url.ptr ? s.d.url.ptr : "", error);
	}
	out->pushed = s.pushed;
	out->pulled = s.pulled;
	out->merged = s.merged;
	out->conflicts = s.conflicts;
	out->refused = (long)json_array_size(s.refused);
	out->audited = s.audited;
	out->seconds = s.seconds;
	if (!error && out->refused) {
		json_t *r = json_array_get(s.refused, 0);

		error = err_set(ERR_AUTH, "case %s refused by the server: %s",
			json_string_value(json_object_get(r, "id")),
			json_string_value(json_object_get(r, "reason")));
	}
	net_close(s.net);
	for (size_t i = 0; i < EV_LANES; i++)
		lane_close(s.lanes[i]);
	buf_wipe_release(&s.key);
	device_tls_release(&s.d);
	json_decref(s.refused);
	return error;
}
