/*
 * verify: hashing (SHA-256 and git blob SHA-1 through OpenSSL EVP), structural validation of the
 * files a model repository holds, pickle scanning, and Ed25519 keys and signatures.
 *
 * OpenSSL is included by verify/hash.c and verify/sign.c only.
 */
#ifndef FERRY_VERIFY_H
#define FERRY_VERIFY_H

#include "core/core.h"

#define FY_SHA256_LEN 32
#define FY_SHA1_LEN 20

/* Lowercase hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
void fy_hex(const uint8_t *bytes, size_t n, char *out);
/* Parses exactly 2n lowercase or uppercase hex digits; false otherwise. */
bool fy_unhex(const char *s, uint8_t *out, size_t n);

/* ------------------------------------------------------------------------------------------ */
/* Hashing                                                                                    */

/* What ferry records of every file: its size, SHA-256, and git blob id (SHA-1 over
 * "blob <size>\0" + content, what the Hugging Face API calls oid/blobId). */
struct fy_digests {
	uint64_t size;
	uint8_t sha256[FY_SHA256_LEN];
	uint8_t git_oid[FY_SHA1_LEN];
};

struct fy_hasher;

enum {
	FY_HASH_SHA256_ONLY = 1, /* skip the git blob id (git_oid left zero): LFS files, objects */
};

/* A hasher for content of exactly `size` bytes (the git blob header needs it up front). */
int fy_hasher_new(struct fy_hasher **out, uint64_t size, int flags, struct fy_err *err);
void fy_hasher_free(struct fy_hasher *h);
int fy_hasher_update(struct fy_hasher *h, const void *data, size_t n, struct fy_err *err);
/* Finishes; fails (FY_EHASH) when the bytes seen differ from the declared size. */
int fy_hasher_final(struct fy_hasher *h, struct fy_digests *out, struct fy_err *err);

/* Hashes a whole file by streaming reads (flags: FY_HASH_SHA256_ONLY or 0). */
int fy_hash_file(const char *path, int flags, struct fy_digests *out, struct fy_err *err);
/* One-shot digests of a buffer. */
void fy_sha256(const void *data, size_t n, uint8_t out[FY_SHA256_LEN]);
void fy_sha1(const void *data, size_t n, uint8_t out[FY_SHA1_LEN]);
/* git's object id of a typed object: SHA-1 of "<type> <n>\0" + data. */
void fy_git_object_id(const char *type, const void *data, size_t n, uint8_t out[FY_SHA1_LEN]);

/* Many files hashed in parallel on a pool: each job gets its own result and error. */
struct fy_hash_job {
	const char *path;
	int flags;		   /* FY_HASH_SHA256_ONLY or 0 */
	struct fy_digests digests; /* OUT */
	int rc;			   /* OUT: FY_OK or the failure */
	struct fy_err err;	   /* OUT */
};

/* Runs every job (one file per task) on pool; always returns FY_OK: results are per job. */
int fy_hash_files(struct fy_pool *pool, struct fy_hash_job *jobs, size_t n);

/* ------------------------------------------------------------------------------------------ */
/* Structural validation                                                                      */

enum fy_finding {
	FY_FINDING_PROBLEM, /* the file is bad: verify fails */
	FY_FINDING_WARNING, /* worth saying (a pickle, NaN values), not a failure by itself */
};

/* Receives one finding about `file`: one line, no trailing newline. */
typedef void (*fy_finding_fn)(void *ctx, enum fy_finding kind, const char *file, const char *msg);

enum {
	FY_VALIDATE_DEEP = 1,	/* also scan every float tensor for NaN and Inf */
	FY_VALIDATE_STRICT = 2, /* warnings are problems (ferry verify --strict) */
};

/*
 * Checks a file's structure by what it is: safetensors and GGUF through the readers, JSON files
 * (config.json, tokenizer.json, ...) through the strict parser, pickle files (.bin .pt .pth .ckpt
 * .pkl, plain or inside a PyTorch zip) scanned for the imports they would perform (never
 * executed). `name` is the file's path inside its repository (chooses the checks); `path` is
 * where its bytes are. Findings go to fn; returns FY_OK when there is no problem, FY_EFORMAT
 * when a problem was reported, or another status with err set when it could not look.
 */
int fy_validate_file(const char *name, const char *path, int flags, fy_finding_fn fn, void *ctx,
		     struct fy_err *err);

/* True for names ferry treats as pickles. */
bool fy_is_pickle_name(const char *name);

/*
 * Lists the imports a pickle stream would perform (GLOBAL and STACK_GLOBAL opcodes, including
 * those inside a PyTorch zip archive's data.pkl), as "module.name" strings joined by ", " into
 * out. The stream is parsed, never executed. FY_EFORMAT on a malformed stream.
 */
int fy_pickle_imports(const uint8_t *data, size_t n, struct fy_buf *out, struct fy_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Keys and signatures (Ed25519)                                                              */

#define FY_SIG_LEN 64
#define FY_KEYID_LEN 16 /* hex characters: the first 8 bytes of SHA-256(raw public key) */

struct fy_key;

int fy_key_generate(struct fy_key **out, struct fy_err *err);
/* Loads a PEM private key (the public half comes with it) or a PEM public key. */
int fy_key_load(struct fy_key **out, const char *path, struct fy_err *err);
int fy_key_from_pem(struct fy_key **out, const char *pem, size_t n, const char *label,
		    struct fy_err *err);
void fy_key_free(struct fy_key *k);
bool fy_key_has_private(const struct fy_key *k);
/* Writes the private key (PEM, mode 0600) or the public key (PEM, 0644), atomically. */
int fy_key_save_private(const struct fy_key *k, const char *path, struct fy_err *err);
int fy_key_save_public(const struct fy_key *k, const char *path, struct fy_err *err);
/* The public key as PEM text, appended to out. */
int fy_key_public_pem(const struct fy_key *k, struct fy_buf *out, struct fy_err *err);
/* The key id (FY_KEYID_LEN hex characters + NUL). */
void fy_key_id(const struct fy_key *k, char out[FY_KEYID_LEN + 1]);
int fy_key_sign(const struct fy_key *k, const void *data, size_t n, uint8_t sig[FY_SIG_LEN],
		struct fy_err *err);
/* FY_OK when sig is k's signature of data, FY_EHASH when it is not. */
int fy_key_verify(const struct fy_key *k, const void *data, size_t n, const uint8_t sig[FY_SIG_LEN],
		  struct fy_err *err);

#endif
