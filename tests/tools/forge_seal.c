/*
 * tests/tools/forge_seal.c - test-only: what an attacker holding a copy of a device's key
 * material could sign (docs/AUDIT.md).
 *
 * Opens an agent node like the agent does (FIELDSYNC_HOME, FIELDSYNC_USER,
 * FIELDSYNC_PASSPHRASE) - typically an older copy of a device's directory, whose sealing key
 * the device itself has since used and wiped - and signs a seal with index INDEX over the first
 * SIZE entries of the copy's log (all of them if it holds fewer) with the copy's sealing key.
 * Nothing is stored: the seal is printed as JSON, {"key_index", "seal"}, for a test to put into
 * an export file or an upload.  Exit 0 when the seal was made.
 *
 * usage: forge_seal INDEX SIZE
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/checkpoint.h"
#include "audit/seal.h"
#include "cli.h"
#include "node/node.h"
#include "store/odb.h"

static int forge(json_t **out, int64_t *key_index, struct node *n, uint64_t index, uint64_t size)
{
	struct buf key = BUF_INIT(8192), next = BUF_INIT(8192), leaves = BUF_INIT((size_t)1 << 32);
	char origin[128];
	struct seal s;
	uint64_t count = 0;
	int error;

	memset(&s, 0, sizeof(s));
	snprintf(origin, sizeof(origin), "%s/%s", n->office, n->device);
	error = store_query_int64(key_index, n->store, "SELECT idx FROM audit_sealing_key", "");
	if (!error)
		error = store_query_bytes(&key, n->store, "SELECT key FROM audit_sealing_key", "");
	if (!error)
		error = checkpoint_own_leaves(&leaves, &count, n->store);
	if (!error) {
		s.index = index;
		s.size = size;
		error = merkle_root(s.root, (const uint8_t *)leaves.ptr,
			size < count ? size : count);
	}
	if (!error)
		error = seal_sign(&s, &next, origin, (const uint8_t *)key.ptr, key.len);
	if (!error) {
		*out = seal_json(&s);
		error = *out ? 0 : err_set(ERR_NOMEM, "out of memory");
	}
	buf_wipe_release(&key);
	buf_wipe_release(&next);
	buf_release(&leaves);
	return error;
}

int main(int argc, char **argv)
{
	struct cli c;
	struct node *n = NULL;
	json_t *seal = NULL;
	int64_t key_index = -1;
	char *end1 = NULL, *end2 = NULL;
	unsigned long long index, size;
	int rc;

	memset(&c, 0, sizeof(c));
	c.prog = "forge_seal";
	if (argc != 3) {
		fputs("usage: forge_seal INDEX SIZE\n", stderr);
		return CLI_EXIT_USAGE;
	}
	index = strtoull(argv[1], &end1, 10);
	size = strtoull(argv[2], &end2, 10);
	if (*end1 || *end2 || !size) {
		fputs("usage: forge_seal INDEX SIZE (numbers, SIZE at least 1)\n", stderr);
		return CLI_EXIT_USAGE;
	}
	if (odb_global_init() || cli_open_node(&n, &c) || forge(&seal, &key_index, n, index, size))
		rc = cli_fail(&c);
	else
		rc = cli_print_json(
			json_pack("{s:I, s:o}", "key_index", (json_int_t)key_index, "seal", seal));
	/* a copy that was never meant to sync again: it is not sealed on close */
	if (n)
		n->seal_on_close = 0;
	node_free(n);
	return rc;
}
