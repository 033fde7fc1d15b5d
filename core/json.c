/* JSON through jansson: the only file that includes jansson.h. */
#include "core/core.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define J(x) ((json_t *)(x))
#define F(x) ((struct fy_json *)(x))

/* Depth of nesting of [ and { outside strings; jansson's own limit is far deeper than ours. */
static size_t max_depth(const char *p, size_t n)
{
	size_t depth = 0;
	size_t deepest = 0;
	bool in_str = false;
	size_t i;

	for (i = 0; i < n; i++) {
		char c = p[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == '[' || c == '{') {
			if (++depth > deepest)
				deepest = depth;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return deepest;
}

/* A copy of text with every integer literal too big for 64 bits made a real ("...0" + ".0"),
 * as Python's json writes them (HF tokenizer_config.json: model_max_length
 * 1000000000000000019884624838656); NULL when there is none or out of memory. */
static char *widen_big_integers(const char *text, size_t len, size_t *out_len)
{
	struct fy_buf b;
	bool in_str = false, changed = false;
	fy_buf_init(&b);
	for (size_t i = 0; i < len;) {
		const char c = text[i];
		if (in_str) {
			in_str = !(c == '"');
			const size_t n = c == '\\' && i + 1 < len ? 2 : 1;
			if (fy_buf_append(&b, text + i, n, NULL) != FY_OK)
				goto fail;
			i += n;
			continue;
		}
		size_t j = i + (c == '-');
		size_t k = j;
		while (k < len && text[k] >= '0' && text[k] <= '9')
			k++;
		const bool integer =
			k > j && (k == len || (text[k] != '.' && text[k] != 'e' && text[k] != 'E'));
		if (fy_buf_append(&b, text + i, k > j ? k - i : 1, NULL) != FY_OK)
			goto fail;
		if (integer && k - j > 18) {
			if (fy_buf_append(&b, ".0", 2, NULL) != FY_OK)
				goto fail;
			changed = true;
		}
		in_str = k == j && c == '"';
		i = k > j ? k : i + 1;
	}
	if (!changed)
		goto fail;
	*out_len = b.len;
	return (char *)b.data;
fail:
	fy_buf_release(&b);
	return NULL;
}

static int parse(struct fy_json **out, const void *text, size_t len, const char *label,
		 bool big_reals, struct fy_err *err)
{
	json_error_t je;
	json_t *j;

	if (max_depth(text, len) > FY_JSON_MAX_DEPTH)
		return fy_err_set(err, FY_EFORMAT, "%s: JSON nested deeper than %d levels", label,
				  FY_JSON_MAX_DEPTH);
	j = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (j == NULL && big_reals && strstr(je.text, "too big") != NULL) {
		/* integers beyond 64 bits read as reals (jansson refuses them) */
		size_t n = 0;
		char *wide = widen_big_integers(text, len, &n);
		if (wide != NULL)
			j = json_loadb(wide, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
		free(wide);
	}
	if (j == NULL)
		return fy_err_set(err, FY_EFORMAT, "%s: invalid JSON at line %d column %d: %s",
				  label, je.line, je.column, je.text);
	*out = F(j);
	return FY_OK;
}

int fy_json_parse(struct fy_json **out, const void *text, size_t len, const char *label,
		  struct fy_err *err)
{
	return parse(out, text, len, label, false, err);
}

int fy_json_parse_hf(struct fy_json **out, const void *text, size_t len, const char *label,
		     struct fy_err *err)
{
	return parse(out, text, len, label, true, err);
}

static int load_file(struct fy_json **out, const char *path, size_t max_bytes, bool big_reals,
		     struct fy_err *err)
{
	struct fy_buf b;
	int rc;

	fy_buf_init(&b);
	rc = fy_file_read(path, max_bytes, &b, err);
	if (rc == FY_OK)
		rc = parse(out, b.data, b.len, path, big_reals, err);
	fy_buf_release(&b);
	return rc;
}

int fy_json_load_file(struct fy_json **out, const char *path, size_t max_bytes, struct fy_err *err)
{
	return load_file(out, path, max_bytes, false, err);
}

int fy_json_load_file_hf(struct fy_json **out, const char *path, size_t max_bytes,
			 struct fy_err *err)
{
	return load_file(out, path, max_bytes, true, err);
}

void fy_json_free(struct fy_json *j)
{
	if (j != NULL)
		json_decref(J(j));
}

enum fy_json_type fy_json_type(const struct fy_json *j)
{
	if (j == NULL)
		return FY_JSON_NULL; /* a missing member reads as null */
	switch (json_typeof(J(j))) {
	case JSON_OBJECT:
		return FY_JSON_OBJECT;
	case JSON_ARRAY:
		return FY_JSON_ARRAY;
	case JSON_STRING:
		return FY_JSON_STRING;
	case JSON_INTEGER:
		return FY_JSON_INTEGER;
	case JSON_REAL:
		return FY_JSON_REAL;
	case JSON_TRUE:
		return FY_JSON_TRUE;
	case JSON_FALSE:
		return FY_JSON_FALSE;
	default:
		return FY_JSON_NULL;
	}
}

const char *fy_json_type_name(const struct fy_json *j)
{
	static const char *const names[] = { "object", "array", "string", "integer",
					     "number", "true",	"false",  "null" };

	if (j == NULL)
		return "nothing";
	return names[fy_json_type(j)];
}

struct fy_json *fy_json_get(const struct fy_json *obj, const char *key)
{
	if (obj == NULL || !json_is_object(J(obj)))
		return NULL;
	return F(json_object_get(J(obj), key));
}

size_t fy_json_size(const struct fy_json *j)
{
	if (j == NULL)
		return 0;
	if (json_is_object(J(j)))
		return json_object_size(J(j));
	if (json_is_array(J(j)))
		return json_array_size(J(j));
	return 0;
}

struct fy_json *fy_json_at(const struct fy_json *arr, size_t i)
{
	if (arr == NULL || !json_is_array(J(arr)))
		return NULL;
	return F(json_array_get(J(arr), i));
}

void *fy_json_iter(const struct fy_json *obj)
{
	if (obj == NULL || !json_is_object(J(obj)))
		return NULL;
	return json_object_iter(J(obj));
}

void *fy_json_next(const struct fy_json *obj, void *it)
{
	return json_object_iter_next(J(obj), it);
}

const char *fy_json_iter_key(void *it)
{
	return json_object_iter_key(it);
}

size_t fy_json_iter_key_len(void *it)
{
	return json_object_iter_key_len(it);
}

struct fy_json *fy_json_iter_value(void *it)
{
	return F(json_object_iter_value(it));
}

const char *fy_json_str(const struct fy_json *j)
{
	if (j == NULL || !json_is_string(J(j)))
		return NULL;
	return json_string_value(J(j));
}

size_t fy_json_str_len(const struct fy_json *j)
{
	if (j == NULL || !json_is_string(J(j)))
		return 0;
	return json_string_length(J(j));
}

bool fy_json_int(const struct fy_json *j, int64_t *out)
{
	if (j == NULL || !json_is_integer(J(j)))
		return false;
	*out = (int64_t)json_integer_value(J(j));
	return true;
}

bool fy_json_num(const struct fy_json *j, double *out)
{
	if (j == NULL || !json_is_number(J(j)))
		return false;
	*out = json_number_value(J(j));
	return true;
}

struct fy_json *fy_json_object(void)
{
	return F(json_object());
}

struct fy_json *fy_json_array(void)
{
	return F(json_array());
}

struct fy_json *fy_json_string(const char *s)
{
	return F(json_string(s));
}

struct fy_json *fy_json_stringn(const char *s, size_t n)
{
	return F(json_stringn(s, n));
}

struct fy_json *fy_json_integer(int64_t v)
{
	return F(json_integer((json_int_t)v));
}

struct fy_json *fy_json_real(double v)
{
	return F(json_real(v));
}

struct fy_json *fy_json_bool(bool v)
{
	return F(json_boolean(v));
}

struct fy_json *fy_json_null(void)
{
	return F(json_null());
}

struct fy_json *fy_json_copy(const struct fy_json *j)
{
	return j ? F(json_deep_copy(J(j))) : NULL;
}

int fy_json_set(struct fy_json *obj, const char *key, struct fy_json *value)
{
	if (obj == NULL) {
		fy_json_free(value);
		return -1;
	}
	return json_object_set_new(J(obj), key, J(value));
}

int fy_json_push(struct fy_json *arr, struct fy_json *value)
{
	if (arr == NULL) {
		fy_json_free(value);
		return -1;
	}
	return json_array_append_new(J(arr), J(value));
}

char *fy_json_dump(const struct fy_json *j, int flags)
{
	size_t f = JSON_ENCODE_ANY | JSON_PRESERVE_ORDER;

	if (flags & FY_JSON_DUMP_PRETTY)
		f |= JSON_INDENT(2);
	else
		f |= JSON_COMPACT;
	if (flags & FY_JSON_DUMP_SORTED)
		f = (f & ~(size_t)JSON_PRESERVE_ORDER) | JSON_SORT_KEYS;
	if (flags & FY_JSON_DUMP_REAL15)
		f |= JSON_REAL_PRECISION(15);
	return json_dumps(J(j), f);
}
