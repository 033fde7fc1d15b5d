/*
 * Crafts hostile bundles for tests/cli/bundle.sh with libarchive (independent of ferry's bundle
 * writer): it reads a good bundle's entries and writes them again with one attack applied, so
 * that only the importer's checks stand between the result and the store.
 *
 *   bundle-forge MODE IN OUT [ARGS...]
 *
 * MODE      what OUT is
 * symlink   a symbolic link (to /etc/passwd) in place of the first object
 * hardlink  a hard link (to bundle.json) in place of the first object
 * device    a character device in place of the first object
 * traversal an entry objects/../../../../tmp/ferry-evil before the first object
 * absolute  an entry /tmp/ferry-evil before the first object
 * bomb      the first object's header claims 1 GiB more, and the stream holds that many zeros
 * endless   64 MiB of zeros after the end of the tar archive, inside the compressed stream
 * garbage   bytes after the compressed stream
 * blob      one byte of the first object changed (same size)
 * manifest  one byte of the first manifest changed (same size)
 * desc      one byte of bundle.json changed (a digit of its time)
 * dupsig    bundle.sig with its signature listed twice
 * index IX SIG KEY       index.json/index.sig replaced, bundle.json updated and re-signed
 * mixmatch MANIFEST KEY  the first manifest replaced, bundle.json updated and re-signed
 *
 * KEY is the mirror's private key (PEM): the forged bundle.json carries a valid signature.
 * The output is one zstd frame, written as it is produced (a bomb costs no memory).
 */
#include "verify/verify.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

struct entry {
	char *name;
	unsigned type;
	const char *link; /* symlink or hardlink target */
	bool hard;
	struct fy_buf data;
	uint64_t size; /* the header's size (more than data.len: zeros follow, the bomb) */
};

static struct entry ents[4096];
static size_t n_ents;
static ZSTD_CCtx *zc;
static FILE *zf;

static void die(const char *what)
{
	fprintf(stderr, "bundle-forge: %s\n", what);
	exit(1);
}

static void read_bundle(const char *path)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	struct fy_err err;
	char buf[65536];

	archive_read_support_filter_zstd(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, path, 1 << 20) != ARCHIVE_OK)
		die(archive_error_string(a));
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		struct entry *x = &ents[n_ents++];
		la_ssize_t k;

		if (n_ents == sizeof(ents) / sizeof(ents[0]))
			die("too many entries");
		x->name = strdup(archive_entry_pathname(e));
		x->type = AE_IFREG;
		fy_buf_init(&x->data);
		while ((k = archive_read_data(a, buf, sizeof(buf))) > 0)
			if (fy_buf_append(&x->data, buf, (size_t)k, &err) != FY_OK)
				die(err.msg);
		x->size = x->data.len;
	}
	archive_read_free(a);
}

static struct entry *find(const char *name, bool prefix)
{
	size_t i;

	for (i = 0; i < n_ents; i++)
		if (prefix ? strncmp(ents[i].name, name, strlen(name)) == 0
			   : strcmp(ents[i].name, name) == 0)
			return &ents[i];
	die("no such entry");
	return NULL;
}

static void insert_before(struct entry *at, const char *name, const char *text)
{
	size_t i = (size_t)(at - ents);
	struct fy_err err;

	memmove(&ents[i + 1], &ents[i], (n_ents - i) * sizeof(ents[0]));
	n_ents++;
	memset(at, 0, sizeof(*at));
	at->name = strdup(name);
	at->type = AE_IFREG;
	fy_buf_init(&at->data);
	fy_buf_append(&at->data, text, strlen(text), &err);
	at->size = at->data.len;
}

static void set_text(struct entry *x, const void *p, size_t n)
{
	struct fy_err err;

	fy_buf_release(&x->data);
	if (fy_buf_append(&x->data, p, n, &err) != FY_OK)
		die(err.msg);
	x->size = x->data.len;
}

static void set_file(struct entry *x, const char *path)
{
	struct fy_err err;

	fy_buf_release(&x->data);
	if (fy_file_read(path, 1u << 26, &x->data, &err) != FY_OK)
		die(err.msg);
	x->size = x->data.len;
}

static void set_digest(struct fy_json *o, const struct fy_buf *b)
{
	uint8_t d[FY_SHA256_LEN];
	char hex[2 * FY_SHA256_LEN + 1];

	fy_sha256(b->data, b->len, d);
	fy_hex(d, sizeof(d), hex);
	fy_json_set(o, "sha256", fy_json_string(hex));
	fy_json_set(o, "size", fy_json_integer((int64_t)b->len));
}

/* bundle.json with the new index or manifest's digest, signed again with the key at key_path. */
static void resign(const char *key_path, const struct entry *changed, bool is_index)
{
	struct entry *d = find("bundle.json", false);
	struct fy_json *j = NULL, *ix = NULL;
	struct fy_json *doc = fy_json_object(), *list = fy_json_array(), *one = fy_json_object();
	struct fy_key *k = NULL;
	struct fy_buf pem;
	struct fy_err err;
	uint8_t sig[FY_SIG_LEN];
	char hex[2 * FY_SIG_LEN + 1], keyid[FY_KEYID_LEN + 1];
	char *text, *sig_text;
	int64_t v = 0;

	if (fy_json_parse(&j, d->data.data, d->data.len, "bundle.json", &err) != FY_OK ||
	    fy_key_load(&k, key_path, &err) != FY_OK)
		die(err.msg);
	if (is_index) {
		if (fy_json_parse(&ix, changed->data.data, changed->data.len, "index", &err) !=
		    FY_OK)
			die(err.msg);
		fy_json_int(fy_json_get(ix, "version"), &v);
		set_digest(fy_json_get(j, "index"), &changed->data);
		fy_json_set(fy_json_get(j, "index"), "version", fy_json_integer(v));
		fy_json_free(ix);
	} else {
		set_digest(fy_json_at(fy_json_get(j, "revisions"), 0), &changed->data);
	}
	text = fy_json_dump(j, FY_JSON_DUMP_PRETTY);
	if (fy_key_sign(k, text, strlen(text), sig, &err) != FY_OK)
		die(err.msg);
	fy_buf_init(&pem);
	fy_key_public_pem(k, &pem, &err);
	fy_key_id(k, keyid);
	fy_hex(sig, FY_SIG_LEN, hex);
	fy_json_set(one, "keyid", fy_json_string(keyid));
	fy_json_set(one, "public_key", fy_json_stringn((char *)pem.data, pem.len));
	fy_json_set(one, "sig", fy_json_string(hex));
	fy_json_push(list, one);
	fy_json_set(doc, "signatures", list);
	sig_text = fy_json_dump(doc, FY_JSON_DUMP_PRETTY);
	set_text(d, text, strlen(text));
	set_text(find("bundle.sig", false), sig_text, strlen(sig_text));
	free(text);
	free(sig_text);
	fy_buf_release(&pem);
	fy_json_free(j);
	fy_json_free(doc);
	fy_key_free(k);
}

static void zput(const void *p, size_t n, ZSTD_EndDirective mode)
{
	static uint8_t buf[1 << 16];
	ZSTD_inBuffer in = { p, n, 0 };
	size_t left;

	do {
		ZSTD_outBuffer o = { buf, sizeof(buf), 0 };

		left = ZSTD_compressStream2(zc, &o, &in, mode);
		if (ZSTD_isError(left) || fwrite(buf, 1, o.pos, zf) != o.pos)
			die("cannot compress or write the output");
	} while (mode == ZSTD_e_end ? left != 0 : in.pos < in.size);
}

static la_ssize_t to_zstd(struct archive *a, void *ctx, const void *p, size_t n)
{
	(void)a;
	(void)ctx;
	zput(p, n, ZSTD_e_continue);
	return (la_ssize_t)n;
}

/* The tar stream of the entries, then `zeros` bytes after its end, as one zstd frame. */
static void write_tar(uint64_t zeros)
{
	static const char zero[65536];
	struct archive *a = archive_write_new();
	size_t i;

	archive_write_set_format_pax_restricted(a);
	archive_write_add_filter_none(a);
	if (archive_write_open(a, NULL, NULL, to_zstd, NULL) != ARCHIVE_OK)
		die(archive_error_string(a));
	for (i = 0; i < n_ents; i++) {
		struct archive_entry *e = archive_entry_new();
		const struct entry *x = &ents[i];
		bool data = x->type == AE_IFREG && !x->hard;
		uint64_t left;

		archive_entry_set_pathname(e, x->name);
		archive_entry_set_filetype(e, x->type);
		archive_entry_set_perm(e, 0444);
		if (x->type == AE_IFCHR)
			archive_entry_set_rdev(e, 0x0103); /* /dev/null's numbers */
		if (x->link != NULL && x->hard)
			archive_entry_set_hardlink(e, x->link);
		else if (x->link != NULL)
			archive_entry_set_symlink(e, x->link);
		archive_entry_set_size(e, data ? (la_int64_t)x->size : 0);
		if (archive_write_header(a, e) != ARCHIVE_OK)
			die(archive_error_string(a));
		if (data) {
			archive_write_data(a, x->data.data, x->data.len);
			for (left = x->size - x->data.len; left > 0;) {
				size_t k = left < sizeof(zero) ? (size_t)left : sizeof(zero);

				archive_write_data(a, zero, k);
				left -= k;
			}
		}
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
	while (zeros > 0) {
		size_t k = zeros < sizeof(zero) ? (size_t)zeros : sizeof(zero);

		zput(zero, k, ZSTD_e_continue);
		zeros -= k;
	}
	zput(NULL, 0, ZSTD_e_end);
}

int main(int argc, char **argv)
{
	const char *mode;
	struct entry *obj;
	struct fy_err err;
	uint64_t zeros = 0;

	if (argc < 4)
		die("usage: bundle-forge MODE IN OUT [ARGS...]");
	mode = argv[1];
	read_bundle(argv[2]);
	obj = find("objects/", true);
	if (strcmp(mode, "symlink") == 0) {
		obj->type = AE_IFLNK;
		obj->link = "/etc/passwd";
	} else if (strcmp(mode, "hardlink") == 0) {
		obj->link = "bundle.json";
		obj->hard = true;
	} else if (strcmp(mode, "device") == 0) {
		obj->type = AE_IFCHR;
	} else if (strcmp(mode, "traversal") == 0) {
		insert_before(obj, "objects/../../../../tmp/ferry-evil", "evil\n");
	} else if (strcmp(mode, "absolute") == 0) {
		insert_before(obj, "/tmp/ferry-evil", "evil\n");
	} else if (strcmp(mode, "bomb") == 0) {
		obj->size += 1ull << 30;
	} else if (strcmp(mode, "endless") == 0) {
		zeros = 64ull << 20;
	} else if (strcmp(mode, "blob") == 0) {
		obj->data.data[obj->data.len / 2] ^= 0x01;
	} else if (strcmp(mode, "manifest") == 0) {
		struct entry *m = find("manifests/", true);
		uint8_t *p = memchr(m->data.data, '"', m->data.len); /* a key's first letter */

		if (p == NULL)
			die("no key in the manifest");
		p[1] ^= 0x20;
	} else if (strcmp(mode, "desc") == 0) {
		struct entry *d = find("bundle.json", false);
		char *p = memmem(d->data.data, d->data.len, "\"created\": \"", 12);

		if (p == NULL)
			die("no created time in bundle.json");
		p += 12 + 3;
		*p = *p == '9' ? '8' : (char)(*p + 1);
	} else if (strcmp(mode, "dupsig") == 0) {
		struct entry *s = find("bundle.sig", false);
		struct fy_json *j = NULL, *list;
		char *text;

		if (fy_json_parse(&j, s->data.data, s->data.len, "bundle.sig", &err) != FY_OK)
			die(err.msg);
		list = fy_json_get(j, "signatures");
		fy_json_push(list, fy_json_copy(fy_json_at(list, 0)));
		text = fy_json_dump(j, FY_JSON_DUMP_PRETTY);
		set_text(s, text, strlen(text));
		free(text);
		fy_json_free(j);
	} else if (strcmp(mode, "index") == 0 && argc == 7) {
		struct entry *ix = find("index.json", false);

		set_file(ix, argv[4]);
		set_file(find("index.sig", false), argv[5]);
		resign(argv[6], ix, true);
	} else if (strcmp(mode, "mixmatch") == 0 && argc == 6) {
		struct entry *m = find("manifests/", true);

		set_file(m, argv[4]);
		resign(argv[5], m, false);
	} else if (strcmp(mode, "garbage") != 0) {
		die("unknown mode, or missing arguments");
	}
	zc = ZSTD_createCCtx();
	zf = fopen(argv[3], "wb");
	if (zc == NULL || zf == NULL)
		die("cannot create the output");
	ZSTD_CCtx_setParameter(zc, ZSTD_c_compressionLevel, 3);
	write_tar(zeros);
	if (strcmp(mode, "garbage") == 0)
		fputs("GARBAGE\n", zf);
	if (fclose(zf) != 0)
		die("cannot write the output");
	ZSTD_freeCCtx(zc);
	return 0;
}
