/*
 * core: what every ferry module shares.
 *
 *   status codes and struct fy_err     errors: a code, the saved errno, one message line
 *   struct fy_buf, struct fy_cursor     growable byte buffers; bounds-checked reading of bytes
 *   struct fy_map, struct fy_atomic     read-only mmap; atomic write (temp, fsync, rename)
 *   struct fy_sink                      a bounded writer that tensor-data callbacks write into
 *   struct fy_index                     string -> int64 hash index (duplicate detection, lookup)
 *   struct fy_json                      JSON through jansson: strict, no duplicate keys,
 * depth-limited struct fy_pool                      a thread pool with a parallel-for over index
 * ranges enum fy_dtype                       the dtype table: GGUF type ids, block sizes,
 * safetensors names fy_f32_to_f16 and friends           IEEE half and bfloat16 conversions (round
 * to nearest even)
 *
 * Conventions (docs/STYLE.md): functions that can fail return FY_OK or a negative FY_E* code and
 * take `struct fy_err *err` last; the function that detects a failure writes the message; output
 * parameters are written only on success.
 */
#ifndef FERRY_CORE_H
#define FERRY_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FY_VERSION "0.1.0"

/* ------------------------------------------------------------------------------------------ */
/* Status codes and errors                                                                    */

enum fy_status {
	FY_OK = 0,
	FY_EINVAL = -1,	      /* bad argument or usage */
	FY_ENOMEM = -2,	      /* out of memory */
	FY_EIO = -3,	      /* a system call failed */
	FY_EFORMAT = -4,      /* input data violates its format */
	FY_EHASH = -5,	      /* a digest did not match */
	FY_ENET = -6,	      /* a transfer failed */
	FY_EUNSUPPORTED = -7, /* valid, but not something ferry handles */
	FY_ENOTFOUND = -8,    /* a named thing does not exist */
	FY_EEXIST = -9,	      /* a named thing already exists */
	FY_ECANCELED = -10,   /* stopped on request (a callback asked to stop) */
};

#define FY_ERR_MSG_MAX 512

struct fy_err {
	int code;		  /* an enum fy_status value */
	int sys_errno;		  /* errno saved when a system call failed, else 0 */
	char msg[FY_ERR_MSG_MAX]; /* one line, lower case, no final period */
};

/* Clears err (code FY_OK, empty message). err may be NULL. */
void fy_err_clear(struct fy_err *err);

/* Writes code and a printf-style message into err (which may be NULL); returns code, so that a
 * failure reads `return fy_err_set(err, FY_EFORMAT, "%s: bad magic", path);`. */
int fy_err_set(struct fy_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like fy_err_set, but saves errno and appends ": <strerror(errno)>" to the message. */
int fy_err_sys(struct fy_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#ifdef __clang_analyzer__
/* For the static analyzer (make lint) only: it does not see across files that these return
 * their code, and would follow error paths as if they succeeded. The build is unchanged. */
#define fy_err_set(err, code, ...) (fy_err_set((err), (code), __VA_ARGS__), (code))
#define fy_err_sys(err, code, ...) (fy_err_sys((err), (code), __VA_ARGS__), (code))
#endif

/* Puts "<prefix>: " in front of err's message (context added by a caller); returns err->code. */
int fy_err_prefix(struct fy_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A short name for a status code ("format", "io", ...). */
const char *fy_status_name(int code);

/* Forwarding helper: evaluates a status expression and jumps to `out` on failure. */
#define FY_TRY(rc_var, expr)                                                                       \
	do {                                                                                       \
		(rc_var) = (expr);                                                                 \
		if ((rc_var) != FY_OK)                                                             \
			goto out;                                                                  \
	} while (0)

/* ------------------------------------------------------------------------------------------ */
/* Byte buffers and bounded reading                                                           */

struct fy_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

/* A pointer with a length; not NUL-terminated unless said so. */
struct fy_str {
	const char *ptr;
	size_t len;
};

void fy_buf_init(struct fy_buf *b);
void fy_buf_release(struct fy_buf *b); /* frees the data; the buffer is empty and reusable */
int fy_buf_reserve(struct fy_buf *b, size_t extra, struct fy_err *err);
int fy_buf_append(struct fy_buf *b, const void *data, size_t n, struct fy_err *err);
int fy_buf_append_zeros(struct fy_buf *b, size_t n, struct fy_err *err);
int fy_buf_append_u32le(struct fy_buf *b, uint32_t v, struct fy_err *err);
int fy_buf_append_u64le(struct fy_buf *b, uint64_t v, struct fy_err *err);
int fy_buf_printf(struct fy_buf *b, struct fy_err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Makes room for element n (0-based) of a malloc'd array *arr of *cap elements of elem bytes,
 * doubling the capacity (at least 16); overflow-checked. */
int fy_grow(void **arr, size_t *cap, size_t n, size_t elem, struct fy_err *err);

/* Length of the valid UTF-8 sequence at p (1 to 4 bytes, within n), or 0 when p holds none
 * (a stray continuation byte, a truncated or overlong sequence, a surrogate, > U+10FFFF). */
size_t fy_utf8_len(const uint8_t *p, size_t n);

/* GPT-2's byte -> code point map of byte-level BPE vocabularies: printable bytes stand for
 * themselves, the others take the code points from 256 up in byte order (all below 324). */
void fy_gpt2_byte_map(uint16_t byte_cp[256]);
/* Appends byte b's code point in that map to out as UTF-8 (1 or 2 bytes). */
int fy_gpt2_append_byte(struct fy_buf *out, uint8_t b, const uint16_t byte_cp[256],
			struct fy_err *err);

/* Seconds on the monotonic clock (for durations). */
double fy_now_s(void);

/* Reads little-endian integers from bytes that the caller has bounds-checked. */
static inline uint16_t fy_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}
static inline uint32_t fy_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t fy_le64(const uint8_t *p)
{
	return (uint64_t)fy_le32(p) | (uint64_t)fy_le32(p + 4) << 32;
}

/* A read position over untrusted bytes. Every take checks the bytes that remain. */
struct fy_cursor {
	const uint8_t *base;
	size_t size;
	size_t pos;
};

static inline size_t fy_cur_left(const struct fy_cursor *c)
{
	return c->size - c->pos;
}

/* Takes n bytes: *out points at them. Returns false (cursor unchanged) if fewer remain. */
static inline bool fy_cur_take(struct fy_cursor *c, uint64_t n, const uint8_t **out)
{
	if (n > fy_cur_left(c))
		return false;
	*out = c->base + c->pos;
	c->pos += (size_t)n;
	return true;
}

bool fy_cur_u32(struct fy_cursor *c, uint32_t *out);
bool fy_cur_u64(struct fy_cursor *c, uint64_t *out);

/* Checked arithmetic for sizes built from untrusted data. Return false on overflow. */
static inline bool fy_mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	return !__builtin_mul_overflow(a, b, out);
}
static inline bool fy_add_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	return !__builtin_add_overflow(a, b, out);
}
/* Rounds n up to a multiple of align (a power of two). False on overflow. */
static inline bool fy_align_up(uint64_t n, uint64_t align, uint64_t *out)
{
	uint64_t t;
	if (!fy_add_u64(n, align - 1, &t))
		return false;
	*out = t & ~(align - 1);
	return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Files                                                                                      */

/* A read-only mapping of a whole regular file. An empty file maps to data == NULL, size 0. */
struct fy_map {
	const uint8_t *data;
	size_t size;
};

/* Maps path read-only. On failure nothing is held and err names the file. */
int fy_map_open(struct fy_map *m, const char *path, struct fy_err *err);
void fy_map_release(struct fy_map *m); /* unmaps; m may be zeroed or already released */

/* Lets the kernel drop this process's pages of a read-only mapping inside [p, p + n) (whole pages
 * only): a file streamed through once then does not stay in the resident set. */
void fy_map_drop(const void *p, size_t n);

/* Writes all n bytes at fd's offset, going on after short writes (a disk filling up) and EINTR;
 * the error names path with the system's reason (ENOSPC, EIO, EFBIG...). */
int fy_write_all(int fd, const void *data, size_t n, const char *path, struct fy_err *err);

/*
 * Temp files that ferry processes no longer running left behind in a directory ferry writes to
 * but does not own (a folder or HF cache an install lays out): the names "NAME.ferry-tmp.PID"
 * and ".NAME.ferry-tmp.PID.N" that atomic writes use, whose PID is not a live process. A sweep
 * remembers the last directory it cleared, so walking the sorted paths of a revision clears each
 * directory once; fy_sweep_parent clears the directory holding path. Errors are ignored.
 */
struct fy_sweep {
	char last[4096];
};
void fy_sweep_parent(struct fy_sweep *sw, const char *path);

/* Reads a whole file of at most max_bytes into b (appended). */
int fy_file_read(const char *path, size_t max_bytes, struct fy_buf *b, struct fy_err *err);

/* "dir/name" in a new string (free()), or NULL when out of memory. */
char *fy_path_join(const char *dir, const char *name);
/* The names in dir ending in suffix (hidden names skipped), sorted bytewise. The caller frees
 * them with fy_names_free. An empty result is not an error (*count = 0). */
int fy_dir_list(const char *dir, const char *suffix, char ***names, size_t *count,
		struct fy_err *err);
void fy_names_free(char **names, size_t n);
/* Removes the files directly in dir (hidden ones too), then dir itself: best effort, for
 * scratch directories. */
void fy_dir_remove(const char *dir);

/*
 * An atomic file write: data goes to a temp file in the destination's directory
 * (".<name>.ferry-tmp.<pid>.<n>"), which fy_atomic_commit flushes, fsyncs, renames over the
 * destination and follows with an fsync of the directory. Until commit the destination is
 * untouched; fy_atomic_abort (or a crash) leaves at most the temp file, never a partial
 * destination. Writes are buffered.
 */
struct fy_atomic {
	int fd;
	char *path;
	char *tmp;
	uint8_t *buf;
	size_t buf_len;
	uint64_t written; /* bytes accepted so far */
};

int fy_atomic_open(struct fy_atomic *a, const char *path, struct fy_err *err);
/* The same with the temp file in tmp_dir (on the destination's filesystem), so that a store can
 * keep every unfinished file in one folder that its next writer clears. */
int fy_atomic_open_in(struct fy_atomic *a, const char *path, const char *tmp_dir,
		      struct fy_err *err);
int fy_atomic_write(struct fy_atomic *a, const void *data, size_t n, struct fy_err *err);
int fy_atomic_zeros(struct fy_atomic *a, uint64_t n, struct fy_err *err);
/* Flush, fsync, rename, fsync the directory. The handle is released either way. */
int fy_atomic_commit(struct fy_atomic *a, struct fy_err *err);
/* The first half of a commit: flush, fsync and close the temp file, keeping it unrenamed (files
 * written together are renamed together: close each, then commit each). Released on failure. */
int fy_atomic_close(struct fy_atomic *a, struct fy_err *err);
/* Closes and removes the temp file. A no-op on a committed or released handle. */
void fy_atomic_abort(struct fy_atomic *a);

/* Writes data to path atomically (fy_atomic in one call); tmp_dir may be NULL (the destination's
 * own folder). */
int fy_file_write_atomic(const char *path, const void *data, size_t n, struct fy_err *err);
int fy_file_write_atomic_in(const char *path, const char *tmp_dir, const void *data, size_t n,
			    struct fy_err *err);

/*
 * A sink for streamed tensor data: a writer hands one to its data callback for each tensor,
 * which must write exactly `left` bytes. Writing more is an error naming `what`.
 */
struct fy_sink {
	struct fy_atomic *file;
	uint64_t left;
	const char *what; /* the tensor's name, for messages */
};

int fy_sink_write(struct fy_sink *s, const void *data, size_t n, struct fy_err *err);

/* Called by a writer for tensor `index` (in the order tensors were added). Returns FY_OK once it
 * has written the tensor's bytes into sink, or a status with err set. */
typedef int (*fy_tensor_data_fn)(void *ctx, size_t index, struct fy_sink *sink, struct fy_err *err);

/* ------------------------------------------------------------------------------------------ */
/* String index: string -> int64 (open addressing). Keys are borrowed, not copied.          */

struct fy_index_slot;

struct fy_index {
	struct fy_index_slot *slots;
	size_t cap;
	size_t count;
};

void fy_index_init(struct fy_index *ix);
void fy_index_release(struct fy_index *ix);
/* Inserts key -> val. Returns FY_OK, FY_EEXIST (no message; the caller names the duplicate),
 * or FY_ENOMEM. The key bytes must outlive the index. */
int fy_index_insert(struct fy_index *ix, const char *key, size_t len, int64_t val,
		    struct fy_err *err);
/* Finds key; writes *val and returns true when present. */
bool fy_index_find(const struct fy_index *ix, const char *key, size_t len, int64_t *val);

/* ------------------------------------------------------------------------------------------ */
/* JSON (jansson underneath; no other file includes jansson.h)                                */

struct fy_json; /* a JSON value; opaque */

enum fy_json_type {
	FY_JSON_OBJECT,
	FY_JSON_ARRAY,
	FY_JSON_STRING,
	FY_JSON_INTEGER,
	FY_JSON_REAL,
	FY_JSON_TRUE,
	FY_JSON_FALSE,
	FY_JSON_NULL,
};

#define FY_JSON_MAX_DEPTH 64

/*
 * Parses text strictly: valid UTF-8, no duplicate object keys, no NUL in strings, no trailing
 * data, at most FY_JSON_MAX_DEPTH levels of nesting. `label` names the input in messages
 * ("label: invalid JSON at line 3 column 7: ..."). The caller frees *out with fy_json_free.
 */
int fy_json_parse(struct fy_json **out, const void *text, size_t len, const char *label,
		  struct fy_err *err);
/* Reads and parses a file of at most max_bytes. */
int fy_json_load_file(struct fy_json **out, const char *path, size_t max_bytes, struct fy_err *err);
/* The same for a Hugging Face checkpoint's JSON files, which Python writes: an integer literal
 * beyond 64 bits (tokenizer_config.json's model_max_length 1000000000000000019884624838656) is
 * read as a real instead of refused. */
int fy_json_parse_hf(struct fy_json **out, const void *text, size_t len, const char *label,
		     struct fy_err *err);
int fy_json_load_file_hf(struct fy_json **out, const char *path, size_t max_bytes,
			 struct fy_err *err);
void fy_json_free(struct fy_json *j); /* NULL is a no-op */

/* The type of j; a NULL j (a missing member) is FY_JSON_NULL. */
enum fy_json_type fy_json_type(const struct fy_json *j);
const char *fy_json_type_name(const struct fy_json *j);
/* Object member or NULL (also NULL when j is not an object). Borrowed from j. */
struct fy_json *fy_json_get(const struct fy_json *obj, const char *key);
/* Number of members of an object or elements of an array; 0 for anything else. */
size_t fy_json_size(const struct fy_json *j);
/* Array element i or NULL. Borrowed. */
struct fy_json *fy_json_at(const struct fy_json *arr, size_t i);
/* Object iteration in document order: it = fy_json_iter(obj); it; it = fy_json_next(obj, it). */
void *fy_json_iter(const struct fy_json *obj);
void *fy_json_next(const struct fy_json *obj, void *it);
const char *fy_json_iter_key(void *it);
size_t fy_json_iter_key_len(void *it);
struct fy_json *fy_json_iter_value(void *it);
/* String value (NUL-terminated) or NULL if j is not a string. */
const char *fy_json_str(const struct fy_json *j);
size_t fy_json_str_len(const struct fy_json *j);
/* Integer value; false if j is not an integer. */
bool fy_json_int(const struct fy_json *j, int64_t *out);
/* Any number as a double; false if j is not a number. */
bool fy_json_num(const struct fy_json *j, double *out);

/* Building. Constructors return NULL when out of memory (or, for strings, on invalid UTF-8). */
struct fy_json *fy_json_object(void);
struct fy_json *fy_json_array(void);
struct fy_json *fy_json_string(const char *s);
struct fy_json *fy_json_stringn(const char *s, size_t n);
struct fy_json *fy_json_integer(int64_t v);
struct fy_json *fy_json_real(double v);
struct fy_json *fy_json_bool(bool v);
struct fy_json *fy_json_null(void);
/* A deep copy of j (NULL when out of memory or j is NULL). */
struct fy_json *fy_json_copy(const struct fy_json *j);
/* Adds value to obj under key (replacing) or to the end of arr. The value is taken over even on
 * failure (then freed); value may be NULL, which fails. Return 0 or -1. */
int fy_json_set(struct fy_json *obj, const char *key, struct fy_json *value);
int fy_json_push(struct fy_json *arr, struct fy_json *value);

enum {
	FY_JSON_DUMP_PRETTY = 1, /* two-space indent */
	FY_JSON_DUMP_SORTED = 2, /* keys sorted (canonical form) */
	FY_JSON_DUMP_REAL15 = 4, /* reals with 15 significant digits: a real parsed from a decimal
				  * of up to 15 digits prints as that decimal (1e-05, not
				  * 1.0000000000000001e-05) */
};
/* Serializes j (document order unless SORTED); compact unless PRETTY. The caller frees the result
 * with free(). NULL when out of memory. */
char *fy_json_dump(const struct fy_json *j, int flags);

/* ------------------------------------------------------------------------------------------ */
/* Thread pool                                                                                */

struct fy_pool;

/* Work on indices [begin, end). Returns FY_OK or a status with err set; the first failure stops
 * the remaining chunks. */
typedef int (*fy_range_fn)(void *ctx, int64_t begin, int64_t end, struct fy_err *err);

/* n_threads <= 0 means one per online CPU. The calling thread counts as one of them. */
int fy_pool_new(struct fy_pool **out, int n_threads, struct fy_err *err);
void fy_pool_free(struct fy_pool *p); /* NULL is a no-op */
int fy_pool_threads(const struct fy_pool *p);
/*
 * Runs fn over [0, n) in chunks of `grain` indices (grain <= 0: about 4 chunks per thread),
 * spread over the pool's threads, and waits for all of them. Returns FY_OK or the first failure
 * (its message in err). Not reentrant: one parallel-for per pool at a time.
 */
int fy_pool_for(struct fy_pool *p, int64_t n, int64_t grain, fy_range_fn fn, void *ctx,
		struct fy_err *err);

/* ------------------------------------------------------------------------------------------ */
/* The dtype table                                                                            */

/* Values below 64 are GGUF (ggml) type ids; the rest exist only in safetensors. */
enum fy_dtype {
	FY_DTYPE_F32 = 0,
	FY_DTYPE_F16 = 1,
	FY_DTYPE_Q4_0 = 2,
	FY_DTYPE_Q4_1 = 3,
	FY_DTYPE_Q5_0 = 6,
	FY_DTYPE_Q5_1 = 7,
	FY_DTYPE_Q8_0 = 8,
	FY_DTYPE_Q8_1 = 9,
	FY_DTYPE_Q2_K = 10,
	FY_DTYPE_Q3_K = 11,
	FY_DTYPE_Q4_K = 12,
	FY_DTYPE_Q5_K = 13,
	FY_DTYPE_Q6_K = 14,
	FY_DTYPE_Q8_K = 15,
	FY_DTYPE_IQ2_XXS = 16,
	FY_DTYPE_IQ2_XS = 17,
	FY_DTYPE_IQ3_XXS = 18,
	FY_DTYPE_IQ1_S = 19,
	FY_DTYPE_IQ4_NL = 20,
	FY_DTYPE_IQ3_S = 21,
	FY_DTYPE_IQ2_S = 22,
	FY_DTYPE_IQ4_XS = 23,
	FY_DTYPE_I8 = 24,
	FY_DTYPE_I16 = 25,
	FY_DTYPE_I32 = 26,
	FY_DTYPE_I64 = 27,
	FY_DTYPE_F64 = 28,
	FY_DTYPE_IQ1_M = 29,
	FY_DTYPE_BF16 = 30,
	FY_DTYPE_TQ1_0 = 34,
	FY_DTYPE_TQ2_0 = 35,
	FY_DTYPE_MXFP4 = 39,
	FY_DTYPE_NVFP4 = 40,
	FY_DTYPE_Q1_0 = 41,
	FY_DTYPE_Q2_0 = 42,
	FY_DTYPE_BOOL = 64,
	FY_DTYPE_U8,
	FY_DTYPE_U16,
	FY_DTYPE_U32,
	FY_DTYPE_U64,
	FY_DTYPE_F8_E4M3,
	FY_DTYPE_F8_E5M2,
	FY_DTYPE_F8_E8M0, /* an unsigned power-of-two exponent (MX scales, DeepSeek-V4's) */
	FY_DTYPE_COUNT
};

struct fy_dtype_info {
	const char *name;    /* ggml's name ("Q4_K") or the safetensors name for safetensors-only */
	int64_t blck;	     /* elements per block (1 for plain types) */
	uint32_t size;	     /* bytes per block */
	bool gguf;	     /* a valid GGUF tensor type */
	const char *st_name; /* safetensors dtype name, or NULL */
	int st_rank;	     /* safetensors' own dtype order (writers lay out higher ranks first) */
};

/* The row for t, or NULL if t is not a known dtype. */
const struct fy_dtype_info *fy_dtype_info(int t);
/* Name of t, or "?" for an unknown value. */
const char *fy_dtype_name(int t);
/* Maps a GGUF type id. False if it is not a known GGUF tensor type. */
bool fy_dtype_from_gguf(uint32_t id, enum fy_dtype *out);
/* Maps a safetensors dtype name ("BF16"). False if unknown or unsupported. */
bool fy_dtype_from_st(const char *name, enum fy_dtype *out);
/* Maps a type name, case-insensitively ("q4_k", "F16"). */
bool fy_dtype_from_name(const char *name, enum fy_dtype *out);
/* Bytes taken by n elements of t. False if n is negative, not a multiple of the block size, or
 * the size overflows. */
bool fy_dtype_nbytes(enum fy_dtype t, int64_t n, uint64_t *out);
/* Comma-separated list of the safetensors dtype names ferry reads (for messages). */
const char *fy_dtype_st_supported(void);

/* ------------------------------------------------------------------------------------------ */
/* Half and bfloat16                                                                          */

/* IEEE binary16 from float, round to nearest even (NaN -> quiet NaN, overflow -> inf). */
uint16_t fy_f32_to_f16(float f);
float fy_f16_to_f32(uint16_t h);
/* bfloat16 from float, round to nearest even (NaN -> quiet NaN with its sign and top bits). */
uint16_t fy_f32_to_bf16(float f);
float fy_bf16_to_f32(uint16_t h);
void fy_f32_to_f16_row(const float *x, uint16_t *y, int64_t n);
/* fy_f16_to_f32 over a row, through a 65,536-entry table built on first use (thread-safe). */
void fy_f16_to_f32_row(const uint16_t *x, float *y, int64_t n);
void fy_f32_to_bf16_row(const float *x, uint16_t *y, int64_t n);
/* FP8 E4M3 (the "fn" variant of DeepSeek-V3 checkpoints: bias 7, no infinities, S.1111.111 is
 * NaN, largest finite 448), exactly as a float. */
float fy_f8e4m3_to_f32(uint8_t v);
/* E8M0 (an MX scale: 2^(v - 127), 0xFF is NaN), exactly as a float. */
float fy_f8e8m0_to_f32(uint8_t v);

#endif
