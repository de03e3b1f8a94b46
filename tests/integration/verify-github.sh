#!/usr/bin/env bash
# archkit verify --format text|json|github, in smoke mode (in the sandbox) and with an
# IMAGE: GitHub workflow commands, one ::error:: per platform or variant that did not
# run and a ::notice:: saying what did, escaped as @actions/core escapes them (%, CR,
# LF in messages; also ':' and ',' in the title property).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib.sh"
export AK_BIN=${AK_BIN:-$top/build/archkit}
IMAGES=${AK_IMAGES:-${AK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/archkit-tests}/images}

ak_test "--format is text, json or github; --json is --format json; others are usage errors"
expect_exit 64 "$AK_BIN" verify --format xml &&
  expect_contains "$AK_STDERR" "archkit: unknown --format 'xml' (text, json, github)" &&
  expect_exit 64 "$AK_BIN" verify --format &&
  expect_exit 64 "$AK_BIN" verify --platform all oci:nowhere &&
  expect_contains "$AK_STDERR" "--platform all is for smoke mode" &&
  expect_exit 0 "$AK_BIN" verify --help &&
  expect_contains "$AK_STDOUT" "--format FORMAT       text (default), json (as --json) or github" && ak_pass

if ! "$AK_BIN" sandbox --platform none -- true 2>"$AK_TMP/why"; then
  ak_test "sandbox available"
  ak_skip "$(cat "$AK_TMP/why")"
  ak_summary
  exit
fi
# sb ARGS...: archkit verify ARGS in a sandbox where only arm64 has a handler
sb() { "$AK_BIN" sandbox --platform arm64 -- "$AK_BIN" verify "$@"; }

ak_test "smoke mode, github: an ::error:: per platform that did not run, a ::notice:: for the rest"
expect_exit 1 sb --format github --platform arm64 --platform s390x --platform amd64 &&
  expect_contains "$AK_STDOUT" "::error title=archkit verify linux/s390x::no handler: exec format error: no binfmt_misc handler runs linux/s390x code here (archkit binfmt install linux/s390x)" &&
  expect_contains "$AK_STDOUT" "::notice title=archkit verify::2 of 3 platforms ran%0Alinux/arm64: emulated by qemu-aarch64 (uname aarch64)%0Alinux/amd64: native (uname x86_64)" &&
  [ "$(grep -c '^::' "$AK_STDOUT")" -eq 2 ] && [ "$(wc -l <"$AK_STDOUT")" -eq 2 ] ||
  { ak_fail "not exactly one line per command"; false; } && ak_pass

ak_test "smoke mode, github: all ran is one notice and exit 0"
expect_exit 0 sb --format github --platform arm64 &&
  expect_contains "$AK_STDOUT" "::notice title=archkit verify::1 of 1 platform ran%0Alinux/arm64: emulated by qemu-aarch64 (uname aarch64)" &&
  expect_not_contains "$AK_STDOUT" "::error" && ak_pass

ak_test "smoke mode: --format json is --json; --format text is the table"
expect_exit 1 sb --format json --platform arm64 --platform s390x &&
  expect_jq '.ok == false and ([.results[] | select(.ok) | .platform] == ["linux/arm64"])' &&
  expect_exit 1 sb --json --platform arm64 --platform s390x &&
  expect_jq '.ok == false and .results[1].outcome == "no handler"' &&
  expect_exit 1 sb --format text --platform arm64 --platform s390x &&
  expect_contains "$AK_STDOUT" "linux/arm64      ok       emulated by qemu-aarch64       uname: aarch64" &&
  expect_contains "$AK_STDOUT" "linux/s390x      FAILED   no handler" && ak_pass

ak_test "--platform all checks every platform once, variants included"
expect_exit 1 sb --json --platform all --platform arm64 &&
  expect_jq '(.results | length) == 16 and .results[0].platform == "linux/arm64" and
    ([.results[].platform] | unique | length) == 16 and
    ([.results[].platform] | index("linux/arm/v6")) != null' && ak_pass

ak_need_images "$IMAGES" honest6 honest-arm64
ak_test "IMAGE, github: every variant passed is one notice, exit 0"
expect_exit 0 "$AK_BIN" verify --format github "oci:$IMAGES/honest6" &&
  expect_contains "$AK_STDOUT" "::notice title=archkit verify::oci:$IMAGES/honest6: 6 variants: 6 passed, 0 failed, 0 timed out, 0 not runnable" &&
  [ "$(wc -l <"$AK_STDOUT")" -eq 1 ] || { ak_fail "more than the notice"; false; } && ak_pass

ak_test "IMAGE, github: a failed variant's stderr lines follow its error, % and controls escaped"
# CRLF ends a line; a CR inside one, or an ESC, stays visible ('\r', '\x1b') and so
# cannot hide or rewrite the text before it
expect_exit 1 "$AK_BIN" verify --format github --platform arm64 --platform amd64 "oci:$IMAGES/honest6" -- \
  sh -c 'printf "100%% wrong\r\nsecond\rline \033[2K\n::error::forged\n" >&2; [ "$(uname -m)" = x86_64 ] || exit 3' &&
  expect_contains "$AK_STDOUT" '::error title=archkit verify linux/arm64::failed: exit status 3%0Astderr:%0A100%25 wrong%0Asecond\rline \x1b[2K%0A::error::forged' &&
  [ "$(grep -c '^::error' "$AK_STDOUT")" -eq 1 ] || { ak_fail "a forged workflow command"; false; } &&
  expect_contains "$AK_STDOUT" "::notice title=archkit verify::oci:$IMAGES/honest6: 2 variants: 1 passed, 1 failed" &&
  expect_not_contains "$AK_STDOUT" "linux/amd64::" && ak_pass

ak_test "IMAGE, github: not runnable carries its fix; ':' and ',' of a tag are escaped in the title"
two=$AK_TMP/two-tags
cp -r "$IMAGES/honest-arm64" "$two" && python3 - "$two/index.json" <<'EOF'
import json, sys
idx = json.load(open(sys.argv[1]))
m = idx["manifests"][0]
idx["manifests"] = [dict(m, annotations={"org.opencontainers.image.ref.name": n})
                    for n in ("v1,beta", "v2:rc%")]
json.dump(idx, open(sys.argv[1], "w"))
EOF
expect_exit 1 "$AK_BIN" verify --format github --qemu-path /nonexistent "oci:$two" &&
  expect_contains "$AK_STDOUT" "::error title=archkit verify linux/arm64 (v1%2Cbeta)::not runnable: no QEMU interpreter for linux/arm64 here" &&
  expect_contains "$AK_STDOUT" "::error title=archkit verify linux/arm64 (v2%3Arc%25)::not runnable: " &&
  expect_contains "$AK_STDOUT" "(fix: apt-get install qemu-user-static && archkit binfmt install linux/arm64)" &&
  expect_contains "$AK_STDOUT" "2 variants: 0 passed, 0 failed, 0 timed out, 2 not runnable" && ak_pass

ak_test "IMAGE: --format json is --json (archkit.verify-image/v1)"
expect_exit 0 "$AK_BIN" verify --format json "oci:$IMAGES/honest-arm64" &&
  expect_jq '.schema == "archkit.verify-image/v1" and .ok and .variants[0].status == "passed"' && ak_pass

ak_summary
