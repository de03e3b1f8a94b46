/* libFuzzer target: bytes -> ak_auth_file_parse, for a plain host, a host:port and
 * Docker Hub's key. Checks: a helper, or credentials, or nothing; a helper name is
 * [A-Za-z0-9._-]+; a user is never empty; an error is one bounded line. Seeds:
 * fuzz/seeds/fuzz_auth_file (docker config.json and containers auth.json files). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/registry.h"

static const char *const keys[] = {"ghcr.io", "reg.example:5000", "https://index.docker.io/v1/"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1u << 20))
		return 0;
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		struct ak_creds c;
		char *helper;
		struct ak_error *err = NULL;
		int rc = ak_auth_file_parse((const char *)data, size, "fuzz", keys[k], &c, &helper,
					    &err);
		if (rc < 0) {
			if (!err || helper || c.user || c.pass || c.identity_token ||
			    strchr(err->msg, '\n') || strlen(err->msg) > 512)
				__builtin_trap();
			ak_error_free(err);
			continue;
		}
		if (err || rc > 1)
			__builtin_trap();
		if (helper) {
			if (rc != 1 || c.user || c.pass || c.identity_token || !*helper ||
			    strspn(helper, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					   "0123456789._-") != strlen(helper))
				__builtin_trap();
			free(helper);
		} else if (rc == 1) {
			if (!c.user && !c.identity_token)
				__builtin_trap();
			if (c.user && (!*c.user || !c.pass || strcmp(c.source, "fuzz") != 0))
				__builtin_trap();
			ak_creds_clear(&c);
		} else if (c.user || c.identity_token) {
			__builtin_trap();
		}
	}
	return 0;
}
