/* libFuzzer target: bytes -> ak_www_auth_parse, as the header value up to the first NUL.
 * Checks what the parser promises: a result is Bearer with a realm or Basic, its values
 * fit 4 KiB, and an error is one short line that does not repeat the header (it may be
 * hostile, or hold a token). Seeds: fuzz/seeds/fuzz_www_auth. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "image/registry.h"
#include "fuzz/fuzz.h"

static void check_value(const char *v)
{
	if (v && strlen(v) > 4096)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 16384)
		return 0;
	char *s = fuzz_cstring(data, size);
	if (!s)
		return 0;
	struct ak_www_auth a;
	struct ak_error *err = NULL;
	if (ak_www_auth_parse(s, &a, &err) == 0) {
		if (err || !a.scheme)
			__builtin_trap();
		bool bearer = strcasecmp(a.scheme, "Bearer") == 0;
		if (!bearer && strcasecmp(a.scheme, "Basic") != 0)
			__builtin_trap();
		if (bearer && (!a.realm || !*a.realm))
			__builtin_trap();
		check_value(a.realm);
		check_value(a.service);
		check_value(a.scope);
		check_value(a.error);
		ak_www_auth_clear(&a);
	} else {
		if (!err || a.scheme || a.realm || strchr(err->msg, '\n') || strlen(err->msg) > 200)
			__builtin_trap();
		/* only a scheme name (at most 32 bytes) is ever quoted */
		if (strlen(s) > 40 && strstr(err->msg, s))
			__builtin_trap();
		ak_error_free(err);
	}
	free(s);
	return 0;
}
