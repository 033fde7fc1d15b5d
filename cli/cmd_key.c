/* ferry key generate|list|trust FILE|export */
#include "cli/cli.h"
#include "mirror/mirror.h"

#include <stdio.h>
#include <string.h>

static int key_export(struct fy_cli *cli, struct fy_store *s, const char *out)
{
	struct fy_key *k = NULL;
	struct fy_buf pem;
	struct fy_err err;
	int rc;

	fy_buf_init(&pem);
	rc = fy_store_key_load(s, &k, &err);
	if (rc == FY_OK && out != NULL)
		rc = fy_key_save_public(k, out, &err);
	else if (rc == FY_OK)
		rc = fy_key_public_pem(k, &pem, &err);
	if (rc == FY_OK && out == NULL)
		fwrite(pem.data, 1, pem.len, stdout);
	fy_buf_release(&pem);
	fy_key_free(k);
	return rc == FY_OK ? FY_EXIT_OK : fy_cli_fail(cli, &err);
}

static int key_list(struct fy_cli *cli, struct fy_store *s)
{
	struct fy_json *a = fy_json_array();
	char **ids = NULL;
	size_t n = 0;
	size_t i;
	bool own = false;
	struct fy_err err;

	if (fy_store_key_list(s, &ids, &n, &own, &err) != FY_OK) {
		fy_json_free(a);
		return fy_cli_fail(cli, &err);
	}
	for (i = 0; i < n; i++) {
		struct fy_json *o = fy_json_object();

		fy_json_set(o, "keyid", fy_json_string(ids[i]));
		fy_json_set(o, "role", fy_json_string(i == 0 && own ? "signing" : "trusted"));
		fy_json_push(a, o);
		if (!cli->json && !cli->quiet)
			printf("%s  %s\n", ids[i],
			       i == 0 && own ? "signing (this store)" : "trusted");
	}
	fy_names_free(ids, n);
	if (cli->json)
		return fy_cli_print_json(cli, a);
	fy_json_free(a);
	return FY_EXIT_OK;
}

int cmd_key(struct fy_cli *cli, int argc, char **argv)
{
	bool force = false;
	const char *out = NULL;
	const struct fy_opt opts[] = {
		{ "force", 'f', FY_OPT_FLAG, &force, NULL, "generate: replace an existing key" },
		{ "output", 'o', FY_OPT_STRING, &out, "FILE",
		  "export: write the public key to FILE" },
		{ NULL, 0, 0, NULL, NULL, NULL },
	};
	const struct fy_usage usage = {
		"ferry key generate [--force] | list | trust FILE | export [-o FILE]",
		"generate  creates this store's Ed25519 signing key (keys/signing.key, mode 0600)\n"
		"list      the signing key's id and the trusted keys' ids\n"
		"trust     adds a public key (PEM) to the keys this store trusts\n"
		"export    prints this store's public key (PEM), for other sites to trust\n"
		"A key id is the first 16 hex digits of the SHA-256 of the raw public key.",
		opts,
	};
	struct fy_store *s = NULL;
	char keyid[FY_KEYID_LEN + 1];
	struct fy_err err;
	int npos = 0;
	int r;

	r = fy_cli_parse(cli, &usage, argc, argv, 1, 2, &npos);
	if (r < 0)
		r = fy_cli_open_store(cli, &s);
	if (r >= 0)
		goto out;
	if (strcmp(argv[0], "generate") == 0 && npos == 1) {
		if (fy_store_key_generate(s, force, keyid, &err) != FY_OK)
			r = fy_cli_fail(cli, &err);
		else if (!cli->quiet)
			printf("generated signing key %s\n", keyid);
	} else if (strcmp(argv[0], "list") == 0 && npos == 1) {
		r = key_list(cli, s);
	} else if (strcmp(argv[0], "trust") == 0 && npos == 2) {
		if (fy_store_key_trust(s, argv[1], keyid, &err) != FY_OK)
			r = fy_cli_fail(cli, &err);
		else if (!cli->quiet)
			printf("trusted key %s\n", keyid);
	} else if (strcmp(argv[0], "export") == 0 && npos == 1) {
		r = key_export(cli, s, out);
	} else {
		r = fy_cli_usage_error(cli, "unknown key command '%s'", argv[0]);
	}
	r = r < 0 ? FY_EXIT_OK : r;
out:
	fy_store_close(s);
	return r;
}
