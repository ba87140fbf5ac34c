/* agent/auditsync.c - uploading the audit trail to HQ, and `audit verify`. */
#include "auditsync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/checkpoint.h"
#include "audit/seal.h"
#include "audit/wire.h"
#include "base/crypto.h"
#include "lane.h"

/* The newest receipt's size and, if kept, the tree's frontier at that size. */
static int last_receipt(uint64_t *m, int *has_frontier, struct merkle_frontier *f, struct node *n)
{
	sqlite3_stmt *st = NULL;
	int rc, error = store_bind(&st, n->store,
			"SELECT size, frontier FROM audit_receipts ORDER BY size DESC LIMIT 1", "");

	*m = 0;
	*has_frontier = 0;
	rc = error ? error : store_next(n->store, st);
	if (rc > 0) {
		*m = (uint64_t)sqlite3_column_int64(st, 0);
		*has_frontier = sqlite3_column_type(st, 1) == SQLITE_BLOB &&
				merkle_frontier_decode(f, sqlite3_column_blob(st, 1),
					(size_t)sqlite3_column_bytes(st, 1)) == 0 &&
				f->size == *m;
	} else if (rc < 0) {
		error = rc;
	}
	sqlite3_finalize(st);
	return error;
}

static int entries_json(json_t *list, struct node *n, uint64_t from, uint64_t to)
{
	sqlite3_stmt *st = NULL;
	int rc = 0, error = store_bind(&st, n->store,
			    "SELECT entry FROM audit_log WHERE seq >= ? AND seq < ? ORDER BY seq",
			    "ii", (int64_t)from, (int64_t)to);

	while (!error && (rc = store_next(n->store, st)) > 0)
		json_array_append_new(list, json_stringn((const char *)sqlite3_column_blob(st, 0),
						    (size_t)sqlite3_column_bytes(st, 0)));
	if (!error && rc < 0)
		error = rc;
	sqlite3_finalize(st);
	return error;
}

/* One checkpoint to upload: size t over the first t leaves, extending the receipt at m. */
struct upload {
	uint64_t m, t;
	struct merkle_frontier f;    /* the tree at m */
	struct merkle_frontier next; /* ...and at t */
	uint8_t root[MERKLE_HASH_LEN];
	char time[HLC_STR_MAX];
	char origin[64];
	struct buf sig, proof;
	struct seal *seals; /* the device's seals past the receipt, by index */
	size_t nseals;
};

/* The seals of entries m..t: every seal travels with the batch its size falls in. */
static json_t *seals_json(const struct upload *u)
{
	json_t *list = json_array();
	size_t i;

	for (i = 0; list && i < u->nseals; i++)
		if (u->seals[i].size > u->m && u->seals[i].size <= u->t &&
			json_array_append_new(list, seal_json(&u->seals[i]))) {
			json_decref(list);
			list = NULL;
		}
	return list;
}

static int load_seals(struct upload *u, struct node *n)
{
	seal_free_list(u->seals, u->nseals);
	u->seals = NULL;
	u->nseals = 0;
	return seal_load(&u->seals, &u->nseals, n->store,
		"SELECT idx, size, root, time, next_key, signature, cert FROM audit_seals"
		" WHERE size > ? ORDER BY idx",
		"i", (int64_t)u->m);
}

static int upload_body(struct buf *out, struct upload *u, struct node *n, const uint8_t *added,
	const struct buf *key)
{
	struct buf msg = BUF_INIT(CHECKPOINT_MSG_MAX);
	json_t *entries = json_array(), *doc = NULL, *seals = seals_json(u);
	char root[2 * MERKLE_HASH_LEN + 1], *sig = NULL, *proof = NULL, *text = NULL;
	uint64_t i;
	int error;

	hlc_iso8601(u->time, hlc_now_ms());
	/* only the leaves added since the receipt: the frontier stands for all the older ones */
	u->next = u->f;
	for (i = u->m; i < u->t; i++)
		merkle_frontier_add(&u->next, added + (i - u->m) * MERKLE_HASH_LEN);
	merkle_frontier_root(u->root, &u->next);
	error = 0;
	if (u->m)
		error = merkle_consistency_proof_frontier(&u->proof, &u->f, added, u->t);
	if (!error)
		error = checkpoint_message(&msg, "checkpoint", u->origin, u->t, u->root, u->time);
	if (!error)
		error = checkpoint_sign(&u->sig, (const uint8_t *)key->ptr, key->len, &msg);
	if (!error)
		error = entries_json(entries, n, u->m, u->t);
	sig = malloc(2 * u->sig.len + 1);
	proof = malloc(2 * u->proof.len + 1);
	if (!error && (!sig || !proof || !seals))
		error = err_set(ERR_NOMEM, "out of memory");
	if (!error) {
		crypto_hex(root, u->root, MERKLE_HASH_LEN);
		crypto_hex(sig, (const uint8_t *)u->sig.ptr, u->sig.len);
		crypto_hex(proof, (const uint8_t *)u->proof.ptr, u->proof.len);
		doc = json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:O, s:O}", "from",
			(json_int_t)u->m, "size", (json_int_t)u->t, "root", root, "time", u->time,
			"signature", sig, "proof", proof, "entries", entries, "seals", seals);
		text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
		error = text ? buf_puts(out, text) : err_set(ERR_NOMEM, "out of memory");
	}
	free(text);
	free(sig);
	free(proof);
	json_decref(doc);
	json_decref(entries);
	json_decref(seals);
	buf_release(&msg);
	return error;
}

/* Check HQ's receipt for what we sent and keep it with our checkpoint. */
static int keep_receipt(struct node *n, const struct upload *u, const struct buf *resp,
	const struct buf *ca)
{
	struct buf frontier = BUF_INIT(8 + 64 * MERKLE_HASH_LEN);
	json_t *doc = json_loadb(resp->ptr ? resp->ptr : "", resp->len, 0, NULL);
	const char *sig_hex = json_string_value(json_object_get(doc, "signature"));
	const char *cert_hex = json_string_value(json_object_get(doc, "server_cert"));
	struct buf msg = BUF_INIT(CHECKPOINT_MSG_MAX);
	uint8_t sig[CHECKPOINT_SIG_MAX], cert[4096];
	size_t siglen = sig_hex ? strlen(sig_hex) / 2 : 0,
	       certlen = cert_hex ? strlen(cert_hex) / 2 : 0;
	int error = 0;

	if (!sig_hex || !cert_hex || siglen > sizeof(sig) || certlen > sizeof(cert) ||
		(uint64_t)json_integer_value(json_object_get(doc, "size")) != u->t ||
		crypto_unhex(sig, siglen, sig_hex) || crypto_unhex(cert, certlen, cert_hex))
		error = err_set(ERR_INVALID, "HQ's audit receipt is malformed");
	if (!error)
		error = merkle_frontier_encode(&frontier, &u->next);
	if (!error)
		error = checkpoint_message(&msg, "receipt", u->origin, u->t, u->root, u->time);
	if (!error)
		error = checkpoint_verify(cert, certlen, (const uint8_t *)ca->ptr, ca->len, &msg, sig,
			siglen);
	if (!error)
		error = store_begin(n->store);
	if (!error)
		error = store_run(n->store,
			"INSERT OR REPLACE INTO audit_checkpoints(size, root, time, signature)"
			" VALUES (?, ?, ?, ?)",
			"ibtb", (int64_t)u->t, u->root, (size_t)MERKLE_HASH_LEN, u->time,
			u->sig.ptr, u->sig.len);
	if (!error)
		error = store_run(n->store,
			"INSERT OR REPLACE INTO audit_receipts(size, root, time, signature, server_cert,"
			" frontier) VALUES (?, ?, ?, ?, ?, ?)",
			"ibtbbb", (int64_t)u->t, u->root, (size_t)MERKLE_HASH_LEN, u->time, sig,
			siglen, cert, certlen, frontier.ptr, frontier.len);
	if (!error)
		error = store_commit(n->store);
	else
		store_rollback(n->store);
	buf_release(&frontier);
	buf_release(&msg);
	json_decref(doc);
	return error;
}

/* Send a batch's body, compressed (the entries were half of what W's sync sent:
 * shared/audit/wire.h), on the lane: the caller prepares the next batch meanwhile. */
static int post_start(struct lane *l, const char *url, const struct buf *body)
{
	struct buf packed = BUF_INIT(AUDIT_WIRE_INFLATED_MAX);
	int error = audit_wire_pack(&packed, body->ptr, body->len);

	if (!error)
		error = lane_start(l, url, AUDIT_WIRE_TYPE, &packed);
	buf_release(&packed);
	return error;
}

/* HQ's answer to a batch: 0 with the receipt in l->resp, or what HQ's status means. */
static int post_wait(struct lane *l)
{
	long status = 0;
	int error = lane_wait(&status, l);

	if (!error && status == 422)
		error = err_set(ERR_CONFLICT, "%s", net_error_text(&l->resp));
	else if (!error && (status == 409 || status == 403 || status == 401))
		error = err_set(ERR_AUTH, "HQ refused this device's audit trail: %s",
			net_error_text(&l->resp));
	else if (!error && status != 200)
		error = err_set(ERR_IO, "HQ answered %ld to the audit upload: %s", status,
			net_error_text(&l->resp));
	return error;
}

/*
 * The entries from the newest receipt on, and the tree's frontier there: with a kept frontier
 * only the new leaves are read (a sync's cost follows what happened since, not the log's size).
 */
static int load_from_receipt(struct buf *leaves, uint64_t *count, struct upload *u,
	struct node *n, int from_start)
{
	uint64_t i;
	int has_frontier = 0, error = 0;

	buf_reset(leaves);
	merkle_frontier_init(&u->f);
	u->m = 0;
	if (!from_start)
		error = last_receipt(&u->m, &has_frontier, &u->f, n);
	if (!error && u->m && !has_frontier) { /* a receipt from before frontiers were kept */
		error = checkpoint_own_leaves_from(leaves, count, n->store, 0);
		for (i = 0; !error && i < u->m && i < *count; i++)
			merkle_frontier_add(&u->f, (const uint8_t *)leaves->ptr + i * MERKLE_HASH_LEN);
		if (!error && *count >= u->m)
			memmove(leaves->ptr, leaves->ptr + u->m * MERKLE_HASH_LEN,
				leaves->len - u->m * MERKLE_HASH_LEN);
		if (!error && *count >= u->m)
			leaves->len -= u->m * MERKLE_HASH_LEN;
	} else if (!error) {
		error = checkpoint_own_leaves_from(leaves, count, n->store, u->m);
	}
	if (!error && u->m > *count)
		error = err_set(ERR_CORRUPT, "this device's audit log has %llu entries but HQ "
					     "countersigned %llu: the log was truncated",
			(unsigned long long)*count, (unsigned long long)u->m);
	return error;
}

/* The next batch after `prev` (or the first, prev NULL): entries u->m..u->t and its body. */
static int next_batch(struct upload *u, struct buf *body, const struct upload *prev, struct node *n,
	const struct buf *leaves, uint64_t base, uint64_t count, const struct buf *key)
{
	if (prev) {
		u->m = prev->t;
		u->f = prev->next;
	}
	u->t = count - u->m > AUDITSYNC_BATCH ? u->m + AUDITSYNC_BATCH : count;
	buf_reset(body);
	buf_reset(&u->sig);
	buf_reset(&u->proof);
	return upload_body(body, u, n,
		(const uint8_t *)leaves->ptr + (u->m - base) * MERKLE_HASH_LEN, key);
}

/*
 * Batches in a pipeline on the caller's connection (a borrowed lane): while HQ checks and
 * stores one, this thread builds the next, then runs `meanwhile` (the sync builds its first
 * push round there); the next is sent only once HQ's receipt for this one is checked and kept.
 */
int auditsync_upload(long *uploaded, struct node *n, struct net *net, const char *base_url,
	const struct buf *key, const struct buf *cert, const struct buf *ca,
	int (*meanwhile)(void *ctx), void *ctx)
{
	struct buf leaves = BUF_INIT((size_t)1 << 36), url = BUF_INIT(4096);
	struct buf body[2] = {BUF_INIT(64u * 1024 * 1024), BUF_INIT(64u * 1024 * 1024)};
	struct upload u[2];
	struct lane *l = NULL;
	uint64_t count = 0, base;
	size_t k = 0;
	int restarted = 0, has_next = 0, error;

	(void)cert;
	memset(u, 0, sizeof(u));
	for (size_t i = 0; i < 2; i++) {
		buf_init(&u[i].sig, CHECKPOINT_SIG_MAX);
		buf_init(&u[i].proof, MERKLE_MAX_PROOF * MERKLE_HASH_LEN);
		snprintf(u[i].origin, sizeof(u[i].origin), "%s/%s", n->office, n->device);
	}
	*uploaded = 0;
	error = buf_printf(&url, "%s/v1/audit/upload", base_url);
	if (!error)
		error = lane_borrow(&l, net, 64 * 1024);
	/* the upload ends at a seal: HQ takes only a bounded run of unsealed entries */
	if (!error)
		error = node_seal(NULL, n);
again:
	if (!error)
		error = load_from_receipt(&leaves, &count, &u[k], n, restarted);
	if (!error)
		error = load_seals(&u[k], n);
	base = u[k].m; /* leaves holds entries base.. */
	if (!error && u[k].m < count)
		error = next_batch(&u[k], &body[k], NULL, n, &leaves, base, count, key);
	if (!error && u[k].m < count)
		error = post_start(l, url.ptr, &body[k]);
	while (!error && u[k].m < count) {
		struct upload *cur = &u[k], *nx = &u[1 - k];

		has_next = cur->t < count;
		if (has_next) { /* the seals travel with every batch: the same list */
			nx->seals = cur->seals;
			nx->nseals = cur->nseals;
			error = next_batch(nx, &body[1 - k], cur, n, &leaves, base, count, key);
		}
		if (!error && meanwhile)
			error = meanwhile(ctx);
		if (error) {
			lane_close(l); /* waits for the batch in flight; its receipt is not kept */
			l = NULL;
			break;
		}
		error = post_wait(l);
		/* HQ holds nothing of this trail (a new epoch after a release): all of it again */
		if (error == ERR_CONFLICT && cur->m > 0 && !restarted) {
			restarted = 1;
			error = 0;
			nx->seals = NULL;
			nx->nseals = 0;
			goto again;
		}
		if (!error)
			error = keep_receipt(n, cur, &l->resp, ca);
		if (!error) {
			*uploaded += (long)(cur->t - cur->m);
			cur->m = cur->t;
		}
		if (!error && has_next)
			error = post_start(l, url.ptr, &body[1 - k]);
		if (!error && has_next) {
			nx->seals = cur->seals; /* the list moves on with the batch */
			cur->seals = NULL;
			cur->nseals = 0;
			k = 1 - k;
		}
	}
	if (!error && meanwhile && !*uploaded)
		error = meanwhile(ctx); /* nothing was uploaded: the caller's work all the same */
	lane_close(l);
	seal_free_list(u[k].seals, u[k].nseals);
	for (size_t i = 0; i < 2; i++) {
		buf_release(&body[i]);
		buf_release(&u[i].sig);
		buf_release(&u[i].proof);
	}
	buf_release(&leaves);
	buf_release(&url);
	return error;
}
