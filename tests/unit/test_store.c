/* mirror: the store (init, add, resolve, checkout, fsck, gc, rm, keys and signatures). */
#include "mirror/mirror_private.h"
#include "tests/unit/helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char root[256];

static const char *at(const char *rel)
{
	static char bufs[4][1024];
	static int n;
	char *p = bufs[n++ % 4];

	snprintf(p, 1024, "%s/%s", root, rel);
	return p;
}

static void put(const char *rel, const char *text)
{
	struct fy_err err;
	char dir[1024];

	snprintf(dir, sizeof(dir), "%s", at(rel));
	*strrchr(dir, '/') = '\0';
	cr_assert_eq(fy_mkdirs(dir, &err), FY_OK);
	cr_assert_eq(fy_file_write_atomic(at(rel), text, strlen(text), &err), FY_OK);
}

static struct fy_store *fresh_store(void)
{
	struct fy_store *s = NULL;
	struct fy_err err;
	bool created = false;

	snprintf(root, sizeof(root), "/tmp/ferry-store-XXXXXX");
	cr_assert_not_null(mkdtemp(root));
	cr_assert_eq(fy_store_init(at("store"), &created, &err), FY_OK, "%s", err.msg);
	cr_assert(created);
	cr_assert_eq(fy_store_init(at("store"), &created, &err), FY_OK);
	cr_assert_not(created, "init twice keeps the store");
	cr_assert_eq(fy_store_open(&s, at("store"), &err), FY_OK, "%s", err.msg);
	put("src/config.json", "{\"architectures\":[\"LlamaForCausalLM\"]}");
	put("src/sub/notes.txt", "hello\n");
	put("src/model.safetensors", "\x02\0\0\0\0\0\0\0{}");
	return s;
}

static void done(struct fy_store *s)
{
	struct fy_err err;

	fy_store_close(s);
	fy_remove_tree(root, &err);
}

static void add(struct fy_store *s, const char *repo, const char *msg, char id[41], bool *same)
{
	struct fy_add_opts o = { msg, NULL, NULL, NULL, NULL };
	struct fy_err err;

	cr_assert_eq(fy_store_add(s, repo, at("src"), &o, id, same, &err), FY_OK, "%s", err.msg);
}

/* A conversion's output under tmp/ moves into objects/ (hashed where it lies, not copied). */
Test(store, import_own_moves_a_temp_file_in)
{
	struct fy_store *s = fresh_store();
	struct fy_digests d, want;
	struct fy_err err;
	struct stat st;
	char tmp[1024];

	snprintf(tmp, sizeof(tmp), "%s", at("store/tmp/convert-1.gguf"));
	put("store/tmp/convert-1.gguf", "GGUF converted");
	cr_assert_eq(stat(tmp, &st), 0);
	cr_assert_eq(fy_hash_file(tmp, 0, &want, &err), FY_OK);
	cr_assert_eq(fy_store_import_own(s, tmp, 0, &d, &err), FY_OK, "%s", err.msg);
	cr_assert_eq(memcmp(d.sha256, want.sha256, FY_SHA256_LEN), 0);
	cr_assert_eq(memcmp(d.git_oid, want.git_oid, FY_SHA1_LEN), 0);
	cr_assert_eq(d.size, 14);
	cr_assert_neq(access(tmp, F_OK), 0, "the temp file was moved, not copied");
	cr_assert_eq(stat(fy_store_object_path(s, d.sha256), &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0444, "objects are read-only");
	/* the same content again: the object stays, the temp file goes */
	put("store/tmp/convert-2.gguf", "GGUF converted");
	snprintf(tmp, sizeof(tmp), "%s", at("store/tmp/convert-2.gguf"));
	cr_assert_eq(fy_store_import_own(s, tmp, 0, &d, &err), FY_OK, "%s", err.msg);
	cr_assert_neq(access(tmp, F_OK), 0);
	/* anything outside tmp/ is refused and left alone */
	cr_assert_eq(fy_store_import_own(s, at("src/config.json"), 0, &d, &err), FY_EINVAL);
	cr_assert(strstr(err.msg, "not under the store's tmp/") != NULL, "%s", err.msg);
	cr_assert_eq(access(at("src/config.json"), F_OK), 0);
	snprintf(tmp, sizeof(tmp), "%s", at("store/tmp/../../src/config.json"));
	cr_assert_eq(fy_store_import_own(s, tmp, 0, &d, &err), FY_EINVAL);
	cr_assert_eq(access(at("src/config.json"), F_OK), 0);
	done(s);
}

Test(store, names_and_open)
{
	struct fy_store *s = NULL;
	struct fy_err err;

	cr_assert_eq(fy_repo_check("Qwen/Qwen2.5-0.5B-Instruct", &err), FY_OK);
	cr_assert_neq(fy_repo_check("noslash", &err), FY_OK);
	cr_assert_neq(fy_repo_check("a/../b", &err), FY_OK);
	cr_assert_neq(fy_repo_check("a/b/c", &err), FY_OK);
	cr_assert_neq(fy_repo_check(".a/b", &err), FY_OK);
	cr_assert_neq(fy_repo_check("a/b..c", &err), FY_OK);
	cr_assert_eq(fy_store_open(&s, "/tmp", &err), FY_ENOTFOUND);
	cr_assert(fy_repo_path_ok("a/b.json") && !fy_repo_path_ok("../x") &&
		  !fy_repo_path_ok("a//b") && !fy_repo_path_ok("/etc/x") &&
		  !fy_repo_path_ok("a\\b") && !fy_repo_path_ok("a/./b") && !fy_repo_path_ok("a/"));
	cr_assert(fy_lfs_rule("model.safetensors", 10) && fy_lfs_rule("tokenizer.model", 10));
	cr_assert(fy_lfs_rule("big.json", FY_LFS_THRESHOLD + 1) && !fy_lfs_rule("a.json", 10));
}

Test(store, add_dedup_history_resolve)
{
	struct fy_store *s = fresh_store();
	struct fy_revision *r = NULL;
	char id1[41], id2[41], id3[41], got[41];
	bool same = true;
	struct fy_err err;

	add(s, "org/model", "first", id1, &same);
	cr_assert_not(same);
	add(s, "org/model", "second", id2, &same);
	cr_assert(same && strcmp(id1, id2) == 0, "unchanged files: no new revision");
	put("src/sub/notes.txt", "changed\n");
	add(s, "org/model", "third", id3, &same);
	cr_assert(!same && strcmp(id3, id1) != 0);
	cr_assert_eq(fy_revision_load(s, "org/model", id3, &r, &err), FY_OK, "%s", err.msg);
	cr_assert_str_eq(r->parent, id1);
	cr_assert_eq(r->n_files, 3);
	cr_assert_str_eq(r->files[0].path, "config.json", "sorted");
	cr_assert(r->files[1].lfs && !r->files[0].lfs, "safetensors is LFS");
	fy_revision_free(r);
	cr_assert_eq(fy_store_resolve(s, "org/model", NULL, got, &err), FY_OK);
	cr_assert_str_eq(got, id3);
	cr_assert_eq(fy_store_resolve(s, "org/model", "HEAD", got, &err), FY_OK);
	cr_assert_eq(fy_store_write_ref(s, "org/model", "tags/v1", id1, &err), FY_OK);
	cr_assert_eq(fy_store_resolve(s, "org/model", "v1", got, &err), FY_OK);
	cr_assert_str_eq(got, id1);
	memcpy(got, id1, 8);
	got[8] = '\0';
	cr_assert_eq(fy_store_resolve(s, "org/model", got, got, &err), FY_OK, "%s", err.msg);
	cr_assert_str_eq(got, id1, "unique prefix");
	cr_assert_eq(fy_store_resolve(s, "org/model", "nope", got, &err), FY_ENOTFOUND);
	cr_assert_eq(fy_store_resolve(s, "org/other", NULL, got, &err), FY_ENOTFOUND);
	/* another repo: its own history (no parent), so another id */
	add(s, "org/copy", "third", got, &same);
	cr_assert_str_neq(got, id3);
	done(s);
}

Test(store, deterministic_ids_across_stores)
{
	struct fy_store *s = fresh_store();
	struct fy_store *t = NULL;
	char id1[41], id2[41];
	struct fy_err err;
	bool same, created;

	add(s, "org/model", "m", id1, &same);
	cr_assert_eq(fy_store_init(at("store2"), &created, &err), FY_OK);
	cr_assert_eq(fy_store_open(&t, at("store2"), &err), FY_OK);
	add(t, "org/model", "m", id2, &same);
	cr_assert_str_eq(id1, id2);
	fy_store_close(t);
	done(s);
}

Test(store, checkout_files_whole)
{
	struct fy_store *s = fresh_store();
	struct fy_revision *r = NULL;
	struct fy_buf b;
	size_t how[3] = { 0, 0, 0 };
	char id[41];
	bool same;
	struct fy_err err;

	add(s, "org/model", "m", id, &same);
	cr_assert_eq(fy_revision_load(s, "org/model", id, &r, &err), FY_OK);
	cr_assert_eq(fy_store_checkout(s, r, at("out"), FY_LINK_COPY, how, &err), FY_OK, "%s",
		     err.msg);
	cr_assert_eq(how[2], 3, "--copy copies");
	t_read(at("out/sub/notes.txt"), &b);
	cr_assert(b.len == 6 && memcmp(b.data, "hello\n", 6) == 0);
	fy_buf_release(&b);
	cr_assert_eq(fy_store_checkout(s, r, at("out2"), FY_LINK_ANY, how, &err), FY_OK);
	cr_assert_eq(how[0] + how[1] + how[2], 6);
	fy_revision_free(r);
	done(s);
}

struct tally {
	int problems;
	int warnings;
	char last[512];
};

static void count(void *ctx, enum fy_finding kind, const char *what, const char *msg)
{
	struct tally *t = ctx;

	if (kind == FY_FINDING_PROBLEM)
		t->problems++;
	else
		t->warnings++;
	snprintf(t->last, sizeof(t->last), "%s: %s", what, msg);
}

static struct tally fsck(struct fy_store *s, bool repair, int want_rc)
{
	struct fy_fsck_stats st;
	struct fy_pool *pool = NULL;
	struct tally t = { 0, 0, "" };
	struct fy_err err;

	fy_pool_new(&pool, 2, &err);
	cr_assert_eq(fy_store_fsck(s, pool, repair, count, &t, &st, &err), want_rc, "fsck: %s",
		     t.last);
	fy_pool_free(pool);
	return t;
}

static void corrupt_first_object(struct fy_store *s, const struct fy_revision *r)
{
	const char *obj = fy_store_object_path(s, r->files[0].sha256);
	FILE *f;

	chmod(obj, 0644);
	f = fopen(obj, "r+");
	cr_assert_not_null(f);
	fputc('X', f);
	fclose(f);
}

Test(store, fsck_finds_corruption)
{
	struct fy_store *s = fresh_store();
	struct fy_revision *r = NULL;
	struct tally t;
	char id[41];
	bool same;
	struct fy_err err;

	add(s, "org/model", "m", id, &same);
	fsck(s, false, FY_OK);
	cr_assert_eq(fy_revision_load(s, "org/model", id, &r, &err), FY_OK);
	corrupt_first_object(s, r);
	t = fsck(s, false, FY_EFORMAT);
	cr_assert(strstr(t.last, "corrupt") != NULL, "%s", t.last);
	cr_assert_eq(fy_store_lock(s, NULL, NULL, &err), FY_OK);
	t = fsck(s, true, FY_EFORMAT);
	fy_store_unlock(s);
	cr_assert_eq(access(at("store/quarantine"), F_OK), 0);
	t = fsck(s, false, FY_EFORMAT);
	cr_assert(strstr(t.last, "missing object") != NULL, "%s", t.last);
	add(s, "org/model", "m", id, &same); /* re-adding restores the object */
	fsck(s, false, FY_OK);
	/* a dangling ref, then a truncated manifest */
	cr_assert_eq(fy_store_write_ref(s, "org/model", "tags/x",
					"0123456789012345678901234567890123456789", &err),
		     FY_OK);
	t = fsck(s, false, FY_EFORMAT);
	cr_assert(strstr(t.last, "dangling") != NULL, "%s", t.last);
	fy_store_delete_ref(s, "org/model", "tags/x", &err);
	truncate(fy_store_path(s, "repos/org/model/revisions/%s.json", id), 100);
	t = fsck(s, false, FY_EFORMAT);
	cr_assert(t.problems >= 1);
	fy_revision_free(r);
	done(s);
}

Test(store, stray_temp_files_are_notes)
{
	struct fy_store *s = fresh_store();
	struct tally t;

	put("store/tmp/obj-1-1", "partial");
	t = fsck(s, false, FY_OK);
	cr_assert_eq(t.warnings, 1, "%s", t.last);
	done(s);
}

Test(store, gc_and_rm)
{
	struct fy_store *s = fresh_store();
	uint64_t n = 0, bytes = 0;
	char id[41], id2[41];
	bool same;
	struct fy_err err;

	add(s, "org/model", "m", id, &same);
	put("src/sub/notes.txt", "changed\n");
	add(s, "org/model", "m2", id2, &same);
	cr_assert_eq(fy_store_gc(s, false, NULL, NULL, &n, &bytes, &err), FY_OK);
	cr_assert_eq(n, 0, "every object referenced");
	cr_assert_eq(fy_store_rm_revision(s, "org/model", id2, &err), FY_EINVAL, "head of main");
	cr_assert_eq(fy_store_rm_revision(s, "org/model", id, &err), FY_OK, "%s", err.msg);
	cr_assert_eq(fy_store_gc(s, true, NULL, NULL, &n, &bytes, &err), FY_OK);
	cr_assert_eq(n, 1, "the old notes.txt");
	cr_assert_eq(bytes, 6);
	cr_assert_eq(fy_store_gc(s, false, NULL, NULL, &n, &bytes, &err), FY_OK);
	cr_assert_eq(fy_store_rm_repo(s, "org/model", &err), FY_OK);
	cr_assert_eq(fy_store_gc(s, false, NULL, NULL, &n, &bytes, &err), FY_OK);
	cr_assert_eq(n, 3);
	cr_assert_eq(fy_store_rm_repo(s, "org/model", &err), FY_ENOTFOUND);
	fsck(s, false, FY_OK);
	done(s);
}

struct sigs {
	int n[4];
};

static void sig_count(void *ctx, enum fy_sig_status st, const char *keyid)
{
	(void)keyid;
	((struct sigs *)ctx)->n[st]++;
}

static int check_sigs(struct fy_store *s, const char *id, struct sigs *out)
{
	size_t n = 0;
	struct fy_err err;

	memset(out, 0, sizeof(*out));
	return fy_store_check_signatures(s, "org/model", id, sig_count, out, &n, &err);
}

Test(store, signatures)
{
	struct fy_store *s = fresh_store();
	struct fy_store *other = NULL;
	struct sigs g;
	struct fy_buf b;
	char id[41], keyid[17], okey[17];
	bool same, created;
	struct fy_err err;

	add(s, "org/model", "m", id, &same);
	cr_assert_eq(check_sigs(s, id, &g), FY_OK, "unsigned is not an error here");
	cr_assert_eq(fy_store_sign(s, "org/model", id, keyid, &err), FY_ENOTFOUND, "no key yet");
	cr_assert_eq(fy_store_key_generate(s, false, keyid, &err), FY_OK);
	cr_assert_eq(fy_store_key_generate(s, false, keyid, &err), FY_EEXIST);
	cr_assert_eq(fy_store_sign(s, "org/model", id, keyid, &err), FY_OK, "%s", err.msg);
	cr_assert_eq(check_sigs(s, id, &g), FY_OK);
	cr_assert_eq(g.n[FY_SIG_VALID], 1);
	/* a second store signs with its key: untrusted here until trusted */
	cr_assert_eq(fy_store_init(at("store2"), &created, &err), FY_OK);
	cr_assert_eq(fy_store_open(&other, at("store2"), &err), FY_OK);
	cr_assert_eq(fy_store_key_generate(other, false, okey, &err), FY_OK);
	fy_remove_tree(at("store/keys/signing.key"), &err);
	rename(at("store2/keys/signing.key"), at("store/keys/signing.key"));
	cr_assert_eq(fy_store_sign(s, "org/model", id, okey, &err), FY_OK, "%s", err.msg);
	cr_assert_eq(check_sigs(s, id, &g), FY_EHASH);
	cr_assert_eq(g.n[FY_SIG_UNTRUSTED], 1, "signature by a key not trusted");
	cr_assert_eq(fy_store_key_trust(s, at("store2/keys/signing.pub"), okey, &err), FY_OK);
	cr_assert_eq(check_sigs(s, id, &g), FY_OK, "trusted now");
	/* duplicated signature entries count once and are refused */
	fy_buf_init(&b);
	t_read(fy_store_path(s, "repos/org/model/signatures/%s.json", id), &b);
	{
		char *text = strndup((char *)b.data, b.len);
		char *first = strstr(text, "{\n      \"keyid\"");
		char *end = strstr(first, "}");
		char dup[4096];

		snprintf(dup, sizeof(dup), "{\"signatures\": [%.*s, %.*s]}", (int)(end - first + 1),
			 first, (int)(end - first + 1), first);
		fy_file_write_atomic(fy_store_path(s, "repos/org/model/signatures/%s.json", id),
				     dup, strlen(dup), &err);
		free(text);
	}
	cr_assert_eq(check_sigs(s, id, &g), FY_EHASH);
	cr_assert_eq(g.n[FY_SIG_DUPLICATE], 1);
	/* a tampered manifest invalidates every signature */
	fy_store_sign(s, "org/model", id, okey, &err);
	chmod(fy_store_path(s, "repos/org/model/revisions/%s.json", id), 0644);
	{
		FILE *f = fopen(fy_store_path(s, "repos/org/model/revisions/%s.json", id), "a");

		fputs(" ", f);
		fclose(f);
	}
	cr_assert_eq(check_sigs(s, id, &g), FY_EHASH);
	cr_assert(g.n[FY_SIG_INVALID] >= 1);
	fy_buf_release(&b);
	fy_store_close(other);
	done(s);
}

Test(store, manifest_parser_rejects_missing_fields)
{
	/* found by fuzz_manifest: a file entry without "lfs" crashed the type check */
	static const char text[] =
		"{\"format\":\"ferry-revision/"
		"1\",\"id\":\"0123456789012345678901234567890123456789\","
		"\"repo\":\"a/"
		"b\",\"parent\":null,\"tree\":\"0123456789012345678901234567890123456789\","
		"\"message\":\"m\",\"created\":\"x\",\"files\":[{\"path\":\"a\",\"size\":1,"
		"\"sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\","
		"\"git_oid\":\"0000000000000000000000000000000000000000\"}]}";
	struct fy_revision *r = NULL;
	struct fy_err err;

	cr_assert_eq(fy_revision_parse(text, sizeof(text) - 1, "m.json", &r, &err), FY_EFORMAT);
	cr_assert(strstr(err.msg, "lfs flag") != NULL, "%s", err.msg);
}

/* The mirror index as a client parses it: each structural rule refused with a message naming
 * the input, a good index accepted, and the GGUF tag rule that install and serve share. */
#define IX_ID "0123456789abcdef0123456789abcdef01234567"
#define IX_SHA "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define IX_REV "{\"manifest_sha256\": \"" IX_SHA "\", \"published\": \"2026-11-22T10:00:00Z\"}"

static int ix_parse(const char *text, struct fy_err *err)
{
	struct fy_json *ix = NULL;
	int rc = fy_pubindex_parse(text, strlen(text), "ix", &ix, err);

	fy_json_free(ix);
	return rc;
}

Test(store, pubindex_parse)
{
	const char *head = "{\"format\": \"ferry-index\", \"version\": 2, \"created\": "
			   "\"2026-11-22T10:00:00Z\", \"expires\": \"2026-12-22T10:00:00Z\", ";
	static const struct {
		const char *repos, *why;
	} bad[] = {
		{ "\"repos\": {\"a/b\": {\"refs\": {\"heads/main\": \"" IX_ID
		  "\"}, \"revisions\": {}}}}",
		  "no revisions" },
		{ "\"repos\": {\"a/b\": {\"refs\": {\"heads/main\": \"" IX_ID
		  "\"}, \"revisions\": {\"x\": " IX_REV "}}}}",
		  "not a revision id" },
		{ "\"repos\": {\"a/b\": {\"refs\": {\"heads/dev\": \"" IX_ID
		  "\"}, \"revisions\": {\"" IX_ID "1\": " IX_REV "}}}}",
		  "not a revision id" },
		{ "\"repos\": {\"a/b\": {\"refs\": {\"heads/main\": "
		  "\"ffffffffffffffffffffffffffffffffffffffff\"}, "
		  "\"revisions\": {\"" IX_ID "\": " IX_REV "}}}}",
		  "points at no published revision" },
		{ "\"repos\": {\"a/b\": {\"refs\": {\"heads/../x\": \"" IX_ID
		  "\"}, \"revisions\": {\"" IX_ID "\": " IX_REV "}}}}",
		  "is not a ref name" },
		{ "\"repos\": {\"../b\": {\"refs\": {}, \"revisions\": {\"" IX_ID "\": " IX_REV
		  "}}}}",
		  "is not a repository name" },
		{ "\"repos\": {\"a/b\": {\"refs\": {}, \"revisions\": {\"" IX_ID
		  "\": {\"manifest_sha256\": \"ab\", \"published\": \"2026-11-22T10:00:00Z\"}}}}}",
		  "bad manifest_sha256" },
		{ "\"repos\": {\"a/b\": {\"refs\": {}, \"revisions\": {\"" IX_ID
		  "\": {\"manifest_sha256\": \"" IX_SHA
		  "\", \"published\": \"2026-02-30T10:00:00Z\"}}}}}",
		  "bad published time" },
		{ "\"repos\": []}", "no repos object" },
	};
	char text[2048];
	struct fy_err err;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "%s%s", head, bad[i].repos);
		cr_assert_eq(ix_parse(text, &err), FY_EFORMAT, "case %zu accepted", i);
		cr_assert(strstr(err.msg, bad[i].why) != NULL && strncmp(err.msg, "ix: ", 4) == 0,
			  "case %zu: %s", i, err.msg);
	}
	snprintf(text, sizeof(text),
		 "%s\"repos\": {\"a/b\": {\"refs\": {\"heads/main\": \"" IX_ID
		 "\", \"tags/v1\": \"" IX_ID "\"}, \"revisions\": {\"" IX_ID "\": " IX_REV "}}}}",
		 head);
	cr_assert_eq(ix_parse(text, &err), FY_OK, "%s", err.msg);
	cr_assert_eq(ix_parse("{\"format\": \"ferry-index\", \"version\": 0, \"repos\": {}}", &err),
		     FY_EFORMAT);
	cr_assert(strstr(err.msg, "bad version") != NULL, "%s", err.msg);
	cr_assert_eq(ix_parse("{\"format\": \"other\"}", &err), FY_EFORMAT);
	cr_assert(strstr(err.msg, "not a ferry index") != NULL, "%s", err.msg);

	cr_assert(fy_gguf_has_tag("m-Q4_K_M.gguf", "q4_k_m"));
	cr_assert(fy_gguf_has_tag("sub/m.Q4_K_M-00001-of-00002.gguf", "Q4_K_M"));
	cr_assert(fy_gguf_has_tag("Q8_0.gguf", "Q8_0"));
	cr_assert(!fy_gguf_has_tag("m-Q4_K_M.gguf", "Q4_K"));
	cr_assert(!fy_gguf_has_tag("m-IQ4_K_M.gguf", "Q4_K_M"));
	cr_assert(!fy_gguf_has_tag("m-Q4_K_M.bin", "Q4_K_M"));
	cr_assert(!fy_gguf_has_tag("m-Q4_K_M.gguf", ""));
}

/* The hub's response headers as clone reads them: libcurl hands over lines without a NUL. */
static void header(struct fy_hub_header *h, const char *line)
{
	const size_t n = strlen(line);
	char *copy = malloc(n ? n : 1); /* exactly the line: reading past it is an ASan error */

	cr_assert_not_null(copy);
	memcpy(copy, line, n);
	fy_hub_header_line(copy, n, h);
	free(copy);
}

Test(hub, response_headers)
{
	struct fy_hub_header h = { 0 };
	char date[64];
	const time_t later = time(NULL) + 120;

	header(&h, "Link: <https://hub/api/models/a/b/tree/main?cursor=x>; rel=\"next\"\r\n");
	cr_assert_str_eq(h.next, "https://hub/api/models/a/b/tree/main?cursor=x");
	h = (struct fy_hub_header){ 0 };
	header(&h, "link: </first>; rel=\"first\", </p2?c=1>; rel=next\r\n");
	cr_assert_str_eq(h.next, "/p2?c=1");
	h = (struct fy_hub_header){ 0 };
	header(&h, "Link: <https://hub/p2>; rel=\"prev\"\r\n"); /* not a next page */
	cr_assert_str_eq(h.next, "");
	header(&h, "Link: <https://hub/p2; rel=\"next\""); /* unterminated */
	cr_assert_str_eq(h.next, "");

	header(&h, "Retry-After: 7\r\n");
	cr_assert_eq(h.retry_after, 7);
	strftime(date, sizeof(date), "Retry-After: %a, %d %b %Y %H:%M:%S GMT", gmtime(&later));
	header(&h, date);
	cr_assert(h.retry_after > 100 && h.retry_after <= 120, "an HTTP-date: %ld s",
		  h.retry_after);
	header(&h, "Retry-After: Thu, 01 Jan 1998 00:00:00 GMT\r\n"); /* past: no wait */
	cr_assert_eq(h.retry_after, 0);
	header(&h, "Retry-After: -5\r\n");
	cr_assert_eq(h.retry_after, 0);

	header(&h, "X-Error-Code: GatedRepo\r\n");
	cr_assert_str_eq(h.error_code, "GatedRepo");
	header(&h, "X-Error-Code: \033[31mRepo\r\n"); /* no escape sequence reaches a terminal */
	cr_assert_str_eq(h.error_code, "??31mRepo");

	/* a Link line too long to read loses no page silently */
	char *big = malloc(FY_HUB_URL_MAX + 300);
	cr_assert_not_null(big);
	memset(big, 'a', FY_HUB_URL_MAX + 299);
	memcpy(big, "Link: <", 7);
	big[FY_HUB_URL_MAX + 299] = '\0';
	h = (struct fy_hub_header){ 0 };
	header(&h, big);
	cr_assert(h.too_long);
	free(big);
}

Test(hub, listing_pages)
{
	struct fy_err err;
	size_t n = 0;
	static const char ok[] =
		"[{\"type\":\"file\",\"oid\":\"0123456789abcdef0123456789abcdef01234567\",\"size\":"
		"3,"
		"\"path\":\"a/b.json\"},{\"type\":\"directory\",\"oid\":"
		"\"0123456789abcdef0123456789abcdef01234567\",\"size\":0,\"path\":\"a\"}]";
	static const char twice[] = "[{\"type\":\"file\",\"oid\":"
				    "\"0123456789abcdef0123456789abcdef01234567\",\"size\":3,"
				    "\"path\":\"x\"},{\"type\":\"file\",\"oid\":"
				    "\"0123456789abcdef0123456789abcdef01234567\","
				    "\"size\":3,\"path\":\"x\"}]";
	static const char hostile[] = "[{\"type\":\"file\",\"oid\":"
				      "\"0123456789abcdef0123456789abcdef01234567\",\"size\":3,"
				      "\"path\":\"../../etc/x\"}]";

	cr_assert_eq(fy_hub_listing_page(ok, strlen(ok), &n, &err), FY_OK, "%s", err.msg);
	cr_assert_eq(n, 1);
	cr_assert_eq(fy_hub_listing_page(twice, strlen(twice), &n, &err), FY_EFORMAT);
	cr_assert(strstr(err.msg, "names 'x' twice") != NULL, "%s", err.msg);
	cr_assert_eq(fy_hub_listing_page(hostile, strlen(hostile), &n, &err), FY_EFORMAT);
	cr_assert(strstr(err.msg, "refusing a file name") != NULL, "%s", err.msg);
	cr_assert_eq(fy_hub_listing_page("{}", 2, &n, &err), FY_EFORMAT);
}

/* Ollama's prompt templates: each fixture's Jinja chat template is recognised as its format
 * (scripts/ollama/check-templates.sh checks the Go renderings themselves). */
Test(ollama, templates_from_chat_templates)
{
	static const struct {
		const char *model, *format;
	} cases[] = {
		{ "qwen2-tokenizer", "chatml" },     { "qwen3-tiny", "chatml" },
		{ "qwen35moe-tiny", "chatml" },	     { "deepseek-v3-tiny", "deepseek" },
		{ "kimi-k2-tiny", "kimi" },	     { "glm4moe-tiny", "glm4" },
		{ "minimax-m2-tiny", "minimax-m2" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char rel[256];
		struct fy_json *cfg = NULL;
		struct fy_err err;
		snprintf(rel, sizeof(rel), "models/%s/tokenizer_config.json", cases[i].model);
		cr_assert_eq(fy_json_load_file_hf(&cfg, t_data(rel), 1u << 20, &err), FY_OK, "%s",
			     err.msg);
		const struct fy_json *ct = fy_json_get(cfg, "chat_template");
		const struct fy_ollama_template *t =
			fy_ollama_template_for(fy_json_str(ct), fy_json_str_len(ct));
		cr_assert(t != NULL, "%s: no format", cases[i].model);
		cr_expect_str_eq(t->name, cases[i].format, "%s", cases[i].model);
		cr_expect(t->stop[0] != NULL && strstr(t->go, ".Messages") != NULL);
		fy_json_free(cfg);
	}
	static const char llama3[] =
		"{{ '<|start_header_id|>' + m.role + '<|end_header_id|>\\n\\n' "
		"+ m.content + '<|eot_id|>' }}";
	cr_expect_str_eq(fy_ollama_template_for(llama3, strlen(llama3))->name, "llama3-instruct");
	static const char plain[] = "{% for m in messages %}{{ m.content }}{% endfor %}";
	cr_expect_null(fy_ollama_template_for(plain, strlen(plain)), "no format: no template");
	cr_expect_null(fy_ollama_template_for(NULL, 0));
	size_t n = 0;
	while (fy_ollama_template_at(n) != NULL)
		n++;
	cr_expect_geq(n, 9);
}
