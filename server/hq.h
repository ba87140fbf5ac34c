/*
 * server/hq.h - the HQ server's state: its node (unlocked by the key file), the organisation's
 * PKI material, offices, enrollment tokens and devices.
 */
#ifndef FIELDSYNC_SERVER_HQ_H
#define FIELDSYNC_SERVER_HQ_H

#include <stdint.h>

#include <jansson.h>

#include "base/buf.h"
#include "cli.h"
#include "keyfile.h"
#include "pki/enroll.h"
#include "node/node.h"

#define HQ_USER "server"
#define HQ_OFFICE NODE_HQ_OFFICE
#define HQ_TOKEN_HOURS 72
#define HQ_SERVER_CERT_DAYS 825 /* a server certificate's life: the CA/Browser bound when made */

/* The key file path: --key-file, FIELDSYNC_KEY_FILE, or "<home>.key" beside the directory. */
int hq_key_file(struct buf *out, const struct cli *c, const char *home) WUR;

/* The systemd credential that holds the key file (LoadCredential= in fieldsync-server.service). */
#define HQ_CREDENTIAL "fieldsync-server.key"

/*
 * The key file that unlocks the store: --key-file on the command line, else the systemd
 * credential HQ_CREDENTIAL when there is one (*credential set to 1), else hq_key_file().
 */
int hq_unlock_path(struct buf *out, int *credential, const struct cli *c, const char *home) WUR;

/*
 * The server directory (into *home) and the secret of the key file that unlocks it
 * (hq_unlock_path()) into `hex`, which the caller wipes.
 */
int hq_key_hex(char hex[CLI_KEY_HEX_LEN + 1], const char **home, const struct cli *c) WUR;

/*
 * Open the server node with the key file of hq_unlock_path(), as the server's own identity
 * (HQ_USER).
 */
int hq_open(struct node **out, const struct cli *c) WUR;

/* hq_open() that also hands back the database key (backup, rekey); the caller wipes it. */
int hq_open_key(struct node **out, uint8_t key[CRYPTO_KEY_LEN], const struct cli *c) WUR;

/*
 * The staff user named by --user or FIELDSYNC_USER, or NULL for the key file's identity (no
 * user named, or HQ_USER itself).
 */
const char *hq_staff_user(const struct cli *c);

/*
 * How HQ's commands log on (c->open_node): a staff user with their passphrase (the key-slot
 * lockout rules apply), else the key file as hq_open().
 */
int hq_open_user(struct node **out, const struct cli *c) WUR;

/* The logged-on identity's own secret (c->own_secret): the passphrase, or the key file's. */
int hq_own_secret(struct buf *out, const struct cli *c) WUR;

/* Read / write one DER item of pki_material. */
int hq_pki_get(struct buf *out, struct node *n, const char *name) WUR;
int hq_pki_put(struct node *n, const char *name, const uint8_t *der, size_t len) WUR;

/*
 * Append `doc` as compact JSON to `out` and drop the reference (doc may be NULL, as from a
 * failed json_pack: ERR_NOMEM).
 */
int hq_json_out(struct buf *out, json_t *doc) WUR;

/* The organisation name (node_meta "org"). */
int hq_org(struct buf *out, struct node *n) WUR;

/*
 * The URL devices reach HQ at: node_meta "advertise" (init --advertise, or the listen address
 * with its real port), else "https://" + a stored listen address that has a real port (stores
 * made before the setting existed).  ERR_NOTFOUND when neither is known.
 */
int hq_advertise(struct buf *out, struct node *n) WUR;

#define HQ_CERT_SECONDS (365 * 86400)

/*
 * Issue a new one-time token for `office`, valid for `token_seconds`; the certificate it
 * enrolls will be valid for `cert_seconds`.  text receives the token, which carries the
 * advertised URL when one is known (hq_advertise).  Audited.
 */
int hq_token_new(char text[ENROLL_TOKEN_MAX], struct node *n, const char *office,
	int64_t token_seconds, int64_t cert_seconds) WUR;

/*
 * Enroll a device: check and burn the token, check the office, issue the certificate from the
 * CSR with a subject the server chooses, record the device.  All in one transaction, audited
 * (success or the refusal with its reason).  ERR_AUTH (bad, used or expired token, a token of
 * another office, a revoked office), ERR_EXISTS (device already enrolled), ERR_INVALID (CSR).
 */
int hq_enroll(struct enroll_response *resp, struct node *n, const struct enroll_request *req,
	const char *peer) WUR;

/* 1 if the certificate serial belongs to a device that is revoked or whose office is. */
int hq_serial_revoked(int *revoked, struct node *n, const uint8_t serial[16]) WUR;

/*
 * Renew the certificate of an enrolled device for another HQ_CERT_SECONDS: the CSR must carry
 * the key of the certificate the device presented (`pub`, DER), the subject stays HQ's.  The
 * previous certificate stays valid until the new one is first used.  `issuer` (hex fingerprint)
 * names the CA to issue under, the current or the next one of a rollover; NULL: the current.
 * Audited.  ERR_AUTH; ERR_NOTFOUND for an issuer HQ does not hold.
 */
int hq_renew(struct buf *cert_out, struct node *n, const char *office, const char *device,
	const uint8_t *pub, size_t publen, const uint8_t *csr, size_t csrlen,
	const char *issuer) WUR;

/* A request came with the certificate of `serial`: a renewed device's previous one retires. */
int hq_serial_in_use(struct node *n, const uint8_t serial[16]) WUR;

/*
 * Reissue the server certificate for `days` days under the current CA, same key and names
 * (server/pkiadmin.c); audited with `why`; the day it ends (YYYY-MM-DD) in `until`.  The
 * running service serves it from its next start.
 */
int hq_server_cert_renew(char until[11], struct node *n, int days, const char *why) WUR;

/* 1 in *due when the server certificate is in the last third of its life. */
int hq_server_cert_due(int *due, struct node *n) WUR;

/*
 * The generation of HQ's store (32 hex digits in `out`): made the first time it is asked for,
 * and anew when the store is restored from a backup (node_restore_finish), so that devices
 * learn from the changes feed that HQ may lack what it acknowledged and offer it again.
 */
int hq_generation(char out[33], struct node *n) WUR;

#endif
