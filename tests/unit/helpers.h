/* Shared helpers for the Criterion unit tests. */
#ifndef FERRY_TESTS_HELPERS_H
#define FERRY_TESTS_HELPERS_H

#include "convert/convert.h"

#include <criterion/criterion.h>

/* Path of a file under tests/data ($FERRY_TEST_DATA, default "tests/data"); static buffer
 * rotated over 4 calls. */
const char *t_data(const char *rel);
/* A fresh temporary directory (removed, with what is in it, by t_tmpdir_remove). */
const char *t_tmpdir(void);
void t_tmpdir_remove(void);
/* path inside the current temp dir (static buffer rotated over 4 calls). */
const char *t_tmp(const char *name);
/* Reads a whole file; the test fails if it cannot. The caller frees b. */
void t_read(const char *path, struct fy_buf *b);
/* Number of entries in a directory (excluding . and ..). */
int t_dir_entries(const char *dir);

#endif
