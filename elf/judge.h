/* Judge one ELF file's facts against the platform its image variant claims. The codes
 * and severities below are part of the stable --json schema of `archkit probe`: add new
 * ones, never rename. ak_elf_codes[] holds them (every code the judge emits comes from
 * it, and tests/check_elf.c checks that README.md documents each). The caller adds the
 * path and the layer digest.
 *
 *  code                  severity  when
 *  wrong-machine         error     e_machine is not the platform's (whatever the OSABI:
 *                                  Linux ignores that byte)
 *  wrong-class           error     ELF32 vs ELF64 (x32 code in amd64, n32/o32 in mips64)
 *  wrong-endianness      error     LSB vs MSB (ppc64 code in ppc64le)
 *  arm-soft-float        error     armel (soft-float ABI) code in arm/v7, static or not;
 *                        warning   in arm/v6, which containerd also maps armel to
 *  arm-hard-float        error     armhf code in arm/v5 (soft-float, ld-linux.so.3)
 *  arm-cpu-too-new       error     Tag_CPU_arch or GOARM newer than the variant (v7 code
 *                                  in arm/v6 or arm/v5, v6 code in arm/v5)
 *                        warning   ARMv8 AArch32 code in arm/v7; a Tag_CPU_arch value that
 *                                  names no known architecture
 *  ppc64-elfv1           error     ELFv1 code in ppc64le (ELFv2 only)
 *  x86-isa-level         warning   x86-64-v2+ needed (GNU property note or GOAMD64) in plain
 *                                  amd64: glibc refuses it on older CPUs, most CPUs are v2+
 *                        error     the level exceeds an amd64/vN variant's N
 *  riscv-float-abi       warning   riscv64 code without the double-float ABI (lp64d)
 *  go-arch-mismatch      warning   Go buildinfo GOARCH disagrees with the platform
 *  exec-refused          error     an executable or shared object the kernel's loader
 *                                  (binfmt_elf) or execve refuses: a header cut short,
 *                                  e_phentsize or e_phnum it rejects, program headers past
 *                                  the end, a broken PT_INTERP or one ending in '/', a
 *                                  PT_LOAD with p_filesz > p_memsz
 *                        warning   the same for a file whose type is unknown (a header cut
 *                                  before e_type: data that starts with \x7fELF?)
 *  relocatable-object    info      ET_REL (.o, .ko): not run by the loader
 *  core-dump             info      ET_CORE
 *  ebpf-code             info      EM_BPF: kernel virtual machine code
 *  gpu-code              info      EM_CUDA, EM_AMDGPU
 *  no-machine            info      EM_NONE (data or firmware in an ELF container)
 *  non-linux-abi         info      OSABI other than SYSV/GNU (FreeBSD, standalone ...),
 *                                  reported besides the checks above
 *  malformed-elf         warning   broken structure the kernel does not read (section
 *                                  headers, notes, .ARM.attributes), or an unreadable
 *                                  header: reported besides every check the readable facts
 *                                  allow, and alone it does not fail a probe by default
 *  loader-wrong-machine  error     (ak_elf_judge_loader) PT_INTERP names a loader built
 *                                  for another machine/class/endianness or float ABI
 */
#ifndef AK_ELF_JUDGE_H
#define AK_ELF_JUDGE_H

#include <stddef.h>

#include "common/error.h"
#include "common/platform.h"
#include "elf/classify.h"

enum ak_severity { AK_SEV_INFO, AK_SEV_WARNING, AK_SEV_ERROR };

/* The codes the judge emits, in the order of the table above. */
enum ak_elf_code {
	AK_ELF_WRONG_MACHINE,
	AK_ELF_WRONG_CLASS,
	AK_ELF_WRONG_ENDIANNESS,
	AK_ELF_ARM_SOFT_FLOAT,
	AK_ELF_ARM_HARD_FLOAT,
	AK_ELF_ARM_CPU_TOO_NEW,
	AK_ELF_PPC64_ELFV1,
	AK_ELF_X86_ISA_LEVEL,
	AK_ELF_RISCV_FLOAT_ABI,
	AK_ELF_GO_ARCH_MISMATCH,
	AK_ELF_EXEC_REFUSED,
	AK_ELF_RELOCATABLE_OBJECT,
	AK_ELF_CORE_DUMP,
	AK_ELF_EBPF_CODE,
	AK_ELF_GPU_CODE,
	AK_ELF_NO_MACHINE,
	AK_ELF_NON_LINUX_ABI,
	AK_ELF_MALFORMED,
	AK_ELF_LOADER_WRONG_MACHINE,
	AK_ELF_CODE_COUNT
};

#define AK_SEV_BIT(sev) (1u << (sev))

struct ak_elf_code_info {
	const char *code;    /* "wrong-machine" */
	unsigned severities; /* AK_SEV_BIT() of each severity the code can have */
};

/* Indexed by enum ak_elf_code. */
extern const struct ak_elf_code_info ak_elf_codes[AK_ELF_CODE_COUNT];

struct ak_finding {
	enum ak_severity sev;
	char *code;	/* stable id from the table above, e.g. "wrong-machine" */
	char *found;	/* what the file is: "aarch64 (linux/arm64) ELF64 LSB" */
	char *expected; /* what the platform needs: "x86-64 (linux/amd64)" */
};

/* A file yields at most this many findings. */
#define AK_ELF_FINDINGS_MAX 8

/* Judge facts against p; fills out[0..n) and returns n (0 when the file fits; err is not
 * used). Free each finding with ak_finding_clear. */
int ak_elf_judge(const struct ak_elf_facts *facts, const struct ak_platform *p,
		 struct ak_finding out[AK_ELF_FINDINGS_MAX], struct ak_error **err);
/* Judge the loader a PT_INTERP names, given the loader file's own facts: 1 with *out
 * filled when it cannot load code of p ("loader-wrong-machine"), 0 when it fits. Whether
 * the loader exists at all is the caller's check. */
int ak_elf_judge_loader(const struct ak_elf_facts *loader, const struct ak_platform *p,
			struct ak_finding *out);
/* "info", "warning", "error". */
const char *ak_severity_name(enum ak_severity sev);
/* Describe facts in platform terms: "aarch64 (linux/arm64) ELF64 LSB"; malloc'd. */
char *ak_elf_describe(const struct ak_elf_facts *facts);
/* Free a finding's strings and zero it. */
void ak_finding_clear(struct ak_finding *f);

#endif
