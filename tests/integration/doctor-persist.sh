#!/usr/bin/env bash
# archkit doctor's persistence checks, for real: handlers registered in 'archkit sandbox'
# (a private binfmt_misc), against host roots made here (--host-root) holding Debian's
# own /usr/lib/binfmt.d/qemu-*.conf, archkit's exported files, update-binfmts entries in
# binfmt-support's format (written here, and by the real update-binfmts), and hostile
# files. Each fix doctor prints is run, and doctor
# must then pass. The host's own binfmt_misc and /etc are never written.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib.sh"
export AK_BIN=${AK_BIN:-$top/build/archkit}
export BM=/proc/sys/fs/binfmt_misc

sb() { "$AK_BIN" sandbox --platform none -- bash -c "set -u; $1"; }

ak_need_sandbox_qemu

# Debian's rule for arm64 as its qemu-user-static ships it (interpreter
# /usr/libexec/qemu-binfmt/aarch64-binfmt-P, flags OPF): registered as systemd-binfmt
# would, with one write of the line
DEBIAN_CONF=/usr/lib/binfmt.d/qemu-aarch64.conf
DEBIAN_RULE=
if [ -r "$DEBIAN_CONF" ]; then
  DEBIAN_RULE=$(grep -v '^[#;]' "$DEBIAN_CONF" | grep -m1 '^:qemu-aarch64:')
  interp=$(printf '%s' "$DEBIAN_RULE" | cut -d: -f7)
  [ -x "$interp" ] || DEBIAN_RULE=
fi
export DEBIAN_RULE
export REG='reg() { printf "%s" "$1" > $BM/register; }'

# new_root NAME: an empty host root
new_root() {
  ROOT=$AK_TMP/$1
  rm -rf "$ROOT"
  mkdir -p "$ROOT"
  export ROOT
}

# doctor_in PRE: in a fresh sandbox run PRE, then doctor on linux/arm64 with --host-root
# $ROOT, its JSON in $AK_TMP/out.json (exit status in $AK_TMP/rc)
doctor_in() {
  : >"$AK_TMP/out.json"
  sb "$1"' >/dev/null && $AK_BIN doctor --platform arm64 --host-root $ROOT --json'" > $AK_TMP/out.json; echo \$? > $AK_TMP/rc"
}

# st ID ENTRY: the status of that check ("" when there is none)
st() { jq -r --arg i "$1" --arg e "$2" '[.checks[] | select(.id == $i and (.entry // "") == $e) | .status] | join(",")' "$AK_TMP/out.json"; }
# field ID ENTRY FIELD
field() { jq -r --arg i "$1" --arg e "$2" --arg f "$3" '[.checks[] | select(.id == $i and (.entry // "") == $e) | .[$f] // ""] | join(",")' "$AK_TMP/out.json"; }

# want_status ID ENTRY STATUS: fails the test (naming the detail) when it is not so
want_status() {
  local got
  got=$(st "$1" "$2")
  [ "$got" = "$3" ] && return 0
  ak_fail "$1 ${2:--}: '$got', expected '$3' ($(field "$1" "$2" detail))"
  return 1
}

# run_fix FIX: the command doctor printed, with archkit as this build
run_fix() {
  case $1 in
  "archkit binfmt export "*) ;;
  *) ak_fail "not an export command: '$1'"; return 1 ;;
  esac
  # shellcheck disable=SC2086 # the fix is a command line: split as a shell would
  "$AK_BIN" ${1#archkit } >"$AK_TMP/fix.out" 2>&1 || { ak_fail "'$1' failed: $(tail -2 "$AK_TMP/fix.out")"; return 1; }
}

ak_test "not persisted: persistence.boot warns with the export that fixes it; after running it, it passes"
new_root empty
doctor_in '$AK_BIN binfmt install arm64'
fix=$(field persistence.boot qemu-aarch64 fix)
want_status persistence.boot qemu-aarch64 warn &&
  expect_contains "$AK_TMP/out.json" "'qemu-aarch64' is registered, but nothing re-creates it at boot" &&
  [ "$fix" = "archkit binfmt export --format systemd $ROOT/etc/binfmt.d linux/arm64" ] ||
  ak_fail "fix: '$fix'"
[ "$(cat "$AK_TMP/rc")" != 1 ] || jq -e '[.checks[] | select(.status == "fail" and (.id | startswith("persistence")))] | length == 0' "$AK_TMP/out.json" >/dev/null ||
  ak_fail "a persistence check failed"
if [ "$AK_STATE" != failed ] && run_fix "$fix"; then
  [ -f "$ROOT/etc/binfmt.d/qemu-aarch64.conf" ] || ak_fail "the export wrote no $ROOT/etc/binfmt.d/qemu-aarch64.conf"
  doctor_in '$AK_BIN binfmt install arm64'
  want_status persistence.boot qemu-aarch64 pass &&
    want_status persistence.agrees qemu-aarch64 pass &&
    expect_contains "$AK_TMP/out.json" "re-created at boot from $ROOT/etc/binfmt.d/qemu-aarch64.conf line 2 (systemd-binfmt)" &&
    ak_pass
fi

ak_test "Debian's own rule, registered as systemd-binfmt does: persisted, and agrees"
if [ -z "$DEBIAN_RULE" ]; then
  ak_skip "no $DEBIAN_CONF with an executable interpreter (Debian's qemu-user-static)"
else
  new_root debian
  mkdir -p "$ROOT/usr/lib/binfmt.d"
  cp /usr/lib/binfmt.d/qemu-*.conf "$ROOT/usr/lib/binfmt.d/"
  doctor_in "$REG"'; reg "$DEBIAN_RULE"'
  want_status persistence.boot qemu-aarch64 pass &&
    want_status persistence.agrees qemu-aarch64 pass &&
    expect_contains "$AK_TMP/out.json" "$ROOT/usr/lib/binfmt.d/qemu-aarch64.conf line 1 agrees with the registered entry" &&
    ak_pass
fi

ak_test "archkit's line over Debian's persisted one: persistence.agrees names interpreter and flags; the fix overrides it in /etc"
if [ -z "$DEBIAN_RULE" ]; then
  ak_skip "no $DEBIAN_CONF with an executable interpreter (Debian's qemu-user-static)"
else
  doctor_in '$AK_BIN binfmt install arm64 --replace always'
  fix=$(field persistence.agrees qemu-aarch64 fix)
  detail=$(field persistence.agrees qemu-aarch64 detail)
  want_status persistence.boot qemu-aarch64 pass &&
    want_status persistence.agrees qemu-aarch64 warn &&
    case $detail in
    *"$ROOT/usr/lib/binfmt.d/qemu-aarch64.conf line 1 disagrees with the registered entry (interpreter '/usr/libexec/qemu-binfmt/aarch64-binfmt-P' persisted, '"*"' registered; flags 'POF' persisted, 'F' registered)"*) true ;;
    *) ak_fail "detail: $detail" ;;
    esac &&
    [ "$fix" = "archkit binfmt export --format systemd $ROOT/etc/binfmt.d linux/arm64" ] ||
    ak_fail "fix: '$fix'"
  if [ "$AK_STATE" != failed ] && run_fix "$fix"; then
    doctor_in '$AK_BIN binfmt install arm64 --replace always'
    # /etc/binfmt.d/qemu-aarch64.conf overrides the vendor file of the same name
    want_status persistence.agrees qemu-aarch64 pass &&
      expect_contains "$AK_TMP/out.json" "$ROOT/etc/binfmt.d/qemu-aarch64.conf line 2 agrees" && ak_pass
  fi
fi

ak_test "a /dev/null link in /etc/binfmt.d masks the vendor file: not persisted, and said why"
new_root masked
mkdir -p "$ROOT/usr/lib/binfmt.d" "$ROOT/etc/binfmt.d"
"$AK_BIN" binfmt export --format systemd "$ROOT/usr/lib/binfmt.d" linux/arm64 >/dev/null
ln -s /dev/null "$ROOT/etc/binfmt.d/qemu-aarch64.conf"
doctor_in '$AK_BIN binfmt install arm64'
want_status persistence.boot qemu-aarch64 warn &&
  expect_contains "$AK_TMP/out.json" "$ROOT/etc/binfmt.d/qemu-aarch64.conf is a link to /dev/null, masking it" && ak_pass

ak_test "update-binfmts' database: an entry re-creates the handler at boot; a disagreeing field is named"
new_root binfmts
mkdir -p "$ROOT/var/lib/binfmts"
# binfmt-support's admindir layout (its format.c): package, type, offset, magic, mask,
# interpreter, detector, credentials, preserve, fix_binary; archkit's arm64 handler
rule=$("$AK_BIN" binfmt plan linux/arm64 2>/dev/null | sed -n "s/^echo ':\(qemu-aarch64:.*\)' > .*register\$/\1/p")
IFS=: read -r _ _ offset magic mask interp _ <<<"$rule"
printf '%s\n' archkit magic "${offset:-0}" "$magic" "$mask" "$interp" "" no no yes >"$ROOT/var/lib/binfmts/qemu-aarch64"
doctor_in '$AK_BIN binfmt install arm64'
want_status persistence.boot qemu-aarch64 pass &&
  expect_contains "$AK_TMP/out.json" "re-created at boot from $ROOT/var/lib/binfmts/qemu-aarch64 (update-binfmts --enable)" &&
  want_status persistence.agrees qemu-aarch64 pass || true
# without fix_binary the boot registers it without F
printf '%s\n' archkit magic "${offset:-0}" "$magic" "$mask" "$interp" "" no no no >"$ROOT/var/lib/binfmts/qemu-aarch64"
doctor_in '$AK_BIN binfmt install arm64'
[ "$AK_STATE" = failed ] ||
  { want_status persistence.agrees qemu-aarch64 warn &&
    expect_contains "$AK_TMP/out.json" "flags '' persisted, 'F' registered" && ak_pass; }

ak_test "the real update-binfmts (binfmt-support) registers and persists: doctor reads its database"
# fetched, never installed: binfmt-support's postinst would enable formats on the host.
# It runs only inside the sandbox, where /proc/sys/fs/binfmt_misc is private.
ubroot=$("$top/tests/fixtures/fetch-debs" binfmt-support:amd64 2>"$AK_TMP/fetch"); rc=$?
if [ $rc -eq 77 ]; then
  ak_skip "$(tail -1 "$AK_TMP/fetch")"
elif [ $rc -ne 0 ] || [ ! -x "$ubroot/usr/sbin/update-binfmts" ]; then
  ak_fail "fetch-debs binfmt-support failed: $(tail -3 "$AK_TMP/fetch")"
else
  new_root real-binfmts
  mkdir -p "$ROOT/var/lib/binfmts" "$ROOT/usr/share/binfmts"
  export UB="$ubroot/usr/sbin/update-binfmts --admindir $ROOT/var/lib/binfmts --importdir $ROOT/usr/share/binfmts"
  export UB_INTERP=$interp
  export UB_SPEC="qemu-aarch64 $interp --magic $magic --mask $mask --offset ${offset:-0} --credentials no"
  # update-binfmts --install registers it (with F) and writes its database entry
  doctor_in '$UB --package archkit --install $UB_SPEC --fix-binary yes &&
    grep -qx "flags: F" $BM/qemu-aarch64'
  if want_status persistence.boot qemu-aarch64 pass &&
    expect_contains "$AK_TMP/out.json" "re-created at boot from $ROOT/var/lib/binfmts/qemu-aarch64 (update-binfmts --enable)" &&
    want_status persistence.agrees qemu-aarch64 pass; then
    # installed without F; archkit then replaces the registration (flags drifted)
    doctor_in '$UB --package archkit --install $UB_SPEC --fix-binary no &&
      grep -qx "flags: " $BM/qemu-aarch64 && $AK_BIN binfmt install arm64'
    want_status persistence.agrees qemu-aarch64 warn &&
      expect_contains "$AK_TMP/out.json" "flags '' persisted, 'F' registered" &&
      # and the entry update-binfmts removes is no longer persisted
      doctor_in '$UB --package archkit --install $UB_SPEC --fix-binary yes &&
        $UB --package archkit --remove qemu-aarch64 $UB_INTERP && $AK_BIN binfmt install arm64' &&
      [ ! -e "$ROOT/var/lib/binfmts/qemu-aarch64" ] &&
      want_status persistence.boot qemu-aarch64 warn && ak_pass
  fi
fi

ak_test "hostile files in the host root: a FIFO, a huge file, NUL bytes; doctor neither hangs nor reads them"
new_root hostile
mkdir -p "$ROOT/etc/binfmt.d" "$ROOT/var/lib/binfmts"
mkfifo "$ROOT/etc/binfmt.d/fifo.conf" "$ROOT/var/lib/binfmts/qemu-aarch64"
truncate -s 64M "$ROOT/etc/binfmt.d/big.conf"
printf ':qemu-aarch64:M::\\x7f::/x:F\n\0\n' >"$ROOT/etc/binfmt.d/nul.conf"
ln -s /proc/self/environ "$ROOT/etc/binfmt.d/magic.conf"
start=$(date +%s)
AK_TMP=$AK_TMP timeout 60 bash -c "$(declare -f sb doctor_in); doctor_in '\$AK_BIN binfmt install arm64'"
took=$(($(date +%s) - start))
[ "$took" -lt 30 ] || ak_fail "doctor took ${took}s"
want_status persistence.files "" warn &&
  want_status persistence.boot qemu-aarch64 warn &&
  expect_contains "$AK_TMP/out.json" "$ROOT/etc/binfmt.d/fifo.conf: not a regular file: not read" &&
  expect_contains "$AK_TMP/out.json" "$ROOT/etc/binfmt.d/big.conf: larger than 1048576 bytes: not read" &&
  expect_contains "$AK_TMP/out.json" "$ROOT/etc/binfmt.d/nul.conf: holds NUL bytes: not read" &&
  expect_contains "$AK_TMP/out.json" "$ROOT/var/lib/binfmts/qemu-aarch64: not a regular file: not read" && ak_pass

ak_test "a --host-root that is not there: the persistence check is skipped, saying so"
export ROOT=$AK_TMP/no-such-root
doctor_in '$AK_BIN binfmt install arm64'
want_status persistence.boot "" skipped &&
  expect_contains "$AK_TMP/out.json" "cannot open host root '$ROOT'" && ak_pass

ak_summary
