/* Ed25519 keys and signatures through OpenSSL's EVP_PKEY interface. */
#include "verify/verify.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct fy_key {
	EVP_PKEY *pkey;
	bool priv;
};

int fy_key_generate(struct fy_key **out, struct fy_err *err)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	struct fy_key *k = calloc(1, sizeof(*k));
	int rc = FY_OK;

	if (k == NULL || ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 ||
	    EVP_PKEY_keygen(ctx, &k->pkey) != 1) {
		rc = fy_err_set(err, FY_EIO, "cannot generate an Ed25519 key");
		free(k);
	} else {
		k->priv = true;
		*out = k;
	}
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

static int check_ed25519(struct fy_key *k, const char *label, struct fy_err *err)
{
	if (EVP_PKEY_get_id(k->pkey) != EVP_PKEY_ED25519)
		return fy_err_set(err, FY_EUNSUPPORTED, "%s: not an Ed25519 key", label);
	return FY_OK;
}

int fy_key_from_pem(struct fy_key **out, const char *pem, size_t n, const char *label,
		    struct fy_err *err)
{
	struct fy_key *k = calloc(1, sizeof(*k));
	BIO *bio = BIO_new_mem_buf(pem, (int)n);
	int rc;

	if (k == NULL || bio == NULL || n > INT32_MAX) {
		free(k);
		BIO_free(bio);
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	}
	k->pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	k->priv = k->pkey != NULL;
	if (k->pkey == NULL) {
		BIO_free(bio);
		bio = BIO_new_mem_buf(pem, (int)n);
		k->pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	}
	BIO_free(bio);
	if (k->pkey == NULL) {
		free(k);
		return fy_err_set(err, FY_EFORMAT, "%s: not a PEM private or public key", label);
	}
	rc = check_ed25519(k, label, err);
	if (rc != FY_OK) {
		fy_key_free(k);
		return rc;
	}
	*out = k;
	return FY_OK;
}

int fy_key_load(struct fy_key **out, const char *path, struct fy_err *err)
{
	struct fy_buf b;
	int rc;

	fy_buf_init(&b);
	rc = fy_file_read(path, 64 << 10, &b, err);
	if (rc == FY_OK)
		rc = fy_key_from_pem(out, (const char *)b.data, b.len, path, err);
	fy_buf_release(&b);
	return rc;
}

void fy_key_free(struct fy_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

bool fy_key_has_private(const struct fy_key *k)
{
	return k->priv;
}

static int bio_to_buf(BIO *bio, struct fy_buf *out, struct fy_err *err)
{
	char *p = NULL;
	long n = BIO_get_mem_data(bio, &p);

	if (n <= 0)
		return fy_err_set(err, FY_EIO, "cannot encode the key");
	return fy_buf_append(out, p, (size_t)n, err);
}

int fy_key_public_pem(const struct fy_key *k, struct fy_buf *out, struct fy_err *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int rc;

	if (bio == NULL || PEM_write_bio_PUBKEY(bio, k->pkey) != 1)
		rc = fy_err_set(err, FY_EIO, "cannot encode the public key");
	else
		rc = bio_to_buf(bio, out, err);
	BIO_free(bio);
	return rc;
}

static int save_pem(const char *path, const struct fy_buf *pem, mode_t mode, struct fy_err *err)
{
	struct fy_atomic a;
	int rc;

	rc = fy_atomic_open(&a, path, err);
	if (rc != FY_OK)
		return rc;
	if (fchmod(a.fd, mode) != 0) {
		rc = fy_err_sys(err, FY_EIO, "cannot set the mode of '%s'", path);
		fy_atomic_abort(&a);
		return rc;
	}
	rc = fy_atomic_write(&a, pem->data, pem->len, err);
	if (rc != FY_OK) {
		fy_atomic_abort(&a);
		return rc;
	}
	return fy_atomic_commit(&a, err);
}

int fy_key_save_private(const struct fy_key *k, const char *path, struct fy_err *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	struct fy_buf pem;
	int rc;

	fy_buf_init(&pem);
	if (!k->priv)
		rc = fy_err_set(err, FY_EINVAL, "no private key to save");
	else if (bio == NULL ||
		 PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL) != 1)
		rc = fy_err_set(err, FY_EIO, "cannot encode the private key");
	else
		rc = bio_to_buf(bio, &pem, err);
	if (rc == FY_OK)
		rc = save_pem(path, &pem, 0600, err);
	OPENSSL_cleanse(pem.data, pem.len);
	fy_buf_release(&pem);
	BIO_free(bio);
	return rc;
}

int fy_key_save_public(const struct fy_key *k, const char *path, struct fy_err *err)
{
	struct fy_buf pem;
	int rc;

	fy_buf_init(&pem);
	rc = fy_key_public_pem(k, &pem, err);
	if (rc == FY_OK)
		rc = save_pem(path, &pem, 0644, err);
	fy_buf_release(&pem);
	return rc;
}

void fy_key_id(const struct fy_key *k, char out[FY_KEYID_LEN + 1])
{
	uint8_t raw[32];
	uint8_t digest[FY_SHA256_LEN];
	size_t n = sizeof(raw);

	if (EVP_PKEY_get_raw_public_key(k->pkey, raw, &n) != 1)
		n = 0;
	fy_sha256(raw, n, digest);
	fy_hex(digest, FY_KEYID_LEN / 2, out);
}

int fy_key_sign(const struct fy_key *k, const void *data, size_t n, uint8_t sig[FY_SIG_LEN],
		struct fy_err *err)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	size_t len = FY_SIG_LEN;
	int rc = FY_OK;

	if (!k->priv)
		rc = fy_err_set(err, FY_EINVAL, "signing needs a private key");
	else if (c == NULL || EVP_DigestSignInit(c, NULL, NULL, NULL, k->pkey) != 1 ||
		 EVP_DigestSign(c, sig, &len, data, n) != 1 || len != FY_SIG_LEN)
		rc = fy_err_set(err, FY_EIO, "signing failed");
	EVP_MD_CTX_free(c);
	return rc;
}

int fy_key_verify(const struct fy_key *k, const void *data, size_t n, const uint8_t sig[FY_SIG_LEN],
		  struct fy_err *err)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok;

	if (c == NULL || EVP_DigestVerifyInit(c, NULL, NULL, NULL, k->pkey) != 1) {
		EVP_MD_CTX_free(c);
		return fy_err_set(err, FY_EIO, "cannot set up signature verification");
	}
	ok = EVP_DigestVerify(c, sig, FY_SIG_LEN, data, n);
	EVP_MD_CTX_free(c);
	if (ok != 1)
		return fy_err_set(err, FY_EHASH, "signature does not verify");
	return FY_OK;
}
