#!/usr/bin/env bash
# Every command takes platforms the way docker buildx writes them, comma-separated
# (--platform linux/amd64,linux/arm64), as well as one at a time: binfmt's PLATFORM
# operands, sandbox, verify and probe's --platform (doctor's is in doctor.sh). An
# unknown item is a usage error naming it, and nothing is done.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib.sh"
export AK_BIN=${AK_BIN:-$top/build/archkit}
IMAGES=${AK_IMAGES:-${AK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/archkit-tests}/images}
BM=/proc/sys/fs/binfmt_misc

ak_test "an empty list or an unknown item is a usage error naming it"
expect_exit 64 "$AK_BIN" verify --platform , &&
  expect_contains "$AK_STDERR" "archkit: --platform takes a platform, such as linux/arm64, or a comma-separated list" &&
  expect_exit 64 "$AK_BIN" probe --platform linux/arm64,linux/bogus oci:/nowhere &&
  expect_contains "$AK_STDERR" "archkit: unknown platform 'linux/bogus' (known: " &&
  expect_exit 64 "$AK_BIN" binfmt plan arm64, s390x,bogus &&
  expect_contains "$AK_STDERR" "archkit: unknown platform 'bogus' (known: " &&
  expect_exit 64 "$AK_BIN" binfmt plan , &&
  expect_contains "$AK_STDERR" "archkit: no platform in ',' (one, such as linux/arm64, or a comma-separated list)" &&
  ak_pass

ak_test "binfmt export takes a list: one file per emulated platform, natives skipped"
expect_exit 0 "$AK_BIN" binfmt export --format systemd "$AK_TMP/sd" linux/arm64,s390x,linux/amd64 riscv64 &&
  [ "$(cd "$AK_TMP/sd" && ls | tr '\n' ' ')" = "qemu-aarch64.conf qemu-riscv64.conf qemu-s390x.conf " ] &&
  expect_contains "$AK_TMP/sd/qemu-s390x.conf" ":qemu-s390x:M:0:" &&
  expect_exit 64 "$AK_BIN" binfmt export --format systemd "$AK_TMP/bad" arm64,bogus &&
  expect_contains "$AK_STDERR" "archkit: unknown platform 'bogus'" &&
  [ ! -e "$AK_TMP/bad" ] && ak_pass

if ! "$AK_BIN" sandbox --platform none -- true 2>"$AK_TMP/why"; then
  ak_test "sandbox available"
  ak_skip "$(cat "$AK_TMP/why")"
  ak_summary
  exit
fi

ak_test "sandbox --platform arm64,s390x registers exactly those two"
if ak_emulation arm64 s390x; then
  expect_exit 0 "$AK_BIN" sandbox --platform arm64,linux/s390x -- ls "$BM" &&
    [ "$(grep -c '^qemu-' "$AK_STDOUT")" -eq 2 ] && expect_contains "$AK_STDOUT" qemu-aarch64 &&
    expect_contains "$AK_STDOUT" qemu-s390x && ak_pass
fi

ak_test "binfmt install, plan and remove take a list; a bad item in remove removes nothing"
if ak_emulation arm64 s390x riscv64; then
  expect_exit 0 "$AK_BIN" sandbox --platform none -- bash -c 'set -u
    $AK_BIN binfmt install linux/arm64,s390x riscv64 || exit 11
    $AK_BIN binfmt plan arm64,s390x,riscv64 || exit 12
    $AK_BIN binfmt remove arm64,bogus && exit 13
    [ -e '$BM'/qemu-aarch64 ] || exit 14
    $AK_BIN binfmt remove linux/arm64,linux/s390x || exit 15
    ls '$BM' | grep "^qemu-"' &&
    expect_contains "$AK_STDOUT" "ok: emulated by qemu-aarch64 (uname aarch64)" &&
    expect_contains "$AK_STDOUT" "ok: emulated by qemu-s390x (uname s390x)" &&
    expect_contains "$AK_STDOUT" "# linux/s390x (qemu-s390x): in place" &&
    expect_contains "$AK_STDOUT" "qemu-aarch64: removed" && expect_contains "$AK_STDOUT" "qemu-s390x: removed" &&
    [ "$(tail -n 1 "$AK_STDOUT")" = qemu-riscv64 ] &&
    expect_contains "$AK_STDERR" "archkit: unknown platform 'bogus'" && ak_pass
fi

ak_test "verify --platform: a list checks each once, in the order given"
if ak_emulation arm64 s390x; then
  expect_exit 1 "$AK_BIN" sandbox --platform arm64 -- "$AK_BIN" verify --json --platform s390x,arm64 --platform linux/arm64,amd64 &&
    expect_jq '[.results[].platform] == ["linux/s390x", "linux/arm64", "linux/amd64"] and
      ([.results[] | select(.ok) | .platform] == ["linux/arm64", "linux/amd64"])' && ak_pass
fi

ak_need_images "$IMAGES" honest6
ak_test "probe --platform: a list picks the same variants as the flag repeated"
expect_exit 0 "$AK_BIN" probe --json --platform linux/arm64 --platform linux/amd64 "oci:$IMAGES/honest6" &&
  cp "$AK_STDOUT" "$AK_TMP/repeated.json" &&
  expect_exit 0 "$AK_BIN" probe --json --platform linux/arm64,linux/amd64 "oci:$IMAGES/honest6" &&
  expect_jq '[.variants[].platform] | sort == ["linux/amd64", "linux/arm64"]' &&
  { cmp -s <(jq -S 'del(.duration_ms, .elapsed_ms)' "$AK_STDOUT") <(jq -S 'del(.duration_ms, .elapsed_ms)' "$AK_TMP/repeated.json") ||
    { ak_fail "the list and the repeated flag disagree"; false; }; } && ak_pass

ak_summary
