/*
 * cli/cmd_store.c - `check`, `backup --out FILE` and `restore FILE --node DIR` of either
 * program (shared/node/backup.h has the file format and what a restore does).
 */
#include "cmd_store.h"
#include "node/rekey.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "node/backup.h"
#include "node/casedb.h"

static const char check_help[] =
	"usage: check\n"
	"\n"
	"Verify the store: SQLite integrity, every object re-hashed, every object reachable from\n"
	"a case head present, derived tables equal to the heads, evidence chunks, audit leaves.\n"
	"Exits 1 naming the first problem.\n";

static json_t *check_json(const struct casedb_check_report *rep)
{
	return json_pack("{s:b, s:I, s:I, s:I, s:I, s:I}", "ok", 1, "cases", (json_int_t)rep->cases,
		"objects", (json_int_t)rep->objects, "commits", (json_int_t)rep->commits,
		"audit_entries", (json_int_t)rep->audit_entries, "evidence_chunks",
		(json_int_t)rep->chunks);
}

int cmd_check(struct cli *c)
{
	struct casedb_check_report rep;
	struct node *n = NULL;
	const char *pos[1];
	int npos, rc;

	if (cli_help(c, check_help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, "check", NULL, 0, pos, 0, &npos);
	if (rc)
		return rc;
	if (cli_open_node(&n, c))
		return cli_fail(c);
	if (casedb_check(&rep, n))
		rc = cli_fail(c);
	else if (c->json)
		rc = cli_print_json(check_json(&rep));
	else
		printf("ok: %lld cases, %lld commits, %lld objects, %llu audit entries\n",
			rep.cases, rep.commits, rep.objects, (unsigned long long)rep.audit_entries);
	node_free(n);
	return rc;
}

static const char backup_help[] =
	"usage: backup --out FILE\n"
	"\n"
	"Back up the store while it is in use (syncs and edits go on): SQLite's backup API copies\n"
	"the database as one consistent snapshot, still encrypted under the same key, and the\n"
	"key slots go with it, so the same passphrases (or key file) open the copy and nothing\n"
	"else does.  The copy is opened and checked like 'check' before anything is reported;\n"
	"FILE (a tar archive: keyslots.json, fieldsync.db; mode 0600) is written under a\n"
	"temporary name and renamed into place, so FILE is always a whole, verified backup.\n"
	"Needs about twice the store's size free beside FILE while it runs.  Audited.\n"
	"--json prints {\"file\",\"taken_at\",\"bytes\",\"seconds\",\"check\":{...}}.\n";

int cmd_backup(struct cli *c)
{
	static const char usage[] = "backup --out FILE";
	struct cli_opt opts[] = {{"--out", 1, 0, {0}, 0}};
	struct node_backup_report rep;
	uint8_t key[CRYPTO_KEY_LEN];
	struct node *n = NULL;
	const char *pos[1], *out;
	int64_t t0;
	double secs;
	int npos, rc;

	if (cli_help(c, backup_help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, usage, opts, CLI_N_OPTS(opts), pos, 0, &npos);
	if (rc)
		return rc;
	out = cli_opt(opts, CLI_N_OPTS(opts), "--out");
	if (!out)
		return cli_usage_error(c, usage, "backup needs --out FILE");
	crypto_lock(key, sizeof(key));
	if (cli_open_node_key(&n, key, c)) {
		crypto_wipe(key, sizeof(key));
		return cli_fail(c);
	}
	t0 = hlc_now_ms();
	if (node_require(n, NODE_PERM_USER_ADMIN, "node.backup", out) ||
		node_backup(&rep, n, key, out)) {
		rc = cli_fail(c);
		goto out;
	}
	secs = (double)(hlc_now_ms() - t0) / 1000.0;
	if (c->json)
		rc = cli_print_json(json_pack("{s:s, s:s, s:I, s:I, s:f, s:o}", "file", out,
			"taken_at", rep.taken_at, "bytes", (json_int_t)rep.bytes, "db_bytes",
			(json_int_t)rep.db_bytes, "seconds", secs, "check",
			check_json(&rep.check)));
	else
		printf("backup %s: %.1f MiB taken at %s in %.1f s; checked: %lld cases, %lld "
		       "objects, %llu audit entries\n",
			out, (double)rep.bytes / (1 << 20), rep.taken_at, secs, rep.check.cases,
			rep.check.objects, (unsigned long long)rep.check.audit_entries);
out:
	crypto_wipe(key, sizeof(key));
	node_free(n);
	return rc;
}

static const char restore_help[] =
	"usage: restore FILE --node DIR\n"
	"\n"
	"Restore a backup made by the 'backup' command into DIR, which must not exist or be an\n"
	"empty directory (a node directory in use is never overwritten).  You then log on to\n"
	"the restored node as usual (its key slots are the backup's: the passphrases or key file\n"
	"of then), and it is checked like 'check'; if either fails nothing is left in DIR.\n";

static const char restore_device_help[] =
	"\n"
	"A restored device declares the restore to HQ at its next sync.  HQ records it and holds\n"
	"the device ('restored from a backup of DATE') until an administrator runs\n"
	"'fieldsync-server device release DEVICE'; the next sync then uploads its audit trail as\n"
	"a new epoch (the one HQ held is kept) and pulls every edit HQ received since the backup,\n"
	"so nothing the device did after the backup and synced is lost.\n";

static const char restore_hq_help[] =
	"\n"
	"Give the key file of the server backed up with --key-file (the default, DIR.key, does\n"
	"not exist for a new DIR).  The restored store gets a new generation: a device that\n"
	"synced after the backup learns it at its next sync and offers everything it holds\n"
	"again (its cases from their roots, its evidence chunks, its whole audit trail, each\n"
	"checked as at any sync), so what HQ had acknowledged comes back.  A commit is only\n"
	"taken from the device that wrote it: a case holding another device's lost edits waits\n"
	"for that device's sync.  HQ's own edits made after the backup come back only from the\n"
	"devices that pulled them.\n";

static void remove_restored(const char *home)
{
	static const char *const dbs[] = {NODE_DB_NAME, NODE_EVIDENCE_NAME};
	static const char *const files[] = {NODE_SLOTS_NAME, NODE_LOCK_NAME};
	char p[4200];
	size_t i;

	for (i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", home, dbs[i]);
		store_unlink(p);
	}
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", home, files[i]);
		unlink(p);
	}
	rmdir(home);
}

static int restore(struct cli *c, int declare)
{
	static const char usage[] = "restore FILE --node DIR";
	struct cli_opt opts[] = {{"--node", 1, 0, {0}, 0}};
	struct casedb_check_report rep;
	char taken_at[HLC_STR_MAX], help[2048];
	struct node *n = NULL;
	struct cli there;
	const char *pos[1], *dir;
	int npos, rc;

	snprintf(help, sizeof(help), "%s%s", restore_help,
		declare ? restore_device_help : restore_hq_help);
	if (cli_help(c, help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, usage, opts, CLI_N_OPTS(opts), pos, 1, &npos);
	if (rc)
		return rc;
	dir = cli_opt(opts, CLI_N_OPTS(opts), "--node");
	if (npos != 1 || !dir)
		return cli_usage_error(c, usage, "restore needs FILE and --node DIR");
	if (strlen(dir) > 4000)
		return cli_usage_error(c, usage, "--node: path too long");
	if (node_restore_files(pos[0], dir))
		return cli_fail(c);
	there = *c;
	there.home = dir;
	if (cli_open_node(&n, &there) ||
		node_require(n, NODE_PERM_USER_ADMIN, "node.restore", pos[0]) ||
		node_restore_finish(taken_at, &rep, n, pos[0], declare)) {
		rc = cli_fail(c);
		node_free(n);
		remove_restored(dir);
		return rc;
	}
	if (c->json)
		rc = cli_print_json(json_pack("{s:s, s:s, s:s, s:b, s:o}", "node", dir, "file",
			pos[0], "taken_at", taken_at, "declare_to_hq", declare, "check",
			check_json(&rep)));
	else
		printf("restored %s into %s: a backup of %s; checked: %lld cases, %lld objects, %llu "
		       "audit entries%s\n",
			pos[0], dir, taken_at, rep.cases, rep.objects,
			(unsigned long long)rep.audit_entries,
			declare ? "\nthe next sync declares the restore to HQ, which holds this device "
				  "until an administrator releases it"
				: "");
	node_free(n);
	return rc;
}

int cmd_restore_device(struct cli *c)
{
	return restore(c, 1);
}

int cmd_restore_hq(struct cli *c)
{
	return restore(c, 0);
}

int cli_rekey_print(const struct cli *c, const struct node_rekey_report *rep, const char *slots)
{
	if (c->json)
		return cli_print_json(json_pack("{s:b, s:I, s:I, s:s, s:I}", "rekeyed", 1,
			"rewrapped", (json_int_t)rep->rewrapped, "removed",
			(json_int_t)rep->removed, "removed_users", rep->removed_users, "pages",
			(json_int_t)rep->pages));
	if (slots)
		printf("new database key: %lld pages re-encrypted, %s rewrapped%s%s\n",
			(long long)rep->pages, slots, rep->removed ? ", removed: " : "",
			rep->removed_users);
	else
		printf("new database key: %lld pages re-encrypted, %zu key slot%s rewrapped%s%s%s\n",
			(long long)rep->pages, rep->rewrapped, rep->rewrapped == 1 ? "" : "s",
			rep->removed ? ", removed: " : "", rep->removed_users,
			rep->removed ? " (give each a new passphrase with 'user passwd NAME')"
				     : "");
	return CLI_EXIT_OK;
}
