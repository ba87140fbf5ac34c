/*
 * tests/tools/tamper.c - alter one byte of a stored evidence chunk, as someone holding the
 * store's key could: the evidence tests check that verify, get, export and sync each notice.
 *
 * usage: tamper N     flip the low bit of the first byte of the N-th chunk (0-based, in the
 *                     order chunks were stored) of the node in FIELDSYNC_HOME, logged on as
 *                     FIELDSYNC_USER with FIELDSYNC_PASSPHRASE; prints the chunk's hash
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "store/chunks.h"
#include "store/odb.h"

int main(int argc, char **argv)
{
	struct cli c;
	struct node *n = NULL;
	struct store *e = NULL;
	struct buf data = BUF_INIT(CHUNKS_SIZE), hash = BUF_INIT(CHUNKS_HASH_LEN);
	char hex[2 * CHUNKS_HASH_LEN + 1];
	int64_t index;
	int error;

	memset(&c, 0, sizeof(c));
	c.prog = "tamper";
	if (argc != 2) {
		fputs("usage: tamper N\n", stderr);
		return CLI_EXIT_USAGE;
	}
	index = strtoll(argv[1], NULL, 10);
	error = odb_global_init();
	if (!error)
		error = cli_open_node(&n, &c);
	if (!error)
		error = store_evidence(&e, n->store);
	if (!error)
		error = store_query_bytes(&data, e,
			"SELECT data FROM chunks ORDER BY id LIMIT 1 OFFSET ?", "i", index);
	if (!error)
		error = store_query_bytes(&hash, e,
			"SELECT hash FROM chunks ORDER BY id LIMIT 1 OFFSET ?", "i", index);
	if (!error && data.len == 0)
		error = err_set(ERR_INVALID, "chunk %lld is empty", (long long)index);
	if (!error) {
		data.ptr[0] ^= 1;
		error = store_run(e, "UPDATE chunks SET data = ?1 WHERE hash = ?2", "bb", data.ptr,
			data.len, hash.ptr, hash.len);
	}
	if (!error && hash.len == CHUNKS_HASH_LEN) {
		crypto_hex(hex, (const uint8_t *)hash.ptr, CHUNKS_HASH_LEN);
		printf("%s\n", hex);
	}
	if (error)
		fprintf(stderr, "tamper: error: %s\n", err_msg());
	buf_wipe_release(&data);
	buf_release(&hash);
	node_free(n);
	return error ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
