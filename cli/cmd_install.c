/* ferry install NAME[:TAG] --from URL [--hf-cache | --dir DIR] [--cache-dir DIR], and the two
 * verbs that read what it records: ferry installed, ferry uninstall NAME[:TAG].
 * Installs are recorded in STORE/installed/KEY.json (docs/PUBLISH.md, "install"). */
#include "cli/cli.h"
#include "mirror/mirror.h"

#include <stdarg.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_CAP 4200

/* snprintf into a path buffer; false (err set) when it does not fit. */
static bool path_fmt(char *out, size_t cap, struct fy_err *err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static bool path_fmt(char *out, size_t cap, struct fy_err *err, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, cap, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap) {
		fy_err_set(err, FY_EINVAL, "path too long: '%.80s...'", out);
		return false;
	}
	return true;
}

/* The HF cache folder: --cache-dir, $HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub. */
static void hf_cache_dir(const char *given, char *out, size_t cap)
{
	const char *v;

	if (given != NULL)
		snprintf(out, cap, "%s", given);
	else if ((v = getenv("HF_HUB_CACHE")) != NULL && v[0] != '\0')
		snprintf(out, cap, "%s", v);
	else if ((v = getenv("HF_HOME")) != NULL && v[0] != '\0')
		snprintf(out, cap, "%s/hub", v);
	else
		snprintf(out, cap, "%s/.cache/huggingface/hub",
			 getenv("HOME") ? getenv("HOME") : ".");
}

/* mkdir -p of the folder path is in. */
static int mkparents(const char *path, struct fy_err *err)
{
	char dir[PATH_CAP];

	snprintf(dir, sizeof(dir), "%s", path);
	if (strrchr(dir, '/') == NULL)
		return FY_OK;
	*strrchr(dir, '/') = '\0';
	return dir[0] == '\0' ? FY_OK : fy_mkdirs(dir, err);
}

/* A symlink at path to target, through a temp name (replacing what is there). */
static int put_link(const char *target, const char *path, struct fy_err *err)
{
	char tmp[PATH_CAP + 32];

	if (!path_fmt(tmp, sizeof(tmp), err, "%s.ferry-tmp.%ld", path, (long)getpid()))
		return FY_EINVAL;
	unlink(tmp);
	if (symlink(target, tmp) != 0)
		return fy_err_sys(err, FY_EIO, "cannot create the link '%s'", tmp);
	if (rename(tmp, path) != 0) {
		unlink(tmp);
		return fy_err_sys(err, FY_EIO, "cannot rename into '%s'", path);
	}
	return FY_OK;
}

/* Lays the files out as huggingface_hub does: blobs/ETAG, snapshots/COMMIT/PATH -> blob,
 * refs/REF = COMMIT. */
static int lay_hf_cache(struct fy_store *s, const struct fy_revision *r, const bool *want,
			const char *root, const char *ref, struct fy_err *err)
{
	char path[PATH_CAP], target[PATH_CAP], etag[2 * FY_SHA256_LEN + 1];
	struct fy_sweep blobs = { "" }, snaps = { "" }, refs = { "" }; /* a killed run's temps */
	size_t i, k;
	int rc = FY_OK;

	for (i = 0; rc == FY_OK && i < r->n_files; i++) {
		const struct fy_file_entry *f = &r->files[i];
		struct stat st;
		size_t depth = 0;
		size_t off = 0;

		if (!want[i])
			continue;
		fy_file_etag(f, etag);
		if (!path_fmt(path, sizeof(path), err, "%s/blobs/%s", root, etag))
			return FY_EINVAL;
		rc = mkparents(path, err);
		fy_sweep_parent(&blobs, path);
		if (rc == FY_OK && (stat(path, &st) != 0 || (uint64_t)st.st_size != f->size))
			rc = fy_store_place_object(s, f->sha256, path, err);
		for (k = 0; f->path[k] != '\0'; k++)
			depth += f->path[k] == '/';
		off += (size_t)snprintf(target, sizeof(target), "../../");
		for (k = 0; k < depth && off + 3 < sizeof(target); k++)
			off += (size_t)snprintf(target + off, sizeof(target) - off, "../");
		snprintf(target + off, sizeof(target) - off, "blobs/%s", etag);
		if (rc == FY_OK &&
		    !path_fmt(path, sizeof(path), err, "%s/snapshots/%s/%s", root, r->id, f->path))
			return FY_EINVAL;
		if (rc == FY_OK)
			rc = mkparents(path, err);
		fy_sweep_parent(&snaps, path);
		if (rc == FY_OK)
			rc = put_link(target, path, err);
	}
	if (rc != FY_OK || ref[0] == '\0') /* a revision named by id has no ref */
		return rc;
	if (!path_fmt(path, sizeof(path), err, "%s/refs/%s", root, ref))
		return FY_EINVAL;
	rc = mkparents(path, err);
	fy_sweep_parent(&refs, path);
	if (rc == FY_OK)
		rc = fy_file_write_atomic(path, r->id, FY_REV_ID_LEN, err);
	return rc;
}

static int lay_dir(struct fy_store *s, const struct fy_revision *r, const bool *want,
		   const char *dir, struct fy_err *err)
{
	char path[PATH_CAP];
	struct fy_sweep sweep = { "" }; /* what a killed run left */
	size_t i;
	int rc = FY_OK;

	for (i = 0; rc == FY_OK && i < r->n_files; i++) {
		if (!want[i])
			continue;
		if (!path_fmt(path, sizeof(path), err, "%s/%s", dir, r->files[i].path))
			return FY_EINVAL;
		rc = mkparents(path, err);
		fy_sweep_parent(&sweep, path);
		if (rc == FY_OK)
			rc = fy_store_place_object(s, r->files[i].sha256, path, err);
	}
	return rc;
}

/* The files a TAG that is no revision names: the GGUF files carrying it (split parts too). A
 * split model missing a shard is an error: never a partial model. */
static int select_quant(const struct fy_revision *r, const char *tag, bool *want, size_t *n,
			struct fy_err *err)
{
	struct fy_gguf_model *models = NULL;
	size_t n_models = 0;
	int rc = fy_revision_gguf_models(r, &models, &n_models, err);

	*n = 0;
	for (size_t i = 0; rc == FY_OK && i < r->n_files; i++) {
		*n += want[i] = fy_gguf_has_tag(r->files[i].path, tag);
		const struct fy_gguf_model *m =
			want[i] ? fy_gguf_model_of(models, n_models, r->files[i].path) : NULL;
		if (m != NULL)
			rc = fy_gguf_model_check(r, m, err);
	}
	fy_gguf_models_free(models, n_models);
	return rc;
}

static void record_key(const char *layout, const char *root, const char *name, const char *tag,
		       char out[17])
{
	char text[PATH_CAP * 2];
	uint8_t d[FY_SHA256_LEN];

	snprintf(text, sizeof(text), "%s\n%s\n%s\n%s", layout, root, name, tag ? tag : "");
	fy_sha256(text, strlen(text), d);
	fy_hex(d, 8, out);
}

static int write_record(struct fy_store *s, const struct fy_revision *r, const bool *want,
			const char *name, const char *tag, const char *layout, const char *root,
			const char *from, struct fy_err *err)
{
	struct fy_json *j = fy_json_object();
	struct fy_json *files = fy_json_array();
	char key[17], hex[2 * FY_SHA256_LEN + 1], etag[2 * FY_SHA256_LEN + 1], now[32];
	char *text;
	size_t i;
	int rc;

	for (i = 0; i < r->n_files; i++) {
		struct fy_json *f = fy_json_object();

		if (!want[i]) {
			fy_json_free(f);
			continue;
		}
		fy_hex(r->files[i].sha256, FY_SHA256_LEN, hex);
		fy_file_etag(&r->files[i], etag);
		fy_json_set(f, "path", fy_json_string(r->files[i].path));
		fy_json_set(f, "size", fy_json_integer((int64_t)r->files[i].size));
		fy_json_set(f, "sha256", fy_json_string(hex));
		fy_json_set(f, "etag", fy_json_string(etag));
		fy_json_push(files, f);
	}
	fy_now_iso(now);
	fy_json_set(j, "name", fy_json_string(name));
	fy_json_set(j, "tag", tag ? fy_json_string(tag) : fy_json_null());
	fy_json_set(j, "revision", fy_json_string(r->id));
	fy_json_set(j, "layout", fy_json_string(layout));
	fy_json_set(j, "root", fy_json_string(root));
	fy_json_set(j, "from", fy_json_string(from));
	fy_json_set(j, "time", fy_json_string(now));
	fy_json_set(j, "files", files);
	text = fy_json_dump(j, FY_JSON_DUMP_PRETTY);
	fy_json_free(j);
	if (text == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	record_key(layout, root, name, tag, key);
	rc = mkparents(fy_store_path(s, "installed/%s.json", key), err);
	if (rc == FY_OK)
		rc = fy_file_write_atomic_in(fy_store_path(s, "installed/%s.json", key),
					     fy_store_path(s, "tmp"), text, strlen(text), err);
	free(text);
	return rc;
}

/* A bundle as the source: imported (every check of bundle import), its signed index then
 * answers what NAME:TAG means. */
static int open_bundle(struct fy_cli *cli, struct fy_store *s, const char *path, bool allow_expired,
		       struct fy_remote *rm, struct fy_err *err)
{
	struct fy_bundle_opts bo = { .allow_expired = allow_expired,
				     .progress = fy_cli_progress,
				     .wait_fn = fy_cli_lock_wait,
				     .ctx = cli };
	struct fy_bundle_stats bst;
	int rc = fy_bundle_import(s, path, &bo, &bst, &rm->index, err);

	fy_cli_progress_done(cli);
	snprintf(rm->endpoint, sizeof(rm->endpoint), "%s", path);
	if (rc == FY_OK && !cli->quiet && !cli->json)
		printf("imported bundle %.12s (%zu revisions, %zu objects, %zu already here)\n",
		       bst.id, bst.revisions, bst.objects, bst.objects_present);
	return rc;
}

int cmd_install(struct fy_cli *cli, int argc, char **argv)
{
	const char *from = NULL, *dir = NULL, *cache = NULL;
	const char *token = getenv("HF_TOKEN"), *bundle = NULL;
	bool hf_cache = false, allow_expired = false, ollama = false;
	long jobs = 8, retries = 5, stall = 60;
	const struct fy_opt opts[] = {
		{ "from", 0, FY_OPT_STRING, &from, "URL",
		  "the ferry mirror (default $FERRY_MIRROR)" },
		{ "bundle", 0, FY_OPT_STRING, &bundle, "FILE",
		  "install from a bundle instead (imported into the store first, every check "
		  "of bundle import)" },
		{ "hf-cache", 0, FY_OPT_FLAG, &hf_cache, NULL,
		  "install into the Hugging Face cache (the default)" },
		{ "cache-dir", 0, FY_OPT_STRING, &cache, "DIR",
		  "the HF cache folder (default $HF_HUB_CACHE, $HF_HOME/hub, "
		  "~/.cache/huggingface/hub)" },
		{ "dir", 0, FY_OPT_STRING, &dir, "DIR",
		  "install the files into a plain folder (with --ollama: Ollama's models folder)" },
		{ "ollama", 0, FY_OPT_FLAG, &ollama, NULL,
		  "install a GGUF model into Ollama's model store (default $OLLAMA_MODELS, else "
		  "~/.ollama/models), where `ollama run NS/NAME:TAG` finds it offline" },
		{ "token", 0, FY_OPT_STRING, &token, "TOKEN", "bearer token (default $HF_TOKEN)" },
		{ "allow-expired", 0, FY_OPT_FLAG, &allow_expired, NULL,
		  "accept an expired index (a site with an unreliable clock)" },
		FY_TRANSFER_OPTS(&jobs, &retries, &stall),
		{ NULL, 0, 0, NULL, NULL, NULL },
	};
	const struct fy_usage usage = {
		"ferry install NAME[:TAG] --from URL [--hf-cache [--cache-dir DIR] | --dir DIR]\n"
		"ferry install NAME[:TAG] --bundle FILE [--hf-cache [--cache-dir DIR] | --dir "
		"DIR]\n"
		"ferry install NAME[:TAG] (--from URL | --bundle FILE) --ollama [--dir MODELS]",
		"Installs a published model from a ferry mirror (or a bundle of one, imported\n"
		"first with every check of 'ferry bundle import'). The mirror's signed index is\n"
		"checked first (a key this store trusts, no older than the last one seen, not\n"
		"expired), then the manifest it pins, then every file's SHA-256. TAG is a branch\n"
		"or tag of the index, a revision id, or a quantization (Q4_K_M): the GGUF files\n"
		"of main named with it. Without TAG: main, every file. Files go into the Hugging\n"
		"Face cache (models--NS--NAME/blobs/ETAG, snapshots/COMMIT/PATH, refs/main), "
		"where\n"
		"huggingface_hub, transformers and llama.cpp find them offline, or into --dir.\n"
		"With --ollama, the GGUF the tag names (no tag: Q4_K_M, else Q8_0, else the\n"
		"first) goes into Ollama's model store with the manifest Ollama pulls\n"
		"(docs/OCI.md).\n"
		"The store keeps the objects; 'ferry installed' lists installs, 'ferry uninstall'\n"
		"removes one.",
		opts,
	};
	struct fy_clone_opts co = { 0 };
	const char *ca_bundle = NULL;
	struct fy_clone_stats st = { 0 };
	struct fy_remote rm = { "", NULL };
	struct fy_store *s = NULL;
	struct fy_revision *r = NULL;
	bool *want = NULL;
	bool quant = false;
	int rc;
	char name[FY_REPO_MAX + 1], url[2048], id[FY_REV_ID_LEN + 1], root[PATH_CAP];
	char ref[FY_REF_MAX], size[32], ns_name[FY_REPO_MAX + 16];
	const char *tag = NULL;
	struct fy_err err;
	uint64_t bytes = 0;
	size_t n_want = 0, i;
	int npos = 0;
	int x;

	x = fy_cli_parse(cli, &usage, argc, argv, 1, 1, &npos);
	if (x < 0 && bundle != NULL && from != NULL)
		x = fy_cli_usage_error(cli, "--from or --bundle, not both");
	if (from == NULL && bundle == NULL) /* $FERRY_MIRROR stands in for --from only */
		from = getenv("FERRY_MIRROR");
	if (x < 0 && from == NULL && bundle == NULL)
		x = fy_cli_usage_error(cli, "name the mirror: --from URL (or $FERRY_MIRROR), or "
					    "--bundle FILE");
	if (x < 0 && (dir != NULL || ollama) && (hf_cache || cache != NULL))
		x = fy_cli_usage_error(cli, "--dir or --ollama, and --hf-cache/--cache-dir exclude "
					    "each other");
	if (x < 0)
		x = fy_cli_transfer_check(cli, jobs, retries, stall, &ca_bundle);
	if (x < 0) {
		const char *colon = strchr(argv[0], ':');

		snprintf(name, sizeof(name), "%.*s",
			 colon ? (int)(colon - argv[0]) : (int)strlen(argv[0]), argv[0]);
		tag = colon && colon[1] ? colon + 1 : NULL;
		if (fy_repo_check(name, &err) != FY_OK)
			x = fy_cli_fail(cli, &err);
	}
	if (x < 0)
		x = fy_cli_open_store(cli, &s);
	if (x >= 0)
		goto out;
	if (bundle != NULL) {
		if (open_bundle(cli, s, bundle, allow_expired, &rm, &err) != FY_OK) {
			x = fy_cli_fail(cli, &err);
			goto out;
		}
		snprintf(url, sizeof(url), "%s", bundle);
	} else {
		fy_cli_endpoint(from, url, sizeof(url));
		co = (struct fy_clone_opts){ .endpoint = url,
					     .token = token,
					     .ca_bundle = ca_bundle,
					     .jobs = (int)jobs,
					     .retries = (int)retries,
					     .stall_s = (int)stall,
					     .range_mb = 32,
					     .ranged_min_mb = 64,
					     .progress = fy_cli_progress,
					     .transfer = fy_cli_transfer,
					     .wait_fn = fy_cli_lock_wait,
					     .ctx = cli };
		if (fy_remote_open(s, &co, allow_expired, &rm, &err) != FY_OK) {
			x = fy_cli_fail(cli, &err);
			goto out;
		}
	}
	/* a ref or id of the index, else a quantization of main */
	rc = fy_remote_resolve(&rm, name, tag, id, ref, &err);
	if (rc == FY_ENOTFOUND && tag != NULL) { /* not a ref or an id: a quantization of main */
		quant = true;
		rc = fy_remote_resolve(&rm, name, NULL, id, ref, &err);
	}
	if (rc == FY_OK && bundle != NULL) {
		rc = fy_revision_load(s, name, id, &r, &err);
		if (rc == FY_ENOTFOUND)
			rc = fy_err_set(&err, FY_ENOTFOUND,
					"%s: the bundle does not carry %s@%.12s", bundle, name, id);
	} else if (rc == FY_OK) {
		rc = fy_remote_manifest(&rm, &co, name, id, &r, NULL, &err);
	}
	if (rc != FY_OK) {
		x = fy_cli_fail(cli, &err);
		goto out;
	}
	want = calloc(r->n_files + 1, sizeof(*want));
	if (want == NULL) {
		fy_err_set(&err, FY_ENOMEM, "out of memory");
		x = fy_cli_fail(cli, &err);
		goto out;
	}
	/* Ollama's tag: the quantization asked for, or latest (the default pick) */
	const char *otag = quant ? tag : "latest";
	if (ollama) {
		if (fy_oci_ollama_files(r, otag, want, &err) != FY_OK) {
			x = fy_cli_fail(cli, &err);
			goto out;
		}
		for (i = 0; i < r->n_files; i++)
			n_want += want[i];
	} else if (quant) {
		if (select_quant(r, tag, want, &n_want, &err) != FY_OK) {
			x = fy_cli_fail(cli, &err);
			goto out;
		}
		if (n_want == 0) {
			fprintf(stderr,
				"ferry install: %s has no branch, tag, revision or GGUF file for "
				"'%s'%s%s%s%s%s\n",
				name, tag, bundle ? "" : " (see ", bundle ? "" : url,
				bundle ? "" : "/api/models/", bundle ? "" : name,
				bundle ? "" : ")");
			x = FY_EXIT_FAIL;
			goto out;
		}
	} else {
		for (i = 0; i < r->n_files; i++)
			want[i] = true;
		n_want = r->n_files;
	}
	for (i = 0; i < r->n_files; i++)
		bytes += want[i] ? r->files[i].size : 0;
	if (bundle == NULL && fy_store_fetch_files(s, r, want, &co, &st, &err) != FY_OK) {
		fy_cli_progress_done(cli);
		x = fy_cli_fail(cli, &err);
		goto out;
	}
	fy_cli_progress_done(cli);
	if (ollama) {
		char manifest[PATH_CAP];
		const char *env = getenv("OLLAMA_MODELS");

		if (dir != NULL)
			snprintf(root, sizeof(root), "%s", dir);
		else if (env != NULL && env[0] != '\0')
			snprintf(root, sizeof(root), "%s", env);
		else
			snprintf(root, sizeof(root), "%s/.ollama/models",
				 getenv("HOME") ? getenv("HOME") : ".");
		x = fy_ollama_install(s, r, otag, root, manifest, sizeof(manifest), &err) == FY_OK
			    ? -1
			    : fy_cli_fail(cli, &err);
		tag = otag;
	} else if (dir != NULL) {
		if (!path_fmt(root, sizeof(root), &err, "%s", dir))
			x = fy_cli_fail(cli, &err);
		else
			x = lay_dir(s, r, want, root, &err) == FY_OK ? -1 : fy_cli_fail(cli, &err);
	} else {
		char base[PATH_CAP];

		hf_cache_dir(cache, base, sizeof(base));
		snprintf(ns_name, sizeof(ns_name), "%s", name);
		*strchr(ns_name, '/') = '\0';
		if (!path_fmt(root, sizeof(root), &err, "%s/models--%s--%s", base, ns_name,
			      strchr(name, '/') + 1))
			x = fy_cli_fail(cli, &err);
		else
			x = lay_hf_cache(s, r, want, root,
					 strchr(ref, '/') ? strchr(ref, '/') + 1 : ref,
					 &err) == FY_OK
				    ? -1
				    : fy_cli_fail(cli, &err);
	}
	if (x < 0) { /* recorded as an absolute path: uninstall may run from anywhere */
		char abs[PATH_MAX];

		if (realpath(root, abs) != NULL && strlen(abs) < sizeof(root))
			snprintf(root, sizeof(root), "%s", abs);
		if (write_record(s, r, want, name, tag,
				 ollama ? "ollama"
				 : dir	? "dir"
					: "hf-cache",
				 root, url, &err) != FY_OK)
			x = fy_cli_fail(cli, &err);
	}
	if (x < 0) {
		if (!cli->quiet)
			printf("installed %s%s%s@%.12s: %zu file(s), %s (%zu fetched) into %s\n",
			       name, tag ? ":" : "", tag ? tag : "", id, n_want,
			       fy_fmt_bytes(size, sizeof(size), bytes),
			       bundle ? 0 : st.files_fetched, root);
		x = FY_EXIT_OK;
	}
out:
	free(want);
	fy_revision_free(r);
	fy_remote_close(&rm);
	fy_store_close(s);
	return x;
}

/* ------------------------------------------------------------------------------------------ */
/* ferry installed, ferry uninstall                                                           */

struct install_rec {
	char key[64]; /* the record's file name, without .json */
	struct fy_json *j;
	bool match;
};

/* Every install record, sorted by file name (free with free_records). */
static int load_records(struct fy_store *s, struct install_rec **out, size_t *n, struct fy_err *err)
{
	char **names = NULL;
	size_t count = 0, i, k = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (access(fy_store_path(s, "installed"), F_OK) != 0)
		return FY_OK;
	rc = fy_dir_list(fy_store_path(s, "installed"), ".json", &names, &count, err);
	if (rc != FY_OK)
		return rc;
	*out = calloc(count ? count : 1, sizeof(**out));
	if (*out == NULL) {
		fy_names_free(names, count);
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	}
	for (i = 0; i < count && rc == FY_OK; i++) {
		struct install_rec *r = &(*out)[k];

		rc = fy_json_load_file(&r->j, fy_store_path(s, "installed/%s", names[i]), 1u << 26,
				       err);
		if (rc == FY_OK && (fy_json_str(fy_json_get(r->j, "name")) == NULL ||
				    fy_json_str(fy_json_get(r->j, "root")) == NULL ||
				    fy_json_str(fy_json_get(r->j, "revision")) == NULL ||
				    fy_json_type(fy_json_get(r->j, "files")) != FY_JSON_ARRAY))
			rc = fy_err_set(err, FY_EFORMAT, "%s: not an install record",
					fy_store_path(s, "installed/%s", names[i]));
		snprintf(r->key, sizeof(r->key), "%.*s", (int)(strlen(names[i]) - 5), names[i]);
		k++;
	}
	fy_names_free(names, count);
	*n = k;
	return rc;
}

static void free_records(struct install_rec *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		fy_json_free(v[i].j);
	free(v);
}

int cmd_installed(struct fy_cli *cli, int argc, char **argv)
{
	const struct fy_opt opts[] = { { NULL, 0, 0, NULL, NULL, NULL } };
	const struct fy_usage usage = {
		"ferry installed [--json]",
		"Lists what 'ferry install' installed from this store: NAME[:TAG], the revision,\n"
		"the layout (hf-cache or dir), where, and the files.",
		opts,
	};
	struct install_rec *v = NULL;
	struct fy_store *s = NULL;
	struct fy_json *a = fy_json_array();
	struct fy_err err;
	size_t n = 0, i;
	int npos = 0;
	int x = fy_cli_parse(cli, &usage, argc, argv, 0, 0, &npos);

	if (x < 0)
		x = fy_cli_open_store(cli, &s);
	if (x >= 0)
		goto out;
	if (load_records(s, &v, &n, &err) != FY_OK) {
		x = fy_cli_fail(cli, &err);
		goto out;
	}
	for (i = 0; i < n; i++) {
		const struct fy_json *j = v[i].j;
		const char *tag = fy_json_str(fy_json_get(j, "tag"));
		char name[FY_REPO_MAX + 160];

		snprintf(name, sizeof(name), "%s%s%s", fy_json_str(fy_json_get(j, "name")),
			 tag ? ":" : "", tag ? tag : "");
		if (cli->json)
			fy_json_push(a, fy_json_copy(j));
		else if (!cli->quiet)
			printf("%-40s %.12s  %-8s %zu file(s)  %s\n", name,
			       fy_json_str(fy_json_get(j, "revision")),
			       fy_json_str(fy_json_get(j, "layout"))
				       ? fy_json_str(fy_json_get(j, "layout"))
				       : "?",
			       fy_json_size(fy_json_get(j, "files")),
			       fy_json_str(fy_json_get(j, "root")));
	}
	if (n == 0 && !cli->json && !cli->quiet)
		printf("nothing is installed from this store\n");
	x = FY_EXIT_OK;
	if (cli->json) {
		x = fy_cli_print_json(cli, a);
		a = NULL;
	}
out:
	fy_json_free(a);
	free_records(v, n);
	fy_store_close(s);
	return x;
}

/* rmdir path's folders up to (not including) stop while they are empty. */
static void prune_dirs(const char *path, const char *stop)
{
	char dir[PATH_CAP * 3];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	while ((slash = strrchr(dir, '/')) != NULL) {
		*slash = '\0';
		if (strlen(dir) <= strlen(stop) || rmdir(dir) != 0)
			break;
	}
}

/* Whether a link under dir (recursively) points at a file named blob. */
static bool blob_linked(const char *dir, const char *blob)
{
	char **names = NULL;
	size_t n = 0, i;
	struct fy_err err;
	bool hit = false;

	if (fy_dir_list(dir, "", &names, &n, &err) != FY_OK)
		return false;
	for (i = 0; i < n && !hit; i++) {
		char path[PATH_CAP * 2], target[PATH_CAP];
		struct stat st;
		ssize_t k;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (lstat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			hit = blob_linked(path, blob);
		} else if (S_ISLNK(st.st_mode) &&
			   (k = readlink(path, target, sizeof(target) - 1)) > 0) {
			target[k] = '\0';
			hit = strrchr(target, '/') != NULL &&
			      strcmp(strrchr(target, '/') + 1, blob) == 0;
		}
	}
	fy_names_free(names, n);
	return hit;
}

/* Removes what one record installed: its files (a plain folder), or its snapshot links, the
 * blobs no other snapshot links to and the refs naming a snapshot that is gone (HF cache). */
static void remove_install(const struct fy_json *j)
{
	if (fy_json_str(fy_json_get(j, "layout")) != NULL &&
	    strcmp(fy_json_str(fy_json_get(j, "layout")), "ollama") == 0) {
		const char *root = fy_json_str(fy_json_get(j, "root"));
		const char *name = fy_json_str(fy_json_get(j, "name"));
		const char *tag = fy_json_str(fy_json_get(j, "tag"));
		struct fy_err err;
		if (root != NULL && name != NULL && tag != NULL && strchr(tag, '/') == NULL &&
		    fy_ollama_uninstall(root, name, tag, &err) != FY_OK)
			fprintf(stderr, "ferry uninstall: %s\n", err.msg);
		return;
	}
	const char *root = fy_json_str(fy_json_get(j, "root"));
	const char *rev = fy_json_str(fy_json_get(j, "revision"));
	const char *layout = fy_json_str(fy_json_get(j, "layout"));
	const struct fy_json *files = fy_json_get(j, "files");
	bool hf = layout != NULL && strcmp(layout, "hf-cache") == 0;
	char path[PATH_CAP * 3], snap[PATH_CAP * 2];
	size_t i;

	snprintf(snap, sizeof(snap), "%s/snapshots/%s", root, rev);
	for (i = 0; i < fy_json_size(files); i++) {
		const char *p = fy_json_str(fy_json_get(fy_json_at(files, i), "path"));

		if (p == NULL || p[0] == '/' || strstr(p, "..") != NULL)
			continue; /* not something install wrote */
		snprintf(path, sizeof(path), "%s/%s", hf ? snap : root, p);
		unlink(path);
		prune_dirs(path, hf ? snap : root);
	}
	if (!hf) {
		rmdir(root);
		return;
	}
	rmdir(snap);
	for (i = 0; i < fy_json_size(files); i++) {
		const char *etag = fy_json_str(fy_json_get(fy_json_at(files, i), "etag"));

		snprintf(path, sizeof(path), "%s/snapshots", root);
		if (etag != NULL && strspn(etag, "0123456789abcdef") == strlen(etag) &&
		    !blob_linked(path, etag)) {
			snprintf(path, sizeof(path), "%s/blobs/%s", root, etag);
			unlink(path);
		}
	}
	if (access(snap, F_OK) != 0) { /* refs naming the removed snapshot */
		char **refs = NULL;
		size_t n = 0;
		struct fy_err err;

		snprintf(path, sizeof(path), "%s/refs", root);
		if (fy_dir_list(path, "", &refs, &n, &err) == FY_OK)
			for (i = 0; i < n; i++) {
				struct fy_buf b;

				fy_buf_init(&b);
				snprintf(path, sizeof(path), "%s/refs/%s", root, refs[i]);
				if (fy_file_read(path, 64, &b, &err) == FY_OK && b.len >= 40 &&
				    memcmp(b.data, rev, 40) == 0)
					unlink(path);
				fy_buf_release(&b);
			}
		fy_names_free(refs, n);
	}
	for (i = 0; i < 3; i++) {
		static const char *const sub[] = { "blobs", "snapshots", "refs" };

		snprintf(path, sizeof(path), "%s/%s", root, sub[i]);
		rmdir(path);
	}
	rmdir(root);
}

int cmd_uninstall(struct fy_cli *cli, int argc, char **argv)
{
	const char *dir = NULL, *cache = NULL;
	bool all = false;
	const struct fy_opt opts[] = {
		{ "dir", 0, FY_OPT_STRING, &dir, "DIR", "only the install in this folder" },
		{ "cache-dir", 0, FY_OPT_STRING, &cache, "DIR",
		  "only installs into this HF cache folder" },
		{ "all", 0, FY_OPT_FLAG, &all, NULL, "every install NAME[:TAG] matches" },
		{ NULL, 0, 0, NULL, NULL, NULL },
	};
	const struct fy_usage usage = {
		"ferry uninstall NAME[:TAG] [--dir DIR | --cache-dir DIR] [--all]",
		"Removes what 'ferry install' put in place: a plain folder's files, or in the HF\n"
		"cache the snapshot's links, the blobs no other snapshot links to and the refs\n"
		"naming the snapshot. NAME without TAG matches every install of NAME; several\n"
		"matches need --all (or --dir/--cache-dir to pick). The store keeps its objects.",
		opts,
	};
	struct install_rec *v = NULL;
	struct fy_store *s = NULL;
	struct fy_err err;
	char name[FY_REPO_MAX + 1], base[PATH_CAP];
	const char *tag = NULL;
	size_t n = 0, i, hits = 0;
	int npos = 0;
	int x = fy_cli_parse(cli, &usage, argc, argv, 1, 1, &npos);

	if (x < 0 && dir != NULL && cache != NULL)
		x = fy_cli_usage_error(cli, "--dir or --cache-dir, not both");
	if (x < 0) {
		const char *colon = strchr(argv[0], ':');

		snprintf(name, sizeof(name), "%.*s",
			 colon ? (int)(colon - argv[0]) : (int)strlen(argv[0]), argv[0]);
		tag = colon && colon[1] ? colon + 1 : NULL;
		x = fy_cli_open_store(cli, &s);
	}
	if (x >= 0)
		goto out;
	if (cache != NULL)
		hf_cache_dir(cache, base, sizeof(base));
	if (load_records(s, &v, &n, &err) != FY_OK) {
		x = fy_cli_fail(cli, &err);
		goto out;
	}
	for (i = 0; i < n; i++) {
		const struct fy_json *j = v[i].j;
		const char *t = fy_json_str(fy_json_get(j, "tag"));
		const char *root = fy_json_str(fy_json_get(j, "root"));
		bool m = strcmp(fy_json_str(fy_json_get(j, "name")), name) == 0 &&
			 (tag == NULL || (t != NULL && strcmp(t, tag) == 0)) &&
			 (dir == NULL || strcmp(root, dir) == 0) &&
			 (cache == NULL || strncmp(root, base, strlen(base)) == 0);

		v[i].match = m;
		hits += m;
	}
	if (hits == 0) {
		fprintf(stderr,
			"ferry uninstall: %s is not installed from this store (see ferry "
			"installed)\n",
			argv[0]);
		x = FY_EXIT_FAIL;
		goto out;
	}
	if (hits > 1 && !all) {
		fprintf(stderr,
			"ferry uninstall: %s matches %zu installs (--all removes them all, "
			"--dir/--cache-dir picks one):\n",
			argv[0], hits);
		for (i = 0; i < n; i++)
			if (v[i].match)
				fprintf(stderr, "  %s%s%s in %s\n",
					fy_json_str(fy_json_get(v[i].j, "name")),
					fy_json_str(fy_json_get(v[i].j, "tag")) ? ":" : "",
					fy_json_str(fy_json_get(v[i].j, "tag"))
						? fy_json_str(fy_json_get(v[i].j, "tag"))
						: "",
					fy_json_str(fy_json_get(v[i].j, "root")));
		x = FY_EXIT_FAIL;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (!v[i].match)
			continue;
		remove_install(v[i].j);
		unlink(fy_store_path(s, "installed/%s.json", v[i].key));
		if (!cli->quiet)
			printf("uninstalled %s%s%s@%.12s from %s\n",
			       fy_json_str(fy_json_get(v[i].j, "name")),
			       fy_json_str(fy_json_get(v[i].j, "tag")) ? ":" : "",
			       fy_json_str(fy_json_get(v[i].j, "tag"))
				       ? fy_json_str(fy_json_get(v[i].j, "tag"))
				       : "",
			       fy_json_str(fy_json_get(v[i].j, "revision")),
			       fy_json_str(fy_json_get(v[i].j, "root")));
	}
	x = FY_EXIT_OK;
out:
	free_records(v, n);
	fy_store_close(s);
	return x;
}
