/* ferry checkout: a revision's files materialized into a directory. */
#include "mirror/mirror_private.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_CHUNK (4u << 20)

static int copy_fd(int in, int out, const char *src, const char *dst, struct fy_err *err)
{
	uint8_t *buf = malloc(COPY_CHUNK);
	ssize_t n;
	int rc = FY_OK;

	if (buf == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	for (;;) {
		n = read(in, buf, COPY_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = fy_err_sys(err, FY_EIO, "cannot read '%s'", src);
			break;
		}
		if (n == 0)
			break;
		rc = fy_write_all(out, buf, (size_t)n, dst, err);
		if (rc != FY_OK)
			break;
	}
	free(buf);
	return rc;
}

/* A reflink (FICLONE: shared extents, copy on write) of src at tmp; false when unsupported. */
static bool try_reflink(const char *src, const char *tmp)
{
	int in = open(src, O_RDONLY | O_CLOEXEC);
	int out = in < 0 ? -1 : open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	bool ok = out >= 0 && ioctl(out, FICLONE, in) == 0 && fsync(out) == 0;

	if (out >= 0)
		close(out);
	if (in >= 0)
		close(in);
	if (!ok && out >= 0)
		unlink(tmp);
	return ok;
}

static int copy_file(const char *src, const char *tmp, struct fy_err *err)
{
	int in = open(src, O_RDONLY | O_CLOEXEC);
	int out;
	int rc;

	if (in < 0)
		return fy_err_sys(err, FY_EIO, "missing object '%s'", src);
	out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out < 0) {
		close(in);
		return fy_err_sys(err, FY_EIO, "cannot create '%s'", tmp);
	}
	rc = copy_fd(in, out, src, tmp, err);
	if (rc == FY_OK && fsync(out) != 0)
		rc = fy_err_sys(err, FY_EIO, "cannot sync '%s'", tmp);
	close(out);
	close(in);
	if (rc != FY_OK)
		unlink(tmp);
	return rc;
}

/* Puts obj at dst through a temp name: reflink, else hardlink, else copy (*how 0, 1, 2). */
static int place_file(const char *obj, const char *dst, enum fy_link_mode mode, int *how,
		      struct fy_err *err)
{
	static atomic_uint counter;
	char tmp[4200];
	char *slash;
	struct stat a, b;
	int rc = FY_OK;

	if (mode == FY_LINK_ANY && stat(obj, &a) == 0 && lstat(dst, &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
		*how = 1; /* already a hardlink to the object (an install run again) */
		return FY_OK;
	}
	snprintf(tmp, sizeof(tmp), "%s", dst);
	slash = strrchr(tmp, '/');
	snprintf(slash + 1, sizeof(tmp) - (size_t)(slash + 1 - tmp), ".%s.ferry-tmp.%ld.%u",
		 strrchr(dst, '/') + 1, (long)getpid(), atomic_fetch_add(&counter, 1));
	if (mode == FY_LINK_ANY && try_reflink(obj, tmp))
		*how = 0;
	else if (mode == FY_LINK_ANY && link(obj, tmp) == 0)
		*how = 1;
	else if ((rc = copy_file(obj, tmp, err)) == FY_OK)
		*how = 2;
	if (rc == FY_OK && rename(tmp, dst) != 0)
		rc = fy_err_sys(err, FY_EIO, "cannot rename into '%s'", dst);
	/* gone after a rename, except where dst became a link to the same inode meanwhile:
	 * rename(2) then does nothing and succeeds */
	unlink(tmp);
	return rc;
}

int fy_store_checkout(struct fy_store *s, const struct fy_revision *r, const char *dir,
		      enum fy_link_mode mode, size_t how[3], struct fy_err *err)
{
	char dst[4200];
	char parent[4200];
	struct fy_sweep sweep = { "" }; /* what a killed checkout left */
	size_t i;
	int used = 0;
	int rc = fy_mkdirs(dir, err);

	for (i = 0; rc == FY_OK && i < r->n_files; i++) {
		const struct fy_file_entry *f = &r->files[i];

		snprintf(dst, sizeof(dst), "%s/%s", dir, f->path);
		snprintf(parent, sizeof(parent), "%s", dst);
		*strrchr(parent, '/') = '\0';
		rc = fy_mkdirs(parent, err);
		fy_sweep_parent(&sweep, dst);
		if (rc == FY_OK)
			rc = place_file(fy_store_object_path(s, f->sha256), dst, mode, &used, err);
		if (rc == FY_OK && how != NULL)
			how[used]++;
	}
	if (rc == FY_OK)
		rc = fy_fsync_dir(dir, err);
	return rc;
}

int fy_store_place_object(struct fy_store *s, const uint8_t sha256[FY_SHA256_LEN], const char *dst,
			  struct fy_err *err)
{
	int how;

	return place_file(fy_store_object_path(s, sha256), dst, FY_LINK_ANY, &how, err);
}
