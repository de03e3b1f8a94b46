#!/usr/bin/env bash
# archkit binfmt, sandbox and verify, for real: each test runs in 'archkit sandbox'
# (a private user + mount namespace with its own binfmt_misc) with Debian's
# qemu-user-static. The host's own binfmt_misc is never written.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib.sh"
export AK_BIN=${AK_BIN:-$top/build/archkit}
BM=/proc/sys/fs/binfmt_misc

# sb SCRIPT: run a bash script inside a fresh sandbox with no handlers registered
sb() { "$AK_BIN" sandbox --platform none -- bash -c "set -u; $1"; }

# unpriv_setup: a copy of archkit that uid 65534 can run, in $unpriv_dir, with a TMPDIR
# it can write for the smoke binaries. The build itself may sit in a folder only its
# owner can enter (a clone under a 0700 home or under 'mktemp -d'), where running
# $AK_BIN as that user fails with exit 126. The smoke binaries are inside archkit and
# the interpreters in /usr/bin, so the binary alone is enough.
unpriv_dir=
unpriv_why=
unpriv_setup() {
  [ -n "$unpriv_dir" ] && return 0
  [ -n "$unpriv_why" ] && return 1
  local base d
  for base in "${TMPDIR:-/tmp}" /tmp /var/tmp; do
    d=$(mktemp -d "$base/archkit-unpriv.XXXXXX" 2>/dev/null) || continue
    if chmod 755 "$d" && mkdir -m 1777 "$d/tmp" && cp "$AK_BIN" "$d/archkit" &&
      chmod 755 "$d/archkit" && setpriv --reuid=65534 --regid=65534 --clear-groups \
        sh -c 'test -x "$1/archkit" && test -w "$1/tmp"' sh "$d" 2>/dev/null; then
      unpriv_dir=$d
      return 0
    fi
    rm -rf "$d"
  done
  unpriv_why="no folder that uid 65534 can enter for a copy of archkit (tried ${TMPDIR:-/tmp}, /tmp, /var/tmp)"
  return 1
}
# as_nobody CMD...: CMD as uid 65534, with the copy of archkit as $AK_BIN
as_nobody() {
  setpriv --reuid=65534 --regid=65534 --clear-groups \
    env AK_BIN="$unpriv_dir/archkit" TMPDIR="$unpriv_dir/tmp" HOME="$unpriv_dir/tmp" "$@"
}
# lib.sh's EXIT trap removes $AK_TMP; the copy lives elsewhere, so remove it first
trap 'rc=$?; [ -z "$unpriv_dir" ] || rm -rf "$unpriv_dir"; (exit $rc); _ak_exit' EXIT

if ! "$AK_BIN" sandbox --platform none -- true 2>"$AK_TMP/why"; then
  ak_test "sandbox available"
  ak_skip "$(cat "$AK_TMP/why")"
  ak_summary
  exit
fi

ak_test "sandbox passes the exit status through, 128+signal when killed"
expect_exit 7 sb 'exit 7' &&
  expect_exit 143 sb 'kill -TERM $$' &&
  expect_exit 0 sb "grep -qx enabled $BM/status" &&
  expect_exit 127 "$AK_BIN" sandbox --platform none -- /nonexistent/cmd &&
  expect_contains "$AK_STDERR" "cannot run '/nonexistent/cmd'" &&
  expect_exit 64 "$AK_BIN" sandbox --platform none &&
  expect_contains "$AK_STDERR" "no command given" && ak_pass

ak_test "a command that stops itself is continued, not waited on forever"
# 'timeout' guards the old behaviour (waitpid without WUNTRACED hangs on a stopped child)
expect_exit 3 timeout 20 "$AK_BIN" sandbox --platform none -- bash -c 'kill -STOP $$; echo resumed; exit 3' &&
  expect_contains "$AK_STDOUT" "resumed" &&
  expect_contains "$AK_STDERR" "archkit: sandbox: 'bash' stopped (SIGSTOP); continuing it" &&
  expect_exit 0 timeout 20 "$AK_BIN" sandbox --platform none -- bash -c 'kill -TSTP $$; kill -STOP $$; echo twice' &&
  expect_contains "$AK_STDOUT" "twice" &&
  expect_contains "$AK_STDERR" "stopped (SIGTSTP)" && ak_pass

ak_test "sandbox works for an unprivileged user and registers every platform"
if [ "$(id -u)" -eq 0 ] && ! unpriv_setup; then
  ak_skip "$unpriv_why"
elif [ "$(id -u)" -eq 0 ]; then
  expect_exit 0 as_nobody sh -c '"$AK_BIN" sandbox -- "$AK_BIN" verify' &&
    expect_contains "$AK_STDOUT" "emulated by qemu-aarch64" &&
    expect_contains "$AK_STDOUT" "emulated by qemu-riscv64" && ak_pass
else
  expect_exit 0 "$AK_BIN" sandbox -- "$AK_BIN" verify && ak_pass
fi

ak_test "install all registers every foreign platform with F, verifies each, skips natives"
expect_exit 0 sb '$AK_BIN binfmt install all' &&
  expect_contains "$AK_STDOUT" "linux/arm64      qemu-aarch64     missing   register  ok: emulated by qemu-aarch64 (uname aarch64)" &&
  expect_contains "$AK_STDOUT" "ok: emulated by qemu-s390x (uname s390x)" &&
  expect_contains "$AK_STDOUT" "ok: emulated by qemu-loongarch64 (uname loongarch64)" &&
  expect_contains "$AK_STDOUT" "linux/amd64      -                native" && ak_pass

# A handler that catches the host's own static executables (ET_EXEC x86-64, not the
# PIE archkit and bash are) and fails them: only a run where no handler applies shows
# that amd64 is native, so install must not take a failed run here for "not native"
# and register qemu-x86_64; the smoke run then fails, honestly, through that handler.
if [ "$(uname -m)" = x86_64 ]; then
  ak_test "a handler catching the host's own code does not hide that the host runs it"
  expect_exit 1 sb 'printf "%s" ":catch-x86:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00::/bin/false:" >'$BM'/register || exit 9
    $AK_BIN binfmt install linux/amd64 linux/arm64; rc=$?
    [ ! -e '$BM'/qemu-x86_64 ] || { echo "registered qemu-x86_64" >&2; exit 8; }
    exit $rc' &&
    expect_contains "$AK_STDOUT" "linux/amd64      -                native    none      FAILED: exited 1" &&
    expect_contains "$AK_STDOUT" "ok: emulated by qemu-aarch64 (uname aarch64)" && ak_pass
fi

# Handlers whose interpreter never returns: on one CPU (one worker to start with), each
# run that stalls adds a worker, so the runs time out together, not one after another.
hung=$AK_TMP/hung
mkdir -p "$hung"
printf '#!/bin/sh\ndate +%%s%%N >>%s/started\nexec sleep 30\n' "$hung" >"$hung/qemu-hang"
chmod +x "$hung/qemu-hang"
export hung
ak_test "hung handlers time out side by side, even on one CPU"
if ! compgen -G "/usr/lib/binfmt.d/qemu-*.conf" >/dev/null; then
  ak_skip "no /usr/lib/binfmt.d/qemu-*.conf (qemu-user-static) for the magic and mask"
else
  expect_exit 1 timeout 60 "$AK_BIN" sandbox --platform none -- taskset -c 0 bash -c 'set -u
    for t in aarch64 s390x riscv64 ppc64le; do
      IFS=: read -r _ name type off magic mask _ <"/usr/lib/binfmt.d/qemu-$t.conf" || exit 9
      printf "%s" ":$name:$type:$off:$magic:$mask:$hung/qemu-hang:" >'$BM'/register || exit 8
    done
    exec $AK_BIN verify --json --timeout 2 --platform arm64 --platform s390x --platform riscv64 --platform ppc64le' &&
    expect_jq '(.results | length) == 4 and ([.results[] | select(.outcome == "failed" and (.why | startswith("timed out")))] | length) == 4' &&
    { [ "$(wc -l <"$hung/started")" -eq 4 ] || { ak_fail "$(wc -l <"$hung/started") of 4 runs started"; false; }; } &&
    { spread=$(sort -n "$hung/started" | sed -n '1p;$p' | { read -r a; read -r b; echo $(((b - a) / 1000000)); })
      [ "$spread" -lt 1500 ] || { ak_fail "the last run started ${spread} ms after the first: one after another"; false; }; } &&
    ak_pass
fi

ak_test "status lists every handler with its flags; verify passes for every platform"
expect_exit 0 sb '$AK_BIN binfmt install all >/dev/null && $AK_BIN binfmt status && $AK_BIN verify' &&
  expect_contains "$AK_STDOUT" "qemu-aarch64         enabled  F     /usr/bin/qemu-aarch64-static             linux/arm64" &&
  expect_contains "$AK_STDOUT" "qemu-mips64el        enabled  F" &&
  expect_contains "$AK_STDOUT" "linux/riscv64    ok       emulated by qemu-riscv64" &&
  expect_not_contains "$AK_STDOUT" "FAILED" &&
  expect_not_contains "$AK_STDOUT" "qemu-x86_64" && ak_pass

ak_test "installing twice is a no-op with exit 0"
expect_exit 0 sb '$AK_BIN binfmt install all >/dev/null
  before=$(cd '$BM' && cat qemu-*)
  $AK_BIN binfmt install all || exit 1
  after=$(cd '$BM' && cat qemu-*)
  [ "$before" = "$after" ] || { echo "entries changed"; exit 1; }' &&
  expect_contains "$AK_STDOUT" "linux/arm64      qemu-aarch64     in place  none" &&
  expect_not_contains "$AK_STDOUT" "register " && ak_pass

ak_test "the real Debian busybox of each architecture runs"
roots=$("$top/tests/fixtures/fetch-debs" busybox-static:amd64 busybox-static:arm64 busybox-static:armhf \
  busybox-static:armel busybox-static:i386 busybox-static:ppc64el busybox-static:s390x \
  busybox-static:mips64el 2>"$AK_TMP/fetch"); rc=$?
if [ $rc -eq 77 ]; then
  ak_skip "$(tail -1 "$AK_TMP/fetch")"
elif [ $rc -ne 0 ]; then
  ak_fail "fetch-debs failed: $(tail -3 "$AK_TMP/fetch")"
else
  export AK_ROOTS=$roots
  expect_exit 0 sb '$AK_BIN binfmt install all >/dev/null
    for r in $AK_ROOTS; do printf "%s " "${r##*/}"; "$r/bin/busybox" uname -m || exit 1; done' &&
    expect_contains "$AK_STDOUT" "busybox-static_arm64 aarch64" &&
    expect_contains "$AK_STDOUT" "busybox-static_armhf armv7l" &&
    expect_contains "$AK_STDOUT" "busybox-static_armel armv" &&
    expect_contains "$AK_STDOUT" "busybox-static_i386 " &&
    expect_contains "$AK_STDOUT" "busybox-static_ppc64el ppc64le" &&
    expect_contains "$AK_STDOUT" "busybox-static_s390x s390x" &&
    expect_contains "$AK_STDOUT" "busybox-static_mips64el mips64" &&
    expect_contains "$AK_STDOUT" "busybox-static_amd64 x86_64" && ak_pass
fi

# A second copy of the interpreter under a name that says nothing of its target: an
# entry that drifted (a copy named qemu-aarch64-static would be an equivalent handler).
qother=$AK_TMP/qother
mkdir -p "$qother" && cp /usr/bin/qemu-aarch64-static "$qother/emu-aarch64"
export qother
ak_test "a drifted entry is reported, kept by --replace never, fixed by --replace drifted"
expect_exit 0 sb 'eval "$($AK_BIN binfmt plan linux/arm64 | grep ^echo | sed "s|/usr/bin/qemu-aarch64-static|$qother/emu-aarch64|")"
  $AK_BIN binfmt status
  $AK_BIN binfmt install --replace never linux/arm64; echo "rc=$?"
  grep -q "^interpreter $qother/" '$BM'/qemu-aarch64 || { echo "never replaced it"; exit 1; }
  $AK_BIN binfmt install linux/arm64 || exit 1
  cat '$BM'/qemu-aarch64' &&
  expect_contains "$AK_STDOUT" "drifted: interpreter '$qother/emu-aarch64', want '/usr/bin/qemu-aarch64-static'" &&
  expect_contains "$AK_STDERR" "qemu-aarch64 drifted (interpreter '$qother/emu-aarch64', want '/usr/bin/qemu-aarch64-static'); kept because of --replace never" &&
  expect_contains "$AK_STDOUT" "drifted   keep      ok: emulated by qemu-aarch64" &&
  expect_contains "$AK_STDOUT" "drifted   replace   ok: emulated by qemu-aarch64" &&
  expect_contains "$AK_STDOUT" "interpreter /usr/bin/qemu-aarch64-static" && ak_pass

ak_test "an entry without F is drifted (flags): kept with a warning by --replace never, else replaced"
expect_exit 0 sb 'eval "$($AK_BIN binfmt plan linux/arm64 | grep ^echo | sed "s|:F'"'"' >|:'"'"' >|")"
  grep "^flags" '$BM'/qemu-aarch64
  $AK_BIN binfmt install --replace never linux/arm64; echo "rc=$?"
  $AK_BIN binfmt install linux/arm64; echo "rc=$?"
  grep "^flags" '$BM'/qemu-aarch64' &&
  expect_contains "$AK_STDOUT" "flags: " &&
  expect_contains "$AK_STDERR" "qemu-aarch64 drifted (flags '', want 'F'); kept because of --replace never" &&
  expect_contains "$AK_STDOUT" "drifted   keep      ok: emulated by qemu-aarch64" &&
  expect_contains "$AK_STDOUT" "drifted   replace   ok: emulated by qemu-aarch64" &&
  expect_contains "$AK_STDOUT" "rc=0" &&
  expect_contains "$AK_STDOUT" "flags: F" && ak_pass

ak_test "a shadowing entry under another name is reported"
expect_exit 0 sb 'printf "%s" ":other-arm64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:F" > '$BM'/register || exit 1
  $AK_BIN binfmt install linux/arm64 && $AK_BIN binfmt status' &&
  expect_contains "$AK_STDERR" "qemu-aarch64 is shadowed: entry 'other-arm64' catches the same binaries" &&
  expect_contains "$AK_STDOUT" "also caught by 'other-arm64'" && ak_pass

ak_test "remove leaves other entries (python3) alone and refuses to remove them"
expect_exit 0 sb 'printf "%s" ":python3:E::pyc::/usr/bin/python3:" > '$BM'/register || exit 1
  $AK_BIN binfmt install all >/dev/null || exit 1
  $AK_BIN binfmt remove python3; echo "rc=$?"
  $AK_BIN binfmt remove --all-qemu || exit 1
  $AK_BIN binfmt remove linux/arm64 || exit 1
  ls '$BM' | tr "\n" " "' &&
  expect_contains "$AK_STDERR" "refusing to remove 'python3': archkit removes only the qemu-* entries it owns" &&
  expect_contains "$AK_STDOUT" "rc=64" &&
  expect_contains "$AK_STDOUT" "qemu-riscv64: removed" &&
  expect_contains "$AK_STDOUT" "qemu-aarch64: not registered" &&
  expect_contains "$AK_STDOUT" "python3 register status " && ak_pass

ak_test "remove takes entries with names longer than 64 characters (the kernel allows 255)"
long=qemu-$(printf 'l%.0s' $(seq 1 250)) # 255 bytes: NAME_MAX, the longest the kernel takes
export long
expect_exit 0 sb 'for n in "$long" "${long:0:70}-a" "${long:0:70}-b"; do
    printf "%s" ":$n:M::\x7fELFlong::/bin/true:" > '$BM'/register || exit 9; done
  $AK_BIN binfmt status >/dev/null || exit 8
  $AK_BIN binfmt remove "${long:0:70}-a" || exit 1
  $AK_BIN binfmt remove --all-qemu || exit 1
  echo "left: $(ls '$BM' | tr "\n" " ")"' &&
  expect_contains "$AK_STDOUT" "${long:0:70}-a: removed" &&
  expect_contains "$AK_STDOUT" "${long:0:70}-b: removed" &&
  expect_contains "$AK_STDOUT" "$long: removed" &&
  expect_not_contains "$AK_STDERR" "invalid handler name" &&
  expect_contains "$AK_STDOUT" "left: register status " && ak_pass

ak_test "remove --all-qemu takes every entry, 300 of them, none dropped"
expect_exit 0 sb 'for i in $(seq 1 300); do
    printf "%s" ":qemu-many$i:M::\x7fELFm$i::/bin/true:" > '$BM'/register || exit 9; done
  $AK_BIN binfmt remove --all-qemu >/dev/null || exit 1
  echo "left: $(ls '$BM' | tr "\n" " ")"' &&
  expect_contains "$AK_STDOUT" "left: register status " && ak_pass

qsome=$AK_TMP/qsome
mkdir -p "$qsome" && ln -s /usr/bin/qemu-aarch64-static /usr/bin/qemu-arm-static "$qsome/"
export qsome
ak_test "a missing interpreter fails that platform (exit 1); the others are installed and verified"
expect_exit 0 sb 'export GITHUB_OUTPUT=$(mktemp)
  $AK_BIN binfmt install --qemu-path $qsome linux/arm64 linux/arm/v7 linux/riscv64; echo "rc=$?"
  ls '$BM' | tr "\n" " "; echo; cat "$GITHUB_OUTPUT"' &&
  expect_contains "$AK_STDOUT" "rc=1" &&
  expect_contains "$AK_STDERR" "archkit: linux/riscv64: no interpreter for 'riscv64': neither qemu-riscv64-static nor qemu-riscv64 in '$qsome'" &&
  expect_contains "$AK_STDOUT" "ok: emulated by qemu-aarch64" &&
  expect_contains "$AK_STDOUT" "ok: emulated by qemu-arm " &&
  expect_contains "$AK_STDOUT" "qemu-aarch64 qemu-arm register status" &&
  expect_contains "$AK_STDOUT" "platforms=linux/arm64,linux/arm/v7" && ak_pass

qdyn=$AK_TMP/qdyn
mkdir -p "$qdyn" && cp /bin/true "$qdyn/qemu-aarch64"
export qdyn
ak_test "a dynamic interpreter is refused with F; without F a fake one fails verification"
expect_exit 0 sb '$AK_BIN binfmt install --qemu-path $qdyn linux/arm64; echo "rc=$?"
  ls '$BM' | tr "\n" " "; echo
  $AK_BIN binfmt install --flags "" --qemu-path $qdyn linux/arm64; echo "rc=$?"' &&
  expect_contains "$AK_STDERR" "interpreter '$qdyn/qemu-aarch64' is dynamically linked: with flag F" &&
  expect_contains "$AK_STDOUT" "rc=1" &&
  expect_contains "$AK_STDOUT" "register status " &&
  expect_contains "$AK_STDOUT" "FAILED: reported machine '', expected one of: aarch64 arm64" &&
  expect_not_contains "$AK_STDOUT" "rc=0" && ak_pass

ak_test "bad input: unknown platform, unknown flag, bad names: clear message, exit 64, nothing written"
expect_exit 0 sb 'for args in "install linux/vax" "install --flags FX" "install --replace sometimes" "remove a/b" "remove register" "frobnicate"; do
    $AK_BIN binfmt $args; echo "rc=$?"; done
  ls '$BM' | tr "\n" " "' &&
  expect_contains "$AK_STDERR" "archkit: unknown platform 'linux/vax' (known: linux/amd64," &&
  expect_contains "$AK_STDERR" "archkit: unknown binfmt flag 'X' (known: P, O, C, F)" &&
  expect_contains "$AK_STDERR" "archkit: unknown --replace 'sometimes'" &&
  expect_contains "$AK_STDERR" "invalid handler name 'a/b': contains '/'" &&
  expect_contains "$AK_STDERR" "invalid handler name 'register': reserved" &&
  expect_contains "$AK_STDERR" "unknown binfmt command 'frobnicate'" &&
  expect_not_contains "$AK_STDOUT" "rc=0" &&
  expect_not_contains "$AK_STDOUT" "rc=1" &&
  expect_contains "$AK_STDOUT" "rc=64" &&
  expect_contains "$AK_STDOUT" "register status" &&
  expect_not_contains "$AK_STDOUT" "qemu-" && ak_pass

ak_test "plan prints the exact lines and writes nothing"
expect_exit 0 sb '$AK_BIN binfmt plan linux/arm64 linux/amd64 && ls '$BM' | tr "\n" " "' &&
  expect_contains "$AK_STDOUT" "# linux/arm64 (qemu-aarch64): missing" &&
  expect_contains "$AK_STDOUT" "echo ':qemu-aarch64:M:0:\\x7f\\x45\\x4c\\x46\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:/usr/bin/qemu-aarch64-static:F' > $BM/register" &&
  expect_contains "$AK_STDOUT" "# linux/amd64 (qemu-x86_64): native" &&
  expect_contains "$AK_STDOUT" "register status" &&
  expect_not_contains "$AK_STDOUT" "qemu-aarch64 " && ak_pass

ak_test "the plan's line, written by hand, is exactly what install considers in place"
expect_exit 0 sb 'eval "$($AK_BIN binfmt plan linux/riscv64 | grep ^echo)" && $AK_BIN binfmt install linux/riscv64' &&
  expect_contains "$AK_STDOUT" "qemu-riscv64     in place  none      ok: emulated by qemu-riscv64" && ak_pass

ak_test "export writes systemd and binfmt-support files"
expect_exit 0 "$AK_BIN" binfmt export --format systemd "$AK_TMP/sd" linux/arm64 linux/amd64 &&
  expect_contains "$AK_TMP/sd/qemu-aarch64.conf" ":qemu-aarch64:M:0:\\x7f\\x45\\x4c\\x46" &&
  expect_contains "$AK_TMP/sd/qemu-aarch64.conf" ":/usr/bin/qemu-aarch64-static:F" &&
  expect_exit 0 "$AK_BIN" binfmt export --format binfmt-support "$AK_TMP/bs" linux/s390x &&
  expect_contains "$AK_TMP/bs/qemu-s390x" "interpreter /usr/bin/qemu-s390x-static" &&
  expect_contains "$AK_TMP/bs/qemu-s390x" "fix_binary yes" &&
  expect_exit 64 "$AK_BIN" binfmt export --format upstart "$AK_TMP/x" && ak_pass
if [ -e "$AK_TMP/sd/qemu-x86_64.conf" ]; then ak_test "export skips natives"; ak_fail "wrote a handler for the native amd64"; fi

ak_test "two installs at once do not interleave (lock)"
expect_exit 0 sb '$AK_BIN binfmt install all >/tmp/a.out 2>&1 & a=$!
  $AK_BIN binfmt install all >/tmp/b.out 2>&1 & b=$!
  wait $a; ra=$?; wait $b; rb=$?
  echo "ra=$ra rb=$rb"; cat /tmp/a.out /tmp/b.out; rm -f /tmp/a.out /tmp/b.out' &&
  expect_contains "$AK_STDOUT" "ra=0 rb=0" &&
  expect_not_contains "$AK_STDOUT" "FAILED" &&
  expect_not_contains "$AK_STDOUT" "already there" && ak_pass

ak_test "--json output is valid JSON with the verdict"
expect_exit 0 sb '$AK_BIN binfmt install --json linux/arm64 linux/s390x' &&
  expect_jq '.ok == true and (.handlers | length) == 2 and .handlers[0].verify[0].outcome == "emulated"' &&
  expect_exit 0 sb '$AK_BIN binfmt install linux/arm64 >/dev/null && $AK_BIN binfmt status --json' &&
  expect_jq '.mounted == true and .enabled == true and .entries[0].name == "qemu-aarch64" and
    .entries[0].flags == "F" and (.entries[0].qemu_version | test("^[0-9]+\\.[0-9]+")) and (.platforms[] | select(.name == "qemu-aarch64") | .state == "in place")' &&
  expect_exit 1 sb '$AK_BIN verify --json --platform arm64' &&
  expect_jq '.ok == false and .results[0].outcome == "no handler"' && ak_pass

# Interpreters that never answer --version: status --json must not wait on them.
qslow=$AK_TMP/qslow
mkdir -p "$qslow"
for i in 1 2 3; do printf '#!/bin/sh\necho $$ >%s/sleep%s.pid\nexec sleep 30\n' "$qslow" $i >"$qslow/qemu-sleep$i"; done
printf '#!/bin/sh\nwhile :; do printf x; sleep 0.5; done\n' >"$qslow/qemu-drip"
printf '#!/bin/sh\nsleep 30 & echo $! >%s/bg.pid\necho "qemu-bg version 1.0"\n' "$qslow" >"$qslow/qemu-bg"
chmod +x "$qslow"/qemu-*
export qslow
ak_test "status --json bounds the version queries: slow interpreters are unknown, the rest intact"
expect_exit 0 timeout 20 "$AK_BIN" sandbox --platform none -- bash -c 'set -u
  $AK_BIN binfmt install linux/arm64 >/dev/null || exit 9
  i=0; for n in sleep1 sleep2 sleep3 drip bg; do i=$((i + 1))
    printf "%s" ":qemu-$n:M::\x7fELFslow$i::$qslow/qemu-$n:" > '$BM'/register || exit 8; done
  $AK_BIN binfmt status --json' &&
  expect_jq '(.entries | length) == 6 and
    (.entries[] | select(.name == "qemu-aarch64") | (.qemu_version | test("^[0-9]+\\.[0-9]+")) and .qemu_version_error == null) and
    ([.entries[] | select(.name | test("^qemu-(sleep|drip)")) | select(.qemu_version == null and .qemu_version_error == "timed out")] | length) == 4 and
    (.entries[] | select(.name == "qemu-bg") | .qemu_version == "1.0") and
    (.platforms[] | select(.name == "qemu-aarch64") | .state == "in place")' &&
  for f in "$qslow"/*.pid; do
    # killed with the process group archkit started, not left to sleep on
    st=$(awk '{print $3}' "/proc/$(cat "$f")/stat" 2>/dev/null)
    [ -z "$st" ] || [ "$st" = Z ] || { ak_fail "$(basename "$f" .pid) still runs (state $st)"; break; }
  done && ak_pass

ak_test "install outside any namespace as an unprivileged user says what is missing (exit 2)"
if [ "$(id -u)" -eq 0 ] && ! unpriv_setup; then
  ak_skip "$unpriv_why"
elif [ "$(id -u)" -eq 0 ]; then
  expect_exit 2 as_nobody sh -c '"$AK_BIN" binfmt install linux/arm64' &&
    expect_contains "$AK_STDERR" "needs root or CAP_SYS_ADMIN" && ak_pass
else
  expect_exit 2 "$AK_BIN" binfmt install linux/arm64 &&
    expect_contains "$AK_STDERR" "CAP_SYS_ADMIN" && ak_pass
fi

ak_test "verify without handlers says which platforms cannot run (exit 1)"
expect_exit 0 sb '$AK_BIN verify --platform linux/arm64 --platform amd64; echo "rc=$?"' &&
  expect_contains "$AK_STDOUT" "linux/arm64      FAILED   no handler" &&
  expect_contains "$AK_STDOUT" "linux/amd64      ok       native" &&
  expect_contains "$AK_STDOUT" "rc=1" && ak_pass

ak_test "binfmt_misc not mounted: --no-mount says how to mount it, install mounts it"
expect_exit 0 sb 'umount '$BM' || exit 9
  $AK_BIN binfmt install --no-mount linux/arm64; echo "rc=$?"
  $AK_BIN binfmt status | head -1
  $AK_BIN binfmt install linux/arm64 >/dev/null; echo "rc=$?"
  ls '$BM' | tr "\n" " "' &&
  expect_contains "$AK_STDERR" "binfmt_misc is not mounted at '$BM' (mount it with 'mount -t binfmt_misc binfmt_misc $BM', or drop --no-mount)" &&
  expect_contains "$AK_STDOUT" "rc=2" &&
  expect_contains "$AK_STDOUT" "binfmt_misc at $BM: not mounted" &&
  expect_contains "$AK_STDOUT" "rc=0" &&
  expect_contains "$AK_STDOUT" "qemu-aarch64 register status" && ak_pass

ak_test "a read-only binfmt_misc is reported (exit 2), nothing written"
expect_exit 0 sb 'mount -o remount,ro '$BM' || exit 9
  $AK_BIN binfmt install linux/arm64; echo "rc=$?"' &&
  expect_contains "$AK_STDERR" "binfmt_misc at '$BM' is mounted read-only" &&
  expect_contains "$AK_STDOUT" "rc=2" && ak_pass

ak_test "--mount-dir picks another binfmt_misc mount, mounting it there"
expect_exit 0 sb 'd=$(mktemp -d) && $AK_BIN binfmt install --mount-dir "$d" linux/s390x && ls "$d" | tr "\n" " "' &&
  expect_contains "$AK_STDOUT" "ok: emulated by qemu-s390x" &&
  expect_contains "$AK_STDOUT" "qemu-s390x register status" && ak_pass

ak_summary
