/*
 * cli/keyfile.h - key files: a random 256-bit secret, hex on one line, in a file of mode 0600
 * that unlocks a node without a passphrase (the server's store; an agent's service when its
 * operator chose one).  The secret is a key slot's "passphrase": it wraps the database key and
 * is never the database key itself, so removing the slot retires the file.
 */
#ifndef FIELDSYNC_CLI_KEYFILE_H
#define FIELDSYNC_CLI_KEYFILE_H

#include "base/buf.h"
#include "base/crypto.h"
#include "base/err.h"

#define CLI_KEY_HEX_LEN (2 * CRYPTO_KEY_LEN)

/*
 * Draw a fresh secret into `hex` and write it to `path`, created exclusively with mode 0600
 * and fsynced.  ERR_EXISTS if the file is there already; on failure no file is left.
 */
int cli_key_file_create(char hex[CLI_KEY_HEX_LEN + 1], const char *path) WUR;

/*
 * Read the secret of `path` into `hex`.  ERR_NOTFOUND if there is no file, ERR_PERM if others
 * may read it, ERR_INVALID if it is not one line of CLI_KEY_HEX_LEN hex digits.
 */
int cli_key_file_read(char hex[CLI_KEY_HEX_LEN + 1], const char *path) WUR;

/*
 * The systemd credential `name` (LoadCredential=name:PATH in the unit): 1 with its path in
 * out when $CREDENTIALS_DIRECTORY/name exists, 0 when there is none (not run by systemd, or
 * no such credential), or an error (ERR_TOOBIG for an absurd directory path).
 */
int cli_credential(struct buf *out, const char *name) WUR;

#endif
