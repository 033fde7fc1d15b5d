/* Output helpers: number formatting, quoting for terminals, JSON on stdout. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *fy_fmt_count(char *buf, size_t cap, uint64_t n)
{
	char digits[32];
	size_t len;
	size_t i;
	size_t o = 0;

	snprintf(digits, sizeof(digits), "%llu", (unsigned long long)n);
	len = strlen(digits);
	for (i = 0; i < len && o + 2 < cap; i++) {
		if (i > 0 && (len - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
	return buf;
}

const char *fy_fmt_bytes(char *buf, size_t cap, uint64_t n)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)n;
	int u = 0;

	while (v >= 1024.0 && u < 5) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, cap, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, cap, "%.1f %s", v, units[u]);
	return buf;
}

const char *fy_fmt_params(char *buf, size_t cap, uint64_t n)
{
	static const char *const units[] = { "", "K", "M", "B", "T" };
	double v = (double)n;
	int u = 0;

	while (v >= 1000.0 && u < 4) {
		v /= 1000.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, cap, "%llu", (unsigned long long)n);
	else
		snprintf(buf, cap, "%.1f%s", v, units[u]);
	return buf;
}

void fy_print_quoted(FILE *to, const char *s, size_t len, size_t max_chars)
{
	size_t i;

	fputc('"', to);
	for (i = 0; i < len && i < max_chars; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			fprintf(to, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", to);
		else if (c == '\t')
			fputs("\\t", to);
		else if (c < 0x20 || c == 0x7f)
			fprintf(to, "\\x%02x", c);
		else
			fputc(c, to);
	}
	fputc('"', to);
	if (len > max_chars)
		fprintf(to, "... (%zu bytes)", len);
}

int fy_cli_print_json(struct fy_cli *cli, struct fy_json *j)
{
	char *text = fy_json_dump(j, FY_JSON_DUMP_PRETTY);
	struct fy_err err;

	fy_json_free(j);
	if (text == NULL) {
		fy_err_set(&err, FY_ENOMEM, "out of memory while writing JSON");
		return fy_cli_fail(cli, &err);
	}
	if (!cli->quiet)
		printf("%s\n", text);
	free(text);
	return FY_EXIT_OK;
}
