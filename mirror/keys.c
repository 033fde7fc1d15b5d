/* The store's signing key, trusted keys, and signatures of revision manifests.
 * repos/NS/NAME/signatures/ID.json = {"signatures": [{"keyid", "public_key", "sig"}]}: each
 * signature is Ed25519 over the manifest file's bytes; the signer's public key (raw, hex) rides
 * along so that a signature by a key this store does not trust can still be told apart from a
 * forged one. */
#include "mirror/mirror_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SIGS_FILE (1u << 20)

int fy_store_key_generate(struct fy_store *s, bool force, char keyid[FY_KEYID_LEN + 1],
			  struct fy_err *err)
{
	struct fy_key *k = NULL;
	int rc;

	if (!force && access(fy_store_path(s, "keys/signing.key"), F_OK) == 0)
		return fy_err_set(err, FY_EEXIST,
				  "this store has a signing key already (keys/signing.key); "
				  "--force replaces it");
	rc = fy_mkdirs(fy_store_path(s, "keys/trusted"), err);
	if (rc == FY_OK)
		rc = fy_key_generate(&k, err);
	if (rc == FY_OK)
		rc = fy_key_save_private(k, fy_store_path(s, "keys/signing.key"), err);
	if (rc == FY_OK)
		rc = fy_key_save_public(k, fy_store_path(s, "keys/signing.pub"), err);
	if (rc == FY_OK)
		fy_key_id(k, keyid);
	fy_key_free(k);
	return rc;
}

int fy_store_key_load(struct fy_store *s, struct fy_key **out, struct fy_err *err)
{
	const char *path = fy_store_path(s, "keys/signing.key");

	if (access(path, F_OK) != 0)
		return fy_err_set(err, FY_ENOTFOUND,
				  "this store has no signing key (run 'ferry key generate')");
	return fy_key_load(out, path, err);
}

int fy_store_key_trust(struct fy_store *s, const char *path, char keyid[FY_KEYID_LEN + 1],
		       struct fy_err *err)
{
	struct fy_key *k = NULL;
	char dst[64];
	int rc;

	rc = fy_key_load(&k, path, err);
	if (rc != FY_OK)
		return rc;
	fy_key_id(k, keyid);
	snprintf(dst, sizeof(dst), "keys/trusted/%s.pub", keyid);
	rc = fy_mkdirs(fy_store_path(s, "keys/trusted"), err);
	if (rc == FY_OK)
		rc = fy_key_save_public(k, fy_store_path(s, "%s", dst), err);
	fy_key_free(k);
	return rc;
}

int fy_store_key_list(struct fy_store *s, char ***ids, size_t *n, bool *own_first,
		      struct fy_err *err)
{
	struct fy_key *own = NULL;
	char **names = NULL;
	size_t k = 0;
	size_t i;
	char **out;
	char keyid[FY_KEYID_LEN + 1];
	int rc;

	*own_first = fy_store_key_load(s, &own, err) == FY_OK;
	rc = fy_dir_list(fy_store_path(s, "keys/trusted"), ".pub", &names, &k, err);
	if (rc != FY_OK) {
		fy_key_free(own);
		return rc;
	}
	out = calloc(k + 2, sizeof(*out));
	*n = 0;
	if (out != NULL && *own_first) {
		fy_key_id(own, keyid);
		out[(*n)++] = strdup(keyid);
	}
	for (i = 0; out != NULL && i < k; i++) {
		names[i][strlen(names[i]) - 4] = '\0';
		out[(*n)++] = strdup(names[i]);
	}
	fy_names_free(names, k);
	fy_key_free(own);
	if (out == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	*ids = out;
	return FY_OK;
}

static int load_sigs(struct fy_store *s, const char *repo, const char *id, struct fy_json **out,
		     struct fy_err *err)
{
	const char *path = fy_store_path(s, "repos/%s/signatures/%s.json", repo, id);
	struct fy_json *j = NULL;
	int rc;

	if (access(path, F_OK) != 0) {
		*out = fy_json_object();
		fy_json_set(*out, "signatures", fy_json_array());
		return FY_OK;
	}
	rc = fy_json_load_file(&j, path, MAX_SIGS_FILE, err);
	if (rc == FY_OK && fy_json_type(fy_json_get(j, "signatures")) != FY_JSON_ARRAY) {
		fy_json_free(j);
		return fy_err_set(err, FY_EFORMAT, "%s: no signatures array", path);
	}
	if (rc == FY_OK)
		*out = j;
	return rc;
}

struct fy_json *fy_sig_entry(const struct fy_key *k, const char *keyid,
			     const uint8_t sig[FY_SIG_LEN])
{
	struct fy_json *o = fy_json_object();
	struct fy_buf pem;
	char hex[2 * FY_SIG_LEN + 1];

	fy_buf_init(&pem);
	fy_key_public_pem(k, &pem, NULL);
	fy_json_set(o, "keyid", fy_json_string(keyid));
	fy_json_set(o, "public_key", fy_json_stringn(pem.data ? (char *)pem.data : "", pem.len));
	fy_hex(sig, FY_SIG_LEN, hex);
	fy_json_set(o, "sig", fy_json_string(hex));
	fy_buf_release(&pem);
	return o;
}

int fy_store_sign_detached(struct fy_store *s, const void *data, size_t n, char **sig_text,
			   struct fy_err *err)
{
	struct fy_key *k = NULL;
	struct fy_json *doc = fy_json_object();
	struct fy_json *list = fy_json_array();
	char keyid[FY_KEYID_LEN + 1];
	uint8_t sig[FY_SIG_LEN];
	int rc;

	*sig_text = NULL;
	FY_TRY(rc, fy_store_key_load(s, &k, err));
	FY_TRY(rc, fy_key_sign(k, data, n, sig, err));
	fy_key_id(k, keyid);
	fy_json_push(list, fy_sig_entry(k, keyid, sig));
	fy_json_set(doc, "signatures", list);
	list = NULL;
	*sig_text = fy_json_dump(doc, FY_JSON_DUMP_PRETTY);
	if (*sig_text == NULL)
		rc = fy_err_set(err, FY_ENOMEM, "out of memory");
out:
	fy_json_free(list);
	fy_json_free(doc);
	fy_key_free(k);
	return rc;
}

static int save_sigs(struct fy_store *s, const char *repo, const char *id, struct fy_json *j,
		     struct fy_err *err)
{
	char *text = fy_json_dump(j, FY_JSON_DUMP_PRETTY);
	int rc;

	if (text == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	rc = fy_mkdirs(fy_store_path(s, "repos/%s/signatures", repo), err);
	if (rc == FY_OK)
		rc = fy_file_write_atomic_in(
			fy_store_path(s, "repos/%s/signatures/%s.json", repo, id),
			fy_store_path(s, "tmp"), text, strlen(text), err);
	free(text);
	return rc;
}

int fy_store_sign(struct fy_store *s, const char *repo, const char *id,
		  char keyid[FY_KEYID_LEN + 1], struct fy_err *err)
{
	struct fy_key *k = NULL;
	struct fy_json *j = NULL;
	struct fy_json *kept = fy_json_array();
	struct fy_json *list;
	struct fy_buf b;
	uint8_t sig[FY_SIG_LEN];
	size_t i;
	int rc;

	fy_buf_init(&b);
	FY_TRY(rc, fy_store_key_load(s, &k, err));
	FY_TRY(rc, fy_revision_bytes(s, repo, id, &b, err));
	FY_TRY(rc, fy_key_sign(k, b.data, b.len, sig, err));
	fy_key_id(k, keyid);
	FY_TRY(rc, load_sigs(s, repo, id, &j, err));
	list = fy_json_get(j, "signatures");
	for (i = 0; i < fy_json_size(list); i++) {
		const char *kid = fy_json_str(fy_json_get(fy_json_at(list, i), "keyid"));

		if (kid == NULL || strcmp(kid, keyid) != 0)
			fy_json_push(kept, fy_json_copy(fy_json_at(list, i)));
	}
	fy_json_push(kept, fy_sig_entry(k, keyid, sig));
	fy_json_set(j, "signatures", kept);
	kept = NULL;
	rc = save_sigs(s, repo, id, j, err);
out:
	fy_json_free(kept);
	fy_json_free(j);
	fy_key_free(k);
	fy_buf_release(&b);
	return rc;
}

/* The key a signature claims: trusted (own or keys/trusted) or only the embedded one. */
static int find_key(struct fy_store *s, const struct fy_json *e, const char *keyid,
		    struct fy_key **k, bool *trusted, struct fy_err *err)
{
	const char *pem = fy_json_str(fy_json_get(e, "public_key"));
	char real[FY_KEYID_LEN + 1];
	char trusted_path[64];

	*trusted = false;
	snprintf(trusted_path, sizeof(trusted_path), "keys/trusted/%.16s.pub", keyid);
	if (strlen(keyid) == FY_KEYID_LEN && strspn(keyid, "0123456789abcdef") == FY_KEYID_LEN &&
	    access(fy_store_path(s, "%s", trusted_path), F_OK) == 0) {
		*trusted = true;
		return fy_key_load(k, fy_store_path(s, "%s", trusted_path), err);
	}
	if (access(fy_store_path(s, "keys/signing.pub"), F_OK) == 0 &&
	    fy_key_load(k, fy_store_path(s, "keys/signing.pub"), err) == FY_OK) {
		fy_key_id(*k, real);
		if (strcmp(real, keyid) == 0) {
			*trusted = true;
			return FY_OK;
		}
		fy_key_free(*k);
		*k = NULL;
	}
	if (pem == NULL)
		return fy_err_set(err, FY_EFORMAT, "signature without a public key");
	return fy_key_from_pem(k, pem, strlen(pem), "signature", err);
}

/* Status of one signature entry. */
static enum fy_sig_status check_one(struct fy_store *s, const struct fy_json *e,
				    const struct fy_buf *manifest, const char *keyid)
{
	const char *hex = fy_json_str(fy_json_get(e, "sig"));
	uint8_t sig[FY_SIG_LEN];
	struct fy_key *k = NULL;
	char real[FY_KEYID_LEN + 1];
	bool trusted = false;
	enum fy_sig_status st = FY_SIG_INVALID;
	struct fy_err err;

	if (hex != NULL && strlen(hex) == 2 * FY_SIG_LEN && fy_unhex(hex, sig, FY_SIG_LEN) &&
	    find_key(s, e, keyid, &k, &trusted, &err) == FY_OK) {
		fy_key_id(k, real);
		if (strcmp(real, keyid) == 0 &&
		    fy_key_verify(k, manifest->data, manifest->len, sig, &err) == FY_OK)
			st = trusted ? FY_SIG_VALID : FY_SIG_UNTRUSTED;
	}
	fy_key_free(k);
	return st;
}

int fy_store_check_sig_doc(struct fy_store *s, const void *data, size_t n,
			   const struct fy_json *doc, fy_sig_fn fn, void *ctx, size_t *n_sigs)
{
	const struct fy_json *list = fy_json_get(doc, "signatures");
	const struct fy_buf b = { (uint8_t *)data, n, n };
	struct fy_index seen;
	struct fy_err err;
	size_t i;
	int bad = 0;

	fy_index_init(&seen);
	*n_sigs = 0;
	for (i = 0; i < fy_json_size(list); i++) {
		const struct fy_json *e = fy_json_at(list, i);
		const char *keyid = fy_json_str(fy_json_get(e, "keyid"));
		enum fy_sig_status st;

		if (keyid == NULL)
			keyid = "?";
		if (fy_index_insert(&seen, keyid, strlen(keyid), 0, &err) == FY_EEXIST) {
			st = FY_SIG_DUPLICATE;
		} else {
			st = check_one(s, e, &b, keyid);
			(*n_sigs)++;
		}
		bad += st != FY_SIG_VALID; /* a duplicate is refused too: each key counts once */
		if (fn != NULL)
			fn(ctx, st, keyid);
	}
	fy_index_release(&seen);
	return bad ? FY_EHASH : FY_OK;
}

int fy_store_check_signatures(struct fy_store *s, const char *repo, const char *id, fy_sig_fn fn,
			      void *ctx, size_t *n_sigs, struct fy_err *err)
{
	struct fy_json *j = NULL;
	struct fy_buf b;
	int rc;

	fy_buf_init(&b);
	*n_sigs = 0;
	FY_TRY(rc, fy_revision_bytes(s, repo, id, &b, err));
	FY_TRY(rc, load_sigs(s, repo, id, &j, err));
	rc = fy_store_check_sig_doc(s, b.data, b.len, j, fn, ctx, n_sigs);
out:
	fy_json_free(j);
	fy_buf_release(&b);
	return rc;
}
