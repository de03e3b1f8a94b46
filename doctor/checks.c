/* doctor's pure judgements (checks.h): what mountinfo, a release string, flags and magic
 * bytes mean, apart from reading them. */
#include "doctor/checks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "common/xalloc.h"

/* mountinfo escapes space, tab, newline and backslash as \ooo */
static char *unescape_field(const char *s, size_t n)
{
	char *out = ak_xmalloc(n + 1), *o = out;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\' && i + 3 < n && s[i + 1] >= '0' && s[i + 1] <= '3' &&
		    s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
			*o++ = (char)((s[i + 1] - '0') << 6 | (s[i + 2] - '0') << 3 | (s[i + 3] - '0'));
			i += 3;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

/* Field k (0-based, space-separated) of a line; NULL when there are fewer. */
static const char *field(const char *line, const char *end, int k, size_t *len)
{
	const char *p = line;
	for (int i = 0;; i++) {
		while (p < end && *p == ' ')
			p++;
		if (p >= end)
			return NULL;
		const char *q = p;
		while (q < end && *q != ' ')
			q++;
		if (i == k) {
			*len = (size_t)(q - p);
			return p;
		}
		p = q;
	}
}

static bool has_option(const char *opts, size_t n, const char *opt)
{
	size_t ol = strlen(opt);
	for (const char *p = opts, *end = opts + n; p < end;) {
		const char *c = memchr(p, ',', (size_t)(end - p));
		size_t l = c ? (size_t)(c - p) : (size_t)(end - p);
		if (l == ol && memcmp(p, opt, ol) == 0)
			return true;
		p += l + 1;
	}
	return false;
}

int ak_doctor_mountinfo_find(const char *text, const char *path, struct ak_mountinfo *out)
{
	memset(out, 0, sizeof(*out));
	int found = -1;
	for (const char *line = text; line && *line;) {
		const char *end = strchr(line, '\n');
		const char *next = end ? end + 1 : NULL;
		if (!end)
			end = line + strlen(line);
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER */
		size_t mpl = 0, ol = 0;
		const char *mp = field(line, end, 4, &mpl);
		const char *opts = field(line, end, 5, &ol);
		const char *sep = NULL;
		for (const char *p = line; p + 2 < end; p++)
			if (p[0] == ' ' && p[1] == '-' && p[2] == ' ') {
				sep = p + 1; /* the "-" itself: field 0 */
				break;
			}
		if (mp && opts && sep) {
			char *m = unescape_field(mp, mpl);
			if (strcmp(m, path) == 0) {
				size_t fl = 0, sl = 0;
				const char *fs = field(sep, end, 1, &fl);
				const char *src = field(sep, end, 2, &sl);
				ak_mountinfo_clear(out);
				out->mount_point = m;
				m = NULL;
				out->fstype = fs ? unescape_field(fs, fl) : ak_xstrdup("?");
				out->source = src ? unescape_field(src, sl) : ak_xstrdup("?");
				out->read_only = has_option(opts, ol, "ro");
				found = 0;
			}
			free(m);
		}
		line = next;
	}
	return found;
}

void ak_mountinfo_clear(struct ak_mountinfo *m)
{
	free(m->mount_point);
	free(m->fstype);
	free(m->source);
	memset(m, 0, sizeof(*m));
}

enum ak_mount_kind ak_doctor_mount_classify(unsigned long fs_magic, const struct ak_mountinfo *m)
{
	if (fs_magic == AK_BINFMTFS_MAGIC)
		return AK_MOUNT_BINFMT;
	if (fs_magic == AK_AUTOFS_SUPER_MAGIC || (m && strcmp(m->fstype, "autofs") == 0))
		return AK_MOUNT_AUTOFS;
	if (m && strcmp(m->fstype, "binfmt_misc") == 0)
		return AK_MOUNT_BINFMT; /* fstatfs could not be asked */
	return m ? AK_MOUNT_OTHER : AK_MOUNT_NONE;
}

bool ak_doctor_kernel_at_least(const char *release, int major, int minor)
{
	char *end;
	long a = strtol(release, &end, 10);
	if (end == release || *end != '.')
		return false;
	const char *s = end + 1;
	long b = strtol(s, &end, 10);
	if (end == s)
		return false;
	return a > major || (a == major && b >= minor);
}

static void add_clause(char *buf, size_t len, size_t *n, const char *text)
{
	if (*n >= len)
		return;
	int w = snprintf(buf + *n, len - *n, "%s%s", *n ? "; " : "", text);
	*n += w > 0 ? (size_t)w : 0;
	if (*n >= len)
		*n = len - 1;
}

enum ak_check_status ak_doctor_flags_judge(const char *flags, bool wrapper_needs_p, char *buf,
					   size_t len)
{
	enum ak_check_status st = AK_CHECK_PASS;
	size_t n = 0;
	buf[0] = '\0';
	bool f = strchr(flags, 'F'), c = strchr(flags, 'C'), p = strchr(flags, 'P'),
	     o = strchr(flags, 'O');
	if (f) {
		add_clause(buf, len, &n,
			   "F: the interpreter was opened at registration, so it runs in "
			   "containers and chroots");
	} else {
		add_clause(buf, len, &n,
			   "no F: the kernel looks the interpreter up by path inside each "
			   "container or chroot, where it is missing: emulated programs fail there");
		st = AK_CHECK_FAIL;
	}
	if (c) {
		add_clause(buf, len, &n,
			   "C: setuid binaries run with their owner's privileges under emulation "
			   "(sudo needs that), so a flaw in QEMU becomes a privilege escalation");
		if (st < AK_CHECK_WARN)
			st = AK_CHECK_WARN;
	} else {
		add_clause(buf, len, &n,
			   "no C: setuid binaries (sudo, su) run without their owner's privileges "
			   "under emulation");
	}
	if (p)
		add_clause(buf, len, &n, "P: argv[0] is passed on as the program gave it");
	else if (wrapper_needs_p) {
		add_clause(buf, len, &n,
			   "no P: the -binfmt-P wrapper takes its first argument for argv[0] and "
			   "misreads every command line");
		st = AK_CHECK_FAIL;
	} else {
		add_clause(buf, len, &n, "no P: programs see their path as argv[0]");
	}
	if (o && !c)
		add_clause(buf, len, &n,
			   "O: the kernel opens the binary, so execute-only binaries run too");
	return st;
}

/* The ELF header field a byte of the magic falls in, for a drift message. */
static const char *elf_field(unsigned off)
{
	static const struct {
		unsigned from, to;
		const char *name;
	} f[] = {
		{0, 3, "ELF magic"},   {4, 4, "EI_CLASS"},     {5, 5, "EI_DATA"},
		{6, 6, "EI_VERSION"},  {7, 7, "EI_OSABI"},     {8, 8, "EI_ABIVERSION"},
		{9, 15, "EI_PAD"},     {16, 17, "e_type"},     {18, 19, "e_machine"},
		{20, 23, "e_version"},
	};
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (off >= f[i].from && off <= f[i].to)
			return f[i].name;
	return "ELF header";
}

char *ak_doctor_magic_drift(const struct ak_binfmt_entry *have, const struct ak_binfmt_entry *want)
{
	if (have->is_extension)
		return ak_xasprintf("matches the file extension '%s', not ELF magic",
				    have->extension ? have->extension : "");
	if (have->offset != want->offset)
		return ak_xasprintf("offset %u, want %u", have->offset, want->offset);
	if (have->magic_len != want->magic_len)
		return ak_xasprintf("magic of %zu bytes, want %zu", have->magic_len,
				    want->magic_len);
	for (size_t i = 0; i < have->magic_len; i++) {
		unsigned at = have->offset + (unsigned)i;
		if (have->mask[i] != want->mask[i])
			return ak_xasprintf("mask byte %u (%s) is 0x%02x, want 0x%02x", at,
					    elf_field(at), have->mask[i], want->mask[i]);
		if ((have->magic[i] & have->mask[i]) != (want->magic[i] & want->mask[i]))
			return ak_xasprintf("magic byte %u (%s) is 0x%02x, want 0x%02x", at,
					    elf_field(at), have->magic[i], want->magic[i]);
	}
	return NULL;
}

enum ak_check_status ak_doctor_userns_judge(long unprivileged_clone, long max_userns,
					    long apparmor_restrict, bool privileged, char *detail,
					    size_t dlen, char *fix, size_t flen)
{
	fix[0] = '\0';
	if (max_userns == 0) {
		snprintf(detail, dlen, "user namespaces are disabled (user.max_user_namespaces=0)");
		snprintf(fix, flen, "sysctl -w user.max_user_namespaces=15000");
		return AK_CHECK_WARN;
	}
	const char *blocked = NULL, *how = NULL;
	if (unprivileged_clone == 0) {
		blocked = "kernel.unprivileged_userns_clone=0";
		how = "sysctl -w kernel.unprivileged_userns_clone=1";
	} else if (apparmor_restrict == 1) {
		blocked = "kernel.apparmor_restrict_unprivileged_userns=1";
		how = "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (or an AppArmor "
		      "profile for archkit with 'userns,')";
	}
	if (blocked && !privileged) {
		snprintf(detail, dlen,
			 "unprivileged user namespaces are blocked (%s): 'archkit sandbox' and "
			 "'archkit verify IMAGE' cannot run as this user",
			 blocked);
		snprintf(fix, flen, "%s", how);
		return AK_CHECK_WARN;
	}
	if (blocked)
		snprintf(detail, dlen,
			 "user namespaces available to this process (privileged); %s blocks "
			 "unprivileged users",
			 blocked);
	else if (max_userns > 0)
		snprintf(detail, dlen, "user namespaces available (user.max_user_namespaces=%ld)",
			 max_userns);
	else
		snprintf(detail, dlen, "user namespaces available");
	return AK_CHECK_PASS;
}
