# Smoke binaries: smoke.c built freestanding by clang + ld.lld for each platform, no cross
# toolchain needed. Each lands in $(BUILD)/smoke/<qemu-target>[-<variant>]; smoke-blobs.S
# .incbin's them all into $(SMOKE_OBJ), and $(BUILD)/gen/ak-smoke-list.h tells
# verify/smoke-run.c which symbol belongs to which platform.
#   SMOKE_CLANG=PATH   the clang to use (default clang-14, else clang)

SMOKE_CLANG ?= $(firstword $(shell command -v clang-14 clang 2>/dev/null) clang)
SMOKE_DIR := $(BUILD)/smoke
SMOKE_SRC := verify/smoke/smoke.c
SMOKE_HDRS := $(wildcard verify/smoke/*.h)

# name  platform  clang flags. How each is linked: lld unless listed in SMOKE_VIA_MKELF
# (lld 14 has no SystemZ backend: mkelf wraps the relocation-free object) or generated
# outright (clang 14 has no LoongArch backend: mkelf hand-assembles it).
# The target-default column marks the binary ak_smoke_binary_for_target() returns: the one
# every CPU of that QEMU target runs (baseline x86-64, ARMv5TE soft-float).
SMOKE_BINS := x86_64 x86_64-v2 x86_64-v3 x86_64-v4 i386 aarch64 arm-v7 arm-v6 arm-v5 \
	ppc64le ppc64 s390x riscv64 mips64el mips64 loongarch64
SMOKE_VIA_MKELF := s390x
SMOKE_GENERATED := loongarch64

smoke_platform_x86_64 := linux/amd64
smoke_qemu_x86_64 := x86_64 default
smoke_flags_x86_64 := --target=x86_64-linux-gnu
smoke_platform_x86_64-v2 := linux/amd64/v2
smoke_qemu_x86_64-v2 := x86_64
smoke_flags_x86_64-v2 := --target=x86_64-linux-gnu -march=x86-64-v2 -DSMOKE_X86_64_V2
smoke_platform_x86_64-v3 := linux/amd64/v3
smoke_qemu_x86_64-v3 := x86_64
smoke_flags_x86_64-v3 := --target=x86_64-linux-gnu -march=x86-64-v3 -DSMOKE_X86_64_V3
smoke_platform_x86_64-v4 := linux/amd64/v4
smoke_qemu_x86_64-v4 := x86_64
smoke_flags_x86_64-v4 := --target=x86_64-linux-gnu -march=x86-64-v4 -DSMOKE_X86_64_V4
smoke_platform_i386 := linux/386
smoke_qemu_i386 := i386 default
smoke_flags_i386 := --target=i386-linux-gnu -march=i686
smoke_platform_aarch64 := linux/arm64
smoke_qemu_aarch64 := aarch64 default
smoke_flags_aarch64 := --target=aarch64-linux-gnu
smoke_platform_arm-v7 := linux/arm/v7
smoke_qemu_arm-v7 := arm
smoke_flags_arm-v7 := --target=armv7a-linux-gnueabihf -marm -mfloat-abi=hard -mfpu=vfpv3-d16
smoke_platform_arm-v6 := linux/arm/v6
smoke_qemu_arm-v6 := arm
smoke_flags_arm-v6 := --target=armv6-linux-gnueabihf -marm -mfloat-abi=hard -mfpu=vfp
smoke_platform_arm-v5 := linux/arm/v5
smoke_qemu_arm-v5 := arm default
smoke_flags_arm-v5 := --target=armv5te-linux-gnueabi -marm -mfloat-abi=soft
smoke_platform_ppc64le := linux/ppc64le
smoke_qemu_ppc64le := ppc64le default
smoke_flags_ppc64le := --target=powerpc64le-linux-gnu -mabi=elfv2
# Big-endian ELFv2 (as musl uses): lld 14 cannot link ELFv1; QEMU and Linux run both.
smoke_platform_ppc64 := linux/ppc64
smoke_qemu_ppc64 := ppc64 default
smoke_flags_ppc64 := --target=powerpc64-linux-gnu -mabi=elfv2
smoke_platform_s390x := linux/s390x
smoke_qemu_s390x := s390x default
smoke_flags_s390x := --target=s390x-linux-gnu
smoke_platform_riscv64 := linux/riscv64
smoke_qemu_riscv64 := riscv64 default
smoke_flags_riscv64 := --target=riscv64-linux-gnu -march=rv64gc -mabi=lp64d -mno-relax
smoke_platform_mips64el := linux/mips64le
smoke_qemu_mips64el := mips64el default
smoke_flags_mips64el := --target=mips64el-linux-gnuabi64 -mabi=64 -mno-abicalls
smoke_platform_mips64 := linux/mips64
smoke_qemu_mips64 := mips64 default
smoke_flags_mips64 := --target=mips64-linux-gnuabi64 -mabi=64 -mno-abicalls
smoke_platform_loongarch64 := linux/loong64
smoke_qemu_loongarch64 := loongarch64 default

SMOKE_CFLAGS := -ffreestanding -nostdlib -static -fno-pic -Os -fno-stack-protector \
	-fno-asynchronous-unwind-tables -fno-unwind-tables -fno-builtin -Wall -Wextra -Werror
SMOKE_LDFLAGS := -fuse-ld=lld -Wl,--build-id=none -Wl,-z,noexecstack -Wl,-z,norelro -s
SMOKE_FILES := $(SMOKE_BINS:%=$(SMOKE_DIR)/%)
SMOKE_OBJ := $(SMOKE_DIR)/smoke-blobs.o
SMOKE_MKELF := $(SMOKE_DIR)/mkelf
smoke_sym = $(subst -,_,$(1))

# One clear message when the toolchain is missing, instead of N cryptic ones.
$(SMOKE_DIR)/.clang-ok: verify/smoke/smoke.mk
	@mkdir -p $(dir $@)
	$(Q)command -v $(SMOKE_CLANG) >/dev/null 2>&1 || { echo "smoke: '$(SMOKE_CLANG)' not found: the smoke binaries need clang and lld (apt-get install clang-14 lld-14, or make deps)" >&2; exit 1; }
	$(Q)printf 'void _start(void){for(;;);}\n' | $(SMOKE_CLANG) --target=aarch64-linux-gnu \
		-x c - -ffreestanding -nostdlib -static $(SMOKE_LDFLAGS) -o $@.probe 2>$@.log || \
		{ echo "smoke: '$(SMOKE_CLANG)' cannot link with ld.lld (install lld-14): $$(tail -1 $@.log)" >&2; exit 1; }
	$(Q)rm -f $@.probe $@.log && touch $@

$(SMOKE_MKELF): verify/smoke/mkelf.c $(SMOKE_DIR)/.clang-ok
	$(call msg,HOSTCC,$@)
	$(Q)$(SMOKE_CLANG) -O2 -Wall -Wextra -o $@ $<

define smoke_rule
$(SMOKE_DIR)/$(1): $(SMOKE_SRC) $(SMOKE_HDRS) verify/smoke/smoke.mk $(SMOKE_DIR)/.clang-ok \
		$(if $(filter $(1),$(SMOKE_VIA_MKELF) $(SMOKE_GENERATED)),$(SMOKE_MKELF))
	$$(call msg,SMOKE,$$@)
	$(if $(filter $(1),$(SMOKE_GENERATED)),\
	$$(Q)$(SMOKE_MKELF) $(1) $$@.tmp,\
	$(if $(filter $(1),$(SMOKE_VIA_MKELF)),\
	$$(Q)$(SMOKE_CLANG) $(smoke_flags_$(1)) $(SMOKE_CFLAGS) -c $(SMOKE_SRC) -o $$@.o && $(SMOKE_MKELF) obj $$@.o $$@.tmp && rm -f $$@.o,\
	$$(Q)$(SMOKE_CLANG) $(smoke_flags_$(1)) $(SMOKE_CFLAGS) $(SMOKE_LDFLAGS) $(SMOKE_SRC) -o $$@.tmp)) || \
		{ echo "smoke: cannot build the $(1) smoke binary with '$(SMOKE_CLANG)' ($(smoke_flags_$(1)))" >&2; exit 1; }
	$$(Q)chmod 0755 $$@.tmp && mv $$@.tmp $$@
endef
$(foreach b,$(SMOKE_BINS),$(eval $(call smoke_rule,$(b))))

$(SMOKE_DIR)/smoke-blobs.S: $(SMOKE_FILES) verify/smoke/smoke.mk
	$(call msg,GEN,$@)
	$(Q){ printf '/* generated by verify/smoke/smoke.mk */\n\t.section .rodata.ak_smoke,"a"\n'; \
	$(foreach b,$(SMOKE_BINS),printf '\t.balign 16\n\t.globl ak_smoke_blob_%s\nak_smoke_blob_%s:\n\t.incbin "%s"\n\t.globl ak_smoke_blob_%s_end\nak_smoke_blob_%s_end:\n' \
		$(call smoke_sym,$(b)) $(call smoke_sym,$(b)) $(abspath $(SMOKE_DIR)/$(b)) $(call smoke_sym,$(b)) $(call smoke_sym,$(b));) \
	printf '\t.section .note.GNU-stack,"",%%progbits\n'; } > $@.tmp && mv $@.tmp $@

$(SMOKE_OBJ): $(SMOKE_DIR)/smoke-blobs.S
	$(call msg,AS,$@)
	$(Q)$(CC) -c $< -o $@

$(BUILD)/gen/ak-smoke-list.h: verify/smoke/smoke.mk
	@mkdir -p $(dir $@)
	$(Q){ printf '/* generated by verify/smoke/smoke.mk: AK_SMOKE(symbol, platform, qemu target, target default) */\n'; \
	$(foreach b,$(SMOKE_BINS),printf 'AK_SMOKE(%s, "%s", "%s", %d)\n' $(call smoke_sym,$(b)) \
		$(smoke_platform_$(b)) $(word 1,$(smoke_qemu_$(b))) $(if $(word 2,$(smoke_qemu_$(b))),1,0);) } > $@.tmp && mv $@.tmp $@

$(BUILD)/verify/smoke-run.o: $(BUILD)/gen/ak-smoke-list.h

.PHONY: smoke-binaries
smoke-binaries: $(SMOKE_FILES)
