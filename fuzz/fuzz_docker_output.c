/* libFuzzer target: bytes -> doctor's parsers of docker's output, each given the whole
 * input: `docker info --format '{{json .}}'` (ak_docker_info_parse), `docker buildx ls`
 * and `docker buildx inspect` (ak_docker_parse_ls, ak_docker_parse_inspect). Checks that
 * a listed builder's name is one that may go on a command line and that nothing leaks.
 * Seeds: fuzz/seeds/fuzz_docker_output (tests/integration/fake-docker's recordings). */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "doctor/docker-parse.h"
#include "fuzz/fuzz.h"

#define MAX_BUILDERS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	struct ak_docker_info info;
	if (ak_docker_info_parse((const char *)data, size, &info) &&
	    ((info.version && !*info.version) || (info.driver && !*info.driver) ||
	     (info.server_error && !info.has_errors)))
		__builtin_trap();
	ak_docker_info_clear(&info);

	char *s = fuzz_cstring(data, size);
	if (!s)
		return 0;
	struct ak_docker_builder b[MAX_BUILDERS];
	size_t n = ak_docker_parse_ls(s, b, MAX_BUILDERS);
	if (n > MAX_BUILDERS)
		__builtin_trap();
	for (size_t i = 0; i < n; i++) {
		const char *c = b[i].name;
		if (!c || !isalnum((unsigned char)*c))
			__builtin_trap();
		for (; *c; c++)
			if (!isalnum((unsigned char)*c) && !strchr("._-", *c))
				__builtin_trap();
		ak_docker_builder_clear(&b[i]);
	}

	memcpy(s, data, size);
	struct ak_docker_builder one = {0};
	ak_docker_parse_inspect(s, &one);
	for (size_t i = 0; i < one.nplatforms; i++)
		for (size_t k = 0; k < i; k++)
			if (one.platforms[i] == one.platforms[k] || !one.platforms[i])
				__builtin_trap();
	ak_docker_builder_clear(&one);
	free(s);
	return 0;
}
