#!/usr/bin/env bash
# archkit doctor, for real: each test runs doctor inside 'archkit sandbox' (a private
# user + mount namespace with its own binfmt_misc), breaks one thing there the way
# runners break (a handler removed, disabled, drifted, shadowed; a dynamic or deleted
# interpreter; a tmpfs or nothing at the mount point) and checks that doctor fails naming
# the entry and the fix. The host's own binfmt_misc is never written.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib.sh"
export AK_BIN=${AK_BIN:-$top/build/archkit}
export BM=/proc/sys/fs/binfmt_misc

# sb SCRIPT: run a bash script inside a fresh sandbox with no handlers registered
sb() { "$AK_BIN" sandbox --platform none -- bash -c "set -u; $1"; }

if ! "$AK_BIN" sandbox --platform none -- true 2>"$AK_TMP/why"; then
  ak_test "sandbox available"
  ak_skip "$(cat "$AK_TMP/why")"
  ak_summary
  exit
fi
if ! command -v qemu-aarch64-static >/dev/null; then
  ak_test "qemu-user-static installed"
  ak_skip "no qemu-aarch64-static in PATH (apt-get install qemu-user-static)"
  ak_summary
  exit
fi
QA=$(command -v qemu-aarch64-static)
export QA

# The rule install writes for linux/arm64, from 'binfmt plan' (magic and mask as the
# platform table says), so a test can register a changed copy of it.
RULE=$(sb '$AK_BIN binfmt plan linux/arm64' | sed -n "s/^echo '\(.*\)' > .*register\$/\1/p")
export RULE
case $RULE in
:qemu-aarch64:M:*) ;;
*)
  ak_test "binfmt plan gives the linux/arm64 rule"
  ak_fail "no rule in 'binfmt plan linux/arm64': '$RULE'"
  ak_summary
  exit
  ;;
esac
# register RULE: write a rule line (printf %s: the \x escapes are binfmt_misc's to read)
export REG='reg() { printf "%s" "$1" > $BM/register; }'

ak_test "healthy after 'binfmt install all': exit 0, every platform passes from here and in a root"
expect_exit 0 sb '$AK_BIN binfmt install all >/dev/null && $AK_BIN doctor' &&
  expect_contains "$AK_STDOUT" "healthy: " &&
  expect_not_contains "$AK_STDOUT" "unhealthy" &&
  expect_not_contains "$AK_STDOUT" "fail " &&
  expect_contains "$AK_STDOUT" "pass    mount.filesystem         -                '/proc/sys/fs/binfmt_misc' is a binfmt_misc mount" &&
  expect_contains "$AK_STDOUT" "pass    platform.smoke_in_root   linux/arm64      ran in a private root and reported 'aarch64'" &&
  expect_contains "$AK_STDOUT" "pass    platform.smoke           linux/riscv64    ran emulated by qemu-riscv64 and reported 'riscv64'" &&
  expect_contains "$AK_STDOUT" "pass    handler.interpreter      qemu-aarch64     interpreter '$QA' is present, executable and statically linked" &&
  expect_contains "$AK_STDOUT" "pass    qemu.version             linux/arm64      QEMU " &&
  expect_contains "$AK_STDOUT" "warn    namespace.user" &&
  expect_contains "$AK_STDOUT" "  fix: register the handlers in the initial user namespace" && ak_pass

ak_test "Debian's own handlers (qemu-user-static's binfmt.d lines, flags POF) are healthy"
# the lines systemd-binfmt applies at boot; their masks differ from archkit's only in bits
# no real binary sets, and the -binfmt-P wrappers are links to the static QEMUs
export DEB_CONFS="/usr/lib/binfmt.d/qemu-aarch64.conf /usr/lib/binfmt.d/qemu-ppc64le.conf /usr/lib/binfmt.d/qemu-s390x.conf /usr/lib/binfmt.d/qemu-mips64el.conf"
deb_apply='for f in $DEB_CONFS; do grep "^:" "$f" > $BM/register || exit 9; done'
if ! ls $DEB_CONFS >/dev/null 2>&1; then
  ak_skip "no Debian qemu-user-static binfmt.d files in /usr/lib/binfmt.d"
elif ! sb "$deb_apply"' && $AK_BIN binfmt plan linux/ppc64le' 2>/dev/null | grep -qF "in place (distro)"; then
  ak_skip "this build's registrar does not tell a distro's equivalent handler yet (binfmt plan)"
else
  expect_exit 0 sb "$deb_apply"' && $AK_BIN doctor --platform arm64,ppc64le,s390x,mips64le' &&
    expect_contains "$AK_STDOUT" "pass    handler.magic            qemu-ppc64le     magic and mask accept the same linux/ppc64le binaries as the platform table's" &&
    expect_contains "$AK_STDOUT" "pass    handler.flags            qemu-aarch64     flags 'POF': " &&
    expect_contains "$AK_STDOUT" "pass    qemu.version             linux/arm64      QEMU " &&
    expect_contains "$AK_STDOUT" "pass    platform.smoke_in_root   linux/s390x      ran in a private root and reported 's390x'" && ak_pass
fi

ak_test "a missing handler fails, naming the platform and the install that fixes it"
expect_exit 1 sb '$AK_BIN binfmt install all >/dev/null && echo -1 > $BM/qemu-aarch64 &&
  $AK_BIN doctor --platform arm64' &&
  expect_contains "$AK_STDOUT" "fail    handler.missing          linux/arm64      no binfmt_misc entry runs linux/arm64 binaries (qemu-aarch64 missing)" &&
  expect_contains "$AK_STDOUT" "  fix: archkit binfmt install linux/arm64" &&
  expect_contains "$AK_STDOUT" "fail    platform.smoke           linux/arm64      exec format error" &&
  expect_contains "$AK_STDOUT" "unhealthy: " && ak_pass

ak_test "a disabled entry fails, naming the entry"
expect_exit 1 sb '$AK_BIN binfmt install arm64 >/dev/null && echo 0 > $BM/qemu-aarch64 &&
  $AK_BIN doctor --platform arm64' &&
  expect_contains "$AK_STDOUT" "fail    handler.enabled          qemu-aarch64     'qemu-aarch64' is disabled: it runs nothing" &&
  expect_contains "$AK_STDOUT" "  fix: archkit binfmt install linux/arm64" && ak_pass

ak_test "a dynamically linked interpreter with F fails (it breaks inside containers)"
dyn=$(type -P true)
export DYN=$dyn
expect_exit 1 sb "$REG"'; reg "${RULE%%:/*}:$DYN:F" && $AK_BIN doctor --platform arm64' &&
  expect_contains "$AK_STDOUT" "fail    handler.interpreter      qemu-aarch64     interpreter '$dyn' is dynamically linked" &&
  expect_contains "$AK_STDOUT" "  fix: archkit binfmt install linux/arm64 --replace always" && ak_pass

ak_test "an interpreter deleted after registration fails, although F keeps it running"
expect_exit 1 sb "$REG"'; d=$(mktemp -d) && cp "$QA" "$d/qemu-aarch64-static" &&
  reg "${RULE%%:/*}:$d/qemu-aarch64-static:F" && rm "$d/qemu-aarch64-static" &&
  $AK_BIN doctor --platform arm64' &&
  expect_contains "$AK_STDOUT" "fail    handler.interpreter      qemu-aarch64     interpreter '" &&
  expect_contains "$AK_STDOUT" "/qemu-aarch64-static' was deleted after registration: flag F keeps the file it opened working" &&
  expect_contains "$AK_STDOUT" "  fix: archkit binfmt install linux/arm64 --replace always" &&
  expect_contains "$AK_STDOUT" "pass    platform.smoke           linux/arm64      ran emulated by qemu-aarch64" && ak_pass

ak_test "a drifted mask fails, naming the byte and the ELF field"
# e_type's mask \xfe (ET_EXEC and ET_DYN: static-pie) narrowed to \xff
expect_exit 1 sb "$REG"'; reg "$(printf "%s" "$RULE" | sed "s/\\\\xfe\\\\xff\\\\xff\\\\xff:/\\\\xff\\\\xff\\\\xff\\\\xff:/")" &&
  $AK_BIN doctor --platform arm64' &&
  expect_contains "$AK_STDOUT" "fail    handler.magic            qemu-aarch64     'qemu-aarch64' drifted from the platform table: mask byte 16 (e_type) is 0xff, want 0xfe" &&
  expect_contains "$AK_STDOUT" "  fix: archkit binfmt install linux/arm64 --replace always" && ak_pass

ak_test "a shadowing entry fails, naming it and how to remove it"
expect_exit 1 sb "$REG"'; $AK_BIN binfmt install arm64 >/dev/null &&
  reg "$(printf "%s" "$RULE" | sed "s/^:qemu-aarch64:/:other-arm64:/")" &&
  $AK_BIN doctor --platform arm64' &&
  expect_contains "$AK_STDOUT" "fail    handler.shadowing        other-arm64      'other-arm64' catches the same linux/arm64 binaries as 'qemu-aarch64'" &&
  expect_contains "$AK_STDOUT" "  fix: echo -1 > /proc/sys/fs/binfmt_misc/other-arm64" && ak_pass

ak_test "an entry no platform owns is info; flag C is a warning that says what it costs"
expect_exit 0 sb "$REG"'; reg ":not-elf:M::PK\\x03\\x04::/bin/true:" &&
  reg "$(printf "%s" "$RULE" | sed "s/:F\$/:FC/")" && $AK_BIN doctor --platform arm64' &&
  expect_contains "$AK_STDOUT" "info    handler.unowned          not-elf          'not-elf' (enabled, interpreter '/bin/true') serves no archkit platform" &&
  expect_contains "$AK_STDOUT" "warn    handler.flags            qemu-aarch64     flags 'OCF': " &&
  expect_contains "$AK_STDOUT" "C: setuid binaries run with their owner's privileges under emulation (sudo needs that)" && ak_pass

ak_test "a handler for what the host runs natively is a warning: its programs all run under QEMU"
# qemu-i386 on an x86_64 host (which runs i386 code itself); a handler for the host's own
# machine would catch its own interpreter too, and nothing would run at all
cat >"$AK_TMP/native.sh" <<'EOF2'
printf '%s' ':qemu-i386:M::\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x03\x00:\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-i386-static:F' >$BM/register &&
  $AK_BIN doctor --platform 386
EOF2
if [ "$(uname -m)" != x86_64 ] || [ ! -x /usr/bin/qemu-i386-static ]; then
  ak_skip "needs an x86_64 host with /usr/bin/qemu-i386-static"
else
  expect_exit 0 sb "bash $AK_TMP/native.sh" &&
    expect_contains "$AK_STDOUT" "warn    handler.native           qemu-i386        'qemu-i386' catches linux/386 binaries, which this host runs natively: each of them runs under '/usr/bin/qemu-i386-static' instead" &&
    expect_contains "$AK_STDOUT" "  fix: echo -1 > /proc/sys/fs/binfmt_misc/qemu-i386" &&
    expect_contains "$AK_STDOUT" "pass    platform.native          linux/386" && ak_pass
fi

ak_test "no F: fails, because containers and chroots cannot find the interpreter"
expect_exit 1 sb "$REG"'; reg "${RULE%:F}:" && $AK_BIN doctor --platform arm64' &&
  expect_contains "$AK_STDOUT" "fail    handler.flags            qemu-aarch64     flags '': " &&
  expect_contains "$AK_STDOUT" "no F: the kernel looks the interpreter up by path inside each container or chroot" &&
  expect_contains "$AK_STDOUT" "fail    platform.smoke_in_root   linux/arm64      cannot execute in a private root" &&
  expect_contains "$AK_STDOUT" "pass    platform.smoke           linux/arm64" && ak_pass

ak_test "--mount-dir at a tmpfs fails naming the filesystem; at an empty directory, not mounted"
expect_exit 1 sb 'd=$(mktemp -d) && mount -t tmpfs tmpfs "$d" && $AK_BIN doctor --platform arm64 --mount-dir "$d"' &&
  expect_contains "$AK_STDOUT" "fail    mount.filesystem         -                '/tmp/" &&
  expect_contains "$AK_STDOUT" "' is a tmpfs mount, not binfmt_misc" &&
  expect_contains "$AK_STDOUT" "  fix: umount /tmp/" &&
  expect_contains "$AK_STDOUT" "skipped mount.status" &&
  expect_exit 1 sb 'd=$(mktemp -d) && $AK_BIN doctor --platform arm64 --mount-dir "$d"' &&
  expect_contains "$AK_STDOUT" "binfmt_misc is not mounted at '/tmp/" &&
  expect_contains "$AK_STDOUT" "  fix: mount -t binfmt_misc binfmt_misc /tmp/" && ak_pass

ak_test "an autofs mount at --mount-dir"
if grep -qw autofs /proc/filesystems; then
  ak_skip "this kernel has autofs, but a user namespace cannot mount it: see tests/check_doctor.c"
else
  ak_skip "no autofs in this kernel; the classification is unit-tested in tests/check_doctor.c with a real AL2023 mountinfo line"
fi

ak_test "--json: archkit.doctor/v1 with ids, statuses, nulls and platforms"
expect_exit 1 sb '$AK_BIN binfmt install arm64 >/dev/null && echo 0 > $BM/qemu-aarch64 &&
  $AK_BIN doctor --json --platform arm64,amd64' &&
  expect_jq '.schema == "archkit.doctor/v1" and .healthy == false and (.kernel | type) == "string" and (.elapsed_ms | type) == "number"' &&
  expect_jq '.checks | all(has("id") and has("status") and has("detail") and has("fix") and has("platform") and has("entry"))' &&
  expect_jq '[.checks[] | select(.id == "handler.enabled")][0] | .status == "fail" and .entry == "qemu-aarch64" and .platform == "linux/arm64" and (.fix | startswith("archkit binfmt install linux/arm64"))' &&
  expect_jq '[.checks[] | select(.id == "kernel.version")][0] | .status == "pass" and .fix == null and .platform == null and .entry == null' &&
  expect_jq '[.checks[].status] - ["pass","info","warn","fail","skipped"] == []' &&
  expect_jq '[.checks[] | select(.status == "warn" or .status == "fail") | .fix] | all(type == "string")' &&
  expect_jq '.platforms == [{"platform":"linux/arm64","how":"none","ok":false,"ok_in_root":false,"entry":null,"qemu_version":null},
    {"platform":"linux/amd64","how":"native","ok":true,"ok_in_root":false,"entry":null,"qemu_version":null}]' &&
  expect_jq '[.checks[] | select(.id == "platform.smoke_in_root" and .platform == "linux/amd64")][0].status == "skipped"' && ak_pass

ak_test "--platform: repeatable and comma-separated, only those platforms are checked"
expect_exit 0 sb '$AK_BIN binfmt install all >/dev/null && $AK_BIN doctor --format json --platform arm64,riscv64 --platform linux/s390x --platform arm64' &&
  expect_jq '[.platforms[].platform] == ["linux/arm64","linux/riscv64","linux/s390x"]' &&
  expect_jq '[.platforms[] | select(.how == "emulated" and .ok and .ok_in_root and (.qemu_version | type) == "string")] | length == 3' &&
  expect_jq '[.checks[] | select(.platform != null) | .platform] | unique == ["linux/arm64","linux/riscv64","linux/s390x"]' &&
  expect_jq '[.checks[] | select(.id == "platform.smoke")] | length == 3' && ak_pass

ak_test "usage errors exit 64; --help names the man page"
expect_exit 64 "$AK_BIN" doctor --format xml &&
  expect_contains "$AK_STDERR" "invalid --format 'xml'" &&
  expect_exit 64 "$AK_BIN" doctor --platform nonsense &&
  expect_contains "$AK_STDERR" "nonsense" &&
  expect_exit 64 "$AK_BIN" doctor --timeout 0 &&
  expect_exit 64 "$AK_BIN" doctor --timeout 5s &&
  expect_exit 64 "$AK_BIN" doctor --bogus &&
  expect_exit 64 "$AK_BIN" doctor extra &&
  expect_contains "$AK_STDERR" "unexpected argument 'extra'" &&
  expect_exit 64 "$AK_BIN" doctor --platform= &&
  expect_exit 64 "$AK_BIN" doctor --mount-dir &&
  expect_exit 0 "$AK_BIN" doctor --help &&
  expect_contains "$AK_STDOUT" "See archkit-doctor(1)." &&
  expect_contains "$AK_STDOUT" "Exit status: 0 healthy" && ak_pass

ak_summary
