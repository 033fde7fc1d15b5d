/* core: errors, buffers, cursor, index, files, JSON, pool, dtypes, half/bfloat16. */
#include "tests/unit/helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

Test(err, set_prefix_and_sys)
{
	struct fy_err err;

	fy_err_clear(&err);
	cr_assert_eq(fy_err_set(&err, FY_EFORMAT, "tensor '%s' is bad", "x"), FY_EFORMAT);
	cr_assert_str_eq(err.msg, "tensor 'x' is bad");
	fy_err_prefix(&err, "%s", "model.gguf");
	cr_assert_str_eq(err.msg, "model.gguf: tensor 'x' is bad");
	errno = ENOENT;
	fy_err_sys(&err, FY_EIO, "cannot open '%s'", "a");
	cr_assert_str_eq(err.msg, "cannot open 'a': No such file or directory");
	cr_assert_eq(err.sys_errno, ENOENT);
	cr_assert_str_eq(fy_status_name(FY_EHASH), "hash");
	cr_assert_eq(fy_err_set(NULL, FY_EIO, "ignored"), FY_EIO, "NULL err is allowed");
}

Test(buf, append_and_printf)
{
	struct fy_buf b;
	struct fy_err err;
	int i;

	fy_buf_init(&b);
	for (i = 0; i < 1000; i++)
		cr_assert_eq(fy_buf_append_u32le(&b, (uint32_t)i, &err), FY_OK);
	cr_assert_eq(b.len, 4000);
	cr_assert_eq(fy_le32(b.data + 4 * 999), 999);
	b.len = 0;
	fy_buf_printf(&b, &err, "%s-%d", "ab", 7);
	cr_assert_eq(b.len, 4);
	cr_assert_eq(memcmp(b.data, "ab-7", 4), 0);
	fy_buf_release(&b);
	cr_assert_null(b.data);
}

Test(buf, cursor_never_reads_past_end)
{
	uint8_t data[12] = { 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0 };
	struct fy_cursor c = { data, sizeof(data), 0 };
	const uint8_t *p;
	uint32_t v;
	uint64_t w;

	cr_assert(fy_cur_u32(&c, &v) && v == 1);
	cr_assert(fy_cur_u64(&c, &w) && w == 2);
	cr_assert_not(fy_cur_u32(&c, &v), "nothing left");
	cr_assert_not(fy_cur_take(&c, UINT64_MAX, &p), "huge take refused");
	cr_assert_eq(c.pos, 12);
}

Test(buf, grow_arrays)
{
	struct fy_err err;
	int32_t *a = NULL;
	size_t cap = 0;
	for (size_t i = 0; i < 1000; i++) {
		void *p = a;
		cr_assert_eq(fy_grow(&p, &cap, i, sizeof(*a), &err), FY_OK);
		a = p;
		cr_assert_gt(cap, i);
		a[i] = (int32_t)i;
	}
	for (size_t i = 0; i < 1000; i++)
		cr_expect_eq(a[i], (int32_t)i);
	void *p = a;
	size_t huge = SIZE_MAX / 2;
	cr_expect_eq(fy_grow(&p, &huge, SIZE_MAX / 2, 8, &err), FY_ENOMEM, "overflow refused");
	cr_expect_eq(p, (void *)a, "the array is kept on failure");
	free(a);
}

Test(buf, utf8_sequences)
{
	static const struct {
		const char *s;
		size_t len;
	} cases[] = {
		{ "a", 1 },
		{ "\xc3\xa9", 2 },
		{ "\xe2\x96\x81", 3 },
		{ "\xf0\x9f\x98\x80", 4 },
		{ "\x80", 0 },
		{ "\xc3", 0 },
		{ "\xc0\xaf", 0 },
		{ "\xe0\x80\xaf", 0 },
		{ "\xed\xa0\x80", 0 },
		{ "\xf4\x90\x80\x80", 0 },
		{ "\xff", 0 },
		{ "\xe2\x28\xa1", 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_eq(fy_utf8_len((const uint8_t *)cases[i].s, strlen(cases[i].s)),
			     cases[i].len, "case %zu", i);
	cr_expect_eq(fy_utf8_len((const uint8_t *)"\xe2\x96\x81", 2), 0, "truncated");
	cr_expect_eq(fy_utf8_len((const uint8_t *)"", 0), 0);
}

Test(index, insert_find_duplicates)
{
	struct fy_index ix;
	char names[2000][24];
	struct fy_err err;
	int64_t v;
	int i;

	fy_index_init(&ix);
	for (i = 0; i < 2000; i++) {
		snprintf(names[i], sizeof(names[i]), "blk.%d.w", i);
		cr_assert_eq(fy_index_insert(&ix, names[i], strlen(names[i]), i, &err), FY_OK);
	}
	cr_assert_eq(fy_index_insert(&ix, "blk.7.w", 7, 1, &err), FY_EEXIST, "duplicate");
	for (i = 0; i < 2000; i++)
		cr_assert(fy_index_find(&ix, names[i], strlen(names[i]), &v) && v == i, "%s",
			  names[i]);
	cr_assert_not(fy_index_find(&ix, "blk.7.", 6, &v));
	fy_index_release(&ix);
}

Test(file, atomic_write_commit_and_abort)
{
	struct fy_atomic a;
	struct fy_err err;
	struct fy_buf b;
	const char *path;

	t_tmpdir();
	path = t_tmp("out.bin");
	cr_assert_eq(fy_file_write_atomic(path, "good", 4, &err), FY_OK, "%s", err.msg);
	cr_assert_eq(fy_atomic_open(&a, path, &err), FY_OK);
	cr_assert_eq(fy_atomic_write(&a, "partial", 7, &err), FY_OK);
	cr_assert_eq(t_dir_entries(t_tmp("")), 2, "temp file beside the destination");
	fy_atomic_abort(&a);
	t_read(path, &b);
	cr_assert_eq(b.len, 4, "the good file is untouched by an aborted write");
	cr_assert_eq(memcmp(b.data, "good", 4), 0);
	fy_buf_release(&b);
	cr_assert_eq(t_dir_entries(t_tmp("")), 1, "abort removed the temp file");
	cr_assert_eq(fy_atomic_open(&a, path, &err), FY_OK);
	cr_assert_eq(fy_atomic_zeros(&a, 3 << 20, &err), FY_OK);
	cr_assert_eq(fy_atomic_commit(&a, &err), FY_OK, "%s", err.msg);
	t_read(path, &b);
	cr_assert_eq(b.len, 3 << 20);
	fy_buf_release(&b);
	cr_assert_eq(t_dir_entries(t_tmp("")), 1);
	t_tmpdir_remove();
}

/* A write that stops short (the disk filling up; here the file size limit) goes on until the
 * system says why, and the error says it: not a stale errno. */
Test(file, write_all_reports_why_a_short_write_stopped)
{
	struct rlimit lim = { 5000, 5000 };
	char data[8192];
	struct fy_err err;
	struct stat st;
	const char *path;
	int fd;

	t_tmpdir();
	path = t_tmp("short.bin");
	memset(data, 'x', sizeof(data));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0);
	signal(SIGXFSZ, SIG_IGN); /* criterion forks each test: the limit stays in this one */
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	errno = EEXIST;
	cr_assert_eq(fy_write_all(fd, data, sizeof(data), path, &err), FY_EIO);
	cr_assert(strstr(err.msg, "File too large") != NULL, "%s", err.msg);
	cr_assert(strstr(err.msg, path) != NULL, "%s", err.msg);
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_eq(st.st_size, 5000, "the part that fitted was written");
	close(fd);
	t_tmpdir_remove();
}

static void t_write(const char *path, const char *data, size_t n)
{
	struct fy_err err;

	cr_assert_eq(fy_file_write_atomic(path, data, n, &err), FY_OK, "%s", err.msg);
}

/* A killed install's temp files go; a live process's, and anything else, stay. */
Test(file, sweep_removes_dead_processes_temp_files)
{
	struct fy_sweep sw = { "" };
	char name[128];
	pid_t dead = fork();
	int status;

	cr_assert_geq(dead, 0);
	if (dead == 0)
		_exit(0);
	cr_assert_eq(waitpid(dead, &status, 0), dead);
	t_tmpdir();
	snprintf(name, sizeof(name), ".model.bin.ferry-tmp.%ld.3", (long)dead);
	t_write(t_tmp(name), "x", 1);
	snprintf(name, sizeof(name), "link.ferry-tmp.%ld", (long)dead);
	t_write(t_tmp(name), "x", 1);
	snprintf(name, sizeof(name), ".mine.ferry-tmp.%ld.1", (long)getpid());
	t_write(t_tmp(name), "x", 1);
	t_write(t_tmp(".init.ferry-tmp.1.1"), "x", 1); /* pid 1 lives */
	t_write(t_tmp(".odd.ferry-tmp.x1"), "x", 1);
	t_write(t_tmp("config.json"), "{}", 2);
	cr_assert_eq(t_dir_entries(t_tmp("")), 6);
	fy_sweep_parent(&sw, t_tmp("config.json"));
	cr_assert_eq(t_dir_entries(t_tmp("")), 4, "the two of the dead process went");
	cr_assert_eq(access(t_tmp(name), F_OK), 0, "this process's own stays");
	cr_assert_eq(access(t_tmp(".init.ferry-tmp.1.1"), F_OK), 0);
	cr_assert_eq(access(t_tmp("config.json"), F_OK), 0);
	snprintf(name, sizeof(name), ".again.ferry-tmp.%ld.1", (long)dead);
	t_write(t_tmp(name), "x", 1);
	fy_sweep_parent(&sw, t_tmp("other.json"));
	cr_assert_eq(access(t_tmp(name), F_OK), 0, "a directory is swept once per sweep");
	t_tmpdir_remove();
}

Test(file, map_errors_name_the_file)
{
	struct fy_map m;
	struct fy_err err;

	cr_assert_eq(fy_map_open(&m, "/nonexistent/x.gguf", &err), FY_EIO);
	cr_assert(strstr(err.msg, "'/nonexistent/x.gguf'") != NULL, "%s", err.msg);
	cr_assert_eq(fy_map_open(&m, "/tmp", &err), FY_EINVAL);
	cr_assert(strstr(err.msg, "not a regular file") != NULL, "%s", err.msg);
}

Test(json, strict_parsing)
{
	static const struct {
		const char *text;
		const char *expect;
	} bad[] = {
		{ "{\"a\":1,\"a\":2}", "duplicate" },
		{ "{\"a\":1} x", "invalid JSON" },
		{ "{\"a\":\"x\\u0000y\"}", "invalid JSON" },
		{ "{\"a\":NaN}", "invalid JSON" },
		{ "{\"a\":99999999999999999999}", "invalid JSON" },
		{ "{\"a\":\"\xc3\x28\"}", "invalid JSON" },
		{ "", "invalid JSON" },
	};
	struct fy_json *j;
	struct fy_err err;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(fy_json_parse(&j, bad[i].text, strlen(bad[i].text), "t.json", &err),
			     FY_EFORMAT, "accepted: %s", bad[i].text);
		cr_assert(strstr(err.msg, bad[i].expect) && strncmp(err.msg, "t.json: ", 8) == 0,
			  "message for %s: %s", bad[i].text, err.msg);
	}
}

Test(json, depth_limit)
{
	char text[400];
	struct fy_json *j = NULL;
	struct fy_err err;
	int d;

	for (d = 60; d <= 70; d++) {
		memset(text, '[', (size_t)d);
		memset(text + d, ']', (size_t)d);
		if (d <= FY_JSON_MAX_DEPTH) {
			cr_assert_eq(fy_json_parse(&j, text, 2 * (size_t)d, "deep", &err), FY_OK,
				     "depth %d: %s", d, err.msg);
			fy_json_free(j);
		} else {
			cr_assert_eq(fy_json_parse(&j, text, 2 * (size_t)d, "deep", &err),
				     FY_EFORMAT, "depth %d accepted", d);
			cr_assert(strstr(err.msg, "nested deeper") != NULL, "%s", err.msg);
		}
	}
	/* brackets inside strings do not count */
	memset(text, 'x', sizeof(text));
	text[0] = '"';
	memset(text + 1, '[', 200);
	text[201] = '"';
	cr_assert_eq(fy_json_parse(&j, text, 202, "str", &err), FY_OK, "%s", err.msg);
	fy_json_free(j);
}

Test(json, build_iterate_dump)
{
	struct fy_json *o = fy_json_object();
	struct fy_json *a = fy_json_array();
	struct fy_json *back;
	struct fy_err err;
	char *text;
	int64_t v;
	void *it;

	fy_json_set(o, "z", fy_json_integer(1));
	fy_json_push(a, fy_json_string("x"));
	fy_json_push(a, fy_json_bool(true));
	fy_json_set(o, "a", a);
	text = fy_json_dump(o, 0);
	cr_assert_str_eq(text, "{\"z\":1,\"a\":[\"x\",true]}", "document order");
	free(text);
	text = fy_json_dump(o, FY_JSON_DUMP_SORTED);
	cr_assert_str_eq(text, "{\"a\":[\"x\",true],\"z\":1}");
	cr_assert_eq(fy_json_parse(&back, text, strlen(text), "back", &err), FY_OK);
	it = fy_json_iter(back);
	cr_assert_str_eq(fy_json_iter_key(it), "a");
	cr_assert(fy_json_int(fy_json_get(back, "z"), &v) && v == 1);
	cr_assert_str_eq(fy_json_type_name(fy_json_at(fy_json_get(back, "a"), 1)), "true");
	free(text);
	fy_json_free(back);
	fy_json_free(o);
	cr_assert_null(fy_json_stringn("\xff", 1), "invalid UTF-8 refused");
}

struct pool_ctx {
	atomic_int *seen;
	atomic_llong sum;
	int64_t fail_at;
};

static int visit(void *arg, int64_t begin, int64_t end, struct fy_err *err)
{
	struct pool_ctx *c = arg;
	int64_t i;

	for (i = begin; i < end; i++) {
		if (i == c->fail_at)
			return fy_err_set(err, FY_EIO, "failed at %lld", (long long)i);
		atomic_fetch_add(&c->seen[i], 1);
		atomic_fetch_add(&c->sum, i);
	}
	return FY_OK;
}

Test(pool, parallel_for_visits_each_index_once)
{
	struct fy_pool *p = NULL;
	struct pool_ctx c;
	struct fy_err err;
	int64_t n = 100003;
	int64_t i;
	int threads;
	int round;

	for (threads = 1; threads <= 4; threads++) {
		cr_assert_eq(fy_pool_new(&p, threads, &err), FY_OK);
		cr_assert_eq(fy_pool_threads(p), threads);
		for (round = 0; round < 3; round++) {
			c.seen = calloc((size_t)n, sizeof(*c.seen));
			c.fail_at = -1;
			atomic_store(&c.sum, 0);
			cr_assert_eq(
				fy_pool_for(p, n, round == 0 ? 0 : 97 * round, visit, &c, &err),
				FY_OK);
			for (i = 0; i < n; i++)
				cr_assert_eq(atomic_load(&c.seen[i]), 1, "index %lld",
					     (long long)i);
			cr_assert_eq(atomic_load(&c.sum), n * (n - 1) / 2);
			free(c.seen);
		}
		fy_pool_free(p);
	}
}

Test(pool, first_failure_is_reported)
{
	struct fy_pool *p = NULL;
	struct pool_ctx c;
	struct fy_err err;

	cr_assert_eq(fy_pool_new(&p, 3, &err), FY_OK);
	c.seen = calloc(1000, sizeof(*c.seen));
	c.fail_at = 500;
	cr_assert_eq(fy_pool_for(p, 1000, 10, visit, &c, &err), FY_EIO);
	cr_assert_str_eq(err.msg, "failed at 500");
	c.fail_at = -1;
	cr_assert_eq(fy_pool_for(p, 1000, 10, visit, &c, &err), FY_OK, "pool reusable");
	free(c.seen);
	fy_pool_free(p);
	fy_pool_free(NULL);
}

Test(dtype, table_rows)
{
	enum fy_dtype t;
	uint64_t n;

	cr_assert_eq(fy_dtype_info(FY_DTYPE_Q4_K)->blck, 256);
	cr_assert_eq(fy_dtype_info(FY_DTYPE_Q4_K)->size, 144);
	cr_assert_eq(fy_dtype_info(FY_DTYPE_Q6_K)->size, 210);
	cr_assert_eq(fy_dtype_info(FY_DTYPE_Q8_0)->size, 34);
	cr_assert_null(fy_dtype_info(4), "removed type 4");
	cr_assert_null(fy_dtype_info(FY_DTYPE_COUNT));
	cr_assert(fy_dtype_from_gguf(30, &t) && t == FY_DTYPE_BF16);
	cr_assert_not(fy_dtype_from_gguf(FY_DTYPE_BOOL, &t), "safetensors-only type");
	cr_assert(fy_dtype_from_st("F8_E4M3", &t) && t == FY_DTYPE_F8_E4M3);
	cr_assert_not(fy_dtype_from_st("Q4_K", &t));
	cr_assert(fy_dtype_from_name("q5_k", &t) && t == FY_DTYPE_Q5_K);
	cr_assert(fy_dtype_nbytes(FY_DTYPE_Q4_0, 64, &n) && n == 36);
	cr_assert_not(fy_dtype_nbytes(FY_DTYPE_Q4_0, 33, &n), "not a block multiple");
	cr_assert_not(fy_dtype_nbytes(FY_DTYPE_F64, INT64_MAX, &n), "overflow");
}

/* f16.bin and bf16.bin are input.f32 converted by llama.cpp's reference: bit for bit. */
static void check_half_vectors(const char *file, uint16_t (*conv)(float))
{
	struct fy_buf in, want;
	size_t i;
	size_t n;

	t_read(t_data("testvectors/quant/input.f32"), &in);
	t_read(t_data(file), &want);
	n = in.len / 4;
	cr_assert_eq(want.len, n * 2, "%s size", file);
	for (i = 0; i < n; i++) {
		float x;
		uint16_t got;

		memcpy(&x, in.data + 4 * i, 4);
		got = conv(x);
		cr_assert_eq(got, fy_le16(want.data + 2 * i), "%s element %zu (%a): got %04x", file,
			     i, (double)x, got);
	}
	fy_buf_release(&in);
	fy_buf_release(&want);
}

Test(half, f16_matches_reference_vectors)
{
	check_half_vectors("testvectors/quant/f16.bin", fy_f32_to_f16);
}

Test(half, bf16_matches_reference_vectors)
{
	check_half_vectors("testvectors/quant/bf16.bin", fy_f32_to_bf16);
}

Test(half, f16_round_trips_every_value)
{
	uint32_t h;

	for (h = 0; h < 65536; h++) {
		float f = fy_f16_to_f32((uint16_t)h);

		if (isnan(f))
			cr_assert_eq(fy_f32_to_f16(f) & 0x7e00, 0x7e00, "nan %04x", h);
		else
			cr_assert_eq(fy_f32_to_f16(f), h, "half %04x", h);
	}
	for (h = 0; h < 65536; h++) {
		float f = fy_bf16_to_f32((uint16_t)h);

		if (!isnan(f))
			cr_assert_eq(fy_f32_to_bf16(f), h, "bf16 %04x", h);
	}
}

Test(half, rounding_edges)
{
	cr_assert_eq(fy_f32_to_f16(65504.0f), 0x7bff);
	cr_assert_eq(fy_f32_to_f16(65519.0f), 0x7bff, "below the halfway point to 65536");
	cr_assert_eq(fy_f32_to_f16(65520.0f), 0x7c00, "rounds to infinity");
	cr_assert_eq(fy_f32_to_f16(0x1p-25f), 0x0000,
		     "half of the smallest subnormal: tie to even");
	cr_assert_eq(fy_f32_to_f16(0x1.8p-24f), 0x0002, "1.5 subnormal ulps: tie to even (2)");
	cr_assert_eq(fy_f32_to_f16(-0.0f), 0x8000);
	cr_assert_eq(fy_f32_to_bf16(1.00390625f), 0x3f80, "tie to even (down)");
	cr_assert_eq(fy_f32_to_bf16(1.01171875f), 0x3f82, "tie to even (up)");
	cr_assert_eq(fy_f32_to_bf16(NAN) & 0x7fc0, 0x7fc0, "quiet NaN");
}

Test(half, f8e4m3_every_value)
{
	/* the format's landmarks, then every byte against its definition */
	cr_assert_eq(fy_f8e4m3_to_f32(0x7e), 448.0f, "largest finite");
	cr_assert_eq(fy_f8e4m3_to_f32(0x01), 0x1p-9f, "smallest subnormal");
	cr_assert_eq(fy_f8e4m3_to_f32(0x08), 0x1p-6f, "smallest normal");
	cr_assert_eq(fy_f8e4m3_to_f32(0x38), 1.0f);
	cr_assert_eq(fy_f8e4m3_to_f32(0xc0), -2.0f);
	cr_assert(isnan(fy_f8e4m3_to_f32(0x7f)) && isnan(fy_f8e4m3_to_f32(0xff)), "NaN");
	cr_assert(signbit(fy_f8e4m3_to_f32(0x80)) && fy_f8e4m3_to_f32(0x80) == 0.0f, "-0");
	for (int v = 0; v < 256; v++) {
		const int e = (v >> 3) & 15, m = v & 7;
		if (e == 15 && m == 7)
			continue;
		const double mag =
			e == 0 ? m / 8.0 * ldexp(1, -6) : (1 + m / 8.0) * ldexp(1, e - 7);
		cr_assert_eq(fy_f8e4m3_to_f32((uint8_t)v), (float)(v & 0x80 ? -mag : mag), "%02x",
			     v);
	}
}
