# archkit: a plain Makefile (after libbpf's and redis's).
#   make                 build $(BUILD)/archkit
#   make check           install missing packages, build, run every test
#   make demo            install, build, run the main job inside a sandbox
#   make install PREFIX=/usr/local DESTDIR=  (SYSTEMDUNITDIR=DIR: the systemd units too)
#   make check-deploy    build and check the Kubernetes node image (buildah, root)
#   make check SANITIZE=address,undefined
#   make fuzz            libFuzzer targets (clang)
#   V=1                  show the commands
# BUILD=DIR builds out of tree, so several builds can share one checkout.

SANITIZE ?=
# A sanitizer build gets its own folder: objects built without the flags are never reused.
BUILD ?= $(if $(SANITIZE),build-sanitize,build)
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
CC ?= cc
PKG_CONFIG ?= pkg-config

# The executable loads IMAGE_PKGS on first use (cli/image-libs.c); the unit tests and
# fuzz targets link them.
BASE_PKGS := libelf libcap jansson
IMAGE_PKGS := libarchive libcrypto libzstd libisal libcurl
PKGS := $(BASE_PKGS) $(IMAGE_PKGS)
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
BASE_LIBS := $(shell $(PKG_CONFIG) --libs $(BASE_PKGS) 2>/dev/null) -ldl
CHECK_CFLAGS := $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS := $(shell $(PKG_CONFIG) --libs check 2>/dev/null)

# User CFLAGS come first and never drop the project's warnings.
CFLAGS ?= -O2 -g
AK_CFLAGS := $(CFLAGS) -std=gnu11 -Wall -Wextra -Wshadow -Wformat=2 -Wno-unused-parameter \
	-Werror=implicit-function-declaration -Werror=incompatible-pointer-types \
	-fno-strict-aliasing -D_GNU_SOURCE -I. -I$(BUILD)/gen $(PKG_CFLAGS) -MMD -MP
AK_LDFLAGS := $(LDFLAGS) -pthread
ifneq ($(SANITIZE),)
AK_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
AK_LDFLAGS += -fsanitize=$(SANITIZE)
endif

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-8s %s\n' $(1) $(2);
endif

LIB_DIRS := common image elf binfmt sandbox verify probe doctor
LIB_SRCS := $(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c))
CLI_SRCS := $(wildcard cli/*.c)
TEST_SRCS := $(wildcard tests/check_*.c) tests/runner.c tests/testlib.c
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/%.o)
TEST_OBJS := $(TEST_SRCS:%.c=$(BUILD)/%.o)
# renderers of cli/ that the unit suites test directly (they call no cli_* helper)
TEST_CLI_OBJS := $(BUILD)/cli/doctor-output.o

LIB := $(BUILD)/libarchkit.a
BIN := $(BUILD)/archkit
TEST_BIN := $(BUILD)/tests/check_archkit

.PHONY: FORCE all check unit integration demo install clean deps fuzz format bench check-deploy
all: $(BIN)

# Smoke binaries (freestanding, one per platform) are built by clang/lld and linked in.
include verify/smoke/smoke.mk

$(BUILD)/%.o: %.c
	$(call msg,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(AK_CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS) $(SMOKE_OBJ)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BIN): $(CLI_OBJS) $(LIB)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(AK_CFLAGS) -o $@ $(CLI_OBJS) $(LIB) $(BASE_LIBS) $(AK_LDFLAGS)

# The sonames cli/image-libs.c opens: those of the libraries this build links against.
$(BUILD)/gen/image-libs.h: Makefile
	@mkdir -p $(dir $@)
	$(Q)for l in ARCHIVE:archive CRYPTO:crypto ZSTD:zstd ISAL:isal CURL:curl; do \
		f=$$($(CC) -print-file-name=lib$${l#*:}.so); \
		s=$$(readelf -d "$$f" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p'); \
		[ -n "$$s" ] || { echo "cannot find the soname of lib$${l#*:}.so ($$f)" >&2; exit 1; }; \
		echo "#define AK_SONAME_$${l%%:*} \"$$s\""; \
	done >$@.tmp && mv $@.tmp $@

$(BUILD)/cli/image-libs.o: $(BUILD)/gen/image-libs.h

# The test runner adds every suite found in tests/check_*.c (CK_RUN_SUITE picks one).
# TEST_SRCS may be narrowed on the command line to build a few suites alone.
$(BUILD)/gen/suites.h: $(filter tests/check_%.c,$(TEST_SRCS)) FORCE
	@mkdir -p $(dir $@)
	$(Q)sed -n 's/^Suite \*\([a-z0-9_]*_suite\)(void)$$/AK_SUITE(\1)/p' $(filter tests/check_%.c,$(TEST_SRCS)) > $@.tmp
	$(Q)cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@

FORCE:

$(BUILD)/tests/runner.o: $(BUILD)/gen/suites.h

$(TEST_BIN): $(TEST_OBJS) $(TEST_CLI_OBJS) $(LIB)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(AK_CFLAGS) -o $@ $(TEST_OBJS) $(TEST_CLI_OBJS) $(LIB) $(PKG_LIBS) $(CHECK_LIBS) $(AK_LDFLAGS)

$(TEST_OBJS): AK_CFLAGS += $(CHECK_CFLAGS)

deps:
	@scripts/install-deps

check: deps
	@$(MAKE) --no-print-directory all $(TEST_BIN)
	@AK_BUILD=$(BUILD) scripts/run-tests

unit: $(TEST_BIN)
	$(TEST_BIN)

demo: deps
	@$(MAKE) --no-print-directory all
	@AK_BUILD=$(BUILD) scripts/demo

# Every man page: archkit(1) and one per command (archkit-binfmt(1), ...).
# SYSTEMDUNITDIR=DIR also installs the units of deploy/systemd (see deploy/README.md).
MAN_PAGES := $(wildcard man/*.1)
SYSTEMDUNITDIR ?=

install: $(BIN)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/archkit
	install -m 0644 $(MAN_PAGES) $(DESTDIR)$(MANDIR)/man1/
ifneq ($(SYSTEMDUNITDIR),)
	install -d $(DESTDIR)$(SYSTEMDUNITDIR)
	for u in deploy/systemd/*.service deploy/systemd/*.timer; do \
		sed 's|/usr/local/bin/archkit|$(BINDIR)/archkit|g' $$u > $(DESTDIR)$(SYSTEMDUNITDIR)/$${u##*/} && \
		chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$${u##*/} || exit 1; done
endif

# Builds the DaemonSet's image with buildah from a debootstrap root (no registry pull)
# and checks it; needs root. Not part of make check.
check-deploy: all
	@AK_BUILD=$(BUILD) deploy/check-image

# Benchmarks print ratios measured side by side; exit 77 means "cannot run here".
bench: all
	@for b in bench/binfmt bench/probe bench/verify-image bench/registry; do [ -x $$b ] || continue; \
		AK_BUILD=$(BUILD) $$b; rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 77 ] || exit $$rc; done

format:
	clang-format -i $(LIB_SRCS) $(CLI_SRCS) $(TEST_SRCS) $(wildcard */*.h)

clean:
	rm -rf $(BUILD)

-include $(LIB_OBJS:.o=.d) $(CLI_OBJS:.o=.d) $(TEST_OBJS:.o=.d)

# libFuzzer targets: fuzz/fuzz_<name>.c, each linked against common/, image/, elf/,
# binfmt/entry and doctor's parsers of files and docker output, built by clang, and
# nothing else (DESIGN.md): a target that reaches for probe/ or verify/ fails to link.
# One target alone: make fuzz FUZZ_TARGETS=fuzz_binfmt_rule FUZZ_SECONDS=120
FUZZ_TARGETS ?= $(patsubst fuzz/%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_SRCS := $(patsubst %,fuzz/%.c,$(FUZZ_TARGETS))
FUZZ_BUILD := $(BUILD)/fuzz-build
FUZZ_LIB_OBJS := $(foreach d,common image elf,$(patsubst %.c,$(BUILD)/%.o,$(wildcard $(d)/*.c))) \
	$(patsubst %,$(BUILD)/%.o,binfmt/entry doctor/persist doctor/docker-parse)
FUZZ_SECONDS ?= 600

$(BUILD)/libarchkit-fuzz.a: $(FUZZ_LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

fuzz:
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang SANITIZE=address,undefined \
		CFLAGS="-O1 -g -fsanitize=fuzzer-no-link" $(FUZZ_BUILD)/libarchkit-fuzz.a
	@mkdir -p $(BUILD)/fuzz
	@for gen in fuzz/seeds/make-*-seeds.sh; do sh $$gen >/dev/null || exit 1; done
	@for src in $(FUZZ_SRCS); do n=$$(basename $$src .c); \
		clang -O1 -g -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. -I$(FUZZ_BUILD)/gen $(PKG_CFLAGS) \
			$$src $(FUZZ_BUILD)/libarchkit-fuzz.a $(PKG_LIBS) -pthread -o $(BUILD)/fuzz/$$n || exit 1; \
		mkdir -p $(BUILD)/fuzz/corpus-$$n; \
		echo "  FUZZ     $$n ($(FUZZ_SECONDS)s)"; \
		$(BUILD)/fuzz/$$n -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=1024 $(BUILD)/fuzz/corpus-$$n \
			$$( [ -d fuzz/seeds/$$n ] && echo fuzz/seeds/$$n ) 2>$(BUILD)/fuzz/$$n.log || \
			{ tail -40 $(BUILD)/fuzz/$$n.log; exit 1; }; \
		tail -1 $(BUILD)/fuzz/$$n.log; \
	done
