#include "common/escape.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

size_t ak_utf8_sequence(const char *str, uint32_t *cp)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n;
	uint32_t c, min;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	} else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2, c = s[0] & 0x1f, min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3, c = s[0] & 0x0f, min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4, c = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	/* a NUL is not a continuation byte, so this never reads past the end */
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

bool ak_utf8_valid(const char *s)
{
	uint32_t cp;
	for (size_t n; *s; s += n)
		if (!(n = ak_utf8_sequence(s, &cp)))
			return false;
	return true;
}

/* Code points that print nothing visible yet change what a reader sees: C1 controls
 * (some terminals act on them), bidi controls that reorder a line (CVE-2021-42574),
 * separators that break it, and the two non-characters XML 1.0 forbids. */
static bool invisible(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c || cp == 0x200b || cp == 0x200e ||
	       cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
	       cp == 0xfeff || cp == 0xfffe || cp == 0xffff;
}

/* The rendering of the sequence at s: returns the bytes it consumes, with the piece to
 * write in *piece and *len (pointing into s or into buf). */
static size_t escape_one(const char *s, bool text, bool keep_all, char buf[16], const char **piece,
			 size_t *len)
{
	uint32_t cp;
	size_t n = ak_utf8_sequence(s, &cp);
	*piece = s;
	*len = n;
	if (keep_all)
		return n;
	if (n == 0) {
		*len = (size_t)snprintf(buf, 16, "\\x%02x", (unsigned char)*s);
		*piece = buf;
		return 1;
	}
	const char *fixed = NULL;
	if (*s == '\\')
		fixed = "\\\\";
	else if (!text)
		return n;
	else if (*s == '\n')
		fixed = "\\n";
	else if (*s == '\r')
		fixed = "\\r";
	else if (*s == '\t')
		fixed = "\\t";
	if (fixed) {
		*piece = fixed;
		*len = 2;
	} else if (cp < 0x20 || cp == 0x7f || invisible(cp)) {
		if (cp < 0x80)
			*len = (size_t)snprintf(buf, 16, "\\x%02x", (unsigned)cp);
		else
			*len = (size_t)snprintf(buf, 16, "\\u%04x", (unsigned)cp);
		*piece = buf;
	}
	return n;
}

size_t ak_escape(char *out, const char *s, enum ak_escape_mode mode)
{
	bool text = mode == AK_ESCAPE_TEXT;
	bool keep_all = !text && ak_utf8_valid(s);
	size_t at = 0, len;
	const char *piece;
	char buf[16];
	while (*s) {
		s += escape_one(s, text, keep_all, buf, &piece, &len);
		if (out)
			memcpy(out + at, piece, len);
		at += len;
	}
	if (out)
		out[at] = '\0';
	return at;
}

int ak_escape_fputs(const char *s, enum ak_escape_mode mode, FILE *f)
{
	bool text = mode == AK_ESCAPE_TEXT;
	bool keep_all = !text && ak_utf8_valid(s);
	size_t len;
	const char *piece;
	char buf[16];
	while (*s) {
		s += escape_one(s, text, keep_all, buf, &piece, &len);
		if (fwrite(piece, 1, len, f) != len)
			return -1;
	}
	return 0;
}

bool ak_escape_needed(const char *s, enum ak_escape_mode mode)
{
	if (mode == AK_ESCAPE_UTF8)
		return !ak_utf8_valid(s);
	return ak_escape(NULL, s, mode) != strlen(s);
}

char *ak_escape_dup(const char *s, enum ak_escape_mode mode)
{
	if (!s)
		return NULL;
	char *out = ak_xmalloc(ak_escape(NULL, s, mode) + 1);
	ak_escape(out, s, mode);
	return out;
}

char *ak_base64(const void *buf, size_t len)
{
	static const char digits[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = buf;
	if (len > (SIZE_MAX - 1) / 4 * 3 - 2)
		return NULL;
	char *out = ak_xmalloc((len + 2) / 3 * 4 + 1), *o = out;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		*o++ = digits[v >> 18 & 63];
		*o++ = digits[v >> 12 & 63];
		*o++ = i + 1 < len ? digits[v >> 6 & 63] : '=';
		*o++ = i + 2 < len ? digits[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static int base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

long ak_base64_decode(const char *s, size_t len, unsigned char *out)
{
	if (len % 4 != 0)
		return -1;
	long n = 0;
	for (size_t i = 0; i < len; i += 4) {
		bool last = i + 4 == len;
		/* '=' only as the last one or two characters */
		int pad = last && s[i + 3] == '=' ? (s[i + 2] == '=' ? 2 : 1) : 0;
		uint32_t v = 0;
		for (int k = 0; k < 4; k++) {
			int d = k >= 4 - pad ? 0 : base64_value((unsigned char)s[i + k]);
			if (d < 0)
				return -1;
			v = v << 6 | (uint32_t)d;
		}
		out[n++] = (unsigned char)(v >> 16);
		if (pad < 2)
			out[n++] = (unsigned char)(v >> 8);
		if (pad < 1)
			out[n++] = (unsigned char)v;
	}
	out[n] = '\0';
	return n;
}
