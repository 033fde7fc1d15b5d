/*
 * Pickle scanning: walks a pickle opcode stream (protocols 0-5) and lists the imports its GLOBAL,
 * INST and STACK_GLOBAL opcodes would perform. Nothing is executed or built. For STACK_GLOBAL the
 * module and name are the two most recent strings pushed (directly or through the memo), as
 * pickle scanners do; a stream that hides them otherwise is reported as "?".
 * PyTorch files (torch.save since 1.6) are zip archives whose "data.pkl" entry (under a folder) is
 * the pickle; legacy torch files are several pickles in a row followed by raw storage bytes.
 */
#include "verify/verify.h"

#include <stdlib.h>
#include <string.h>

#define MAX_MEMO 4096
#define MAX_RECENT 2

struct pstr {
	const uint8_t *p;
	size_t n;
};

struct scan {
	struct fy_cursor c;
	struct pstr recent[MAX_RECENT]; /* [1] is the most recent string pushed */
	struct pstr memo[MAX_MEMO];
	uint32_t memo_next;
	struct fy_buf *out;
	size_t n_imports;
};

static void push_recent(struct scan *s, const uint8_t *p, size_t n)
{
	s->recent[0] = s->recent[1];
	s->recent[1] = (struct pstr){ p, n };
}

static int add_import(struct scan *s, struct pstr mod, struct pstr name, struct fy_err *err)
{
	int rc = FY_OK;

	if (s->n_imports > 0)
		rc = fy_buf_append(s->out, ", ", 2, err);
	if (rc == FY_OK)
		rc = mod.p ? fy_buf_append(s->out, mod.p, mod.n, err)
			   : fy_buf_append(s->out, "?", 1, err);
	if (rc == FY_OK)
		rc = fy_buf_append(s->out, ".", 1, err);
	if (rc == FY_OK)
		rc = name.p ? fy_buf_append(s->out, name.p, name.n, err)
			    : fy_buf_append(s->out, "?", 1, err);
	s->n_imports++;
	return rc;
}

/* A newline-terminated argument (protocol 0 opcodes). */
static bool take_line(struct scan *s, struct pstr *out)
{
	const uint8_t *start = s->c.base + s->c.pos;
	const uint8_t *nl = memchr(start, '\n', fy_cur_left(&s->c));

	if (nl == NULL)
		return false;
	out->p = start;
	out->n = (size_t)(nl - start);
	s->c.pos += out->n + 1;
	return true;
}

static bool take_le(struct scan *s, int width, uint64_t *v)
{
	const uint8_t *p;
	int i;

	if (!fy_cur_take(&s->c, (uint64_t)width, &p))
		return false;
	*v = 0;
	for (i = 0; i < width; i++)
		*v |= (uint64_t)p[i] << (8 * i);
	return true;
}

/* Opcodes with a length-prefixed payload: the width of the length, or 0. */
static int length_width(uint8_t op, bool *is_string)
{
	*is_string = op == 'U' || op == 'T' || op == 'X' || op == 0x8c || op == 0x8d;
	switch (op) {
	case 'U':
	case 'C':
	case 0x8c:
	case 0x8a:
		return 1;
	case 'T':
	case 'X':
	case 'B':
	case 0x8b:
		return 4;
	case 0x8d:
	case 0x8e:
	case 0x96:
		return 8;
	default:
		return 0;
	}
}

/* Opcodes with a fixed-size argument: its size, or -1 when the opcode has none of this kind. */
static int fixed_width(uint8_t op)
{
	switch (op) {
	case 'K':
	case 'q':
	case 'h':
	case 0x80:
	case 0x82:
		return 1;
	case 'M':
	case 0x83:
		return 2;
	case 'J':
	case 'r':
	case 'j':
	case 0x84:
		return 4;
	case 'G':
	case 0x95:
		return 8;
	default:
		return -1;
	}
}

static bool is_no_arg(uint8_t op)
{
	static const char ops[] = "(.02N)]}aebdlosutRQ";

	return (op != 0 && strchr(ops, op) != NULL) ||
	       (op >= 0x81 && op <= 0x94 && op != 0x82 && op != 0x83 && op != 0x84 && op != 0x8a &&
		op != 0x8b && op != 0x8c && op != 0x8d && op != 0x8e) ||
	       op == 0x97 || op == 0x98;
}

static void memo_put(struct scan *s, uint64_t idx)
{
	if (idx < MAX_MEMO)
		s->memo[idx] = s->recent[1];
}

static void memo_get(struct scan *s, uint64_t idx)
{
	if (idx < MAX_MEMO && s->memo[idx].p != NULL)
		push_recent(s, s->memo[idx].p, s->memo[idx].n);
	else
		push_recent(s, NULL, 0);
}

static int fixed_op(struct scan *s, uint8_t op, int width, struct fy_err *err)
{
	uint64_t v;

	if (!take_le(s, width, &v))
		return fy_err_set(err, FY_EFORMAT, "pickle opcode 0x%02x runs past the end", op);
	if (op == 'q' || op == 'r')
		memo_put(s, v);
	else if (op == 'h' || op == 'j')
		memo_get(s, v);
	return FY_OK;
}

static int sized_op(struct scan *s, uint8_t op, int width, bool is_string, struct fy_err *err)
{
	const uint8_t *p;
	uint64_t n;

	if (!take_le(s, width, &n) || !fy_cur_take(&s->c, n, &p))
		return fy_err_set(err, FY_EFORMAT, "pickle opcode 0x%02x runs past the end", op);
	if (is_string)
		push_recent(s, p, (size_t)n);
	return FY_OK;
}

static int line_op(struct scan *s, uint8_t op, struct fy_err *err)
{
	struct pstr a, b;

	if (!take_line(s, &a))
		return fy_err_set(err, FY_EFORMAT, "pickle opcode '%c' has no line end", op);
	if (op == 'c' || op == 'i') {
		if (!take_line(s, &b))
			return fy_err_set(err, FY_EFORMAT, "pickle GLOBAL has no name line");
		return add_import(s, a, b, err);
	}
	if (op == 'S' || op == 'V')
		push_recent(s, a.p, a.n);
	if (op == 'p' || op == 'g') {
		uint64_t idx = 0;
		size_t i;

		for (i = 0; i < a.n && a.p[i] >= '0' && a.p[i] <= '9' && idx < MAX_MEMO; i++)
			idx = idx * 10 + (uint64_t)(a.p[i] - '0');
		if (op == 'p')
			memo_put(s, idx);
		else
			memo_get(s, idx);
	}
	return FY_OK;
}

/* Scans one pickle up to its STOP opcode. */
static int scan_one(struct scan *s, struct fy_err *err)
{
	const uint8_t *p;
	bool is_string;
	uint8_t op;
	int w;
	int rc;

	for (;;) {
		if (!fy_cur_take(&s->c, 1, &p))
			return fy_err_set(err, FY_EFORMAT, "pickle ends without STOP");
		op = p[0];
		if (op == '.')
			return FY_OK;
		if (op == 0x93) {
			rc = add_import(s, s->recent[0], s->recent[1], err);
			s->recent[0] = s->recent[1] = (struct pstr){ NULL, 0 };
		} else if (op == 0x94) {
			memo_put(s, s->memo_next++);
			rc = FY_OK;
		} else if ((w = fixed_width(op)) >= 0) {
			rc = fixed_op(s, op, w, err);
		} else if ((w = length_width(op, &is_string)) > 0) {
			rc = sized_op(s, op, w, is_string, err);
		} else if (strchr("PIFLSVpgci", op) != NULL && op != 0) {
			rc = line_op(s, op, err);
		} else if (is_no_arg(op)) {
			rc = FY_OK;
		} else {
			rc = fy_err_set(err, FY_EFORMAT, "unknown pickle opcode 0x%02x at byte %zu",
					op, s->c.pos - 1);
		}
		if (rc != FY_OK)
			return rc;
	}
}

/* Scans consecutive pickles (legacy torch files hold several, then raw bytes). */
static int scan_stream(const uint8_t *data, size_t n, struct fy_buf *out, struct fy_err *err)
{
	static struct scan zero;
	struct scan *s = malloc(sizeof(*s));
	int rc;

	if (s == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	*s = zero;
	s->c = (struct fy_cursor){ data, n, 0 };
	s->out = out;
	do {
		rc = scan_one(s, err);
	} while (rc == FY_OK && fy_cur_left(&s->c) > 0 && s->c.base[s->c.pos] == 0x80);
	free(s);
	return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* PyTorch zip archives                                                                       */

#define ZIP_EOCD 0x06054b50u
#define ZIP64_LOCATOR 0x07064b50u
#define ZIP64_EOCD 0x06064b50u
#define ZIP_CENTRAL 0x02014b50u
#define ZIP_LOCAL 0x04034b50u

struct zip_dir {
	uint64_t offset;
	uint64_t count;
};

static bool zip64_dir(const uint8_t *d, size_t n, size_t eocd, struct zip_dir *dir)
{
	uint64_t rec;

	if (eocd < 20 || fy_le32(d + eocd - 20) != ZIP64_LOCATOR)
		return false;
	rec = fy_le64(d + eocd - 20 + 8);
	if (rec > n || n - rec < 56 || fy_le32(d + rec) != ZIP64_EOCD)
		return false;
	dir->count = fy_le64(d + rec + 32);
	dir->offset = fy_le64(d + rec + 48);
	return true;
}

static bool find_dir(const uint8_t *d, size_t n, struct zip_dir *dir)
{
	size_t i;

	if (n < 22)
		return false;
	for (i = n - 22;; i--) {
		if (fy_le32(d + i) == ZIP_EOCD) {
			dir->count = fy_le16(d + i + 10);
			dir->offset = fy_le32(d + i + 16);
			if (dir->offset == 0xffffffffu || dir->count == 0xffff)
				return zip64_dir(d, n, i, dir);
			return true;
		}
		if (i == 0 || n - i > 65536 + 22)
			return false;
	}
}

/* The zip64 extra field's values replace 32-bit fields that are 0xffffffff, in order. */
static void zip64_extra(const uint8_t *x, size_t len, uint64_t *usize, uint64_t *csize,
			uint64_t *off)
{
	uint64_t *fields[3] = { usize, csize, off };
	size_t pos = 0;
	int f;

	while (pos + 4 <= len) {
		uint16_t id = fy_le16(x + pos);
		uint16_t sz = fy_le16(x + pos + 2);
		size_t q = pos + 4;

		if (pos + 4 + sz > len)
			return;
		for (f = 0; id == 1 && f < 3; f++) {
			if (*fields[f] == 0xffffffffu && q + 8 <= pos + 4 + sz) {
				*fields[f] = fy_le64(x + q);
				q += 8;
			}
		}
		pos += 4 + (size_t)sz;
	}
}

struct zip_entry {
	const uint8_t *name;
	size_t name_len;
	uint16_t method;
	uint64_t csize;
	uint64_t usize;
	uint64_t local;
};

static bool central_entry(const uint8_t *d, size_t n, uint64_t *pos, struct zip_entry *e)
{
	uint64_t p = *pos;
	size_t nl, xl, cl;

	if (p > n || n - p < 46 || fy_le32(d + p) != ZIP_CENTRAL)
		return false;
	e->method = fy_le16(d + p + 10);
	e->csize = fy_le32(d + p + 20);
	e->usize = fy_le32(d + p + 24);
	nl = fy_le16(d + p + 28);
	xl = fy_le16(d + p + 30);
	cl = fy_le16(d + p + 32);
	e->local = fy_le32(d + p + 42);
	if (n - p - 46 < nl + xl + cl)
		return false;
	e->name = d + p + 46;
	e->name_len = nl;
	zip64_extra(d + p + 46 + nl, xl, &e->usize, &e->csize, &e->local);
	*pos = p + 46 + nl + xl + cl;
	return true;
}

static bool is_data_pkl(const struct zip_entry *e)
{
	return e->name_len >= 8 && memcmp(e->name + e->name_len - 8, "data.pkl", 8) == 0 &&
	       (e->name_len == 8 || e->name[e->name_len - 9] == '/');
}

static int zip_data_pkl(const uint8_t *d, size_t n, const uint8_t **pkl, size_t *len,
			struct fy_err *err)
{
	struct zip_dir dir;
	struct zip_entry e;
	uint64_t pos;
	uint64_t i;
	uint64_t start;

	if (!find_dir(d, n, &dir))
		return fy_err_set(err, FY_EFORMAT, "zip archive without a valid central directory");
	pos = dir.offset;
	for (i = 0; i < dir.count; i++) {
		if (!central_entry(d, n, &pos, &e))
			return fy_err_set(err, FY_EFORMAT,
					  "zip central directory entry %llu is bad",
					  (unsigned long long)i);
		if (!is_data_pkl(&e))
			continue;
		if (e.method != 0)
			return fy_err_set(err, FY_EUNSUPPORTED, "compressed data.pkl (method %u)",
					  e.method);
		if (e.local > n || n - e.local < 30 || fy_le32(d + e.local) != ZIP_LOCAL)
			return fy_err_set(err, FY_EFORMAT, "data.pkl local header is bad");
		start = e.local + 30 + fy_le16(d + e.local + 26) + fy_le16(d + e.local + 28);
		if (start > n || n - start < e.csize || e.csize != e.usize)
			return fy_err_set(err, FY_EFORMAT,
					  "data.pkl runs past the end of the archive");
		*pkl = d + start;
		*len = (size_t)e.csize;
		return FY_OK;
	}
	return fy_err_set(err, FY_EFORMAT, "zip archive without a data.pkl");
}

int fy_pickle_imports(const uint8_t *data, size_t n, struct fy_buf *out, struct fy_err *err)
{
	const uint8_t *pkl = data;
	size_t len = n;
	int rc;

	if (n >= 4 && memcmp(data, "PK\x03\x04", 4) == 0) {
		rc = zip_data_pkl(data, n, &pkl, &len, err);
		if (rc != FY_OK)
			return rc;
	}
	return scan_stream(pkl, len, out, err);
}

bool fy_is_pickle_name(const char *name)
{
	static const char *const exts[] = {
		".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", NULL
	};
	size_t len = strlen(name);
	int i;

	for (i = 0; exts[i] != NULL; i++) {
		size_t e = strlen(exts[i]);

		if (len > e && strcmp(name + len - e, exts[i]) == 0)
			return true;
	}
	return false;
}
