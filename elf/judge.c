#include "elf/judge.h"

#include <elf.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/xalloc.h"

#define I AK_SEV_BIT(AK_SEV_INFO)
#define W AK_SEV_BIT(AK_SEV_WARNING)
#define E AK_SEV_BIT(AK_SEV_ERROR)
const struct ak_elf_code_info ak_elf_codes[AK_ELF_CODE_COUNT] = {
	[AK_ELF_WRONG_MACHINE] = {"wrong-machine", E},
	[AK_ELF_WRONG_CLASS] = {"wrong-class", E},
	[AK_ELF_WRONG_ENDIANNESS] = {"wrong-endianness", E},
	[AK_ELF_ARM_SOFT_FLOAT] = {"arm-soft-float", E | W},
	[AK_ELF_ARM_HARD_FLOAT] = {"arm-hard-float", E},
	[AK_ELF_ARM_CPU_TOO_NEW] = {"arm-cpu-too-new", E | W},
	[AK_ELF_PPC64_ELFV1] = {"ppc64-elfv1", E},
	[AK_ELF_X86_ISA_LEVEL] = {"x86-isa-level", W | E},
	[AK_ELF_RISCV_FLOAT_ABI] = {"riscv-float-abi", W},
	[AK_ELF_GO_ARCH_MISMATCH] = {"go-arch-mismatch", W},
	[AK_ELF_EXEC_REFUSED] = {"exec-refused", E | W},
	[AK_ELF_RELOCATABLE_OBJECT] = {"relocatable-object", I},
	[AK_ELF_CORE_DUMP] = {"core-dump", I},
	[AK_ELF_EBPF_CODE] = {"ebpf-code", I},
	[AK_ELF_GPU_CODE] = {"gpu-code", I},
	[AK_ELF_NO_MACHINE] = {"no-machine", I},
	[AK_ELF_NON_LINUX_ABI] = {"non-linux-abi", I},
	[AK_ELF_MALFORMED] = {"malformed-elf", W},
	[AK_ELF_LOADER_WRONG_MACHINE] = {"loader-wrong-machine", E},
};
#undef I
#undef W
#undef E

const char *ak_severity_name(enum ak_severity sev)
{
	switch (sev) {
	case AK_SEV_INFO:
		return "info";
	case AK_SEV_WARNING:
		return "warning";
	case AK_SEV_ERROR:
		return "error";
	}
	return "?";
}

void ak_finding_clear(struct ak_finding *f)
{
	free(f->code);
	free(f->found);
	free(f->expected);
	memset(f, 0, sizeof(*f));
}

/* The platform family a machine/class/endianness belongs to ("linux/arm"), or NULL. */
static const char *family_of(uint16_t machine, uint8_t elf_class, uint8_t elf_data, char *buf,
			     size_t size)
{
	for (size_t i = 0; i < ak_platform_count; i++) {
		const struct ak_platform *p = &ak_platforms[i];
		if (p->e_machine == machine && p->elf_class == elf_class &&
		    p->elf_data == elf_data) {
			snprintf(buf, size, "linux/%s", p->arch);
			return buf;
		}
	}
	return NULL;
}

char *ak_elf_describe(const struct ak_elf_facts *f)
{
	char mbuf[24], fbuf[48];
	const char *machine = ak_elf_machine_name(f->e_machine, mbuf, sizeof(mbuf));
	const char *family = family_of(f->e_machine, f->elf_class, f->elf_data, fbuf, sizeof(fbuf));
	return ak_xasprintf("%s (%s) ELF%s %s", machine, family ? family : "no linux platform",
			    f->elf_class == ELFCLASS64	 ? "64"
			    : f->elf_class == ELFCLASS32 ? "32"
							 : "?",
			    f->elf_data == ELFDATA2LSB	 ? "LSB"
			    : f->elf_data == ELFDATA2MSB ? "MSB"
							 : "?");
}

static const char *platform_machine(const struct ak_platform *p, char *buf, size_t size)
{
	return ak_elf_machine_name(p->e_machine, buf, size);
}

/* Append a finding; found and expected are formatted by the caller and owned here. */
static void add(struct ak_finding *out, int *n, enum ak_severity sev, enum ak_elf_code code,
		char *found, char *expected)
{
	if (*n >= AK_ELF_FINDINGS_MAX) {
		free(found);
		free(expected);
		return;
	}
	out[*n] = (struct ak_finding){sev, ak_xstrdup(ak_elf_codes[code].code), found, expected};
	(*n)++;
}

/* Major architecture version a Tag_CPU_arch value stands for (ARM IHI 0045, binutils'
 * include/elf/arm.h: 0 pre-v4, 1 v4, 2 v4T, 3 v5T, 4 v5TE, 5 v5TEJ, 6 v6, 7 v6KZ, 8 v6T2,
 * 9 v6K, 10 v7, 11 v6-M, 12 v6S-M, 13 v7E-M, 14 v8-A, 15 v8-R, 16 v8-M.baseline,
 * 17 v8-M.mainline, 21 v8.1-M.mainline, 22 v9-A), or 0 for the reserved 18-20 and for
 * values no version has. The reference's "4 = v5T, 5 = v5TE" is one off against the ABI
 * document; readelf agrees with the document. */
static int arm_arch_version(int64_t tag)
{
	switch (tag) {
	case 0 ... 2:
		return 4;
	case 3 ... 5:
		return 5;
	case 6 ... 9:
	case 11:
	case 12:
		return 6;
	case 10:
	case 13:
		return 7;
	case 14 ... 17:
	case 21:
		return 8;
	case 22:
		return 9;
	default:
		return 0;
	}
}

static void judge_arm(const struct ak_elf_facts *f, const struct ak_platform *p,
		      struct ak_finding *out, int *n, const char *desc)
{
	int variant = p->variant && p->variant[0] == 'v' ? p->variant[1] - '0' : 7;
	if (f->arm_float == AK_ARM_FLOAT_SOFT && variant >= 6) {
		/* In arm/v7 armel code is a build that took the wrong toolchain or package
		 * architecture, static or not (a static one runs, but its libraries and plugins
		 * would not): an error. arm/v6 is ambiguous: containerd maps armel to it while
		 * Alpine and Raspbian v6 are armhf, so there it is a warning. */
		enum ak_severity sev = variant == 7 ? AK_SEV_ERROR : AK_SEV_WARNING;
		add(out, n, sev, AK_ELF_ARM_SOFT_FLOAT,
		    ak_xasprintf("%s EABI%u soft-float (armel, e_flags %#x)", desc, f->arm_eabi,
				 f->e_flags),
		    ak_xasprintf("hard-float EABI5 (%s)", p->name));
	}
	if (f->arm_float == AK_ARM_FLOAT_HARD && variant <= 5)
		add(out, n, AK_SEV_ERROR, AK_ELF_ARM_HARD_FLOAT,
		    ak_xasprintf("%s EABI%u hard-float (armhf, e_flags %#x)", desc, f->arm_eabi,
				 f->e_flags),
		    ak_xasprintf("soft-float EABI5 (%s)", p->name));
	int need = 0;
	char evidence[48] = "";
	if (f->arm_cpu_arch >= 0) {
		need = arm_arch_version(f->arm_cpu_arch);
		snprintf(evidence, sizeof(evidence), "Tag_CPU_arch %" PRId64, f->arm_cpu_arch);
		if (need == 0) {
			/* no architecture has this value: say so, with the value as written */
			add(out, n, AK_SEV_WARNING, AK_ELF_ARM_CPU_TOO_NEW,
			    ak_xasprintf(
				    "%s code for an ARM architecture archkit does not know (%s)",
				    desc, evidence),
			    ak_xasprintf("ARMv%d or older (%s)", variant, p->name));
			evidence[0] = '\0';
		}
	}
	if (f->goarm[0] >= '5' && f->goarm[0] <= '9' && f->goarm[0] - '0' > need) {
		need = f->goarm[0] - '0';
		snprintf(evidence, sizeof(evidence), "GOARM=%s", f->goarm);
	}
	if (need > variant) {
		/* ARMv8 AArch32 code runs on the 64-bit hosts most arm/v7 containers run on */
		enum ak_severity sev = variant == 7 && need == 8 ? AK_SEV_WARNING : AK_SEV_ERROR;
		add(out, n, sev, AK_ELF_ARM_CPU_TOO_NEW,
		    ak_xasprintf("%s ARMv%d code (%s)", desc, need, evidence),
		    ak_xasprintf("ARMv%d or older (%s)", variant, p->name));
	}
}

static void judge_x86_64(const struct ak_elf_facts *f, const struct ak_platform *p,
			 struct ak_finding *out, int *n, const char *desc)
{
	int level = f->x86_isa_level;
	const char *evidence = "GNU property x86 ISA needed";
	if (f->goamd64[0] == 'v' && f->goamd64[1] >= '1' && f->goamd64[1] <= '4' &&
	    f->goamd64[1] - '0' > level) {
		level = f->goamd64[1] - '0';
		evidence = "GOAMD64";
	}
	int variant = p->variant && p->variant[0] == 'v' ? p->variant[1] - '0' : 1;
	if (level <= variant || level < 2)
		return;
	enum ak_severity sev = variant == 1 ? AK_SEV_WARNING : AK_SEV_ERROR;
	add(out, n, sev, AK_ELF_X86_ISA_LEVEL,
	    ak_xasprintf("%s needing x86-64-v%d (%s)", desc, level, evidence),
	    variant == 1 ? ak_xasprintf("x86-64 baseline (%s)", p->name)
			 : ak_xasprintf("x86-64-v%d or lower (%s)", variant, p->name));
}

/* The structural problems, each with its own code, after what the facts could show.
 * For code the kernel never runs (GPU, eBPF, no machine) a refusal is mere damage. */
static void judge_problems(const struct ak_elf_facts *f, bool runs, struct ak_finding *out, int *n,
			   const char *desc)
{
	bool loadable = f->kind == AK_ELF_KIND_EXECUTABLE || f->kind == AK_ELF_KIND_SHARED;
	if (f->exec_refused && runs)
		add(out, n, loadable ? AK_SEV_ERROR : AK_SEV_WARNING, AK_ELF_EXEC_REFUSED,
		    f->header_ok ? ak_xasprintf("%s %s: %s", desc, ak_elf_kind_name(f->kind),
						f->exec_refused)
				 : ak_xasprintf("ELF file: %s", f->exec_refused),
		    ak_xstrdup("an ELF file that binfmt_elf and execve accept"));
	const char *damage = f->malformed ? f->malformed_reason : !runs ? f->exec_refused : NULL;
	if (f->malformed || damage)
		add(out, n, AK_SEV_WARNING, AK_ELF_MALFORMED,
		    ak_xasprintf("malformed ELF: %s", damage ? damage : "?"),
		    ak_xstrdup("a well-formed ELF file"));
}

int ak_elf_judge(const struct ak_elf_facts *f, const struct ak_platform *p,
		 struct ak_finding out[AK_ELF_FINDINGS_MAX], struct ak_error **err)
{
	int n = 0;
	char mbuf[24];
	cleanup_free char *desc = ak_elf_describe(f);
	const char *pm = platform_machine(p, mbuf, sizeof(mbuf));
	const char *kind = ak_elf_kind_name(f->kind);

	/* without a whole header there is no machine to judge, only the damage */
	if (!f->header_ok) {
		judge_problems(f, true, out, &n, desc);
		return n;
	}

	enum ak_elf_code info_code = AK_ELF_CODE_COUNT;
	char *info_found = NULL;
	if (f->e_machine == EM_BPF) {
		info_code = AK_ELF_EBPF_CODE;
		info_found = ak_xasprintf("eBPF %s (kernel virtual machine code)", kind);
	} else if (f->e_machine == EM_CUDA || f->e_machine == EM_AMDGPU) {
		info_code = AK_ELF_GPU_CODE;
		info_found = ak_xasprintf("%s %s (GPU code)",
					  f->e_machine == EM_CUDA ? "CUDA" : "AMDGPU", kind);
	} else if (f->e_machine == EM_NONE) {
		info_code = AK_ELF_NO_MACHINE;
		info_found = ak_xasprintf("%s without a machine (EM_NONE)", kind);
	} else if (f->kind == AK_ELF_KIND_RELOCATABLE) {
		info_code = AK_ELF_RELOCATABLE_OBJECT;
		info_found = ak_xasprintf("relocatable object for %s", desc);
	} else if (f->kind == AK_ELF_KIND_CORE) {
		info_code = AK_ELF_CORE_DUMP;
		info_found = ak_xasprintf("core dump of %s", desc);
	}
	if (info_code != AK_ELF_CODE_COUNT) {
		add(out, &n, AK_SEV_INFO, info_code, info_found,
		    ak_xasprintf("%s (%s) code, not run by the loader", pm, p->name));
		judge_problems(f, false, out, &n, desc);
		return n;
	}

	/* Linux runs a file whatever its EI_OSABI says: judge the machine first */
	if (f->e_machine != p->e_machine) {
		add(out, &n, AK_SEV_ERROR, AK_ELF_WRONG_MACHINE, ak_xstrdup(desc),
		    ak_xasprintf("%s (%s)", pm, p->name));
	} else if (f->elf_class != p->elf_class) {
		add(out, &n, AK_SEV_ERROR, AK_ELF_WRONG_CLASS, ak_xstrdup(desc),
		    ak_xasprintf("%s (%s) ELF%d", pm, p->name,
				 p->elf_class == ELFCLASS64 ? 64 : 32));
	} else if (f->elf_data != p->elf_data) {
		add(out, &n, AK_SEV_ERROR, AK_ELF_WRONG_ENDIANNESS, ak_xstrdup(desc),
		    ak_xasprintf("%s (%s) %s", pm, p->name,
				 p->elf_data == ELFDATA2LSB ? "LSB" : "MSB"));
	} else {
		switch (p->e_machine) {
		case EM_ARM:
			judge_arm(f, p, out, &n, desc);
			break;
		case EM_X86_64:
			judge_x86_64(f, p, out, &n, desc);
			break;
		case EM_PPC64:
			if (p->elf_data == ELFDATA2LSB && f->ppc64_abi == 1)
				add(out, &n, AK_SEV_ERROR, AK_ELF_PPC64_ELFV1,
				    ak_xasprintf("%s ELFv1 ABI (e_flags %#x)", desc, f->e_flags),
				    ak_xasprintf("ELFv2 ABI (%s)", p->name));
			break;
		case EM_RISCV:
			/* a static binary's calling convention meets no other code */
			if (f->riscv_float != AK_RISCV_FLOAT_UNKNOWN &&
			    f->riscv_float != AK_RISCV_FLOAT_DOUBLE && !f->is_static) {
				static const char *const abi[] = {"?", "lp64 (soft-float)",
								  "lp64f (single-float)", "lp64d",
								  "lp64q (quad-float)"};
				add(out, &n, AK_SEV_WARNING, AK_ELF_RISCV_FLOAT_ABI,
				    ak_xasprintf("%s %s ABI (e_flags %#x)", desc,
						 abi[f->riscv_float], f->e_flags),
				    ak_xasprintf("lp64d double-float ABI (%s)", p->name));
			}
			break;
		}
		if (f->goarch[0] && strcmp(f->goarch, p->arch) != 0)
			add(out, &n, AK_SEV_WARNING, AK_ELF_GO_ARCH_MISMATCH,
			    ak_xasprintf("%s built by Go for GOARCH=%s", desc, f->goarch),
			    ak_xasprintf("GOARCH=%s (%s)", p->arch, p->name));
	}
	judge_problems(f, true, out, &n, desc);
	if (f->osabi != ELFOSABI_SYSV && f->osabi != ELFOSABI_GNU)
		add(out, &n, AK_SEV_INFO, AK_ELF_NON_LINUX_ABI,
		    ak_xasprintf("%s for OSABI %u%s%s", desc, f->osabi,
				 f->osabi == ELFOSABI_FREEBSD ? " (FreeBSD)" : "",
				 f->kind == AK_ELF_KIND_SHARED
					 ? "; glibc's ld.so refuses to load such a library"
					 : ""),
		    ak_xasprintf("OSABI SYSV or GNU/Linux (%s; the kernel ignores the byte)",
				 p->name));
	return n;
}

int ak_elf_judge_loader(const struct ak_elf_facts *loader, const struct ak_platform *p,
			struct ak_finding *out)
{
	if (!loader->header_ok)
		return 0; /* reported on its own when the loader file itself is judged */
	bool wrong = loader->e_machine != p->e_machine || loader->elf_class != p->elf_class ||
		     loader->elf_data != p->elf_data;
	const char *why = "";
	if (!wrong && p->e_machine == EM_ARM) {
		bool soft_platform = p->variant && strcmp(p->variant, "v5") == 0;
		if (soft_platform ? loader->arm_float == AK_ARM_FLOAT_HARD
				  : loader->arm_float == AK_ARM_FLOAT_SOFT) {
			wrong = true;
			why = loader->arm_float == AK_ARM_FLOAT_HARD ? " hard-float"
								     : " soft-float";
		}
	}
	if (!wrong)
		return 0;
	char mbuf[24];
	cleanup_free char *desc = ak_elf_describe(loader);
	char *found = ak_xasprintf("loader %s%s", desc, why);
	char *expected =
		p->e_machine == EM_ARM
			? ak_xasprintf("%s (%s) %s loader", platform_machine(p, mbuf, sizeof(mbuf)),
				       p->name,
				       p->variant && strcmp(p->variant, "v5") == 0 ? "soft-float"
										   : "hard-float")
			: ak_xasprintf("%s (%s) loader", platform_machine(p, mbuf, sizeof(mbuf)),
				       p->name);
	char *code = ak_xstrdup(ak_elf_codes[AK_ELF_LOADER_WRONG_MACHINE].code);
	*out = (struct ak_finding){AK_SEV_ERROR, code, found, expected};
	return 1;
}
