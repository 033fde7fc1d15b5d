#include "tests/unit/helpers.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

static char *rotate(void)
{
	static char bufs[4][1024];
	static int next;

	next = (next + 1) % 4;
	return bufs[next];
}

const char *t_data(const char *rel)
{
	const char *root = getenv("FERRY_TEST_DATA");
	char *p = rotate();

	snprintf(p, 1024, "%s/%s", root ? root : "tests/data", rel);
	return p;
}

const char *t_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ferry-unit-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp");
	return tmpdir;
}

void t_tmpdir_remove(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char p[1024];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", tmpdir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(tmpdir);
}

const char *t_tmp(const char *name)
{
	char *p = rotate();

	snprintf(p, 1024, "%s/%s", tmpdir, name);
	return p;
}

void t_read(const char *path, struct fy_buf *b)
{
	struct fy_err err;
	int rc;

	fy_buf_init(b);
	rc = fy_file_read(path, (size_t)1 << 31, b, &err);
	cr_assert_eq(rc, FY_OK, "read %s: %s", path, err.msg);
}

int t_dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	}
	closedir(d);
	return n;
}
