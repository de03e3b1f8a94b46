/* What the fuzz targets share. */
#ifndef AK_FUZZ_H
#define AK_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The input as a NUL-terminated string for a parser that takes one (a NUL byte inside
 * ends it early, as it would for the caller); NULL when out of memory. free() it. */
static inline char *fuzz_cstring(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (s) {
		memcpy(s, data, size);
		s[size] = '\0';
	}
	return s;
}

#endif
