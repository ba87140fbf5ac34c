/* server/hqevidence.c - evidence chunk transfer (see hqevidence.h). */
#include "hqevidence.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "case/evidence.h"
#include "hq.h"
#include "node/casedb.h"
#include "routes.h"
#include "store/chunks.h"

static int fail(int *status, struct buf *out, int code, int error)
{
	*status = code;
	buf_reset(out);
	return hq_json_out(out, json_pack("{s:s}", "error", err_msg())) ? error : 0;
}

/* A list of hex chunk ids from a JSON array, at most `max`, into raw hashes. */
static int parse_ids(struct buf *out, json_t *list, size_t max)
{
	uint8_t raw[CHUNKS_HASH_LEN];
	size_t i;
	int error = 0;

	if (!json_is_array(list) || json_array_size(list) > max)
		return err_set(ERR_INVALID, "a request names a list of at most %zu chunk ids", max);
	for (i = 0; !error && i < json_array_size(list); i++) {
		const char *hex = json_string_value(json_array_get(list, i));

		if (!hex || strlen(hex) != 2 * CHUNKS_HASH_LEN ||
			crypto_unhex(raw, sizeof(raw), hex))
			return err_set(ERR_INVALID, "a chunk id is malformed");
		error = buf_put(out, raw, sizeof(raw));
	}
	return error;
}

static int received(int *yes, struct node *n, const char *office, const uint8_t *hash)
{
	int64_t count = 0;
	int error = store_query_int64(&count, n->store,
		"SELECT count(*) FROM evidence_receipts WHERE office = ?1 AND hash = ?2", "tb",
		office, hash, (size_t)CHUNKS_HASH_LEN);

	*yes = count > 0;
	return error;
}

int hq_evidence_lack(int *status, struct buf *out, struct node *n, const struct hq_peer *peer,
	const char *body, size_t len)
{
	json_t *doc = json_loadb(body ? body : "", len, 0, NULL), *lack = json_array();
	struct buf ids = BUF_INIT(HQEVIDENCE_IDS_MAX * CHUNKS_HASH_LEN);
	char hex[2 * CHUNKS_HASH_LEN + 1];
	size_t i;
	int yes = 0, error = parse_ids(&ids, json_object_get(doc, "chunks"), HQEVIDENCE_IDS_MAX);

	for (i = 0; !error && i < ids.len; i += CHUNKS_HASH_LEN) {
		error = received(&yes, n, peer->office, (const uint8_t *)ids.ptr + i);
		crypto_hex(hex, (const uint8_t *)ids.ptr + i, CHUNKS_HASH_LEN);
		if (!error && !yes)
			json_array_append_new(lack, json_string(hex));
	}
	json_decref(doc);
	buf_release(&ids);
	if (error) {
		json_decref(lack);
		return fail(status, out, error == ERR_INVALID ? 400 : 500, error);
	}
	*status = 200;
	return hq_json_out(out, json_pack("{s:o}", "lack", lack));
}

/* Store every record of an upload; counts what came and what came again. */
static int store_upload(uint64_t *chunks, uint64_t *bytes, uint64_t *again, uint64_t *again_bytes,
	struct node *n, const struct hq_peer *peer, const uint8_t *body, size_t len)
{
	const uint8_t *p = body, *hash, *data;
	uint8_t got[CHUNKS_HASH_LEN];
	char hex[2 * CHUNKS_HASH_LEN + 1], now[HLC_STR_MAX];
	size_t left = len, dlen;
	int rc, yes = 0, error = 0;

	hlc_iso8601(now, hlc_now_ms());
	while (!error && (rc = chunks_wire_next(&hash, &data, &dlen, &p, &left)) > 0) {
		if (++*chunks > HQEVIDENCE_CHUNKS_MAX)
			return err_set(ERR_INVALID, "an upload holds at most %d chunks",
				HQEVIDENCE_CHUNKS_MAX);
		*bytes += dlen;
		error = chunks_put(got, NULL, n->store, data, dlen, CHUNKS_HELD);
		crypto_hex(hex, hash, CHUNKS_HASH_LEN);
		if (!error && !crypto_equal(got, hash, CHUNKS_HASH_LEN))
			error = err_set(ERR_INVALID, "chunk %s does not match its content", hex);
		if (!error)
			error = received(&yes, n, peer->office, hash);
		if (!error && yes) {
			(*again)++;
			*again_bytes += dlen;
		}
		if (!error && !yes)
			error = store_run(n->store,
				"INSERT INTO evidence_receipts(office, hash, device, received_at)"
				"  VALUES (?1, ?2, ?3, ?4)",
				"tbtt", peer->office, hash, (size_t)CHUNKS_HASH_LEN, peer->device,
				now);
	}
	return error ? error : rc;
}

int hq_evidence_upload(int *status, struct buf *out, struct node *n, const struct hq_peer *peer,
	const uint8_t *body, size_t len)
{
	uint64_t chunks = 0, bytes = 0, again = 0, again_bytes = 0;
	char detail[160];
	int error = store_begin(n->store);

	if (!error)
		error = store_upload(&chunks, &bytes, &again, &again_bytes, n, peer, body, len);
	snprintf(detail, sizeof(detail),
		"%" PRIu64 " chunks, %" PRIu64 " bytes; %" PRIu64 " already received", chunks,
		bytes, again);
	if (!error)
		error = node_audit(n, "evidence.upload", peer->device, "success", detail);
	if (!error)
		error = store_commit(n->store);
	if (error) {
		error = node_audit_failure(n, "evidence.upload", peer->device, error);
		serve_log("warn", "evidence", peer->addr, "device %s: upload refused: %s",
			peer->device, err_msg());
		return fail(status, out, error == ERR_INVALID || error == ERR_TOOBIG ? 400 : 500,
			error);
	}
	serve_log("info", "evidence", peer->addr,
		"device %s: bytes_in=%" PRIu64 " chunks_in=%" PRIu64 " resent_chunks=%" PRIu64
		" resent_bytes=%" PRIu64,
		peer->device, bytes, chunks, again, again_bytes);
	*status = 200;
	return hq_json_out(out,
		json_pack("{s:I, s:I}", "stored", (json_int_t)chunks, "bytes", (json_int_t)bytes));
}

/* Every chunk the items of the case at `head` list, as raw hashes. */
static int case_chunks(struct buf *out, struct node *n, const git_oid *head)
{
	struct evidence_item *items = NULL;
	size_t count = 0, i;
	int error = evidence_read_all(&items, &count, n->repo, head);

	for (i = 0; !error && i < count; i++)
		error = evidence_read_chunks(out, n->repo, head, &items[i]);
	evidence_items_free(items, count);
	return error;
}

static int listed(const struct buf *all, const uint8_t *hash)
{
	size_t i;

	for (i = 0; i < all->len; i += CHUNKS_HASH_LEN)
		if (!memcmp(all->ptr + i, hash, CHUNKS_HASH_LEN))
			return 1;
	return 0;
}

static int send_chunks(struct buf *out, uint64_t *bytes, struct node *n, const char *case_id,
	const struct buf *ids)
{
	struct buf all = BUF_INIT((size_t)(EVIDENCE_SIZE_MAX / CHUNKS_SIZE) * CHUNKS_HASH_LEN);
	struct buf chunk = BUF_INIT(CHUNKS_SIZE);
	git_oid head;
	size_t i;
	int error = casedb_head(&head, n, case_id);

	if (!error)
		error = case_chunks(&all, n, &head);
	for (i = 0; !error && i < ids->len; i += CHUNKS_HASH_LEN) {
		const uint8_t *h = (const uint8_t *)ids->ptr + i;
		char hex[2 * CHUNKS_HASH_LEN + 1];

		crypto_hex(hex, h, CHUNKS_HASH_LEN);
		if (!listed(&all, h)) {
			error = err_set(ERR_NOTFOUND, "case '%s' lists no chunk %s", case_id, hex);
			break;
		}
		error = chunks_get(&chunk, n->store, h);
		if (!error)
			error = chunks_wire_put(out, h, chunk.ptr, chunk.len);
		*bytes += chunk.len;
	}
	buf_wipe_release(&chunk);
	buf_release(&all);
	return error;
}

int hq_evidence_download(int *status, struct buf *out, int *binary, struct node *n,
	const struct hq_peer *peer, const char *body, size_t len)
{
	json_t *doc = json_loadb(body ? body : "", len, 0, NULL);
	const char *case_id = json_string_value(json_object_get(doc, "case"));
	struct buf ids = BUF_INIT(HQEVIDENCE_CHUNKS_MAX * CHUNKS_HASH_LEN);
	char detail[128];
	uint64_t bytes = 0;
	int visible = 0, error;

	*binary = 0;
	error = case_id && !schema_check_case_id(case_id)
			? parse_ids(&ids, json_object_get(doc, "chunks"), HQEVIDENCE_CHUNKS_MAX)
			: err_set(ERR_INVALID, "a download names a case");
	if (!error)
		error = store_begin(n->store);
	if (!error)
		error = hq_case_visible(&visible, NULL, n, case_id, peer->office);
	/* the same answer whether the case is another office's or does not exist */
	if (error == ERR_NOTFOUND || (!error && !visible))
		error = err_set(ERR_NOTFOUND, "no case '%s' this office may see", case_id);
	if (!error)
		error = send_chunks(out, &bytes, n, case_id, &ids);
	snprintf(detail, sizeof(detail), "%zu chunks, %" PRIu64 " bytes to device %.16s",
		ids.len / CHUNKS_HASH_LEN, bytes, peer->device);
	if (!error)
		error = node_audit(n, "evidence.download", case_id, "success", detail);
	if (!error)
		error = store_commit(n->store);
	buf_release(&ids);
	if (error) {
		error = node_audit_failure(n, "evidence.download", case_id ? case_id : "", error);
		json_decref(doc);
		return fail(status, out,
			error == ERR_INVALID	? 400
			: error == ERR_NOTFOUND ? 404
						: 500,
			error);
	}
	serve_log("info", "evidence", peer->addr, "device %s: bytes_out=%" PRIu64 " case=%s",
		peer->device, bytes, case_id);
	json_decref(doc);
	*status = 200;
	*binary = 1;
	return 0;
}

int hq_evidence_require(struct node *n, const char *case_id, const git_oid *head)
{
	struct buf missing = BUF_INIT((size_t)64 << 20);
	char hex[2 * CHUNKS_HASH_LEN + 1];
	int error = evidence_missing_chunks(&missing, NULL, n->store, n->repo, head);

	if (!error && missing.len) {
		crypto_hex(hex, (const uint8_t *)missing.ptr, CHUNKS_HASH_LEN);
		error = err_set(ERR_INVALID,
			"case '%s': an evidence item lists chunk %s, which was "
			"not uploaded",
			case_id, hex);
	}
	buf_release(&missing);
	return error;
}
