/* SHA-256 and git blob SHA-1 through OpenSSL EVP (SHA-NI or AVX2 code paths where the CPU has
 * them). With sign.c, the only files that include OpenSSL. */
#include "verify/verify.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_CHUNK (4u << 20)

struct fy_hasher {
	EVP_MD_CTX *sha256;
	EVP_MD_CTX *sha1; /* NULL with FY_HASH_SHA256_ONLY */
	uint64_t size;
	uint64_t seen;
};

void fy_hex(const uint8_t *bytes, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
	out[2 * n] = '\0';
}

static int nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool fy_unhex(const char *s, uint8_t *out, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int hi = nibble(s[2 * i]);
		int lo = hi < 0 ? -1 : nibble(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return s[2 * n] == '\0';
}

int fy_hasher_new(struct fy_hasher **out, uint64_t size, int flags, struct fy_err *err)
{
	struct fy_hasher *h = calloc(1, sizeof(*h));
	bool git = !(flags & FY_HASH_SHA256_ONLY);
	char header[32];
	int n;

	if (h == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	h->sha256 = EVP_MD_CTX_new();
	h->sha1 = git ? EVP_MD_CTX_new() : NULL;
	h->size = size;
	n = snprintf(header, sizeof(header), "blob %" PRIu64, size);
	if (h->sha256 == NULL || (git && h->sha1 == NULL) ||
	    EVP_DigestInit_ex(h->sha256, EVP_sha256(), NULL) != 1 ||
	    (git && (EVP_DigestInit_ex(h->sha1, EVP_sha1(), NULL) != 1 ||
		     EVP_DigestUpdate(h->sha1, header, (size_t)n + 1) != 1))) {
		fy_hasher_free(h);
		return fy_err_set(err, FY_ENOMEM, "cannot set up the hash functions");
	}
	*out = h;
	return FY_OK;
}

void fy_hasher_free(struct fy_hasher *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->sha256);
	EVP_MD_CTX_free(h->sha1);
	free(h);
}

int fy_hasher_update(struct fy_hasher *h, const void *data, size_t n, struct fy_err *err)
{
	if (n == 0)
		return FY_OK;
	h->seen += n;
	if (EVP_DigestUpdate(h->sha256, data, n) != 1 ||
	    (h->sha1 != NULL && EVP_DigestUpdate(h->sha1, data, n) != 1))
		return fy_err_set(err, FY_EIO, "hashing failed");
	return FY_OK;
}

int fy_hasher_final(struct fy_hasher *h, struct fy_digests *out, struct fy_err *err)
{
	if (h->seen != h->size)
		return fy_err_set(err, FY_EHASH,
				  "size mismatch: %" PRIu64 " bytes, expected %" PRIu64, h->seen,
				  h->size);
	memset(out->git_oid, 0, sizeof(out->git_oid));
	if (EVP_DigestFinal_ex(h->sha256, out->sha256, NULL) != 1 ||
	    (h->sha1 != NULL && EVP_DigestFinal_ex(h->sha1, out->git_oid, NULL) != 1))
		return fy_err_set(err, FY_EIO, "hashing failed");
	out->size = h->size;
	return FY_OK;
}

static int read_some(int fd, uint8_t *buf, size_t cap, size_t *got, const char *path,
		     struct fy_err *err)
{
	ssize_t n;

	do {
		n = read(fd, buf, cap);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return fy_err_sys(err, FY_EIO, "cannot read '%s'", path);
	*got = (size_t)n;
	return FY_OK;
}

int fy_hash_file(const char *path, int flags, struct fy_digests *out, struct fy_err *err)
{
	struct fy_hasher *h = NULL;
	uint8_t *buf = NULL;
	struct stat st;
	size_t got = 1;
	int fd;
	int rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fy_err_sys(err, FY_EIO, "cannot open '%s'", path);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = fy_err_set(err, FY_EIO, "'%s' is not a readable regular file", path);
		goto out;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	buf = malloc(READ_CHUNK);
	if (buf == NULL) {
		rc = fy_err_set(err, FY_ENOMEM, "out of memory");
		goto out;
	}
	FY_TRY(rc, fy_hasher_new(&h, (uint64_t)st.st_size, flags, err));
	while (got > 0) {
		FY_TRY(rc, read_some(fd, buf, READ_CHUNK, &got, path, err));
		FY_TRY(rc, fy_hasher_update(h, buf, got, err));
	}
	rc = fy_hasher_final(h, out, err);
	if (rc == FY_EHASH)
		fy_err_prefix(err, "'%s' changed while read", path);
out:
	fy_hasher_free(h);
	free(buf);
	close(fd);
	return rc;
}

void fy_sha256(const void *data, size_t n, uint8_t out[FY_SHA256_LEN])
{
	EVP_Digest(data, n, out, NULL, EVP_sha256(), NULL);
}

void fy_sha1(const void *data, size_t n, uint8_t out[FY_SHA1_LEN])
{
	EVP_Digest(data, n, out, NULL, EVP_sha1(), NULL);
}

void fy_git_object_id(const char *type, const void *data, size_t n, uint8_t out[FY_SHA1_LEN])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	char header[64];
	int len = snprintf(header, sizeof(header), "%s %zu", type, n);

	if (c == NULL || EVP_DigestInit_ex(c, EVP_sha1(), NULL) != 1 ||
	    EVP_DigestUpdate(c, header, (size_t)len + 1) != 1 ||
	    EVP_DigestUpdate(c, data, n) != 1 || EVP_DigestFinal_ex(c, out, NULL) != 1)
		memset(out, 0, FY_SHA1_LEN);
	EVP_MD_CTX_free(c);
}

static int hash_range(void *ctx, int64_t begin, int64_t end, struct fy_err *err)
{
	struct fy_hash_job *jobs = ctx;
	int64_t i;

	(void)err;
	for (i = begin; i < end; i++)
		jobs[i].rc =
			fy_hash_file(jobs[i].path, jobs[i].flags, &jobs[i].digests, &jobs[i].err);
	return FY_OK;
}

int fy_hash_files(struct fy_pool *pool, struct fy_hash_job *jobs, size_t n)
{
	struct fy_err err;

	return fy_pool_for(pool, (int64_t)n, 1, hash_range, jobs, &err);
}
