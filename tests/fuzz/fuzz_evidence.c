/*
 * tests/fuzz/fuzz_evidence.c - libFuzzer target for what a peer sends of evidence: the chunk
 * records of an upload or download (chunks_wire_next) and the evidence/ folder of a received
 * commit (evidence_check_tree: item meta, chunk list, custody events).
 *
 * The first byte picks the mode:
 *   0  the rest is a stream of chunk records, read to the end as a receiver does;
 *   1  the rest is a list of files, each `path length (1 byte), path, length (2 bytes, little
 *      endian), bytes`, committed under evidence/ of a case with no evidence yet, and the new
 *      evidence/ folder is checked (arbitrary meta, chunks and custody files);
 *   2  the same files are added on top of a case that already holds a well-formed item (made
 *      with evidence_build_item) with its intake event, and checked against it: new custody
 *      events, a second item, files beside the first item's.
 * Objects live in an in-memory object database emptied after every input.  Must never crash or
 * leak, and a check that passes must leave the item readable (evidence_read_all).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>
#include <git2/sys/mempack.h>
#include <git2/sys/repository.h>

#include "case/casefile.h"
#include "case/evidence.h"
#include "store/chunks.h"

#define CASE_ID "ELP-26-7KQ4M2X"
#define MAX_FILES 24

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static git_repository *repo;
static git_odb_backend *mempack;

static void setup(void)
{
	git_odb *odb = NULL;

	git_libgit2_init();
	if (git_odb_new(&odb) || git_mempack_new(&mempack) ||
		git_odb_add_backend(odb, mempack, 1) || git_repository_wrap_odb(&repo, odb))
		abort();
	git_odb_free(odb);
}

static void touch(const uint8_t *p, size_t len)
{
	volatile uint8_t sum = 0;
	size_t i;

	for (i = 0; i < len; i++)
		sum ^= p[i];
	(void)sum;
}

static void records(const uint8_t *p, size_t left)
{
	const uint8_t *hash, *bytes;
	size_t len;

	while (chunks_wire_next(&hash, &bytes, &len, &p, &left) > 0) {
		touch(hash, CHUNKS_HASH_LEN);
		touch(bytes, len);
		if (len > CHUNKS_SIZE)
			__builtin_trap(); /* chunks.h promises at most one chunk */
	}
}

static const struct casefile_author author = {"alice", "ELP", "0123456789abcdef", {0, 0}, NULL};

/* A new case, and (with_item) a commit adding one well-formed item on top: *head. */
static int base_case(git_oid *head, int with_item, char item_id[EVIDENCE_ID_MAX])
{
	struct casefile_change chg;
	struct evidence_intake in = {"statement.pdf", "signed statement", "the witness", NULL,
		NULL};
	struct evidence_files f;
	struct buf list = BUF_INIT(4096);
	uint8_t sha[CRYPTO_SHA256_LEN], chunk[CHUNKS_HASH_LEN];
	char hex[2 * CHUNKS_HASH_LEN + 1];
	git_oid parent;
	int error;

	memset(&chg, 0, sizeof(chg));
	chg.sets[0] = (struct casefile_set){"title", "Gate incident"};
	chg.sets[1] = (struct casefile_set){"category", "use-of-force"};
	chg.nsets = 2;
	error = casefile_commit(head, NULL, repo, NULL, CASE_ID, &chg, &author, "case new");
	if (error || !with_item)
		return error;
	parent = *head;
	crypto_sha256(chunk, "statement", 9);
	crypto_sha256(sha, "statement", 9);
	crypto_hex(hex, chunk, sizeof(chunk));
	evidence_files_init(&f);
	error = buf_printf(&list, "%s\n", hex);
	snprintf(item_id, EVIDENCE_ID_MAX, "20261203T090000.000Z-0000-0123abcd");
	if (!error)
		error = evidence_build_item(&f, item_id, item_id, &in, 9, sha, &list, &author);
	memset(&chg, 0, sizeof(chg));
	chg.files = f.files;
	chg.nfiles = 3;
	chg.summary = "item";
	if (!error)
		error = casefile_commit(head, NULL, repo, &parent, CASE_ID, &chg, &author,
			"evidence add");
	evidence_files_release(&f);
	buf_release(&list);
	return error;
}

static int evidence_tree(git_tree **out, const git_oid *commit_id)
{
	git_commit *c = NULL;
	git_tree *root = NULL;
	const git_tree_entry *e;
	int error = git_commit_lookup(&c, repo, commit_id) || git_commit_tree(&root, c);

	*out = NULL;
	e = error ? NULL : git_tree_entry_byname(root, "evidence");
	if (e && git_tree_entry_type(e) == GIT_OBJECT_TREE)
		error = git_tree_lookup(out, repo, git_tree_entry_id(e));
	git_tree_free(root);
	git_commit_free(c);
	return error;
}

static void tree_case(const uint8_t *p, size_t left, int with_item)
{
	struct casefile_file files[MAX_FILES];
	char paths[MAX_FILES][300], item_id[EVIDENCE_ID_MAX];
	struct casefile_change chg;
	struct evidence_item *items = NULL;
	git_tree *ev = NULL, *pev = NULL;
	git_oid base, head;
	size_t n = 0, count = 0;

	if (base_case(&base, with_item, item_id))
		abort();
	while (n < MAX_FILES && left >= 1) {
		size_t plen = p[0], dlen;

		if (left < 1 + plen + 2)
			break;
		dlen = (size_t)p[1 + plen] | (size_t)p[2 + plen] << 8;
		if (left < 3 + plen + dlen)
			break;
		snprintf(paths[n], sizeof(paths[n]), "evidence/%.*s", (int)plen,
			(const char *)p + 1);
		files[n] = (struct casefile_file){paths[n], p + 3 + plen, dlen};
		n++;
		p += 3 + plen + dlen;
		left -= 3 + plen + dlen;
	}
	memset(&chg, 0, sizeof(chg));
	chg.files = files;
	chg.nfiles = n;
	chg.summary = "received";
	if (!n || casefile_commit(&head, NULL, repo, &base, CASE_ID, &chg, &author, "fuzz"))
		return;
	if (evidence_tree(&ev, &head) || (with_item && evidence_tree(&pev, &base)) || !ev)
		goto out;
	if (evidence_check_tree(repo, ev, pev, CASE_ID) == 0) {
		/* what the receiver accepted, it can read */
		if (evidence_read_all(&items, &count, repo, &head))
			__builtin_trap();
		evidence_items_free(items, count);
	}
out:
	git_tree_free(ev);
	git_tree_free(pev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!repo)
		setup();
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		records(data + 1, size - 1);
		break;
	case 1:
		tree_case(data + 1, size - 1, 0);
		break;
	default:
		tree_case(data + 1, size - 1, 1);
		break;
	}
	git_mempack_reset(mempack);
	err_clear();
	return 0;
}
