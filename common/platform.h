/* The one table of architectures: OCI platform names and aliases, ELF facts, QEMU
 * targets with their binfmt_misc magic/mask, expected uname machines and the usual
 * dynamic loader paths. Every other part reads architecture facts from here. */
#ifndef AK_PLATFORM_H
#define AK_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define AK_MAGIC_MAX 128 /* binfmt_misc's limit on magic and mask length */

/* One QEMU linux-user target (the 34 of qemu-binfmt-conf.sh). */
struct ak_qemu_target {
	const char *name;   /* "aarch64": qemu-aarch64, handler "qemu-aarch64" */
	const char *family; /* CPU family; hosts run their own family natively */
	uint16_t e_machine;
	uint8_t elf_class; /* ELFCLASS32 / ELFCLASS64 */
	uint8_t elf_data;  /* ELFDATA2LSB / ELFDATA2MSB */
	const char *magic; /* \xNN-escaped, as in binfmt_misc and qemu-binfmt-conf.sh */
	const char *mask;
};

/* One OCI platform (os/arch[/variant]). */
struct ak_platform {
	const char *name;    /* canonical OCI name: "linux/arm/v7" */
	const char *arch;    /* "arm" */
	const char *variant; /* "v7" or NULL */
	const char *qemu;    /* QEMU target name */
	uint16_t e_machine;
	uint8_t elf_class, elf_data;
	const char *uname; /* space-separated machines uname may report when it runs */
	const char *glibc_loader, *musl_loader; /* NULL when there is none */
	const char *aliases; /* space-separated extra spellings, without "linux/" */
};

extern const struct ak_qemu_target ak_qemu_targets[];
extern const size_t ak_qemu_target_count;
extern const struct ak_platform ak_platforms[];
extern const size_t ak_platform_count;

/* Find a QEMU target by name ("aarch64"); NULL when unknown. */
const struct ak_qemu_target *ak_qemu_target_find(const char *name);
/* The QEMU target that emulates a platform (never NULL for table entries). */
const struct ak_qemu_target *ak_platform_qemu(const struct ak_platform *p);
/* Decode a target's magic and mask into bytes; returns their length (equal by table test). */
size_t ak_qemu_target_magic(const struct ak_qemu_target *t, unsigned char magic[AK_MAGIC_MAX],
			    unsigned char mask[AK_MAGIC_MAX]);
/* Does a file header match the target's magic under its mask? */
bool ak_qemu_target_matches(const struct ak_qemu_target *t, const unsigned char *hdr, size_t len);

/* Parse a platform string: OCI names with or without "linux/", QEMU and distro aliases,
 * containerd normalisation (arm64/v8 -> arm64, amd64/v1 -> amd64, arm -> arm/v7).
 * Unknown: error naming it and listing the known names (status AK_EXIT_USAGE). */
const struct ak_platform *ak_platform_parse(const char *s, struct ak_error **err);
/* Look up by OCI parts (os, architecture, variant as in an image config); normalises
 * like ak_platform_parse; NULL when unknown or os is not linux. */
const struct ak_platform *ak_platform_from_oci(const char *os, const char *arch,
					       const char *variant);
/* Does machine (from uname) belong to the platform's accepted list? */
bool ak_platform_uname_ok(const struct ak_platform *p, const char *machine);
/* Comma-separated list of canonical names, for messages; static storage. */
const char *ak_platform_known_list(void);

/* A minimal ELF header (64 bytes) of an executable for the target: what its handler must
 * match. Used to find which binfmt entries would catch the target's binaries. */
void ak_qemu_target_sample_header(const struct ak_qemu_target *t, unsigned char hdr[64]);

#define AK_REFERENCE_HEADERS_MAX 48
/* The ELF headers (64 bytes each) that real binaries of the target carry: executables and
 * static-pie (ET_EXEC, ET_DYN), EI_OSABI SYSV and GNU/Linux, MIPS's EI_ABIVERSION 1, and
 * the e_flags that real toolchains emit for ARM, MIPS, RISC-V, PPC64 and LoongArch. A
 * handler serves the target when it matches all of them; two handlers accept the same
 * binaries when they agree on these of every target. Returns how many (<= max). */
size_t ak_qemu_target_reference_headers(const struct ak_qemu_target *t, unsigned char (*hdrs)[64],
					size_t max);

#endif
