/* verify: digests, git ids, pickle scanning, Ed25519, structural validation. */
#include "tests/unit/helpers.h"
#include "verify/verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void hex_of(const uint8_t *b, size_t n, char *out)
{
	fy_hex(b, n, out);
}

Test(hash, known_digests)
{
	uint8_t d[32];
	char hex[65];

	fy_sha256("abc", 3, d);
	hex_of(d, 32, hex);
	cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	fy_git_object_id("blob", "hello\n", 6, d);
	hex_of(d, 20, hex);
	cr_assert_str_eq(hex, "ce013625030ba8dba906f756967f9e9ca394464a", "git hash-object");
	fy_git_object_id("blob", "", 0, d);
	hex_of(d, 20, hex);
	cr_assert_str_eq(hex, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
	fy_git_object_id("tree", "", 0, d);
	hex_of(d, 20, hex);
	cr_assert_str_eq(hex, "4b825dc642cb6eb9a060e54bf8d69288fbee4904", "empty tree");
	cr_assert(fy_unhex("00ffAb", d, 3) && d[1] == 0xff && d[2] == 0xab);
	cr_assert_not(fy_unhex("0g", d, 1));
	cr_assert_not(fy_unhex("001", d, 1), "trailing digit");
}

Test(hash, streaming_file_and_parallel)
{
	struct fy_hash_job jobs[5] = { 0 };
	struct fy_digests d;
	struct fy_pool *pool = NULL;
	struct fy_err err;
	struct fy_hasher *h = NULL;
	char name[5][32];
	char hex[65];
	uint8_t *big = malloc(9 << 20);
	int i;

	t_tmpdir();
	for (i = 0; i < (9 << 20); i++)
		big[i] = (uint8_t)(i * 131);
	cr_assert_eq(fy_file_write_atomic(t_tmp("big"), big, 9 << 20, &err), FY_OK);
	cr_assert_eq(fy_hash_file(t_tmp("big"), 0, &d, &err), FY_OK, "%s", err.msg);
	cr_assert_eq(d.size, 9u << 20);
	{
		uint8_t want[32];

		fy_sha256(big, 9 << 20, want);
		cr_assert_eq(memcmp(want, d.sha256, 32), 0, "streamed = one-shot");
	}
	cr_assert_eq(fy_hasher_new(&h, 10, 0, &err), FY_OK);
	fy_hasher_update(h, "12345", 5, &err);
	cr_assert_eq(fy_hasher_final(h, &d, &err), FY_EHASH, "5 of 10 bytes");
	fy_hasher_free(h);
	for (i = 0; i < 5; i++) {
		snprintf(name[i], sizeof(name[i]), "f%d", i);
		fy_file_write_atomic(t_tmp(name[i]), "hello\n", 6, &err);
		jobs[i].path = strdup(t_tmp(name[i]));
	}
	free((char *)jobs[4].path);
	jobs[4].path = strdup(t_tmp("missing"));
	cr_assert_eq(fy_pool_new(&pool, 3, &err), FY_OK);
	fy_hash_files(pool, jobs, 5);
	for (i = 0; i < 4; i++) {
		cr_assert_eq(jobs[i].rc, FY_OK);
		hex_of(jobs[i].digests.git_oid, 20, hex);
		cr_assert_str_eq(hex, "ce013625030ba8dba906f756967f9e9ca394464a");
	}
	cr_assert_eq(jobs[4].rc, FY_EIO, "missing file reported per job");
	for (i = 0; i < 5; i++)
		free((char *)jobs[i].path);
	fy_pool_free(pool);
	free(big);
	t_tmpdir_remove();
}

static const char *imports_of(const void *p, size_t n, int *rc)
{
	static struct fy_buf out;
	struct fy_err err;

	fy_buf_release(&out);
	*rc = fy_pickle_imports(p, n, &out, &err);
	fy_buf_append(&out, "", 1, NULL);
	return (const char *)out.data;
}

Test(pickle, protocol_0_and_2_globals)
{
	static const char p2[] = "\x80\x02"
				 "cos\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.";
	static const char p0[] = "cposix\nsystem\np0\n(S'id'\np1\ntp2\nRp3\n.";
	int rc;

	cr_assert_str_eq(imports_of(p2, sizeof(p2) - 1, &rc), "os.system");
	cr_assert_eq(rc, FY_OK);
	cr_assert_str_eq(imports_of(p0, sizeof(p0) - 1, &rc), "posix.system");
	imports_of(p2, 10, &rc);
	cr_assert_eq(rc, FY_EFORMAT, "truncated stream");
}

Test(pickle, stack_global_through_the_memo)
{
	/* protocol 4: module and name pushed and memoized, fetched back with BINGET */
	static const uint8_t p4[] = {
		0x80, 0x04, 0x95, 0x20, 0,    0,   0,	 0,   0,   0,	0,    /* PROTO, FRAME */
		0x8c, 0x08, 'b',  'u',	'i',  'l', 't',	 'i', 'n', 's', 0x94, /* memo 0 */
		0x8c, 0x04, 'e',  'v',	'a',  'l', 0x94,		      /* memo 1 */
		0x8c, 0x01, 'x',  0x94,					      /* memo 2 */
		'h',  0x00, 'h',  0x01, 0x93,				      /* STACK_GLOBAL */
		0x8c, 0x01, '1',  0x85, 'R',  '.',
	};
	int rc;

	cr_assert_str_eq(imports_of(p4, sizeof(p4), &rc), "builtins.eval");
	cr_assert_eq(rc, FY_OK);
}

/* A stored (uncompressed) zip holding archive/data.pkl, as torch.save writes. */
static size_t make_zip(uint8_t *z, const char *pkl, size_t n)
{
	static const char name[] = "archive/data.pkl";
	size_t nl = sizeof(name) - 1;
	size_t pos = 0;
	size_t cd;

	memset(z, 0, 512);
	memcpy(z, "PK\x03\x04", 4);
	z[18] = (uint8_t)n; /* compressed size */
	z[22] = (uint8_t)n; /* uncompressed size */
	z[26] = (uint8_t)nl;
	memcpy(z + 30, name, nl);
	memcpy(z + 30 + nl, pkl, n);
	pos = 30 + nl + n;
	cd = pos;
	memcpy(z + pos, "PK\x01\x02", 4);
	z[pos + 20] = (uint8_t)n;
	z[pos + 24] = (uint8_t)n;
	z[pos + 28] = (uint8_t)nl;
	memcpy(z + pos + 46, name, nl);
	pos += 46 + nl;
	memcpy(z + pos, "PK\x05\x06", 4);
	z[pos + 10] = 1;
	z[pos + 12] = (uint8_t)(pos - cd);
	z[pos + 16] = (uint8_t)cd;
	return pos + 22;
}

Test(pickle, pytorch_zip_archive)
{
	static const char pkl[] = "\x80\x02"
				  "ctorch._utils\n_rebuild_tensor_v2\nq\x00)R.";
	uint8_t z[512];
	size_t n = make_zip(z, pkl, sizeof(pkl) - 1);
	int rc;

	cr_assert_str_eq(imports_of(z, n, &rc), "torch._utils._rebuild_tensor_v2");
	cr_assert_eq(rc, FY_OK);
	z[n - 22 + 16] = 200; /* central directory offset past the end */
	imports_of(z, n, &rc);
	cr_assert_eq(rc, FY_EFORMAT);
	cr_assert(fy_is_pickle_name("pytorch_model.bin") && fy_is_pickle_name("x.ckpt"));
	cr_assert_not(fy_is_pickle_name("model.safetensors"));
}

Test(sign, ed25519_round_trip)
{
	struct fy_key *k = NULL, *other = NULL, *back = NULL, *pub = NULL;
	uint8_t sig[FY_SIG_LEN];
	char id1[17], id2[17];
	struct fy_err err;
	struct stat st;

	t_tmpdir();
	cr_assert_eq(fy_key_generate(&k, &err), FY_OK);
	cr_assert_eq(fy_key_generate(&other, &err), FY_OK);
	cr_assert_eq(fy_key_sign(k, "manifest", 8, sig, &err), FY_OK);
	cr_assert_eq(fy_key_verify(k, "manifest", 8, sig, &err), FY_OK);
	cr_assert_eq(fy_key_verify(k, "manifesT", 8, sig, &err), FY_EHASH, "tampered data");
	cr_assert_eq(fy_key_verify(other, "manifest", 8, sig, &err), FY_EHASH, "wrong key");
	cr_assert_eq(fy_key_save_private(k, t_tmp("k.key"), &err), FY_OK);
	cr_assert_eq(fy_key_save_public(k, t_tmp("k.pub"), &err), FY_OK);
	cr_assert_eq(stat(t_tmp("k.key"), &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600, "private key mode");
	cr_assert_eq(fy_key_load(&back, t_tmp("k.key"), &err), FY_OK, "%s", err.msg);
	cr_assert_eq(fy_key_load(&pub, t_tmp("k.pub"), &err), FY_OK, "%s", err.msg);
	cr_assert(fy_key_has_private(back) && !fy_key_has_private(pub));
	fy_key_id(k, id1);
	fy_key_id(pub, id2);
	cr_assert_str_eq(id1, id2, "key id from the public half");
	cr_assert_eq(fy_key_verify(pub, "manifest", 8, sig, &err), FY_OK);
	cr_assert_eq(fy_key_sign(pub, "x", 1, sig, &err), FY_EINVAL, "no private key");
	cr_assert_eq(fy_key_from_pem(&back, "nope", 4, "label", &err), FY_EFORMAT);
	fy_key_free(k);
	fy_key_free(other);
	fy_key_free(pub);
	fy_key_free(back);
	t_tmpdir_remove();
}

struct seen {
	int problems;
	int warnings;
	char last[512];
};

static void collect(void *ctx, enum fy_finding kind, const char *file, const char *msg)
{
	struct seen *s = ctx;

	(void)file;
	if (kind == FY_FINDING_PROBLEM)
		s->problems++;
	else
		s->warnings++;
	snprintf(s->last, sizeof(s->last), "%s", msg);
}

static int nan_data(void *ctx, size_t i, struct fy_sink *sink, struct fy_err *err)
{
	float v[4] = { 1.0f, 0.0f / 0.0f, 1.0f / 0.0f, 0.0f / 0.0f };

	(void)ctx;
	(void)i;
	return fy_sink_write(sink, v, sizeof(v), err);
}

Test(validate, by_kind_and_deep)
{
	struct fy_st_writer *w = NULL;
	struct seen s = { 0 };
	struct fy_err err;
	int64_t shape[1] = { 4 };

	t_tmpdir();
	fy_file_write_atomic(t_tmp("config.json"), "{\"a\":1,\"a\":2}", 13, &err);
	cr_assert_eq(fy_validate_file("config.json", t_tmp("config.json"), 0, collect, &s, &err),
		     FY_EFORMAT);
	cr_assert(s.problems == 1 && strstr(s.last, "duplicate") != NULL, "%s", s.last);
	fy_st_writer_new(&w, &err);
	fy_st_writer_add(w, "w", FY_DTYPE_F32, 1, shape, &err);
	cr_assert_eq(fy_st_writer_write(w, t_tmp("m.safetensors"), nan_data, NULL, &err), FY_OK);
	fy_st_writer_free(w);
	memset(&s, 0, sizeof(s));
	cr_assert_eq(
		fy_validate_file("m.safetensors", t_tmp("m.safetensors"), 0, collect, &s, &err),
		FY_OK);
	cr_assert_eq(s.warnings, 0, "NaN only reported with --deep");
	cr_assert_eq(fy_validate_file("m.safetensors", t_tmp("m.safetensors"), FY_VALIDATE_DEEP,
				      collect, &s, &err),
		     FY_OK);
	cr_assert(strstr(s.last, "2 NaN and 1 Inf") != NULL, "%s", s.last);
	fy_file_write_atomic(t_tmp("x.gguf"), "GGUF\x03\0\0\0", 8, &err);
	cr_assert_eq(fy_validate_file("x.gguf", t_tmp("x.gguf"), 0, collect, &s, &err), FY_EFORMAT);
	cr_assert_eq(fy_validate_file("README.md", t_tmp("x.gguf"), 0, collect, &s, &err), FY_OK,
		     "other files are not parsed");
	t_tmpdir_remove();
}
