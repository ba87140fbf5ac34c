/* shared/audit/wire.c - the audit upload's body compressed with a preset dictionary. */
#include "audit/wire.h"

#include <stdint.h>
#include <string.h>

#include <zlib.h>

/*
 * What an upload's JSON repeats (audit_encode()'s members in their sorted order, the upload's
 * own members, the commonest actions and outcomes); deflate looks back into it, and prefers
 * what stands last, so the strings of every entry come at the end.
 */
static const char DICTIONARY[] =
	"\"seals\":[{\"cert\":\"\",\"idx\":,\"next_key\":\"\",\"root\":\"\",\"signature\":\"\","
	"\"size\":,\"time\":\"\"}],\"proof\":\"\",\"from\":,\"size\":,\"root\":\"\","
	"\"signature\":\"3045022100\",\"time\":\"2026-\",\"entries\":[\""
	"case.search\",\"cases\":[],\"cases_shown\":0,case.list audit.read evidence.add "
	"evidence.view note.add case.create conflict.resolve sync.push sync.changes logon "
	"denied failure fields status,priority,assignee,location,summary,title "
	"pushed 0, pulled 0, merged 0, conflicts 0, refused 0, audit entries uploaded 0"
	"\",\"{\\\"action\\\":\\\"case.view\\\",\\\"detail\\\":\\\"\\\",\\\"node\\\":\\\""
	"\\\",\\\"office\\\":\\\"\\\",\\\"outcome\\\":\\\"success\\\",\\\"seq\\\":"
	",\\\"target\\\":\\\"\\\",\\\"time\\\":\\\"2026-12-01T00:00:00.000Z\\\",\\\"user\\\":\\\""
	"\\\"}\",\"{\\\"action\\\":\\\"logon\\\",\\\"detail\\\":\\\"\\\",\\\"node\\\":\\\""
	"\\\",\\\"office\\\":\\\"\\\",\\\"outcome\\\":\\\"success\\\",\\\"seq\\\":"
	",\\\"target\\\":\\\"\\\",\\\"time\\\":\\\"2026-12-01T00:00:00.000Z\\\",\\\"user\\\":\\\""
	"\\\"}\",\"{\\\"action\\\":\\\"case.update\\\",\\\"detail\\\":\\\"fields \\\","
	"\\\"node\\\":\\\"\\\",\\\"office\\\":\\\"\\\",\\\"outcome\\\":\\\"success\\\","
	"\\\"seq\\\":,\\\"target\\\":\\\"-26-\\\",\\\"time\\\":\\\"2026-12-01T00:00:00.000Z\\\","
	"\\\"user\\\":\\\"\\\"}\"";

int audit_wire_pack(struct buf *out, const void *json, size_t len)
{
	z_stream z;
	int rc, error = 0;

	memset(&z, 0, sizeof(z));
	if (deflateInit(&z, 6) != Z_OK)
		return err_set(ERR_NOMEM, "cannot start the compressor");
	if (deflateSetDictionary(&z, (const Bytef *)DICTIONARY, sizeof(DICTIONARY) - 1) != Z_OK) {
		error = err_set(ERR_NOMEM, "cannot start the compressor");
		goto out;
	}
	error = buf_grow(out, deflateBound(&z, (uLong)len));
	if (error)
		goto out;
	z.next_in = (Bytef *)(uintptr_t)json;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)out->ptr + out->len;
	z.avail_out = (uInt)(out->cap - out->len - 1); /* the last byte: buf's NUL */
	rc = deflate(&z, Z_FINISH);
	if (rc != Z_STREAM_END)
		error = err_set(ERR_NOMEM, "cannot compress the audit upload");
	else
		out->len += z.total_out;
out:
	deflateEnd(&z);
	return error;
}

int audit_wire_unpack(struct buf *out, const void *in, size_t len)
{
	z_stream z;
	size_t start = out->len;
	int rc = Z_OK, error = 0;

	memset(&z, 0, sizeof(z));
	if (inflateInit(&z) != Z_OK)
		return err_set(ERR_NOMEM, "cannot start the decompressor");
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	while (!error && rc != Z_STREAM_END) {
		if (out->len - start >= AUDIT_WIRE_INFLATED_MAX) {
			error = err_set(ERR_TOOBIG, "the audit upload inflates past %u bytes",
				AUDIT_WIRE_INFLATED_MAX);
			break;
		}
		/* room by 64 KiB at a time, within what `out` may hold */
		error = buf_grow(out, out->max - out->len < 65536 ? out->max - out->len : 65536);
		if (!error && out->len == out->max)
			error = err_set(ERR_TOOBIG, "the audit upload inflates past %zu bytes",
				out->max - start);
		if (error)
			break;
		z.next_out = (Bytef *)out->ptr + out->len;
		z.avail_out = (uInt)(out->cap - out->len - 1); /* the last byte: buf's NUL */
		if (z.avail_out > AUDIT_WIRE_INFLATED_MAX - (out->len - start))
			z.avail_out = (uInt)(AUDIT_WIRE_INFLATED_MAX - (out->len - start));
		rc = inflate(&z, Z_NO_FLUSH);
		if (rc == Z_NEED_DICT)
			rc = inflateSetDictionary(&z, (const Bytef *)DICTIONARY,
				     sizeof(DICTIONARY) - 1) == Z_OK
				     ? inflate(&z, Z_NO_FLUSH)
				     : Z_DATA_ERROR;
		out->len = (size_t)((char *)z.next_out - out->ptr);
		if (rc == Z_BUF_ERROR && z.avail_in == 0)
			error = err_set(ERR_INVALID, "the audit upload is a truncated zlib stream");
		else if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
			error = err_set(ERR_INVALID, "the audit upload is not a valid zlib stream");
	}
	if (!error && z.avail_in)
		error = err_set(ERR_INVALID, "bytes after the audit upload's zlib stream");
	if (error)
		out->len = start;
	else if (out->ptr)
		out->ptr[out->len] = '\0';
	inflateEnd(&z);
	return error;
}
