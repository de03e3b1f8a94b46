/* libFuzzer target: bytes -> elf capture (in chunk sizes drawn from the input) ->
 * classify -> judge against every platform, and as a PT_INTERP loader.
 * Input: byte 0 picks the declared size (exact, sparse 32 MiB, above the ceiling), byte 1
 * seeds the chunk sizes, the rest is the file. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/platform.h"
#include "elf/capture.h"
#include "elf/classify.h"
#include "elf/judge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint8_t mode = data[0], seed = data[1];
	data += 2;
	size -= 2;
	uint64_t declared = size;
	if (mode % 4 == 1)
		declared = AK_ELF_CAPTURE_WHOLE_MAX + 16 + size; /* sparse, stream ends early */
	else if (mode % 4 == 2)
		declared = AK_ELF_CAPTURE_CEILING + 1 + size; /* head only */
	else if (mode % 4 == 3 && size > 0)
		declared = size - 1; /* more bytes than declared */

	struct ak_error *err = NULL;
	struct ak_elf_capture *c = ak_elf_capture_begin(declared, &err);
	if (!c) {
		ak_error_free(err);
		return 0;
	}
	uint32_t rng = seed * 2654435761u + 1;
	for (size_t off = 0; off < size;) {
		rng = rng * 1103515245u + 12345u;
		size_t chunk = 1 + (rng >> 16) % 97;
		if (chunk > size - off)
			chunk = size - off;
		ak_elf_capture_feed(c, data + off, chunk);
		off += chunk;
	}
	size_t len;
	const unsigned char *buf = ak_elf_capture_data(c, &len);
	if (buf) {
		struct ak_elf_facts facts;
		if (ak_elf_classify(buf, len, declared, &facts, &err) == 0) {
			for (size_t i = 0; i < ak_platform_count; i++) {
				struct ak_finding out[AK_ELF_FINDINGS_MAX];
				int n = ak_elf_judge(&facts, &ak_platforms[i], out, &err);
				for (int k = 0; k < n; k++)
					ak_finding_clear(&out[k]);
				struct ak_finding lf;
				if (ak_elf_judge_loader(&facts, &ak_platforms[i], &lf) == 1)
					ak_finding_clear(&lf);
			}
			free(ak_elf_describe(&facts));
			ak_elf_facts_clear(&facts);
		}
		ak_error_clear(&err);
	}
	ak_elf_capture_free(c);
	return 0;
}
