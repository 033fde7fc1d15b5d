/* String -> int64 index: open addressing with linear probing, FNV-1a hashes. */
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

struct fy_index_slot {
	const char *key; /* NULL: empty */
	size_t len;
	uint64_t hash;
	int64_t val;
};

static uint64_t hash_bytes(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (uint8_t)p[i];
		h *= 1099511628211ull;
	}
	return h;
}

void fy_index_init(struct fy_index *ix)
{
	ix->slots = NULL;
	ix->cap = 0;
	ix->count = 0;
}

void fy_index_release(struct fy_index *ix)
{
	free(ix->slots);
	fy_index_init(ix);
}

static struct fy_index_slot *probe(const struct fy_index *ix, const char *key, size_t len,
				   uint64_t h)
{
	size_t mask = ix->cap - 1;
	size_t i = (size_t)h & mask;
	struct fy_index_slot *s;

	for (;;) {
		s = &ix->slots[i];
		if (s->key == NULL)
			return s;
		if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
			return s;
		i = (i + 1) & mask;
	}
}

static int grow(struct fy_index *ix, struct fy_err *err)
{
	size_t cap = ix->cap ? ix->cap * 2 : 16;
	struct fy_index old = *ix;
	struct fy_index_slot *s;
	size_t i;

	if (cap > SIZE_MAX / sizeof(*ix->slots))
		return fy_err_set(err, FY_ENOMEM, "index too large");
	ix->slots = calloc(cap, sizeof(*ix->slots));
	if (ix->slots == NULL) {
		ix->slots = old.slots;
		return fy_err_set(err, FY_ENOMEM, "out of memory (index of %zu slots)", cap);
	}
	ix->cap = cap;
	for (i = 0; i < old.cap; i++) {
		if (old.slots[i].key == NULL)
			continue;
		s = probe(ix, old.slots[i].key, old.slots[i].len, old.slots[i].hash);
		*s = old.slots[i];
	}
	free(old.slots);
	return FY_OK;
}

int fy_index_insert(struct fy_index *ix, const char *key, size_t len, int64_t val,
		    struct fy_err *err)
{
	uint64_t h = hash_bytes(key, len);
	struct fy_index_slot *s;
	int rc;

	if ((ix->count + 1) * 4 > ix->cap * 3) {
		rc = grow(ix, err);
		if (rc != FY_OK)
			return rc;
	}
	s = probe(ix, key, len, h);
	if (s->key != NULL)
		return FY_EEXIST;
	s->key = key;
	s->len = len;
	s->hash = h;
	s->val = val;
	ix->count++;
	return FY_OK;
}

bool fy_index_find(const struct fy_index *ix, const char *key, size_t len, int64_t *val)
{
	struct fy_index_slot *s;

	if (ix->cap == 0)
		return false;
	s = probe(ix, key, len, hash_bytes(key, len));
	if (s->key == NULL)
		return false;
	*val = s->val;
	return true;
}
