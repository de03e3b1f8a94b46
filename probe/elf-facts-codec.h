/* The ELF facts of probe's consumer as the layer cache stores them: every field of
 * struct ak_elf_facts, so a cached layer is judged exactly as a scanned one. */
#ifndef AK_PROBE_ELF_FACTS_CODEC_H
#define AK_PROBE_ELF_FACTS_CODEC_H

#include "image/layer-cache.h"

extern const struct ak_facts_codec ak_elf_facts_codec;

/* Free facts made by probe's consumer or by the codec (a struct ak_elf_facts); NULL is
 * fine. */
void ak_elf_facts_free(void *facts);

#endif
