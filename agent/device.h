/*
 * agent/device.h - this device's identity towards HQ: enrollment and the TLS material for
 * talking to the server.  The device key is generated inside the agent store and never leaves
 * it except as a PEM in memory handed to libcurl.
 */
#ifndef FIELDSYNC_AGENT_DEVICE_H
#define FIELDSYNC_AGENT_DEVICE_H

#include <stdint.h>

#include <jansson.h>

#include "base/buf.h"
#include "net.h"
#include "node/node.h"

/* Where and as whom this device talks to HQ. */
struct device_tls {
	struct buf url; /* server base URL */
	struct buf ca_pem;
	struct buf cert_pem;
	struct buf key_pem; /* wiped on release */
	struct net_tls tls;
};

void device_tls_init(struct device_tls *d);
void device_tls_release(struct device_tls *d);

/* Load the enrolled identity. ERR_NOTFOUND if this device is not enrolled. */
int device_tls_load(struct device_tls *d, struct node *n) WUR;

/*
 * Enroll with the server at `url` using a one-time token: pin the CA by the token's
 * fingerprint, send a CSR for a key made in the store, check and store the certificate.
 * Audited.  ERR_EXISTS (already enrolled), ERR_AUTH (CA mismatch, refused token), ERR_IO.
 */
int device_enroll(struct node *n, const char *url, const char *token) WUR;

/*
 * Re-point this enrolled device at `url` (admin only): a TLS handshake with the device's
 * identity must verify the server at `url` against the CA pinned at enrollment before the URL
 * is stored.  Audited (success or the refusal).  ERR_NOTFOUND (not enrolled), ERR_INVALID
 * (URL), ERR_AUTH (another CA, or a certificate that does not name the host), ERR_IO.
 */
int device_repoint(struct node *n, const char *url) WUR;

/* When this device's certificate stops being valid (seconds since the epoch). */
int device_cert_expiry(int64_t *not_after, struct node *n) WUR;

/*
 * Renew the device certificate (same key, same subject) over the open connection `net` when
 * less than a third of its lifetime remains; *renewed says whether it was.  Audited.
 * ERR_AUTH (HQ refused), ERR_IO.
 */
int device_renew_if_due(int *renewed, struct node *n, struct net *net, const char *url) WUR;

/*
 * Follow a CA rollover from the `pki` object of HQ's changes feed ({"ca": fp, "next": fp|null},
 * borrowed): learn a next CA (GET /v1/pki; its cross certificate must chain to this device's
 * CA), or, once HQ names the next CA as its CA, make it this device's CA and retire the old one
 * (still trusted to verify what it signed).  *changed says whether anything was stored.
 * Audited.  ERR_AUTH (a CA not vouched for, or one this device never learned), ERR_IO.
 */
int device_pki_update(int *changed, struct node *n, struct net *net, const char *url,
	const json_t *pki) WUR;

#endif
