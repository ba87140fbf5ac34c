/*
 * shared/store/odb.h - git objects inside the encrypted store.
 *
 * A libgit2 ODB backend over the `objects` table of a store, and the repository built on it:
 * made with git_repository_new(), no work directory, an empty in-memory refdb (case heads live
 * in SQL, not in git refs) and an empty config (so nothing reads ~/.gitconfig).  Nothing
 * git-related ever touches the file system.  Objects written through the repository join the
 * store's open transaction, if any.
 *
 * One repository per store connection and thread (libgit2 and SQLite handles are not shared).
 */
#ifndef FIELDSYNC_ODB_H
#define FIELDSYNC_ODB_H

#include <git2.h>

#include "base/err.h"
#include "store/store.h"

/* Largest object the backend accepts (a case narrative or a tree, never evidence content). */
#define ODB_OBJECT_MAX (8u * 1024 * 1024)

/* Largest pack accepted by the in-memory writepack. */
#define ODB_PACK_MAX (256u * 1024 * 1024)

/*
 * Initialise libgit2 for this process: caps the process-wide object cache.  Call once from
 * main() before any other odb function; idempotent.
 */
int odb_global_init(void) WUR;

/* The ODB backend over `store` (borrowed: it must outlive the backend). */
int odb_backend_new(git_odb_backend **out, struct store *store) WUR;

/* A repository whose only object database is `store`.  Free with git_repository_free(). */
int odb_repository_open(git_repository **out, struct store *store) WUR;

/*
 * Store an object whose id the caller has already checked against its bytes (a received change
 * set's objects: changeset_decode hashes each): straight into the table, without the hash and
 * the lookup that git_odb_write() does first (an object already held stays as it is).  Through
 * git_odb_write() if `odb` is not this backend alone.
 */
int odb_write_known(git_odb *odb, const git_oid *id, const void *data, size_t len,
	git_object_t type) WUR;

/* Set err from libgit2's last error after a failed call (trust the return code, not the text). */
int odb_git_error(int rc, const char *what);

#endif
