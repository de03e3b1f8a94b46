/* Judge one ELF file's facts against the platform its image variant claims. The codes
 * and severities below are part of the stable --json schema of `archkit probe`: add new
 * ones, never rename. The caller adds the path and the layer digest.
 *
 *  code                  severity  when
 *  wrong-machine         error     e_machine is not the platform's
 *  wrong-class           error     ELF32 vs ELF64 (x32 code in amd64, n32/o32 in mips64)
 *  wrong-endianness      error     LSB vs MSB (ppc64 code in ppc64le)
 *  arm-soft-float        error     armel (soft-float ABI) code in arm/v7, static or not;
 *                                  warning in arm/v6, which containerd also maps armel to
 *  arm-hard-float        error     armhf code in arm/v5 (soft-float, ld-linux.so.3)
 *  arm-cpu-too-new       error     Tag_CPU_arch or GOARM newer than the variant (v7 code
 *                                  in arm/v6 or arm/v5, v6 code in arm/v5)
 *  ppc64-elfv1           error     ELFv1 code in ppc64le (ELFv2 only)
 *  x86-isa-level         warning   x86-64-v2+ needed (GNU property note or GOAMD64) in plain
 *                                  amd64: glibc refuses it on older CPUs, most CPUs are v2+
 *                        error     the level exceeds an amd64/vN variant's N
 *  riscv-float-abi       warning   riscv64 code without the double-float ABI (lp64d)
 *  go-arch-mismatch      warning   Go buildinfo GOARCH disagrees with the platform
 *  relocatable-object    info      ET_REL (.o, .ko): not run by the loader
 *  core-dump             info      ET_CORE
 *  ebpf-code             info      EM_BPF: kernel virtual machine code
 *  gpu-code              info      EM_CUDA, EM_AMDGPU
 *  no-machine            info      EM_NONE (data or firmware in an ELF container)
 *  non-linux-abi         info      OSABI other than SYSV/GNU (FreeBSD, standalone ...)
 *  malformed-elf         warning   broken structure: the kernel would refuse it or it is
 *                                  data that starts with \x7fELF; it cannot be shown to be
 *                                  code of another platform, so it does not fail a probe
 *                                  by default, but someone should look at it
 *  loader-wrong-machine  error     (ak_elf_judge_loader) PT_INTERP names a loader built
 *                                  for another machine/class/endianness or float ABI
 */
#ifndef AK_ELF_JUDGE_H
#define AK_ELF_JUDGE_H

#include <stddef.h>

#include "common/error.h"
#include "common/platform.h"
#include "probe/elf-classify.h"

enum ak_severity { AK_SEV_INFO, AK_SEV_WARNING, AK_SEV_ERROR };

struct ak_finding {
	enum ak_severity sev;
	char *code;	/* stable id from the table above, e.g. "wrong-machine" */
	char *found;	/* what the file is: "aarch64 (linux/arm64) ELF64 LSB" */
	char *expected; /* what the platform needs: "x86-64 (linux/amd64)" */
};

/* A file yields at most this many findings. */
#define AK_ELF_FINDINGS_MAX 4

/* Judge facts against p; fills out[0..n) and returns n (0 when the file fits), or -1
 * with *err set when memory runs out. Free each finding with ak_finding_clear. */
int ak_elf_judge(const struct ak_elf_facts *facts, const struct ak_platform *p,
		 struct ak_finding out[AK_ELF_FINDINGS_MAX], struct ak_error **err);
/* Judge the loader a PT_INTERP names, given the loader file's own facts: 1 with *out
 * filled when it cannot load code of p ("loader-wrong-machine"), 0 when it fits, -1 when
 * memory runs out. Whether the loader exists at all is the caller's check. */
int ak_elf_judge_loader(const struct ak_elf_facts *loader, const struct ak_platform *p,
			struct ak_finding *out);
/* "info", "warning", "error". */
const char *ak_severity_name(enum ak_severity sev);
/* Describe facts in platform terms: "aarch64 (linux/arm64) ELF64 LSB"; malloc'd or NULL. */
char *ak_elf_describe(const struct ak_elf_facts *facts);
/* Free a finding's strings and zero it. */
void ak_finding_clear(struct ak_finding *f);

#endif
