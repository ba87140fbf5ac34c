/*
 * tests/tools/dumpstore.c - test-only: write a plaintext copy of a node's database, as someone
 * holding its key could read it, so that a test can look for text that must be gone (a purged
 * case's narrative, notes, full-text terms and evidence bytes).
 *
 * usage: dumpstore OUT   the node of FIELDSYNC_HOME, logged on as FIELDSYNC_USER with
 *                        FIELDSYNC_PASSPHRASE; OUT must not exist
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "store/odb.h"

int main(int argc, char **argv)
{
	struct cli c;
	struct node *n = NULL;
	int error;

	memset(&c, 0, sizeof(c));
	c.prog = "dumpstore";
	if (argc != 2) {
		fputs("usage: dumpstore OUT\n", stderr);
		return CLI_EXIT_USAGE;
	}
	error = odb_global_init();
	if (!error)
		error = cli_open_node(&n, &c);
	/* the node's connection opens without SQLITE_OPEN_CREATE: an empty file is a database */
	if (!error) {
		FILE *f = fopen(argv[1], "wx");

		if (!f)
			error = err_set(ERR_EXISTS, "cannot create '%s'", argv[1]);
		else
			fclose(f);
	}
	if (!error)
		error = store_run(n->store, "ATTACH DATABASE ? AS plain KEY ''", "t", argv[1]);
	if (!error)
		error = store_exec(n->store,
			"SELECT sqlcipher_export('plain'); DETACH DATABASE plain;");
	if (error)
		fprintf(stderr, "dumpstore: %s\n", err_msg());
	node_free(n);
	return error ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
