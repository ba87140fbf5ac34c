/* agent/cmd_node.c - init, user, audit, check and status. */
#include <stdio.h>
#include <string.h>

#include "node/casedb.h"
#include "auditverify.h"
#include "cmd_user.h"
#include "cmd_store.h"
#include "commands.h"
#include "device.h"
#include "keyfile.h"
#include "node/rekey.h"
#include "pki/enroll.h"
#include "node/users.h"
#include "service.h"

static const char init_help[] =
	"usage: fieldsync-agent init --office CODE --user NAME [--home DIR]\n"
	"\n"
	"Create this device's encrypted store in the node directory, with NAME as its first\n"
	"admin.  The passphrase (at least 12 characters) is asked twice, or read from\n"
	"--passphrase-file / FIELDSYNC_PASSPHRASE.  The database key is random and exists on disk\n"
	"only wrapped under each user's passphrase (Argon2id + AES-256-GCM).\n";

int cmd_init(struct cli *c)
{
	struct cli_opt opts[] = {{"--office", 1, 0, {0}, 0}};
	struct buf pass = BUF_INIT(NODE_PASSPHRASE_MAX + 2);
	struct node *n = NULL;
	const char *pos[1], *home = NULL, *user = NULL, *office;
	int npos, rc;

	if (cli_help(c, init_help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, "init --office CODE --user NAME", opts, CLI_N_OPTS(opts), pos, 0, &npos);
	if (rc)
		return rc;
	office = cli_opt(opts, CLI_N_OPTS(opts), "--office");
	if (!office || !c->user)
		return cli_usage_error(c, "init --office CODE --user NAME",
			"init needs --office and --user");
	if (cli_home(&home, c) || cli_user(&user, c) ||
		cli_passphrase(&pass, c, "New passphrase for the admin: ", 1) ||
		node_init(&n, home, office, user, buf_cstr(&pass), pass.len, c->kdf)) {
		buf_wipe_release(&pass);
		return cli_fail(c);
	}
	buf_wipe_release(&pass);
	if (c->json)
		rc = cli_print_json(json_pack("{s:s, s:s, s:s, s:s}", "home", home, "office",
			n->office, "device", n->device, "admin", n->user));
	else
		printf("initialised node for office %s in %s\ndevice %s, admin %s\n", n->office,
			home, n->device, n->user);
	node_free(n);
	return rc;
}

static const char user_help[] =
	"usage: fieldsync-agent user add NAME --role ROLE\n"
	"       fieldsync-agent user passwd [NAME]\n"
	"       fieldsync-agent user remove NAME\n"
	"       fieldsync-agent user list\n"
	"\n"
	"Roles: investigator and supervisor work cases; auditor reads the audit log; admin does\n"
	"everything, including managing users.  The new passphrase comes from\n"
	"--new-passphrase-file / FIELDSYNC_NEW_PASSPHRASE or is asked twice; your own passphrase\n"
	"(to unwrap the key for the new slot) as usual.  Adding a user, removing one or changing a\n"
	"passphrase rewrites one key slot; the database is not re-encrypted.\n";

int cmd_user(struct cli *c)
{
	return cli_user_command(c, user_help);
}

static const char audit_help[] =
	"usage: fieldsync-agent audit log [--since TIME] [--case ID] [--group-logons]\n"
	"       fieldsync-agent audit head\n"
	"       fieldsync-agent audit verify [--file F [--ca CA]]\n"
	"                             [--expect-size N --expect-head HEX | --expect-receipt FILE]\n"
	"\n"
	"Print this node's audit trail (auditor or admin): sequence, UTC time, user, action,\n"
	"target, outcome and detail.  TIME is ISO 8601 UTC such as 2026-11-27 or 2026-11-27T18:00Z,\n"
	"or a time before now: 30m, 24h, 7d, 2w.  --case ID: the case's own events and every search or list that showed\n"
	"it (such entries name the cases shown, at most 50, with a count).  With --json each entry\n"
	"carries 'leaf', the hex of the exact bytes hashed for its RFC 6962 leaf, so anyone can\n"
	"recompute the tree.  Reading the log is itself audited.  --group-logons folds each\n"
	"successful log-on into the command it opened (marked 'after log-on'; in JSON 'logon'),\n"
	"without changing what is logged.\n"
	"\n"
	"'audit verify' recomputes every entry's leaf, the Merkle tree head, each checkpoint this\n"
	"device signed, each receipt HQ countersigned (against the organisation's CA) and the\n"
	"chain of forward-secure seals the device makes at every command (docs/AUDIT.md), and\n"
	"prints OK with the size and head, or the first bad entry and why (exit 1).  With --file\n"
	"it verifies an export made by 'fieldsync-server audit export', with only the CA\n"
	"certificate given by --ca (no log-on needed) or this node's CA.\n"
	"\n"
	"'audit head' prints the newest receipt HQ countersigned for this device (JSON: origin,\n"
	"size, tree head, time, HQ's signature and certificate), a head to keep or hand to an\n"
	"auditor.  Given to 'audit verify --expect-receipt FILE' (or typed in as --expect-size N\n"
	"--expect-head HEX), verify also checks the signed head against the CA and proves with a\n"
	"consistency proof that the trail extends it; a trail shorter than the head (cut back to\n"
	"an earlier checkpoint) or diverging from it fails, naming both heads.\n";

int cmd_audit(struct cli *c)
{
	if (c->argc > 0 && !strcmp(c->argv[0], "verify") && !cli_help(c, audit_help))
		return auditverify_command(c, auditverify_node);
	if (c->argc > 0 && !strcmp(c->argv[0], "head") && !cli_help(c, audit_help))
		return auditverify_head_agent(c);
	return cli_audit_command(c, audit_help);
}

static const char status_help[] =
	"usage: fieldsync-agent status\n"
	"\n"
	"Show this node's identity (office, device), the logged-on user and role, the number of\n"
	"cases, those with changes HQ has not seen yet, the last successful sync, unresolved\n"
	"conflicts, and whether the device is enrolled; if it is, check the\n"
	"mutual-TLS channel to the server (GET /v1/health with the device certificate).\n";

static int count(long long *out, struct node *n, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int error = store_prepare(&st, n->store, sql);

	if (error)
		return error;
	if (sqlite3_step(st) == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	else
		error = store_error(n->store, "cannot count");
	sqlite3_finalize(st);
	return error;
}

/* "ok", or why the channel to HQ does not work. */
static void check_channel(char *out, size_t size, struct device_tls *d)
{
	struct buf resp = BUF_INIT(65536), url = BUF_INIT(4096);
	long status = 0;

	if (buf_printf(&url, "%s/v1/health", d->url.ptr) ||
		net_request(&status, &resp, url.ptr, "GET", NULL, 0, &d->tls))
		snprintf(out, size, "%s", err_msg());
	else if (status != 200)
		snprintf(out, size, "server refused (%ld): %s", status, net_error_text(&resp));
	else
		snprintf(out, size, "ok");
	buf_release(&resp);
	buf_release(&url);
}

int cmd_status(struct cli *c)
{
	struct device_tls d;
	struct node *n = NULL;
	const char *pos[1];
	long long cases = 0, conflicts = 0, unpushed = 0;
	struct buf last = BUF_INIT(64);
	char expires[HLC_STR_MAX] = "";
	int64_t until = 0;
	char channel[512] = "not enrolled";
	int npos, rc, enrolled;

	if (cli_help(c, status_help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, "status", NULL, 0, pos, 0, &npos);
	if (rc)
		return rc;
	if (cli_open_node(&n, c))
		return cli_fail(c);
	device_tls_init(&d);
	enrolled = device_tls_load(&d, n) == 0;
	if (enrolled && device_cert_expiry(&until, n) == 0)
		hlc_iso8601(expires, until * 1000);
	if (enrolled)
		check_channel(channel, sizeof(channel), &d);
	if (store_meta_get(&last, n->store, "last_sync") == ERR_NOTFOUND)
		buf_reset(&last);
	if (count(&cases, n, "SELECT count(*) FROM case_heads") ||
		count(&unpushed, n, "SELECT count(*) FROM case_heads WHERE base IS NOT head") ||
		count(&conflicts, n, "SELECT COALESCE(SUM(conflicts), 0) FROM case_index") ||
		node_audit(n, "node.status", "", "success", NULL)) {
		rc = cli_fail(c);
	} else if (c->json) {
		json_t *doc = json_pack(
			"{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s?, s:b, s:s?, s:s?, s:s}", "office",
			n->office, "device", n->device, "user", n->user, "role", n->role, "cases",
			(json_int_t)cases, "unpushed", (json_int_t)unpushed, "conflicts",
			(json_int_t)conflicts, "last_sync", last.len ? last.ptr : NULL, "enrolled",
			enrolled, "server", enrolled ? d.url.ptr : NULL, "certificate_expires",
			expires[0] ? expires : NULL, "channel", channel);

		if (doc && service_current)
			json_object_set_new(doc, "service", service_sync_json(service_current));
		rc = cli_print_json(doc);
	} else {
		printf("office     %s\ndevice     %s\nuser       %s (%s)\ncases      %lld\n"
		       "unpushed   %lld case%s with changes HQ has not seen\n"
		       "last sync  %s\nconflicts  %lld unresolved\nserver     %s\nchannel    %s\n",
			n->office, n->device, n->user, n->role, cases, unpushed,
			unpushed == 1 ? "" : "s", last.len ? last.ptr : "never", conflicts,
			enrolled ? d.url.ptr : "(not enrolled)", channel);
		if (expires[0])
			printf("cert       valid until %s (renewed by sync in its last third)\n",
				expires);
		if (service_current)
			service_print_status(service_current);
	}
	buf_release(&last);
	device_tls_release(&d);
	node_free(n);
	return rc;
}

static const char enroll_help[] =
	"usage: fieldsync-agent enroll [--server URL] --token TOKEN\n"
	"\n"
	"Enroll this device with the HQ server (admin only).  TOKEN comes from\n"
	"'fieldsync-server office add' or 'office token'; it is single-use and carries the\n"
	"fingerprint of the organisation's CA, which this device pins: a server whose CA does\n"
	"not match is refused.  It also carries the URL HQ advertises (chosen at its init), used\n"
	"unless --server names another.  The device key is generated inside the encrypted store;\n"
	"the server chooses the certificate's subject (office and device).\n";

int cmd_enroll(struct cli *c)
{
	static const char usage[] = "enroll [--server URL] --token TOKEN";
	struct cli_opt opts[] = {{"--server", 1, 0, {0}, 0}, {"--token", 1, 0, {0}, 0}};
	struct buf used = BUF_INIT(ENROLL_URL_MAX + 1);
	struct node *n = NULL;
	const char *pos[1], *url, *token;
	int npos, rc;

	if (cli_help(c, enroll_help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, usage, opts, CLI_N_OPTS(opts), pos, 0, &npos);
	if (rc)
		return rc;
	url = cli_opt(opts, CLI_N_OPTS(opts), "--server");
	token = cli_opt(opts, CLI_N_OPTS(opts), "--token");
	if (!token)
		return cli_usage_error(c, usage, "enroll needs --token");
	if (cli_open_node(&n, c))
		return cli_fail(c);
	if (device_enroll(n, url, token))
		rc = cli_fail(c);
	else if (!url && store_meta_get(&used, n->store, "server_url"))
		rc = cli_fail(c);
	else if (c->json)
		rc = cli_print_json(json_pack("{s:s, s:s, s:s}", "server", url ? url : used.ptr,
			"office", n->office, "device", n->device));
	else
		printf("enrolled device %s of office %s with %s\n", n->device, n->office,
			url ? url : used.ptr);
	buf_release(&used);
	node_free(n);
	return rc;
}

static const char server_help[] =
	"usage: fieldsync-agent server show\n"
	"       fieldsync-agent server set URL\n"
	"\n"
	"The HQ address this device syncs with.  'set' (admin only) re-points an enrolled\n"
	"device, e.g. after HQ moved: the server at URL must pass a TLS handshake against the CA\n"
	"pinned at enrollment (and present a certificate for the URL's host) before the URL is\n"
	"saved; a server of another CA is refused and nothing changes.  Both are audited.\n";

int cmd_server(struct cli *c)
{
	static const char usage[] = "server show | server set URL";
	struct buf url = BUF_INIT(ENROLL_URL_MAX + 1);
	struct node *n = NULL;
	const char *pos[2];
	int npos, rc, error;

	if (cli_help(c, server_help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, usage, NULL, 0, pos, 2, &npos);
	if (rc)
		return rc;
	if (!((npos == 1 && !strcmp(pos[0], "show")) || (npos == 2 && !strcmp(pos[0], "set"))))
		return cli_usage_error(c, usage, "expected 'server show' or 'server set URL'");
	if (cli_open_node(&n, c))
		return cli_fail(c);
	if (npos == 2)
		error = device_repoint(n, pos[1]);
	else
		error = node_require(n, NODE_PERM_CASE_READ, "device.server.show", "");
	if (!error) {
		error = store_meta_get(&url, n->store, "server_url");
		if (error == ERR_NOTFOUND)
			error = err_set(ERR_NOTFOUND,
				"this device is not enrolled (run 'enroll' first)");
	}
	if (!error && npos == 1)
		error = node_audit(n, "device.server.show", url.ptr, "success", NULL);
	if (error)
		rc = cli_fail(c);
	else if (c->json)
		rc = cli_print_json(json_pack("{s:s}", "server", url.ptr));
	else
		printf(npos == 2 ? "server set to %s\n" : "%s\n", url.ptr);
	buf_release(&url);
	node_free(n);
	return rc;
}

static const char rekey_help[] =
	"usage: fieldsync-agent rekey [--service-key-file FILE] [--remove-other-slots]\n"
	"\n"
	"Replace the store's database key with a new random one (admin only): SQLCipher's rekey\n"
	"re-encrypts every page, and every key slot is rewrapped around the new key, so an old\n"
	"copy of the key opens nothing written from now on.  Your slot is rewrapped with your\n"
	"passphrase; the service's (`key-file create`) with --service-key-file FILE.  Another\n"
	"user's slot cannot be rewrapped without their passphrase: rekey refuses, naming them,\n"
	"unless --remove-other-slots, which removes those slots (their accounts and history stay;\n"
	"give each a new passphrase with 'user passwd NAME').  Stop a running 'serve' first.\n"
	"A kill at any point leaves a store that opens with the old key or the new one (the next\n"
	"log-on finishes or rolls back the rotation).  Needs free space for a journal as large as\n"
	"the store.  Audited.\n";

int cmd_rekey(struct cli *c)
{
	static const char usage[] = "rekey [--service-key-file FILE] [--remove-other-slots]";
	struct cli_opt opts[] = {{"--service-key-file", 1, 0, {0}, 0},
		{"--remove-other-slots", 0, 0, {0}, 0}};
	struct buf pass = BUF_INIT(NODE_PASSPHRASE_MAX + 2);
	struct node_secret secrets[2];
	struct node_rekey_report rep;
	uint8_t key[CRYPTO_KEY_LEN];
	char hex[CLI_KEY_HEX_LEN + 1] = "", prompt[128];
	const char *pos[1], *home = NULL, *user = NULL, *svc;
	struct node *n = NULL;
	size_t nsecrets = 1;
	int npos, rc, error;

	if (cli_help(c, rekey_help))
		return CLI_EXIT_OK;
	rc = cli_parse_opts(c, usage, opts, CLI_N_OPTS(opts), pos, 0, &npos);
	if (rc)
		return rc;
	svc = cli_opt(opts, CLI_N_OPTS(opts), "--service-key-file");
	crypto_lock(key, sizeof(key));
	error = cli_home(&home, c);
	if (!error)
		error = cli_user(&user, c);
	if (!error && svc)
		error = cli_key_file_read(hex, svc);
	snprintf(prompt, sizeof(prompt), "Passphrase for %s: ", user ? user : "");
	if (!error)
		error = cli_passphrase(&pass, c, prompt, 0);
	if (!error)
		error = node_open_keep_key(&n, key, home, user, buf_cstr(&pass), pass.len);
	secrets[0] = (struct node_secret){user, buf_cstr(&pass), pass.len};
	if (svc)
		secrets[nsecrets++] = (struct node_secret){USERS_SERVICE, hex, CLI_KEY_HEX_LEN};
	if (!error)
		error = node_rekey(&rep, n, key, secrets, nsecrets,
			cli_opt(opts, CLI_N_OPTS(opts), "--remove-other-slots") != NULL);
	rc = error ? cli_fail(c) : cli_rekey_print(c, &rep, NULL);
	crypto_wipe(key, sizeof(key));
	crypto_wipe(hex, sizeof(hex));
	buf_wipe_release(&pass);
	node_free(n);
	return rc;
}
