/* Fuzz the image document parsers: OCI/Docker index, manifest, config and docker
 * save's manifest.json. The first byte picks the parser; the rest is the document.
 * Seeds in fuzz/seeds/fuzz_index start with that byte: 'i', 'm', 'c' or 'd'. */
#include <stddef.h>
#include <stdint.h>

#include "common/cleanup.h"
#include "image/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > AK_JSON_MAX)
		return 0;
	const char *doc = (const char *)data + 1;
	size_t len = size - 1;
	struct ak_error *err = NULL;
	switch (data[0]) {
	case 'i': {
		struct ak_index_doc d;
		if (ak_index_parse(doc, len, "fuzz", &d, &err) == 0) {
			for (size_t i = 0; i < d.n; i++)
				if (d.entries[i].d.size < 0 || !d.entries[i].d.digest)
					__builtin_trap(); /* the parser promised validation */
			ak_index_doc_free(&d);
		}
		break;
	}
	case 'm': {
		struct ak_manifest_doc d;
		if (ak_manifest_parse(doc, len, "fuzz", &d, &err) == 0) {
			if (d.config.size > AK_BLOB_SIZE_MAX)
				__builtin_trap();
			ak_manifest_doc_free(&d);
		}
		break;
	}
	case 'c': {
		struct ak_config_doc d;
		if (ak_config_parse(doc, len, "fuzz", &d, &err) == 0) {
			(void)ak_platform_from_oci(d.os, d.arch, d.variant);
			ak_config_doc_free(&d);
		}
		break;
	}
	default: {
		struct ak_docker_manifest d;
		if (ak_docker_manifest_parse(doc, len, &d, &err) == 0)
			ak_docker_manifest_free(&d);
		break;
	}
	}
	if (err && (err->status != AK_EXIT_ENV || !err->msg))
		__builtin_trap(); /* every failure is a clean input error */
	ak_error_free(err);
	return 0;
}
