#include "binfmt/entry.h"

#include <ctype.h>
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "common/xalloc.h"

#define ENTRY_FILE_MAX 4096 /* an entry prints at most ~1 KiB: magic and mask are <= 128 */

static int hex_decode(const char *s, size_t slen, unsigned char *out, size_t max)
{
	if (slen % 2 || slen / 2 > max)
		return -1;
	for (size_t i = 0; i < slen; i += 2) {
		unsigned v;
		if (!isxdigit((unsigned char)s[i]) || !isxdigit((unsigned char)s[i + 1]) ||
		    sscanf(s + i, "%2x", &v) != 1)
			return -1;
		out[i / 2] = (unsigned char)v;
	}
	return (int)(slen / 2);
}

void ak_binfmt_entry_clear(struct ak_binfmt_entry *e)
{
	free(e->name);
	free(e->interpreter);
	free(e->extension);
	memset(e, 0, sizeof(*e));
}

int ak_binfmt_entry_parse(const char *name, const char *text, struct ak_binfmt_entry *e,
			  struct ak_error **err)
{
	memset(e, 0, sizeof(*e));
	bool seen_state = false, seen_interp = false, seen_magic = false, seen_mask = false;
	int mask_len = -1;
	cleanup_free char *copy = ak_xstrdup(text);
	e->name = ak_xstrdup(name);
	char *save = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strcmp(line, "enabled") == 0 || strcmp(line, "disabled") == 0) {
			e->enabled = line[0] == 'e';
			seen_state = true;
		} else if (ak_str_has_prefix(line, "interpreter ")) {
			free(e->interpreter);
			e->interpreter = ak_xstrdup(line + 12);
			seen_interp = true;
		} else if (ak_str_has_prefix(line, "flags:")) {
			const char *f = line + 6;
			while (*f == ' ')
				f++;
			if (ak_binfmt_flags_check(f, e->flags, NULL) < 0)
				goto bad;
		} else if (ak_str_has_prefix(line, "offset ")) {
			char *end;
			unsigned long v = strtoul(line + 7, &end, 10);
			if (*end || v > 4096)
				goto bad;
			e->offset = (unsigned)v;
		} else if (ak_str_has_prefix(line, "magic ")) {
			int n = hex_decode(line + 6, strlen(line + 6), e->magic, AK_MAGIC_MAX);
			if (n <= 0)
				goto bad;
			e->magic_len = (size_t)n;
			seen_magic = true;
		} else if (ak_str_has_prefix(line, "mask ")) {
			mask_len = hex_decode(line + 5, strlen(line + 5), e->mask, AK_MAGIC_MAX);
			if (mask_len <= 0)
				goto bad;
			seen_mask = true;
		} else if (ak_str_has_prefix(line, "extension ")) {
			e->is_extension = true;
			e->extension = ak_xstrdup(line + 10);
		}
		/* other lines: a newer kernel's additions; ignore them */
	}
	if (!seen_state || !seen_interp || (!seen_magic && !e->is_extension) ||
	    (seen_mask && (size_t)mask_len != e->magic_len))
		goto bad;
	if (!seen_mask)
		memset(e->mask, 0xff, e->magic_len);
	return 0;
bad:
	ak_binfmt_entry_clear(e);
	return ak_error_set(err, AK_EXIT_ENV, "entry '%s' is malformed", name);
}

void ak_binfmt_table_clear(struct ak_binfmt_table *t)
{
	for (size_t i = 0; i < t->count; i++)
		ak_binfmt_entry_clear(&t->entries[i]);
	for (size_t i = 0; i < t->unreadable_count; i++)
		free(t->unreadable[i]);
	free(t->entries);
	free(t->unreadable);
	memset(t, 0, sizeof(*t));
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ak_binfmt_entry *)a)->name,
		      ((const struct ak_binfmt_entry *)b)->name);
}

int ak_binfmt_table_read(int dirfd, struct ak_binfmt_table *t, struct ak_error **err)
{
	memset(t, 0, sizeof(*t));
	int fd = dup(dirfd);
	if (fd < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot read binfmt_misc");
	cleanup_dir DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot read binfmt_misc");
	}
	rewinddir(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		if (!strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, "register") ||
		    !strcmp(n, "status"))
			continue;
		cleanup_free char *text = NULL;
		cleanup_error struct ak_error *e2 = NULL;
		struct ak_binfmt_entry e;
		int r = ak_read_file_at(dirfd, n, ENTRY_FILE_MAX, &text, NULL, &e2);
		if (r == 0)
			r = ak_binfmt_entry_parse(n, text, &e, &e2);
		if (r < 0) {
			/* an entry removed between readdir and open is not a problem */
			if (e2 && e2->errnum == ENOENT)
				continue;
			t->unreadable = ak_xrealloc(t->unreadable, (t->unreadable_count + 1) *
									   sizeof(*t->unreadable));
			t->unreadable[t->unreadable_count++] = ak_xstrdup(e2 ? e2->msg : n);
			continue;
		}
		t->entries = ak_xrealloc(t->entries, (t->count + 1) * sizeof(*t->entries));
		t->entries[t->count++] = e;
	}
	if (t->count > 1)
		qsort(t->entries, t->count, sizeof(*t->entries), name_cmp);
	return 0;
}

const struct ak_binfmt_entry *ak_binfmt_table_find(const struct ak_binfmt_table *t,
						   const char *name)
{
	for (size_t i = 0; i < t->count; i++)
		if (strcmp(t->entries[i].name, name) == 0)
			return &t->entries[i];
	return NULL;
}

bool ak_binfmt_entry_matches(const struct ak_binfmt_entry *e, const unsigned char *hdr, size_t len)
{
	if (e->is_extension || e->offset + e->magic_len > len)
		return false;
	for (size_t i = 0; i < e->magic_len; i++)
		if ((hdr[e->offset + i] & e->mask[i]) != (e->magic[i] & e->mask[i]))
			return false;
	return true;
}

bool ak_binfmt_entry_catches(const struct ak_binfmt_entry *e, const struct ak_qemu_target *t)
{
	unsigned char hdrs[AK_REFERENCE_HEADERS_MAX][64];
	size_t n = ak_qemu_target_reference_headers(t, hdrs, AK_REFERENCE_HEADERS_MAX);
	for (size_t k = 0; k < n; k++)
		if (ak_binfmt_entry_matches(e, hdrs[k], sizeof(hdrs[k])))
			return true;
	return false;
}

/* A header that is not a real binary of the target: another class, byte order or
 * machine (which of 0..4). */
static bool mutate(const unsigned char *h, int which, unsigned char out[64])
{
	memcpy(out, h, 64);
	bool le = h[EI_DATA] == ELFDATA2LSB;
	switch (which) {
	case 0:
		out[EI_CLASS] = h[EI_CLASS] == ELFCLASS64 ? ELFCLASS32 : ELFCLASS64;
		return true;
	case 1:
		out[EI_DATA] = le ? ELFDATA2MSB : ELFDATA2LSB;
		return true;
	case 2: /* e_machine's low byte, then its high byte */
		out[le ? 18 : 19] ^= 0x01;
		return true;
	case 3:
		out[le ? 19 : 18] ^= 0x01;
		return true;
	case 4:
		out[18] = out[19] = 0; /* EM_NONE */
		return true;
	}
	return false;
}

/* Over the reference headers of u: for u == t, e must accept each (and, of their
 * mutations, only what t's own magic accepts); for another target, e must accept nothing
 * that t's own magic does not. */
static bool agrees_on(const struct ak_binfmt_entry *e, const struct ak_qemu_target *t,
		      const struct ak_qemu_target *u)
{
	unsigned char hdrs[AK_REFERENCE_HEADERS_MAX][64], m[64];
	size_t n = ak_qemu_target_reference_headers(u, hdrs, AK_REFERENCE_HEADERS_MAX);
	for (size_t k = 0; k < n; k++) {
		const unsigned char *h = hdrs[k];
		if (u == t && !ak_binfmt_entry_matches(e, h, 64))
			return false;
		if (u != t && ak_binfmt_entry_matches(e, h, 64) &&
		    !ak_qemu_target_matches(t, h, 64))
			return false;
		for (int w = 0; u == t && mutate(h, w, m); w++)
			if (ak_binfmt_entry_matches(e, m, 64) && !ak_qemu_target_matches(t, m, 64))
				return false;
	}
	return true;
}

bool ak_binfmt_entry_same_binaries(const struct ak_binfmt_entry *e, const struct ak_qemu_target *t)
{
	if (e->is_extension)
		return false;
	for (size_t i = 0; i < ak_qemu_target_count; i++)
		if (!agrees_on(e, t, &ak_qemu_targets[i]))
			return false;
	return true;
}

bool ak_binfmt_entry_same_magic(const struct ak_binfmt_entry *a, const struct ak_binfmt_entry *b)
{
	if (a->is_extension || b->is_extension || a->offset != b->offset ||
	    a->magic_len != b->magic_len)
		return false;
	for (size_t i = 0; i < a->magic_len; i++)
		if (a->mask[i] != b->mask[i] ||
		    (a->magic[i] & a->mask[i]) != (b->magic[i] & b->mask[i]))
			return false;
	return true;
}

int ak_binfmt_name_check(const char *name, struct ak_error **err)
{
	size_t n = strlen(name);
	if (n == 0 || n > AK_BINFMT_NAME_MAX)
		return ak_error_set(err, AK_EXIT_USAGE,
				    "invalid handler name '%s': must be 1 to %d characters", name,
				    AK_BINFMT_NAME_MAX);
	if (strchr(name, '/') || strchr(name, ':'))
		return ak_error_set(err, AK_EXIT_USAGE,
				    "invalid handler name '%s': contains '/' or ':'", name);
	if (!strcmp(name, ".") || !strcmp(name, "..") || !strcmp(name, "register") ||
	    !strcmp(name, "status"))
		return ak_error_set(err, AK_EXIT_USAGE, "invalid handler name '%s': reserved",
				    name);
	for (const char *p = name; *p; p++)
		if (!isprint((unsigned char)*p) || *p == ' ')
			return ak_error_set(err, AK_EXIT_USAGE,
					    "invalid handler name '%s': unprintable or blank",
					    name);
	return 0;
}

int ak_binfmt_flags_check(const char *flags, char out[8], struct ak_error **err)
{
	bool have[4] = {false};
	for (const char *p = flags; *p; p++) {
		const char *at = strchr(AK_BINFMT_FLAGS, *p);
		if (!at || !*p)
			return ak_error_set(err, AK_EXIT_USAGE,
					    "unknown binfmt flag '%c' (known: P, O, C, F)", *p);
		have[at - AK_BINFMT_FLAGS] = true;
	}
	size_t n = 0;
	for (int i = 0; i < 4; i++)
		if (have[i])
			out[n++] = AK_BINFMT_FLAGS[i];
	out[n] = '\0';
	return 0;
}

int ak_binfmt_entry_for_target(const struct ak_qemu_target *t, const char *interpreter,
			       const char *flags, struct ak_binfmt_entry *e, struct ak_error **err)
{
	memset(e, 0, sizeof(*e));
	if (ak_binfmt_flags_check(flags, e->flags, err) < 0)
		return -1;
	e->magic_len = ak_qemu_target_magic(t, e->magic, e->mask);
	if (e->magic_len == 0)
		return ak_error_set(err, AK_EXIT_ENV, "platform table: bad magic for '%s'",
				    t->name);
	e->enabled = true;
	e->name = ak_xasprintf("qemu-%s", t->name);
	e->interpreter = ak_xstrdup(interpreter);
	return 0;
}

char *ak_binfmt_rule_format(const struct ak_binfmt_entry *e, struct ak_error **err)
{
	if (ak_binfmt_name_check(e->name, err) < 0)
		return NULL;
	if (e->magic_len == 0 || e->magic_len > AK_MAGIC_MAX) {
		ak_error_set(err, AK_EXIT_USAGE,
			     "magic of '%s' is %zu bytes; binfmt_misc takes 1 to %d", e->name,
			     e->magic_len, AK_MAGIC_MAX);
		return NULL;
	}
	if (e->interpreter[0] != '/' || strchr(e->interpreter, ':') ||
	    strchr(e->interpreter, '\n')) {
		ak_error_set(err, AK_EXIT_USAGE,
			     "interpreter '%s' must be an absolute path without ':'",
			     e->interpreter);
		return NULL;
	}
	char flags[8];
	if (ak_binfmt_flags_check(e->flags, flags, err) < 0)
		return NULL;
	cleanup_free char *magic = ak_hex_escape(e->magic, e->magic_len);
	cleanup_free char *mask = ak_hex_escape(e->mask, e->magic_len);
	char *line = ak_xasprintf(":%s:M:%u:%s:%s:%s:%s", e->name, e->offset, magic, mask,
				  e->interpreter, flags);
	if (strlen(line) > AK_BINFMT_RULE_MAX) {
		ak_error_set(err, AK_EXIT_USAGE,
			     "rule for '%s' is %zu bytes; binfmt_misc takes at most %d "
			     "(shorten the name or the interpreter path)",
			     e->name, strlen(line), AK_BINFMT_RULE_MAX);
		free(line);
		return NULL;
	}
	return line;
}

/* Splits off the field of s up to the delimiter (kept NUL-terminated in place); NULL when
 * there is no delimiter left, which the kernel refuses as a short rule. */
static char *rule_field(char **s, char del)
{
	char *start = *s, *end = strchr(start, del);
	if (!end)
		return NULL;
	*end = '\0';
	*s = end + 1;
	return start;
}

int ak_binfmt_rule_parse(const char *line, struct ak_binfmt_entry *e, struct ak_error **err)
{
	memset(e, 0, sizeof(*e));
	size_t len = strlen(line);
	if (len && line[len - 1] == '\n')
		len--;
	if (len < 2 || len > AK_BINFMT_RULE_MAX)
		return ak_error_set(err, AK_EXIT_ENV, "a rule is 2 to %d bytes, this one %zu",
				    AK_BINFMT_RULE_MAX, len);
	/* the kernel takes one final newline and refuses any other; the messages below quote
	 * fields, which must then not break the one line a problem gets */
	if (memchr(line, '\n', len))
		return ak_error_set(err, AK_EXIT_ENV,
				    "a rule is one line, this one breaks at offset %zu",
				    (size_t)((const char *)memchr(line, '\n', len) - line));
	/* the kernel takes the first character as the delimiter, whatever it is */
	cleanup_free char *copy = ak_xstrndup(line + 1, len - 1);
	char del = line[0], *p = copy;
	char *name = rule_field(&p, del), *type = name ? rule_field(&p, del) : NULL;
	char *offset = type ? rule_field(&p, del) : NULL,
	     *magic = offset ? rule_field(&p, del) : NULL;
	char *mask = magic ? rule_field(&p, del) : NULL,
	     *interp = mask ? rule_field(&p, del) : NULL;
	if (!interp)
		return ak_error_set(err, AK_EXIT_ENV,
				    "not ':name:type:offset:magic:mask:interpreter:flags'");
	const char *flags = p; /* the rest; a delimiter after the flags is an unknown flag */
	if (ak_binfmt_name_check(name, err) < 0)
		return -1;
	if (strcmp(type, "M") && strcmp(type, "E"))
		return ak_error_set(err, AK_EXIT_ENV, "rule '%s': type '%.40s' is neither M nor E",
				    name, type);
	if (!*interp)
		return ak_error_set(err, AK_EXIT_ENV, "rule '%s': no interpreter", name);
	e->name = ak_xstrdup(name);
	e->interpreter = ak_xstrdup(interp);
	e->enabled = true;
	char f[8];
	if (ak_binfmt_flags_check(flags, f, NULL) < 0) {
		ak_binfmt_entry_clear(e);
		return ak_error_set(err, AK_EXIT_ENV,
				    "rule '%s': flags '%.40s' are not of P, O, C, F", name, flags);
	}
	/* C makes the kernel set O too (it prints "OC"), so a rule with C reads back so */
	if (strchr(f, 'C') && !strchr(f, 'O')) {
		char withO[16];
		snprintf(withO, sizeof(withO), "%sO", f);
		ak_binfmt_flags_check(withO, f, NULL);
	}
	memcpy(e->flags, f, sizeof(e->flags));
	if (type[0] == 'E') {
		if (!*magic || strchr(magic, '/')) {
			ak_binfmt_entry_clear(e);
			return ak_error_set(err, AK_EXIT_ENV, "rule '%s': bad extension '%.40s'",
					    name, magic);
		}
		e->is_extension = true;
		e->extension = ak_xstrdup(magic);
		return 0;
	}
	char *end;
	unsigned long off = *offset ? strtoul(offset, &end, 10) : 0;
	long n = ak_hex_unescape(magic, e->magic, AK_MAGIC_MAX);
	long m = *mask ? ak_hex_unescape(mask, e->mask, AK_MAGIC_MAX) : n;
	const char *why = (*offset && (*end || !isdigit((unsigned char)*offset))) ? "offset"
			  : n <= 0						  ? "magic"
			  : m != n						  ? "mask"
			  /* BINPRM_BUF_SIZE: the bytes of a file the kernel looks at */
			  : off > 256 || off + (unsigned long)n > 256 /* (no wrap) */
				  ? "offset + magic length (over 256)"
				  : NULL;
	if (why) {
		ak_binfmt_entry_clear(e);
		return ak_error_set(err, AK_EXIT_ENV, "rule '%s': bad %s", name, why);
	}
	if (!*mask)
		memset(e->mask, 0xff, (size_t)n);
	e->offset = (unsigned)off;
	e->magic_len = (size_t)n;
	return 0;
}
