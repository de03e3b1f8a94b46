/* Turn one ELF file's bytes into the facts probe judges: class, endianness, machine,
 * type, OSABI, PT_INTERP, and the per-architecture ABI evidence (ARM float ABI and CPU
 * arch, x86-64 ISA level, RISC-V/MIPS/PPC64 ABI, Go buildinfo). Uses libelf's gelf_*
 * on the captured buffer after checking the header's offsets itself, so hostile files
 * give facts.malformed with a reason instead of a crash. */
#ifndef AK_ELF_CLASSIFY_H
#define AK_ELF_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* What the file is, from e_type (and PT_INTERP for position-independent executables). */
enum ak_elf_kind {
	AK_ELF_KIND_OTHER = 0,	 /* ET_NONE or an OS/processor-specific type */
	AK_ELF_KIND_EXECUTABLE,	 /* ET_EXEC, or ET_DYN with PT_INTERP (PIE) */
	AK_ELF_KIND_SHARED,	 /* ET_DYN without PT_INTERP: library or static-pie */
	AK_ELF_KIND_RELOCATABLE, /* ET_REL: .o, .ko */
	AK_ELF_KIND_CORE,	 /* ET_CORE */
};

enum ak_arm_float_abi {
	AK_ARM_FLOAT_UNKNOWN = 0, /* no evidence (Go binaries: e_flags 0x5000002) */
	AK_ARM_FLOAT_SOFT,	  /* armel: EF_ARM_ABI_FLOAT_SOFT or Tag_ABI_VFP_args 0 */
	AK_ARM_FLOAT_HARD,	  /* armhf: EF_ARM_ABI_FLOAT_HARD or Tag_ABI_VFP_args 1 */
};

enum ak_mips_abi { AK_MIPS_ABI_UNKNOWN = 0, AK_MIPS_ABI_O32, AK_MIPS_ABI_N32, AK_MIPS_ABI_N64 };

/* RISC-V e_flags float ABI (EF_RISCV_FLOAT_ABI, bits 1-2) plus one. */
enum ak_riscv_float_abi {
	AK_RISCV_FLOAT_UNKNOWN = 0,
	AK_RISCV_FLOAT_SOFT,   /* lp64 */
	AK_RISCV_FLOAT_SINGLE, /* lp64f */
	AK_RISCV_FLOAT_DOUBLE, /* lp64d: what linux/riscv64 distributions use */
	AK_RISCV_FLOAT_QUAD,   /* lp64q */
};

/* Kept for every ELF file in an image: keep it small. */
struct ak_elf_facts {
	uint8_t elf_class; /* ELFCLASS32 / ELFCLASS64 */
	uint8_t elf_data;  /* ELFDATA2LSB / ELFDATA2MSB */
	uint8_t osabi;	   /* e_ident[EI_OSABI] */
	uint16_t e_machine;
	uint16_t e_type;
	uint32_t e_flags;
	enum ak_elf_kind kind;
	bool has_interp;
	bool is_static; /* executable without PT_INTERP and without PT_DYNAMIC */
	bool partial;	/* only the head was available (file above the capture ceiling) */
	/* The whole ELF header was read with a valid class and data encoding: class,
	 * endianness, machine, type, flags and OSABI are facts, whatever else is broken. */
	bool header_ok;
	/* Broken structure the kernel's loader does not read (section headers, notes,
	 * .ARM.attributes), or any broken structure in a file it never loads (ET_REL...). */
	bool malformed;
	char *malformed_reason; /* malloc'd, lowercase, e.g. "'.ARM.attributes' truncated" */
	/* Why binfmt_elf or execve would refuse to load the file (an ET_EXEC/ET_DYN file, or
	 * one whose header is cut short): malloc'd, lowercase, naming the errno; NULL when
	 * the kernel would load it. The first such reason; the facts read around it stay. */
	char *exec_refused;
	char *interp; /* malloc'd PT_INTERP path (the first one, as the kernel uses), NULL when none
		       */

	/* EM_ARM */
	uint8_t arm_eabi; /* e_flags >> 24 (EF_ARM_EABIMASK); 5 on Linux EABI */
	enum ak_arm_float_abi arm_float;
	int64_t arm_cpu_arch; /* Tag_CPU_arch from .ARM.attributes as written (values above
				 INT64_MAX read as INT64_MAX), -1 when absent */
	int8_t arm_vfp_args;  /* Tag_ABI_VFP_args, -1 when absent (above 127 read as 127) */
	/* EM_X86_64: GNU_PROPERTY_X86_ISA_1_NEEDED bits and the highest level (0 = no note) */
	uint32_t x86_isa_needed;
	uint8_t x86_isa_level; /* 1 baseline, 2..4 = x86-64-v2..v4 */
	/* EM_RISCV, EM_MIPS, EM_PPC64 */
	enum ak_riscv_float_abi riscv_float;
	enum ak_mips_abi mips_abi;
	uint8_t ppc64_abi; /* e_flags & 3: 1 ELFv1, 2 ELFv2, 0 unspecified */
	/* Go buildinfo */
	bool is_go;
	bool go_old_format;		       /* pre-1.18 pointer format: settings not read */
	char go_version[16];		       /* "go1.22.1", possibly cut short */
	char goarch[12], goarm[4], goamd64[4]; /* empty when absent */
};

/* Classify buf[0..len) holding the file's bytes at their offsets (len may be less than
 * real_size when only the head was captured). Structural problems go to out->exec_refused
 * (what the kernel's loader refuses) or out->malformed (the rest), and every fact that
 * could still be read is kept; returns -1 with *err set only when memory runs out. out is
 * overwritten (clear it later with ak_elf_facts_clear). */
int ak_elf_classify(const unsigned char *buf, size_t len, uint64_t real_size,
		    struct ak_elf_facts *out, struct ak_error **err);
/* Free what facts own and zero them. */
void ak_elf_facts_clear(struct ak_elf_facts *facts);

/* Short name of an ELF machine ("aarch64", "x86-64", "eBPF"); static storage for known
 * machines, buf (at least 24 bytes) otherwise. */
const char *ak_elf_machine_name(uint16_t e_machine, char *buf, size_t size);
/* Human name of a kind ("executable", "shared object", ...). */
const char *ak_elf_kind_name(enum ak_elf_kind kind);

#endif
