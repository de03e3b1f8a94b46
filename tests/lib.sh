# shellcheck shell=bash
# A tiny test library for archkit's shell tests. Source it, then:
#
#   ak_test "probe flags the stray amd64 binary"
#   expect_exit 1 "$ARCHKIT" probe "$IMAGES/stray-amd64-in-arm64" &&
#   	expect_contains "$AK_STDOUT" "usr/local/bin/tool" && ak_pass
#   ...
#   ak_summary            # prints "N passed, N failed, N skipped", exits 1 on failure
#
# Each test ends with ak_pass, ak_fail MSG or ak_skip REASON; an expect_*
# that fails records the failure itself and returns 1, so chain them with &&.
# A test left open (no verdict) counts as failed, and so does a script that
# dies before ak_summary: the summary line is printed whatever happens.

AK_PASSED=0
AK_FAILED=0
AK_SKIPPED=0
AK_NAME=
AK_STATE=none # none, open, failed (an expect_* failed), done
AK_TMP=$(mktemp -d "${TMPDIR:-/tmp}/archkit-test.XXXXXX")
AK_STDOUT=$AK_TMP/stdout
AK_STDERR=$AK_TMP/stderr
# archkit probe keeps a layer cache under $XDG_CACHE_HOME: each script gets one of its
# own, so facts cached by an earlier run cannot stand for a blob a test damaged, and
# nothing is written to the user's. The fixtures' cache (AK_CACHE) stays where it was.
export AK_CACHE=${AK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/archkit-tests}
export XDG_CACHE_HOME=$AK_TMP/xdg-cache
AK_SUMMARY_DONE=

_ak_close() {
	case $AK_STATE in
	open)
		echo "not ok - $AK_NAME: test ended without a verdict"
		AK_FAILED=$((AK_FAILED + 1)) ;;
	esac
	AK_STATE=none
}

# ak_test NAME: starts a test (and closes the one before).
ak_test() {
	_ak_close
	AK_NAME=$1
	AK_STATE=open
	: >"$AK_STDOUT"
	: >"$AK_STDERR"
}

ak_pass() {
	case $AK_STATE in
	open) echo "ok - $AK_NAME"; AK_PASSED=$((AK_PASSED + 1)) ;;
	failed) ;; # already counted as a failure
	*) echo "ak_pass outside a test" >&2; AK_FAILED=$((AK_FAILED + 1)) ;;
	esac
	AK_STATE=done
}

# ak_fail MSG: the current test fails, once, with MSG (returns 0, so
# `check || ak_fail MSG` does not stop a `set -e` script).
ak_fail() {
	if [ "$AK_STATE" != failed ]; then
		echo "not ok - $AK_NAME: $*"
		AK_FAILED=$((AK_FAILED + 1))
	else
		echo "#   also: $*"
	fi
	AK_STATE=failed
	return 0
}

# ak_skip REASON: the current test could not run here.
ak_skip() {
	echo "ok - $AK_NAME # SKIP $*"
	AK_SKIPPED=$((AK_SKIPPED + 1))
	AK_STATE=done
}

# Shows the end of a captured file under a failure message.
_ak_show() {
	[ -s "$2" ] || return 0
	echo "#   $1:"
	tail -n 15 "$2" | sed 's/^/#     /'
}

# expect_exit CODE CMD...: runs CMD with stdout in $AK_STDOUT, stderr in $AK_STDERR.
expect_exit() {
	local want=$1 got=0 arg
	shift
	# the redirections below empty these files before CMD could read them
	for arg in "$@"; do
		if [ "$arg" = "$AK_STDOUT" ] || [ "$arg" = "$AK_STDERR" ]; then
			ak_fail "expect_exit would empty '${arg##*/}' before '$1' reads it: use expect_contains or expect_jq"
			return 1
		fi
	done
	"$@" >"$AK_STDOUT" 2>"$AK_STDERR" </dev/null || got=$?
	[ "$got" = "$want" ] && return 0
	ak_fail "'$*' exited $got, expected $want"
	_ak_show stdout "$AK_STDOUT"
	_ak_show stderr "$AK_STDERR"
	return 1
}

# expect_jq FILTER [FILE]: FILE's JSON (default: the last command's stdout) makes FILTER
# true. Not `expect_exit 0 jq -e F "$AK_STDOUT"`: expect_exit empties AK_STDOUT before
# jq reads it, and jq -e on no input exits 0, so such a check can never fail.
expect_jq() {
	local file=${2:-$AK_STDOUT} copy=$AK_TMP/expect_jq.json
	cp "$file" "$copy" 2>/dev/null || { ak_fail "no '${file##*/}' to check"; return 1; }
	if [ ! -s "$copy" ]; then
		ak_fail "'${file##*/}' is empty: nothing to check with jq '$1'"
		return 1
	fi
	jq -e "$1" "$copy" >/dev/null 2>&1 && return 0
	ak_fail "jq '$1' is not true of ${file##*/}"
	_ak_show "${file##*/}" "$copy"
	return 1
}

# expect_contains FILE TEXT: FILE holds TEXT (a fixed string).
expect_contains() {
	grep -qF -- "$2" "$1" && return 0
	ak_fail "${1##*/} does not contain '$2'"
	_ak_show "${1##*/}" "$1"
	return 1
}

# expect_not_contains FILE TEXT: FILE does not hold TEXT.
expect_not_contains() {
	grep -qF -- "$2" "$1" || return 0
	ak_fail "${1##*/} contains '$2'"
	_ak_show "${1##*/}" "$1"
	return 1
}

# ak_need_images DIR NAME...: a test that builds the named sample images of
# tests/fixtures/images into DIR. When they cannot be built, the test is skipped (the
# packages cannot be fetched here: 77) or fails, and the script ends with its summary.
ak_need_images() {
	local dir=$1 rc=0 top
	shift
	top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	ak_test "the sample images build from real Debian packages"
	"$top/tests/fixtures/images" "$dir" "$@" >"$AK_TMP/images.log" 2>&1 || rc=$?
	case $rc in
	0) ak_pass; return 0 ;;
	77) ak_skip "$(grep -m1 '^skip' "$AK_TMP/images.log" || tail -1 "$AK_TMP/images.log")" ;;
	*) ak_fail "tests/fixtures/images failed ($rc): $(tail -3 "$AK_TMP/images.log")" ;;
	esac
	ak_summary
	exit
}

# ak_emulation PLATFORM...: 0 when '$AK_BIN sandbox' can register a handler for each
# (Debian's qemu-user-static is installed); else the current test is skipped with
# archkit's reason and it returns 1.
ak_emulation() {
	local p args=()
	for p in "$@"; do args+=(--platform "$p"); done
	"$AK_BIN" sandbox "${args[@]}" -- true 2>"$AK_TMP/why" && return 0
	ak_skip "no QEMU handler for $*: $(tail -n1 "$AK_TMP/why") (apt-get install qemu-user-static)"
	return 1
}

# ak_need_sandbox_qemu: a script whose tests all need 'archkit sandbox' ($AK_BIN) and
# Debian's qemu-user-static ends here when either is missing, with one skipped test
# saying which, and its summary.
ak_need_sandbox_qemu() {
	if ! "$AK_BIN" sandbox --platform none -- true 2>"$AK_TMP/why"; then
		ak_test "sandbox available"
		ak_skip "$(cat "$AK_TMP/why")"
	elif ! command -v qemu-aarch64-static >/dev/null; then
		ak_test "qemu-user-static installed"
		ak_skip "no qemu-aarch64-static in PATH (apt-get install qemu-user-static)"
	else
		return 0
	fi
	ak_summary
	exit
}

# ak_summary: prints the closing line and exits 1 if any test failed.
ak_summary() {
	_ak_close
	AK_SUMMARY_DONE=1
	echo "$AK_PASSED passed, $AK_FAILED failed, $AK_SKIPPED skipped"
	[ "$AK_FAILED" = 0 ]
}

_ak_exit() {
	local rc=$?
	if [ -z "$AK_SUMMARY_DONE" ]; then
		if [ "$AK_STATE" = open ]; then
			echo "not ok - $AK_NAME: script died (exit $rc)"
		else
			echo "not ok - script ended without ak_summary (exit $rc)"
		fi
		AK_FAILED=$((AK_FAILED + 1))
		echo "$AK_PASSED passed, $AK_FAILED failed, $AK_SKIPPED skipped"
		rc=1
	fi
	rm -rf "$AK_TMP"
	exit "$rc"
}
trap _ak_exit EXIT
