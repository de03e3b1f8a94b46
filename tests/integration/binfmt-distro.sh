#!/usr/bin/env bash
# archkit next to the distro's own handlers: Debian's qemu-user-static ships
# /usr/lib/binfmt.d/qemu-*.conf (interpreter /usr/libexec/qemu-binfmt/ARCH-binfmt-P, flags
# OPF), which systemd-binfmt registers at boot. Each test applies them with the real
# systemd-binfmt inside 'archkit sandbox' (a private binfmt_misc), never on the host.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib.sh"
export AK_BIN=${AK_BIN:-$top/build/archkit}
BM=/proc/sys/fs/binfmt_misc
SD=/usr/lib/systemd/systemd-binfmt
export BM SD

# sb SCRIPT: a bash script in a fresh sandbox, after systemd-binfmt applied Debian's rules
sb() {
  "$AK_BIN" sandbox --platform none -- bash -c "set -u
    \$SD /usr/lib/binfmt.d/qemu-*.conf || { echo 'systemd-binfmt failed'; exit 9; }
    $1"
}
# one line per qemu-* entry: name, state, interpreter, flags
export dump='for f in '$BM'/qemu-*; do
  printf "%s %s %s %s\n" "${f##*/}" "$(head -1 "$f")" "$(sed -n "s/^interpreter //p" "$f")" "$(sed -n "s/^flags: //p" "$f")"
done'

if ! "$AK_BIN" sandbox --platform none -- true 2>"$AK_TMP/why"; then
  ak_test "sandbox available"
  ak_skip "$(cat "$AK_TMP/why")"
  ak_summary
  exit
fi
if [ ! -x "$SD" ] || [ ! -r /usr/lib/binfmt.d/qemu-aarch64.conf ] ||
  [ ! -e /usr/libexec/qemu-binfmt/aarch64-binfmt-P ]; then
  ak_test "Debian's systemd-binfmt and qemu-user-static rules"
  ak_skip "needs $SD (systemd) and /usr/lib/binfmt.d/qemu-*.conf (qemu-user-static)"
  ak_summary
  exit
fi

ak_test "install all leaves the distro's equivalent handlers alone (exit 0), and verify passes"
expect_exit 0 sb 'before=$(eval "$dump")
  $AK_BIN binfmt install all; echo "rc=$?"
  after=$(eval "$dump")
  [ "$before" = "$after" ] && echo "entries unchanged" || diff <(echo "$before") <(echo "$after")
  grep -E "^(interpreter|flags)" '$BM'/qemu-aarch64 '$BM'/qemu-riscv64
  $AK_BIN binfmt install --replace never all >/dev/null; echo "never rc=$?"
  [ "$before" = "$(eval "$dump")" ] && echo "unchanged by never"
  $AK_BIN binfmt status
  $AK_BIN verify; echo "verify rc=$?"' &&
  expect_contains "$AK_STDOUT" "linux/arm64      qemu-aarch64     in place (distro) none      ok: emulated by qemu-aarch64 (uname aarch64)" &&
  expect_contains "$AK_STDOUT" "linux/mips64le   qemu-mips64el    in place (distro) none      ok: emulated by qemu-mips64el (uname mips64)" &&
  expect_contains "$AK_STDOUT" "linux/ppc64le    qemu-ppc64le     in place (distro) none      ok" &&
  expect_contains "$AK_STDOUT" "rc=0" &&
  expect_contains "$AK_STDOUT" "entries unchanged" &&
  expect_contains "$AK_STDOUT" "$BM/qemu-aarch64:interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P" &&
  expect_contains "$AK_STDOUT" "$BM/qemu-aarch64:flags: POF" &&
  expect_contains "$AK_STDOUT" "$BM/qemu-riscv64:interpreter /usr/libexec/qemu-binfmt/riscv64-binfmt-P" &&
  expect_contains "$AK_STDOUT" "never rc=0" &&
  expect_contains "$AK_STDOUT" "unchanged by never" &&
  expect_contains "$AK_STDOUT" "linux/s390x      qemu-s390x       in place (distro)" &&
  expect_contains "$AK_STDOUT" "linux/arm64      ok       emulated by qemu-aarch64" &&
  expect_contains "$AK_STDOUT" "verify rc=0" &&
  expect_not_contains "$AK_STDOUT" "drifted" &&
  expect_not_contains "$AK_STDOUT" "FAILED" &&
  expect_not_contains "$AK_STDERR" "drifted" && ak_pass

ak_test "--replace always rewrites them to archkit's own line"
expect_exit 0 sb '$AK_BIN binfmt install --replace always all; echo "rc=$?"
  grep -E "^(interpreter|flags)" '$BM'/qemu-aarch64
  $AK_BIN binfmt install all' &&
  expect_contains "$AK_STDOUT" "linux/arm64      qemu-aarch64     in place (distro) replace   ok: emulated by qemu-aarch64" &&
  expect_contains "$AK_STDOUT" "rc=0" &&
  expect_contains "$AK_STDOUT" "interpreter /usr/bin/qemu-aarch64-static" &&
  expect_contains "$AK_STDOUT" "flags: F" &&
  expect_contains "$AK_STDOUT" "linux/arm64      qemu-aarch64     in place  none" && ak_pass

# The distro's rule with one byte changed: the mask of e_type's low byte 0xff instead of
# 0xfe takes ET_EXEC only, and static-pie binaries (ET_DYN) would fall through.
ak_test "a distro rule whose mask misses static-pie is drifted (mask) and replaced"
expect_exit 0 sb 'sed "s/\\\\xfe\\\\xff\\\\xff\\\\xff:/\\\\xff\\\\xff\\\\xff\\\\xff:/" /usr/lib/binfmt.d/qemu-aarch64.conf >/tmp/strict.conf
  grep -q "xff\\\\xff\\\\xff\\\\xff:/usr" /tmp/strict.conf || { echo "sed did not change the rule"; exit 8; }
  echo -1 >'$BM'/qemu-aarch64 && $SD /tmp/strict.conf || exit 7
  $AK_BIN binfmt install linux/arm64; echo "rc=$?"
  grep -E "^(interpreter|flags|mask)" '$BM'/qemu-aarch64' &&
  expect_contains "$AK_STDOUT" "qemu-aarch64     drifted   replace   ok: emulated by qemu-aarch64" &&
  expect_contains "$AK_STDOUT" "rc=0" &&
  expect_contains "$AK_STDOUT" "interpreter /usr/bin/qemu-aarch64-static" &&
  expect_contains "$AK_STDOUT" "mask ffffffffffffff00fffffffffffffffffeffffff" && ak_pass

ak_test "plan and status name the field that drifted"
expect_exit 0 sb 'sed "s/\\\\xfe\\\\xff\\\\xff\\\\xff:/\\\\xff\\\\xff\\\\xff\\\\xff:/" /usr/lib/binfmt.d/qemu-aarch64.conf >/tmp/strict.conf
  echo -1 >'$BM'/qemu-aarch64 && $SD /tmp/strict.conf || exit 7
  $AK_BIN binfmt plan linux/arm64 linux/riscv64' &&
  expect_contains "$AK_STDOUT" "# linux/arm64 (qemu-aarch64): drifted, interpreter '/usr/libexec/qemu-binfmt/aarch64-binfmt-P', want '/usr/bin/qemu-aarch64-static'; flags 'POF', want 'F'; mask byte 16: 0xff, want 0xfe" &&
  expect_contains "$AK_STDOUT" "# linux/riscv64 (qemu-riscv64): in place (distro)" && ak_pass

ak_summary
