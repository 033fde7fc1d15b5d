/*
 * SentencePiece's tokenizer.model: a protobuf ModelProto whose field 1 repeats SentencePiece
 * messages {1: piece (string), 2: score (float), 3: type (enum, default NORMAL = 1)}. Read
 * directly, every length bounds-checked; the other fields are skipped.
 */
#include "convert/convert.h"

#include <stdlib.h>
#include <string.h>

#define MAX_PIECES 4000000

struct pb {
	const uint8_t *p, *end;
};

static bool varint(struct pb *b, uint64_t *out)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 64 && b->p < b->end; shift += 7) {
		const uint8_t c = *b->p++;
		v |= (uint64_t)(c & 0x7f) << shift;
		if ((c & 0x80) == 0) {
			*out = v;
			return true;
		}
	}
	return false;
}

/* Skips a field of wire type wt; false when it does not fit. */
static bool skip(struct pb *b, unsigned wt)
{
	uint64_t n;
	switch (wt) {
	case 0:
		return varint(b, &n);
	case 1:
		n = 8;
		break;
	case 2:
		if (!varint(b, &n))
			return false;
		break;
	case 5:
		n = 4;
		break;
	default:
		return false;
	}
	if (n > (uint64_t)(b->end - b->p))
		return false;
	b->p += n;
	return true;
}

static bool piece(struct pb *m, struct fy_spm_piece *out)
{
	out->text = (struct fy_str){ NULL, 0 };
	out->score = 0;
	out->type = 1;
	bool have_text = false;
	while (m->p < m->end) {
		uint64_t key, n;
		if (!varint(m, &key))
			return false;
		const unsigned field = (unsigned)(key >> 3), wt = (unsigned)(key & 7);
		if (field == 1 && wt == 2) {
			if (!varint(m, &n) || n > (uint64_t)(m->end - m->p))
				return false;
			out->text = (struct fy_str){ (const char *)m->p, (size_t)n };
			m->p += n;
			have_text = true;
		} else if (field == 2 && wt == 5) {
			if (m->end - m->p < 4)
				return false;
			memcpy(&out->score, m->p, 4);
			m->p += 4;
		} else if (field == 3 && wt == 0) {
			if (!varint(m, &n) || n < 1 || n > 6)
				return false;
			out->type = (int32_t)n;
		} else if (!skip(m, wt)) {
			return false;
		}
	}
	return have_text;
}

int fy_spm_parse(struct fy_spm *out, const void *data, size_t size, const char *label,
		 struct fy_err *err)
{
	struct fy_spm s = { 0 };
	struct pb b = { data, (const uint8_t *)data + size };
	size_t cap = 0;
	int rc = FY_OK;
	while (rc == FY_OK && b.p < b.end) {
		uint64_t key, n;
		if (!varint(&b, &key)) {
			rc = fy_err_set(err, FY_EFORMAT, "%s: truncated protobuf field", label);
			break;
		}
		if ((key >> 3) != 1 || (key & 7) != 2) {
			if (!skip(&b, (unsigned)(key & 7)))
				rc = fy_err_set(err, FY_EFORMAT, "%s: bad protobuf field", label);
			continue;
		}
		if (!varint(&b, &n) || n > (uint64_t)(b.end - b.p) || s.n >= MAX_PIECES) {
			rc = fy_err_set(err, FY_EFORMAT, "%s: piece %zu runs past the end", label,
					s.n);
			break;
		}
		if (s.n == cap) {
			cap = cap ? cap * 2 : 1024;
			struct fy_spm_piece *np = realloc(s.pieces, cap * sizeof(*np));
			if (np == NULL) {
				rc = fy_err_set(err, FY_ENOMEM, "out of memory");
				break;
			}
			s.pieces = np;
		}
		struct pb m = { b.p, b.p + n };
		if (!piece(&m, &s.pieces[s.n]))
			rc = fy_err_set(err, FY_EFORMAT, "%s: piece %zu is malformed", label, s.n);
		s.n++;
		b.p += n;
	}
	if (rc == FY_OK && s.n == 0)
		rc = fy_err_set(err, FY_EFORMAT, "%s: no pieces (not a SentencePiece model)",
				label);
	if (rc != FY_OK) {
		free(s.pieces);
		return rc;
	}
	out->pieces = s.pieces;
	out->n = s.n;
	return FY_OK;
}

int fy_spm_load(struct fy_spm *out, const char *path, struct fy_err *err)
{
	struct fy_spm s = { 0 };
	int rc = fy_map_open(&s.map, path, err);
	if (rc == FY_OK)
		rc = fy_spm_parse(&s, s.map.data, s.map.size, path, err);
	if (rc != FY_OK) {
		fy_map_release(&s.map);
		return rc;
	}
	*out = s;
	return FY_OK;
}

void fy_spm_release(struct fy_spm *s)
{
	free(s->pieces);
	fy_map_release(&s->map);
	memset(s, 0, sizeof(*s));
}
