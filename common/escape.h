/* Making strings that come from an image safe to print: a file name can hold any byte
 * but '/' and NUL, so it can hold terminal escapes, newlines that forge report lines,
 * and bytes that are not UTF-8 (which JSON and XML cannot carry). */
#ifndef AK_ESCAPE_H
#define AK_ESCAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum ak_escape_mode {
	/* For a terminal or a log. "\" becomes "\\"; LF, CR and TAB "\n", "\r", "\t";
	 * other C0 controls, DEL and bytes that are not valid UTF-8 "\xHH"; the C1
	 * controls and invisible characters that reorder or hide text (bidi controls,
	 * line and paragraph separators, the BOM, U+FFFE, U+FFFF) "\uHHHH". */
	AK_ESCAPE_TEXT,
	/* For JSON, which escapes control characters itself: a valid UTF-8 string is
	 * kept as it is; otherwise "\" becomes "\\" and each byte that is not part of a
	 * valid UTF-8 sequence "\xHH". */
	AK_ESCAPE_UTF8,
};

/* The length of the valid UTF-8 sequence at s (1 to 4) with its code point in *cp, or 0
 * when s does not start one (RFC 3629: no overlong forms, no surrogates, nothing above
 * U+10FFFF; the rules jansson applies). s must be NUL-terminated. */
size_t ak_utf8_sequence(const char *s, uint32_t *cp);
/* Whether all of s is valid UTF-8. */
bool ak_utf8_valid(const char *s);
/* Whether the text escaping changes s. */
bool ak_escape_needed(const char *s, enum ak_escape_mode mode);
/* Escape s into out (room for ak_escape(NULL, s, mode) + 1 bytes), NUL-terminated;
 * returns the length. With out NULL, only the length. Never truncates. */
size_t ak_escape(char *out, const char *s, enum ak_escape_mode mode);
/* Write s escaped to f; 0, or -1 when the write fails. Needs no memory. */
int ak_escape_fputs(const char *s, enum ak_escape_mode mode, FILE *f);
/* The escaped copy of s (caller frees); NULL when s is NULL. */
char *ak_escape_dup(const char *s, enum ak_escape_mode mode);
/* RFC 4648 base64 of len bytes (caller frees); NULL only for a len no buffer can have. */
char *ak_base64(const void *buf, size_t len);
/* Decode standard RFC 4648 base64 (padded; no whitespace, no URL alphabet) into out,
 * which has room for len / 4 * 3 + 1 bytes, NUL-terminated; the length, or -1 when s
 * is not base64. */
long ak_base64_decode(const char *s, size_t len, unsigned char *out);

#endif
