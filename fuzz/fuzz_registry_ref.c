/* libFuzzer target: bytes -> ak_registry_ref_parse, the reference up to the first NUL.
 * Checks what the parser promises: a result has a host, a repository and exactly one of
 * tag and digest, and is a fixed point (HOST/REPO:TAG parses to itself, as docker's
 * normalised names do); an error leaves nothing behind (its message quotes the
 * reference raw: the CLI escapes it). Seeds: fuzz/seeds/fuzz_registry_ref. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/registry.h"
#include "fuzz/fuzz.h"

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 8192)
		return 0;
	char *s = fuzz_cstring(data, size);
	if (!s)
		return 0;
	struct ak_registry_ref r, again;
	struct ak_error *err = NULL;
	if (ak_registry_ref_parse(s, &r, &err) == 0) {
		if (err || !r.host || !r.repo || !r.auth_key || !r.tag == !r.digest)
			__builtin_trap();
		char *norm = NULL;
		if (asprintf(&norm, "docker://%s/%s%s%s", r.host, r.repo, r.tag ? ":" : "@",
			     r.tag ? r.tag : r.digest) < 0)
			__builtin_trap();
		if (ak_registry_ref_parse(norm, &again, &err) < 0 || !same(r.host, again.host) ||
		    !same(r.repo, again.repo) || !same(r.tag, again.tag) ||
		    !same(r.digest, again.digest) || !same(r.auth_key, again.auth_key))
			__builtin_trap();
		free(norm);
		ak_registry_ref_clear(&again);
		ak_registry_ref_clear(&r);
	} else {
		if (!err || !err->msg || r.host || r.repo || r.tag || r.digest || r.auth_key)
			__builtin_trap();
		ak_error_free(err);
	}
	free(s);
	return 0;
}
