#include "common/platform.h"

#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

/* The 34 QEMU linux-user targets with the magic and mask of qemu-binfmt-conf.sh
 * (../shared/reference/qemu-binfmt.tsv). microblaze carries upstream QEMU's big-endian
 * e_type/e_machine bytes: the reference row had them in little-endian order, which no
 * big-endian microblaze binary matches (tests/check_platform.c proves every row). */
/* One row per target, as in the reference. */
/* clang-format off */
const struct ak_qemu_target ak_qemu_targets[] = {
	{"i386", "i386", 0x3, 1, 1,
	 "\\x7fELF\\x01\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x03\\x00",
	 "\\xff\\xff\\xff\\xff\\xff\\xfe\\xfe\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff"},
	{"i486", "i386", 0x6, 1, 1,
	 "\\x7fELF\\x01\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x06\\x00",
	 "\\xff\\xff\\xff\\xff\\xff\\xfe\\xfe\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff"},
	{"x86_64", "i386", 0x3e, 2, 1,
	 "\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x3e\\x00",
	 "\\xff\\xff\\xff\\xff\\xff\\xfe\\xfe\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff"},
	{"alpha", "alpha", 0x9026, 2, 1,
	 "\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x26\\x90",
	 "\\xff\\xff\\xff\\xff\\xff\\xfe\\xfe\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff"},
	{"arm", "arm", 0x28, 1, 1,
	 "\\x7fELF\\x01\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x28\\x00",
	 "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff"},
	{"armeb", "armeb", 0x28, 1, 2,
	 "\\x7fELF\\x01\\x02\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x28",
	 "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff"},
	{"sparc", "sparc", 0x2, 1, 2,
	 "\\x7fELF\\x01\\x02\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x02",
	 "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff"},
	{"sparc32plus", "sparc", 0x12, 1, 2,
	 "\\x7fELF\\x01\\x02\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x12",
	 "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff"},
	{"sparc64", "sparc", 0x2b, 2, 2,
	 "\\x7fELF\\x02\\x02\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x2b",
	 "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff"},
	{"ppc", "ppc", 0x14, 1, 2,
	 "\\x7fELF\\x01\\x02\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x14",
	 "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff"},
	{"ppc64", "ppc", 0x15, 2, 2,
	 "\\x7fELF\\x02\\x02\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x15",
	 "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff"},
	{"ppc64le", "ppcle", 0x15, 2, 1,
	 "\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x15\\x00",
	 "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\x00"},
	{"m68k", "m68k", 0x4, 1, 2,
	 "\\x7fELF\\x01\\x02\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x04",
	 "\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff"},
	{"mips", "mips", 0x8, 1, 2,
	 "\\x7fELF\\x01\\x02\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x08\\x00\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00",
	 "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x20"},
	{"mipsel", "mips", 0x8, 1, 1,
	 "\\x7fELF\\x01\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x08\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00",
	 "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x20\\x00\\x00\\x00"},
	{"mipsn32", "mips", 0x8, 1, 2,
	 "\\x7fELF\\x01\\x02\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x08\\x00\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x20",
	 "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x20"},
	{"mipsn32el", "mips", 0x8, 1, 1,
	 "\\x7fELF\\x01\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x08\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x20\\x00\\x00\\x00",
	 "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x20\\x00\\x00\\x00"},
	{"mips64", "mips", 0x8, 2, 2,
	 "\\x7fELF\\x02\\x02\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x08",
	 "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff"},
	{"mips64el", "mips", 0x8, 2, 1,
	 "\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x08\\x00",
	 "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff"},
	{"sh4", "sh4", 0x2a, 1, 1,
	 "\\x7fELF\\x01\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x2a\\x00",
	 "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff"},
	{"sh4eb", "sh4", 0x2a, 1, 2,
	 "\\x7fELF\\x01\\x02\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x2a",
	 "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff"},
	{"s390x", "s390x", 0x16, 2, 2,
	 "\\x7fELF\\x02\\x02\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x16",
	 "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff"},
	{"aarch64", "arm", 0xb7, 2, 1,
	 "\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00",
	 "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff"},
	{"aarch64_be", "armeb", 0xb7, 2, 2,
	 "\\x7fELF\\x02\\x02\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7",
	 "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff"},
	{"hppa", "hppa", 0xf, 1, 2,
	 "\\x7f\\x45\\x4c\\x46\\x01\\x02\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x0f",
	 "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff"},
	{"riscv32", "riscv", 0xf3, 1, 1,
	 "\\x7fELF\\x01\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xf3\\x00",
	 "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff"},
	{"riscv64", "riscv", 0xf3, 2, 1,
	 "\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xf3\\x00",
	 "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff"},
	{"xtensa", "xtensa", 0x5e, 1, 1,
	 "\\x7fELF\\x01\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x5e\\x00",
	 "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff"},
	{"xtensaeb", "xtensaeb", 0x5e, 1, 2,
	 "\\x7fELF\\x01\\x02\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x5e",
	 "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff"},
	{"microblaze", "microblaze", 0xbaab, 1, 2,
	 "\\x7fELF\\x01\\x02\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\xba\\xab",
	 "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff"},
	{"microblazeel", "microblazeel", 0xbaab, 1, 1,
	 "\\x7fELF\\x01\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xab\\xba",
	 "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff"},
	{"or1k", "or1k", 0x5c, 1, 2,
	 "\\x7fELF\\x01\\x02\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x5c",
	 "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff"},
	{"hexagon", "hexagon", 0xa4, 1, 1,
	 "\\x7fELF\\x01\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xa4\\x00",
	 "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff"},
	{"loongarch64", "loongarch", 0x102, 2, 1,
	 "\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x02\\x01",
	 "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfc\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff"},
};
const size_t ak_qemu_target_count = sizeof(ak_qemu_targets) / sizeof(ak_qemu_targets[0]);

/* OCI platforms. uname lists what `uname -m` may report for code of that platform: under
 * QEMU, or natively on a 64-bit host of the same family (386 code on x86_64 reports
 * x86_64, arm code on arm64 reports armv8l). */
const struct ak_platform ak_platforms[] = {
	{"linux/amd64", "amd64", NULL, "x86_64", 62, 2, 1, "x86_64",
	 "/lib64/ld-linux-x86-64.so.2", "/lib/ld-musl-x86_64.so.1", "x86_64 x86-64 amd64/v1"},
	{"linux/amd64/v2", "amd64", "v2", "x86_64", 62, 2, 1, "x86_64",
	 "/lib64/ld-linux-x86-64.so.2", "/lib/ld-musl-x86_64.so.1", "x86_64/v2"},
	{"linux/amd64/v3", "amd64", "v3", "x86_64", 62, 2, 1, "x86_64",
	 "/lib64/ld-linux-x86-64.so.2", "/lib/ld-musl-x86_64.so.1", "x86_64/v3"},
	{"linux/amd64/v4", "amd64", "v4", "x86_64", 62, 2, 1, "x86_64",
	 "/lib64/ld-linux-x86-64.so.2", "/lib/ld-musl-x86_64.so.1", "x86_64/v4"},
	{"linux/386", "386", NULL, "i386", 3, 1, 1, "i386 i486 i586 i686 x86_64",
	 "/lib/ld-linux.so.2", "/lib/ld-musl-i386.so.1", "i386 i486 i586 i686 x86"},
	{"linux/arm64", "arm64", NULL, "aarch64", 183, 2, 1, "aarch64 arm64",
	 "/lib/ld-linux-aarch64.so.1", "/lib/ld-musl-aarch64.so.1", "aarch64 arm64/v8 aarch64/v8"},
	{"linux/arm/v7", "arm", "v7", "arm", 40, 1, 1, "armv7l armv8l aarch64",
	 "/lib/ld-linux-armhf.so.3", "/lib/ld-musl-armhf.so.1", "arm armhf armv7 armv7l arm/v7"},
	{"linux/arm/v6", "arm", "v6", "arm", 40, 1, 1, "armv6l armv7l armv8l aarch64",
	 "/lib/ld-linux-armhf.so.3", "/lib/ld-musl-armhf.so.1", "armv6 armv6l"},
	{"linux/arm/v5", "arm", "v5", "arm", 40, 1, 1, "armv5l armv5tel armv5tejl armv6l armv7l armv8l aarch64",
	 "/lib/ld-linux.so.3", "/lib/ld-musl-arm.so.1", "armel armv5 armv5l armv5tel"},
	{"linux/ppc64le", "ppc64le", NULL, "ppc64le", 21, 2, 1, "ppc64le",
	 "/lib64/ld64.so.2", "/lib/ld-musl-powerpc64le.so.1", "ppc64el powerpc64le"},
	{"linux/ppc64", "ppc64", NULL, "ppc64", 21, 2, 2, "ppc64",
	 "/lib64/ld64.so.1", NULL, "powerpc64"},
	{"linux/s390x", "s390x", NULL, "s390x", 22, 2, 2, "s390x",
	 "/lib/ld64.so.1", "/lib/ld-musl-s390x.so.1", ""},
	{"linux/riscv64", "riscv64", NULL, "riscv64", 243, 2, 1, "riscv64",
	 "/lib/ld-linux-riscv64-lp64d.so.1", "/lib/ld-musl-riscv64.so.1", ""},
	{"linux/mips64le", "mips64le", NULL, "mips64el", 8, 2, 1, "mips64",
	 "/lib64/ld.so.1", "/lib/ld-musl-mips64el.so.1", "mips64el"},
	{"linux/mips64", "mips64", NULL, "mips64", 8, 2, 2, "mips64",
	 "/lib64/ld.so.1", "/lib/ld-musl-mips64.so.1", ""},
	{"linux/loong64", "loong64", NULL, "loongarch64", 258, 2, 1, "loongarch64",
	 "/lib64/ld-linux-loongarch-lp64d.so.1", "/lib/ld-musl-loongarch64.so.1", "loongarch64"},
};
/* clang-format on */
const size_t ak_platform_count = sizeof(ak_platforms) / sizeof(ak_platforms[0]);

const struct ak_qemu_target *ak_qemu_target_find(const char *name)
{
	for (size_t i = 0; i < ak_qemu_target_count; i++)
		if (strcmp(ak_qemu_targets[i].name, name) == 0)
			return &ak_qemu_targets[i];
	return NULL;
}

const struct ak_qemu_target *ak_platform_qemu(const struct ak_platform *p)
{
	return ak_qemu_target_find(p->qemu);
}

size_t ak_qemu_target_magic(const struct ak_qemu_target *t, unsigned char magic[AK_MAGIC_MAX],
			    unsigned char mask[AK_MAGIC_MAX])
{
	long n = ak_hex_unescape(t->magic, magic, AK_MAGIC_MAX);
	long m = ak_hex_unescape(t->mask, mask, AK_MAGIC_MAX);
	if (n < 0 || m != n)
		return 0;
	return (size_t)n;
}

bool ak_qemu_target_matches(const struct ak_qemu_target *t, const unsigned char *hdr, size_t len)
{
	unsigned char magic[AK_MAGIC_MAX], mask[AK_MAGIC_MAX];
	size_t n = ak_qemu_target_magic(t, magic, mask);
	if (n == 0 || len < n)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((hdr[i] & mask[i]) != (magic[i] & mask[i]))
			return false;
	return true;
}

static bool word_in(const char *list, const char *word)
{
	size_t wl = strlen(word);
	for (const char *p = list; p && *p;) {
		while (*p == ' ')
			p++;
		size_t l = strcspn(p, " ");
		if (l == wl && l > 0 && strncmp(p, word, l) == 0)
			return true;
		p += l;
	}
	return false;
}

bool ak_platform_uname_ok(const struct ak_platform *p, const char *machine)
{
	return word_in(p->uname, machine);
}

const char *ak_platform_known_list(void)
{
	static char buf[1024];
	if (buf[0])
		return buf;
	size_t n = 0;
	for (size_t i = 0; i < ak_platform_count && n < sizeof(buf); i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? ", " : "",
				      ak_platforms[i].name);
	return buf;
}

static const struct ak_platform *lookup(const char *s)
{
	const char *bare = ak_str_has_prefix(s, "linux/") ? s + 6 : s;
	for (size_t i = 0; i < ak_platform_count; i++) {
		const struct ak_platform *p = &ak_platforms[i];
		if (strcmp(p->name, s) == 0 || strcmp(p->name + 6, bare) == 0 ||
		    word_in(p->aliases, bare))
			return p;
	}
	return NULL;
}

const struct ak_platform *ak_platform_parse(const char *s, struct ak_error **err)
{
	char lower[128];
	size_t n = strlen(s);
	if (n == 0 || n >= sizeof(lower)) {
		ak_error_set(err, AK_EXIT_USAGE, "unknown platform '%s' (known: %s)", s,
			     ak_platform_known_list());
		return NULL;
	}
	for (size_t i = 0; i <= n; i++)
		lower[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
	const struct ak_platform *p = lookup(lower);
	if (!p)
		ak_error_set(err, AK_EXIT_USAGE, "unknown platform '%s' (known: %s)", s,
			     ak_platform_known_list());
	return p;
}

const struct ak_platform *ak_platform_from_oci(const char *os, const char *arch,
					       const char *variant)
{
	char buf[160];
	if (!arch || (os && strcmp(os, "linux") != 0))
		return NULL;
	if (variant && *variant)
		snprintf(buf, sizeof(buf), "%s/%s", arch, variant);
	else
		snprintf(buf, sizeof(buf), "%s", arch);
	return lookup(buf);
}

void ak_qemu_target_sample_header(const struct ak_qemu_target *t, unsigned char hdr[64])
{
	bool le = t->elf_data == 1;
	memset(hdr, 0, 64);
	memcpy(hdr, ELFMAG, SELFMAG);
	hdr[4] = t->elf_class;
	hdr[5] = t->elf_data;
	hdr[6] = 1;	       /* EV_CURRENT */
	hdr[le ? 16 : 17] = 2; /* ET_EXEC */
	hdr[18] = (unsigned char)(le ? t->e_machine & 0xff : t->e_machine >> 8);
	hdr[19] = (unsigned char)(le ? t->e_machine >> 8 : t->e_machine & 0xff);
	hdr[le ? 20 : 23] = 1; /* e_version */
	/* the mips n32 targets tell themselves apart by EF_MIPS_ABI2 in e_flags */
	if (strstr(t->name, "n32"))
		hdr[le ? 36 : 39] = 0x20;
}

static void put_word(unsigned char *at, uint32_t v, bool le)
{
	for (int i = 0; i < 4; i++)
		at[le ? i : 3 - i] = (unsigned char)(v >> (8 * i));
}

/* The e_flags real toolchains emit for a target: the ones its magic may look at. */
#define EF_MIPS_ABI_O32 0x1000 /* EF_MIPS_ABI's o32 value (binutils' elf/mips.h) */

static size_t target_eflags(const struct ak_qemu_target *t, uint32_t out[4])
{
	switch (t->e_machine) {
	case EM_ARM: /* EABI5 hard-float (armhf), soft-float (armel), EABI5 with neither */
		out[0] = EF_ARM_EABI_VER5 | EF_ARM_ABI_FLOAT_HARD;
		out[1] = EF_ARM_EABI_VER5 | EF_ARM_ABI_FLOAT_SOFT;
		out[2] = EF_ARM_EABI_VER5;
		return 3;
	case EM_RISCV: /* RVC with double, single or soft float; no RVC */
		out[0] = EF_RISCV_RVC | EF_RISCV_FLOAT_ABI_DOUBLE;
		out[1] = EF_RISCV_RVC | EF_RISCV_FLOAT_ABI_SINGLE;
		out[2] = EF_RISCV_RVC;
		out[3] = EF_RISCV_FLOAT_ABI_DOUBLE;
		return 4;
	case EM_MIPS: {
		uint32_t pic = EF_MIPS_NOREORDER | EF_MIPS_PIC | EF_MIPS_CPIC;
		if (strstr(t->name, "n32")) { /* n32: ABI2 on a 64-bit ISA */
			out[0] = EF_MIPS_ARCH_64R2 | EF_MIPS_ABI2 | pic;
			out[1] = EF_MIPS_ARCH_3 | EF_MIPS_ABI2 | pic;
			return 2;
		}
		if (t->elf_class == ELFCLASS32) { /* o32, legacy and 2008 NaN */
			out[0] = EF_MIPS_ARCH_32R2 | EF_MIPS_ABI_O32 | pic;
			out[1] = EF_MIPS_ARCH_32R2 | EF_MIPS_ABI_O32 | EF_MIPS_NAN2008 | pic;
			out[2] = EF_MIPS_ARCH_2 | EF_MIPS_ABI_O32 | EF_MIPS_NOREORDER;
			return 3;
		}
		out[0] = EF_MIPS_ARCH_64R2 | pic; /* n64 */
		out[1] = EF_MIPS_ARCH_64R2 | EF_MIPS_NAN2008 | pic;
		out[2] = EF_MIPS_ARCH_3 | pic;
		return 3;
	}
	case EM_PPC64: /* ELFv1 (big-endian), ELFv2, unset */
		out[0] = 1;
		out[1] = 2;
		out[2] = 0;
		return 3;
	case EM_LOONGARCH: /* object v1 and v0, LP64D */
		out[0] = 0x43;
		out[1] = 0x03;
		return 2;
	default:
		out[0] = 0;
		return 1;
	}
}

size_t ak_qemu_target_reference_headers(const struct ak_qemu_target *t, unsigned char (*hdrs)[64],
					size_t max)
{
	static const uint8_t osabis[] = {ELFOSABI_SYSV, ELFOSABI_GNU};
	static const uint16_t types[] = {ET_EXEC, ET_DYN};
	bool le = t->elf_data == ELFDATA2LSB;
	/* MIPS linkers set EI_ABIVERSION 1 for executables with PLTs and copy relocations */
	int nabi = t->e_machine == EM_MIPS ? 2 : 1;
	uint32_t flags[4];
	size_t nflags = target_eflags(t, flags), n = 0;
	size_t at_flags = t->elf_class == ELFCLASS64 ? 48 : 36;
	for (size_t o = 0; o < sizeof(osabis); o++)
		for (size_t y = 0; y < 2; y++)
			for (int a = 0; a < nabi; a++)
				for (size_t f = 0; f < nflags && n < max; f++) {
					unsigned char *h = hdrs[n++];
					ak_qemu_target_sample_header(t, h);
					h[EI_OSABI] = osabis[o];
					h[EI_ABIVERSION] = (unsigned char)a;
					h[le ? 16 : 17] = (unsigned char)types[y];
					h[le ? 17 : 16] = 0;
					put_word(h + at_flags, flags[f], le);
				}
	return n;
}
