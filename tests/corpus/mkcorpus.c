/*
 * mkcorpus DIR: writes the malformed-file corpus (tests/corpus/corpus.c) as files, one per case,
 * and DIR/MANIFEST with a line per case: "file<TAB>expectation", where the expectation is VALID
 * or the text `ferry inspect` must print for it (its format is sniffed from content, so an image
 * that is not recognisable at all expects the "not a safetensors or GGUF file" message).
 * mkcorpus --seeds DIR: writes the cases as fuzz seeds into DIR/gguf and DIR/safetensors.
 */
#include "tests/corpus/corpus.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

struct out {
	const char *dir;
	FILE *manifest;
	bool seeds;
	int n;
	int failed;
};

static void write_file(struct out *o, const char *path, const uint8_t *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL || (len > 0 && fwrite(data, 1, len, f) != len)) {
		fprintf(stderr, "mkcorpus: cannot write %s\n", path);
		o->failed = 1;
	}
	if (f != NULL)
		fclose(f);
}

static void emit(void *ctx, const char *name, enum fy_format fmt, const uint8_t *data,
		 size_t len, const char *expect)
{
	struct out *o = ctx;
	bool gguf = strncmp(name, "gguf-", 5) == 0;
	char path[512];

	if (o->seeds) {
		snprintf(path, sizeof(path), "%s/%s/%s", o->dir, gguf ? "gguf" : "safetensors",
			 name);
		write_file(o, path, data, len);
		o->n++;
		return;
	}
	snprintf(path, sizeof(path), "%s/%s.%s", o->dir, name, gguf ? "gguf" : "safetensors");
	write_file(o, path, data, len);
	if (expect == NULL)
		expect = "VALID";
	else if (fmt == FY_FORMAT_UNKNOWN)
		expect = "not a safetensors or GGUF file";
	fprintf(o->manifest, "%s\t%s\n", path, expect);
	o->n++;
}

int main(int argc, char **argv)
{
	struct out o = {0};
	char path[512];

	if (argc == 3 && strcmp(argv[1], "--seeds") == 0) {
		o.seeds = true;
		o.dir = argv[2];
		snprintf(path, sizeof(path), "%s/gguf", o.dir);
		mkdir(path, 0755);
		snprintf(path, sizeof(path), "%s/safetensors", o.dir);
		mkdir(path, 0755);
	} else if (argc == 2) {
		o.dir = argv[1];
		snprintf(path, sizeof(path), "%s/MANIFEST", o.dir);
		o.manifest = fopen(path, "w");
		if (o.manifest == NULL) {
			fprintf(stderr, "mkcorpus: cannot write %s\n", path);
			return 1;
		}
	} else {
		fprintf(stderr, "usage: mkcorpus DIR | mkcorpus --seeds DIR\n");
		return 2;
	}
	corpus_generate(emit, &o);
	if (o.manifest != NULL)
		fclose(o.manifest);
	fprintf(stderr, "mkcorpus: %d cases in %s\n", o.n, o.dir);
	return o.failed;
}
