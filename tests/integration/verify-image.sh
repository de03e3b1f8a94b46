#!/usr/bin/env bash
# archkit verify IMAGE (issue 7): every variant of a real image, unpacked into a private
# root and run there under private QEMU handlers, checked against the agreed interface
# (text rows, --json archkit.verify-image/v1, exit 0/1/2/64). Images come from tests/fixtures (real Debian binaries) or are crafted here
# with lib-oci.py. Each run is under 'timeout', must not crash, and must leave TMPDIR
# empty; hostile images must not create or change anything outside the temp root.
#
#   AK_BIN=/tmp/build-x/archkit bash tests/integration/verify-image.sh
# AK_IMAGES=DIR keeps the sample images between runs (default: the test cache).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib.sh"
export AK_BIN=${AK_BIN:-$top/build/archkit}
IMAGES=${AK_IMAGES:-${AK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/archkit-tests}/images}
oci() { python3 "$top/tests/integration/lib-oci.py" "$@"; }

work=$AK_TMP/work # images made here, and the cwd of every run
vtmp=$AK_TMP/tmp  # archkit's TMPDIR in every run
mkdir -p "$work" "$vtmp"
cd "$work" || exit 2

unpriv_dir=
# lib.sh's EXIT trap removes $AK_TMP; the unprivileged copy lives elsewhere
trap 'rc=$?; [ -z "$unpriv_dir" ] || rm -rf "$unpriv_dir"; [ -z "${canary:-}" ] || clean_canaries; (exit $rc); _ak_exit' EXIT

ak_test "a sandbox can be made here (user namespaces, private binfmt_misc: Linux 6.7+)"
if ! "$AK_BIN" sandbox --platform none -- true 2>"$AK_TMP/why"; then
	ak_skip "$(tail -n1 "$AK_TMP/why")"
	ak_summary
	exit
fi
ak_pass

ak_need_images "$IMAGES" honest6 honest6-zstd honest6-none honest6.oci-archive.tar \
	honest6-arm64.docker-archive.tar honest6.local honest6.buildx.tar honest-arm64 honest-arm64.local \
	honest-arm64.buildx.tar identical-layers dynamic-libc6-layer dynamic-no-libc6
honest6=$IMAGES/honest6
arm64=$IMAGES/honest-arm64
six="linux/amd64 linux/arm64 linux/arm/v7 linux/386 linux/ppc64le linux/s390x"

abs_canary=/archkit-verify-abs.$$ # an absolute entry's name: must never appear at /
canary=archkit-verify-canary.$$   # the name traversals aim at, in every folder above TMPDIR
canary_dir=$AK_TMP/canary         # beside TMPDIR: absolute symlinks point here
canary_file=$AK_TMP/canary-file   # beside TMPDIR: hard links through symlinks aim here
mkdir -p "$canary_dir"
echo host-canary >"$canary_file"
passwd_sum=$(sha256sum /etc/passwd)
# clean_canaries: removes what an escape left (names unique to this run, made by no one else)
clean_canaries() {
	local d
	d=$(realpath "$vtmp")
	while [ "$d" != / ]; do
		d=$(dirname "$d")
		rm -rf "${d%/}/${canary:?}"
	done
	rm -rf "$abs_canary"
}

# Everything a run could change outside its temp root: the test's own folder (images,
# cwd, TMPDIR and what is beside it), the canary in every folder above TMPDIR and at /,
# the bytes of /etc/passwd and of the canary file.
snapshot() {
	local d
	find "$AK_TMP" -path "$AK_STDOUT" -prune -o -path "$AK_STDERR" -prune -o \
		-path "$AK_TMP/expect_jq.json" -prune -o -print | sort
	d=$(realpath "$vtmp")
	while [ "$d" != / ]; do
		d=$(dirname "$d")
		[ -e "${d%/}/$canary" ] && echo "canary: ${d%/}/$canary"
	done
	[ -e "$abs_canary" ] && echo "canary: $abs_canary"
	sha256sum /etc/passwd "$canary_file"
}

# verify WANT ARGS...: runs 'archkit verify ARGS' (TMPDIR=$vtmp, stdin from
# $verify_stdin) and checks the exit status (WANT, or one of WANT's "0|2"), that it
# neither crashed nor hung, that TMPDIR is empty again and nothing changed outside it;
# when it exits 2 that stderr is exactly one "archkit: " line. Sets verify_rc, and
# verify_ms to the wall time of the run.
verify_stdin=/dev/null
verify() {
	local want=$1 rc=0 before after t0
	shift
	before=$(snapshot)
	t0=$EPOCHREALTIME
	TMPDIR=$vtmp timeout -k 5 300 "$AK_BIN" verify "$@" >"$AK_STDOUT" 2>"$AK_STDERR" <"$verify_stdin" || rc=$?
	verify_ms=$(((${EPOCHREALTIME//[!0-9]/} - ${t0//[!0-9]/}) / 1000))
	verify_rc=$rc
	after=$(snapshot)
	if [ $rc = 124 ] || [ $rc = 137 ]; then
		ak_fail "'archkit verify $*' hung: killed by timeout after ${verify_ms} ms"
	elif [ $rc -ge 128 ]; then
		ak_fail "'archkit verify $*' crashed: signal $((rc - 128))"
	elif grep -qE "Sanitizer|runtime error:" "$AK_STDERR"; then
		ak_fail "'archkit verify $*': sanitizer report"
	elif [[ "|$want|" != *"|$rc|"* ]]; then
		ak_fail "'archkit verify $*' exited $rc, expected $want"
	elif [ "$rc" = 2 ] && { [ "$(wc -l <"$AK_STDERR")" != 1 ] || ! head -c 9 "$AK_STDERR" | grep -qx "archkit: "; }; then
		ak_fail "stderr is not exactly one line starting 'archkit: '"
	elif [ -n "$(ls -A "$vtmp")" ]; then
		ak_fail "TMPDIR not empty afterwards: $(ls -A "$vtmp" | head -3 | tr '\n' ' ')"
	elif [ "$before" != "$after" ]; then
		ak_fail "changed outside the temp root: $(diff <(echo "$before") <(echo "$after") | grep '^[<>]' | head -4 | tr '\n' ' ')"
	else
		return 0
	fi
	echo "#   stderr:"
	head -n 5 "$AK_STDERR" | sed 's/^/#     /'
	echo "#   stdout:"
	tail -n 12 "$AK_STDOUT" | sed 's/^/#     /'
	# leave the next test a clean slate
	rm -rf "${vtmp:?}"/* "$vtmp"/.[!.]* 2>/dev/null
	clean_canaries
	return 1
}

# row PLATFORM RESULT DETAIL_ERE: stdout has the text row "PLATFORM RESULT DETAIL"
row() {
	grep -qE "^$1 +$2 +$3\$" "$AK_STDOUT" && return 0
	ak_fail "no row '$1 $2 $3'"
	sed 's/^/#     /' "$AK_STDOUT" | head -n 20
	return 1
}

# uname_re PLATFORM: what 'uname -m' may print for it (as common/platform.c accepts)
uname_re() {
	case $1 in
	linux/amd64) echo x86_64 ;;
	linux/arm64) echo aarch64 ;;
	linux/arm/v7) echo 'armv7l|armv8l' ;;
	linux/386) echo 'i[3-6]86|x86_64' ;;
	linux/ppc64le) echo ppc64le ;;
	linux/s390x) echo s390x ;;
	esac
}
# qemu_of PLATFORM: the QEMU target that runs it
qemu_of() {
	case $1 in
	linux/arm64) echo aarch64 ;;
	linux/arm/v7) echo arm ;;
	linux/386) echo i386 ;;
	linux/ppc64le) echo ppc64le ;;
	linux/s390x) echo s390x ;;
	esac
}

# all_passed N: the JSON report has N variants, every one passed, and says so
all_passed() {
	expect_jq "(.variants | length) == $1 and all(.variants[]; .status == \"passed\") and
		.ok == true and .passed == $1 and .failed == 0 and .timed_out == 0 and .not_runnable == 0"
}

# add_layer IMAGE ARCH ENTRY...: a gzip'd tar of ENTRY (lib-oci.py tar) becomes the ARCH
# variant's last layer, with a correct digest, size and diff_id
add_layer() {
	local img=$1 arch=$2
	shift 2
	oci tar "$work/layer.tar" "$@" && gzip -n -f "$work/layer.tar" &&
		oci set-layer "$img" "$arch" "$work/layer.tar.gz" --append && rm -f "$work/layer.tar.gz"
}
# fresh NAME: a private copy of honest-arm64 at $work/NAME
fresh() {
	rm -rf "${work:?}/$1"
	cp -a "$arm64" "$work/$1"
}
bb_amd64=$(tar -xOzf "$(oci layer "$honest6" amd64)" bin/busybox >"$work/busybox-amd64" && echo "$work/busybox-amd64")
bb_arm64=$(tar -xOzf "$(oci layer "$honest6" arm64)" bin/busybox >"$work/busybox-arm64" && echo "$work/busybox-arm64")

# --- honest images: every variant runs its own /bin/sh -c 'uname -m' ---

ak_test "every variant of the honest six-platform image passes, each with its own machine"
if ak_emulation linux/arm64 linux/arm/v7 linux/ppc64le linux/s390x; then
	verify 0 "$honest6" && expect_contains "$AK_STDOUT" "PLATFORM         RESULT        DETAIL" &&
		row linux/amd64 passed 'uname -m: x86_64 \(native\)' &&
		for p in linux/arm64 linux/arm/v7 linux/ppc64le linux/s390x; do
			row "$p" passed "uname -m: ($(uname_re "$p")) \(emulated: /.*qemu-$(qemu_of "$p")(-static)?\)" || break
		done &&
		row linux/386 passed "uname -m: ($(uname_re linux/386)) \((native|emulated: /.*qemu-i386(-static)?)\)" &&
		expect_contains "$AK_STDOUT" "6 variants: 6 passed, 0 failed, 0 timed out, 0 not runnable" &&
		order=$(grep -oE '^linux/[a-z0-9/]+' "$AK_STDOUT" | tr '\n' ' ') &&
		{ [ "$order" = "$six " ] || ak_fail "rows not in the image's order: '$order'"; } && ak_pass
fi

ak_test "--json: schema, statuses, machines, commands and counts"
if ak_emulation linux/arm64 linux/arm/v7 linux/ppc64le linux/s390x; then
	verify 0 --json "oci:$honest6" &&
		expect_jq '.schema == "archkit.verify-image/v1" and .kind == "oci" and .ok == true' &&
		{ [ "$(jq -r .image "$AK_STDOUT")" = "oci:$honest6" ] || ak_fail "image is not 'oci:$honest6'"; } &&
		all_passed 6 &&
		expect_jq '[.variants[].platform] == ["linux/amd64", "linux/arm64", "linux/arm/v7", "linux/386", "linux/ppc64le", "linux/s390x"]' &&
		expect_jq 'all(.variants[]; .command == ["/bin/sh", "-c", "uname -m"] and .exit_code == 0 and
			.signal == null and .fix == null and (.stdout | split("\n")[0]) == .machine and
			(.manifest_digest | test("^sha256:[0-9a-f]{64}$")) and (.elapsed_ms | type) == "number" and
			.elapsed_ms >= 0 and (.detail | type) == "string")' &&
		expect_jq '.variants[0] | .how == "native" and .interpreter == null and .machine == "x86_64"' &&
		expect_jq '[.variants[] | select(.platform != "linux/amd64" and .platform != "linux/386")] |
			all(.how == "emulated" and (.interpreter | test("^/.*/qemu-[a-z0-9_]+(-static)?$")))' &&
		expect_jq '[.variants[] | .machine] | .[1] == "aarch64" and (.[2] | test("^armv[78]l$")) and
			(.[3] | test("^(i[3-6]86|x86_64)$")) and .[4] == "ppc64le" and .[5] == "s390x"' && ak_pass
fi

ak_test "zstd and uncompressed layers: every variant passes all the same"
if ak_emulation linux/arm64 linux/arm/v7 linux/ppc64le linux/s390x; then
	verify 0 --json "$IMAGES/honest6-zstd" && all_passed 6 &&
		verify 0 --json "$IMAGES/honest6-none" && all_passed 6 && ak_pass
fi

# identical-layers: its arm64 variant (descriptor and config linux/arm64) holds the
# amd64 busybox, which runs natively and says x86_64
ak_test "an arm64 variant holding amd64 code fails, showing the machine it reported"
if ak_emulation linux/arm64; then
	verify 1 "$IMAGES/identical-layers" && row linux/amd64 passed 'uname -m: x86_64 \(native\)' &&
		row linux/arm64 failed "reported machine x86_64, not one of linux/arm64's \(aarch64 arm64\)" &&
		expect_contains "$AK_STDOUT" "2 variants: 1 passed, 1 failed, 0 timed out, 0 not runnable" &&
		verify 1 --json "$IMAGES/identical-layers" &&
		expect_jq '.ok == false and .passed == 1 and .failed == 1 and
			(.variants[1] | .platform == "linux/arm64" and .status == "failed" and .machine == "x86_64" and
			 .exit_code == 0 and (.detail | contains("x86_64")))' && ak_pass
fi

ak_test "-- CMD whose binary is the host's code, not the variant's, fails without running"
# amd64 code in an arm64 variant would run natively on an amd64 runner and exit 0
if ak_emulation linux/arm64; then
	"$top/tests/fixtures/images" "$IMAGES" stray-amd64-in-arm64 >/dev/null 2>&1
	verify 1 --platform linux/arm64 "$IMAGES/stray-amd64-in-arm64" -- /usr/local/bin/tool true &&
		row linux/arm64 failed "'/usr/local/bin/tool' is linux/amd64 code, not linux/arm64's: not run .*" &&
		verify 1 --json --platform linux/arm64 "$IMAGES/stray-amd64-in-arm64" -- tool true &&
		expect_jq '.variants[0] | .status == "failed" and .stdout == null and (.detail | contains("linux/amd64 code"))' &&
		verify 0 --platform linux/arm64 "$IMAGES/stray-amd64-in-arm64" -- /bin/busybox true && ak_pass
fi

# --- dynamic binaries: the loader comes from another layer ---

ak_test "dynamic arm64 coreutils with libc6 in another layer: '-- /bin/ls /' and uname pass"
if ak_emulation linux/arm64; then
	verify 0 --json "$IMAGES/dynamic-libc6-layer" -- /bin/ls / && all_passed 1 &&
		expect_jq '.variants[0] | .command == ["/bin/ls", "/"] and .how == "emulated" and
			(.stdout | split("\n") | index("bin") != null and index("lib") != null)' &&
		verify 0 --json "$IMAGES/dynamic-libc6-layer" && all_passed 1 &&
		expect_jq '.variants[0].machine == "aarch64"' && ak_pass
fi

ak_test "the same without the libc6 layer fails with the loader error"
if ak_emulation linux/arm64; then
	verify 1 --json "$IMAGES/dynamic-no-libc6" -- /bin/ls / &&
		expect_jq '.ok == false and .failed == 1 and (.variants[0] | .status == "failed" and
			.exit_code != null and .exit_code != 0 and
			((.stderr_tail + " " + .detail) | contains("/lib/ld-linux-aarch64.so.1")))' &&
		verify 1 "$IMAGES/dynamic-no-libc6" -- /bin/ls / && row linux/arm64 failed 'exit status [0-9]+' &&
		{ grep -qE '^ +stderr: .*/lib/ld-linux-aarch64\.so\.1' "$AK_STDOUT" ||
			ak_fail "no 'stderr:' line naming /lib/ld-linux-aarch64.so.1"; } && ak_pass
fi

# --- hostile images: entries that try to leave the root ---

# refused NAME ENTRY...: honest-arm64 with one more layer of ENTRY; archkit either
# refuses it (exit 2, one line, saying why as probe does) or runs with the entry left
# out; either way verify() has checked that nothing outside the temp root changed
refused() {
	local name=$1 rc
	shift
	fresh "$name" && add_layer "$name" arm64 "$@" || { ak_fail "cannot build '$name'"; return 1; }
	"$AK_BIN" probe "$name" >/dev/null 2>&1
	rc=$?
	[ $rc = 2 ] || { ak_fail "probe does not refuse '$name' (exit $rc): the case tests nothing"; return 1; }
	verify '0|2' "$name" -- /bin/sh -c 'ls -a /' || return 1
	[ "$verify_rc" = 0 ] || grep -qE "escapes the root|is an absolute path|outside" "$AK_STDERR" ||
		{ ak_fail "the refusal does not say why: $(cat "$AK_STDERR")"; return 1; }
}

ak_test "a traversal '../../../../CANARY/x' creates nothing outside the root"
ak_emulation linux/arm64 && refused dotdot "file:../../../../$canary/x=x" && ak_pass

ak_test "'a/../../../CANARY/x' creates nothing outside the root"
ak_emulation linux/arm64 && refused inner dir:a "file:a/../../../$canary/x=x" && ak_pass

ak_test "an absolute entry '/CANARY_ABS' creates nothing at /"
ak_emulation linux/arm64 && refused absolute "file:$abs_canary=x" && ak_pass

ak_test "a PAX path header holding '../' creates nothing outside the root"
ak_emulation linux/arm64 && refused pax "pax:innocent=../../../../../$canary/x" && ak_pass

ak_test "a GNU long name holding '../' creates nothing outside the root"
ak_emulation linux/arm64 && refused longname --gnu "file:../../../../../$canary/$(printf 'n%.0s' $(seq 150))=x" && ak_pass

ak_test "a hard link to /etc/passwd (absolute or by '..') links nothing outside"
ak_emulation linux/arm64 && refused hardabs hardlink:etc/pw=/etc/passwd &&
	refused hardrel hardlink:etc/pw=../../../../../../../../etc/passwd && ak_pass

# The hostile image that unpacks: one linux/amd64 variant (native, so a setuid bit
# would take effect) made of honest6's busybox layer and two crafted layers.
#   layer 2: its own /etc/passwd; a symlink 'esc' up and out with a file below it; an
#            absolute symlink 'hostdir' to a real folder beside TMPDIR with a file
#            below it; symlinks 'rootl' -> / and 'mine-dir' -> the test folder, and
#            the image's own file at that path; setuid, setgid and file-capability
#            busyboxes; a character device, a block device and a FIFO
#   layer 3: files through 'esc' and 'hostdir' (across layers), hard links through
#            'rootl' to etc/passwd and through 'mine-dir' to the canary file
hostile_image() {
	local rel=${AK_TMP#/}
	oci tar "$work/l2.tar" "file:etc/passwd=image-passwd" \
		"link:esc=../../../../../../../../../.." "file:esc/$canary/y=x" \
		"link:hostdir=$canary_dir" "file:hostdir/v=x" \
		"link:rootl=/" "link:mine-dir=$AK_TMP" "file:$rel/canary-file=image-canary" \
		"mode:setuid/stat=4755,$bb_amd64" "mode:setgid/stat=2755,$bb_amd64" "cap:cap/grep=$bb_amd64" \
		chardev:mem=1,1 blockdev:disk=8,0 fifo:fifo &&
		oci tar "$work/l3.tar" "file:esc/$canary/z=x" "file:hostdir/w=x" \
			hardlink:pw=rootl/etc/passwd hardlink:mine=mine-dir/canary-file &&
		gzip -n -f "$work/l2.tar" "$work/l3.tar" &&
		oci make "$work/hostile" linux/amd64="$(oci layer "$honest6" amd64),$work/l2.tar.gz,$work/l3.tar.gz"
}
host_marker=$AK_TMP/host-only # a host file the command must not see
: >"$host_marker"
# What the command reports from inside: file modes, its own capabilities, every device
# node outside /dev's, what /pw holds and is, and whether it sees the host; it also
# tries to write through the hard link to the canary file.
observe='bb=/bin/busybox
for f in /setuid/stat /setgid/stat; do echo "mode $f $($bb stat -c %a $f 2>/dev/null || echo absent)"; done
$bb grep -E "^(CapInh|CapPrm|CapEff|CapAmb|NoNewPrivs):" /proc/self/status | $bb sed "s/^/self /"
if [ -e /cap/grep ]; then /cap/grep -E "^(CapPrm|CapEff):" /proc/self/status | $bb sed "s/^/cap /"; fi
$bb find / -path /proc -prune -o -path /sys -prune -o \( -type c -o -type b \) -print | $bb sed "s/^/device /"
echo "pw $($bb cat /pw 2>/dev/null || echo absent)"
echo "pwid $($bb stat -c %d:%i /pw 2>/dev/null || echo absent)"
echo pwned >>/mine 2>/dev/null
if [ -e "$HOST_MARKER" ]; then echo "host visible"; fi
echo end'

ak_test "a hostile image that unpacks: nothing outside changes, nothing it runs is privileged"
tab=$'\t'
if ! hostile_image; then
	ak_fail "cannot build the hostile image"
else
	"$AK_BIN" probe hostile >/dev/null 2>"$AK_TMP/probe.err"
	rc=$?
	[ $rc -le 1 ] || ak_fail "probe refuses the image itself (exit $rc: $(cat "$AK_TMP/probe.err")): the case tests nothing"
	obs=$AK_TMP/observed
	verify 0 --json hostile -- /bin/sh -c "HOST_MARKER=$host_marker; $observe" &&
		jq -r '.variants[0].stdout' "$AK_STDOUT" >"$obs" && expect_contains "$obs" "end" &&
		expect_contains "$obs" "mode /setuid/stat 755" && expect_contains "$obs" "mode /setgid/stat 755" &&
		for k in CapInh CapPrm CapEff CapAmb; do
			expect_contains "$obs" "self $k:${tab}0000000000000000" || break
		done && expect_contains "$obs" "self NoNewPrivs:${tab}1" &&
		{ ! grep -q '^cap ' "$obs" || { expect_contains "$obs" "cap CapPrm:${tab}0000000000000000" &&
			expect_contains "$obs" "cap CapEff:${tab}0000000000000000"; }; } &&
		{ ! grep '^device ' "$obs" | grep -vqE '^device /dev/(null|zero|full|random|urandom|tty)$' ||
			ak_fail "device nodes outside /dev's: $(grep '^device ' "$obs" | grep -vE ' /dev/' | tr '\n' ' ')"; } &&
		expect_not_contains "$obs" "device /mem" && expect_not_contains "$obs" "device /disk" &&
		{ grep -qxE 'pw (image-passwd|absent)' "$obs" || ak_fail "/pw is not the image's passwd: $(grep '^pw ' "$obs")"; } &&
		{ [ "$(grep '^pwid ' "$obs")" != "pwid $(stat -c %d:%i /etc/passwd)" ] || ak_fail "/pw is the host's /etc/passwd"; } &&
		expect_not_contains "$obs" "host visible" &&
		{ [ -z "$(find "$canary_dir" -mindepth 1)" ] || ak_fail "written through a symlink: $(find "$canary_dir" -mindepth 1)"; } &&
		{ [ "$(cat "$canary_file")" = host-canary ] || ak_fail "the canary file beside TMPDIR changed"; } &&
		{ [ "$(sha256sum /etc/passwd)" = "$passwd_sum" ] || ak_fail "/etc/passwd changed"; } && ak_pass
fi

ak_test "an image whose /proc and /dev are symlinks out of the root mounts nothing there"
mkdir -p "$AK_TMP/canary-proc" "$AK_TMP/canary-dev"
oci tar "$work/mnt.tar" "link:proc=$AK_TMP/canary-proc" "link:dev=../../../../../../../..$AK_TMP/canary-dev" &&
	gzip -n -f "$work/mnt.tar" &&
	oci make "$work/mnt" linux/amd64="$(oci layer "$honest6" amd64),$work/mnt.tar.gz"
mounts_before=$(grep -c canary /proc/self/mountinfo)
# refusing the image (2), or running with /proc and /dev of its own (0, or 1 when the
# command fails), are both fine: what matters is where the mounts went
verify '0|1|2' mnt -- /bin/sh -c 'ls /proc /dev >/dev/null; echo ran' &&
	{ [ -z "$(find "$AK_TMP/canary-proc" "$AK_TMP/canary-dev" -mindepth 1)" ] || ak_fail "created in a canary folder"; } &&
	{ [ "$(grep -c canary /proc/self/mountinfo)" = "$mounts_before" ] || ak_fail "a mount appeared on the host"; } && ak_pass

# --- timeouts and interrupts: nothing is left behind ---

# sleep's argument carries it, so 'pgrep -f' finds the run's processes (the images hold
# no 'sleep' link: busybox runs it)
marker=$(($$ % 10000))$RANDOM
# left MARKER: 0 when no process with MARKER in its command line remains (after up to 2 s)
left() {
	local _
	for _ in $(seq 20); do
		pgrep -f -- "$1" >/dev/null || return 0
		sleep 0.1
	done
	ak_fail "processes of the run remain: $(pgrep -af -- "$1" | head -3 | tr '\n' ' ')"
	return 1
}

ak_test "a command that hangs is killed at --timeout 2: timed out, exit 1, nothing left"
if ak_emulation linux/arm64; then
	verify 1 --timeout 2 --platform linux/amd64 --platform linux/arm64 "$honest6" -- /bin/sh -c "/bin/busybox sleep 1000.${marker}1" &&
		row linux/amd64 'timed out' 'killed after 2 s' && row linux/arm64 'timed out' 'killed after 2 s' &&
		expect_contains "$AK_STDOUT" "2 variants: 0 passed, 0 failed, 2 timed out, 0 not runnable" &&
		{ [ "$verify_ms" -lt 20000 ] || ak_fail "took $verify_ms ms"; } && left "/bin/busybox sleep 1000.${marker}1" &&
		verify 1 --json --timeout 2 --platform arm64 "$honest6" -- /bin/sh -c "/bin/busybox sleep 1000.${marker}2" &&
		expect_jq '.timed_out == 1 and .ok == false and .variants[0].status == "timed-out"' &&
		left "/bin/busybox sleep 1000.${marker}2" && ak_pass
fi

# interrupt SIG N: 'archkit verify' running a command that sleeps gets SIG (to its own
# pid) once the command runs; it must end quickly with 128+signal, its temp root gone
interrupt() {
	local sig=$1 m="/bin/busybox sleep 1000.$marker$2" num pid rc=0 running t0 ms _
	num=$(kill -l "$sig")
	# a background job of a script ignores SIGINT unless told otherwise
	TMPDIR=$vtmp env --default-signal="$sig" "$AK_BIN" verify --timeout 60 --platform linux/arm64 "$honest6" \
		-- /bin/sh -c "$m" >"$AK_STDOUT" 2>"$AK_STDERR" </dev/null &
	pid=$!
	# the sleep itself (native, or QEMU running it), not archkit's own command line
	running="^([^ ]*qemu[^ ]* ([^ ]+ )?)?$m\$" # with flag P, QEMU also gets the file
	for _ in $(seq 200); do
		pgrep -f -- "$running" >/dev/null && break
		sleep 0.1
	done
	pgrep -f -- "$running" >/dev/null || ak_fail "SIG$sig: the command never started"
	ls -d "$vtmp"/archkit-verify-?????? >/dev/null 2>&1 || ak_fail "SIG$sig: no archkit-verify-XXXXXX in TMPDIR while running"
	t0=$EPOCHREALTIME
	kill -"$sig" "$pid"
	for _ in $(seq 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		ak_fail "SIG$sig: still running 15 s later"
		kill -KILL "$pid"
	fi
	wait "$pid" || rc=$?
	ms=$(((${EPOCHREALTIME//[!0-9]/} - ${t0//[!0-9]/}) / 1000))
	[ "$rc" = $((128 + num)) ] || ak_fail "SIG$sig: exited $rc, expected $((128 + num))"
	[ "$ms" -lt 10000 ] || ak_fail "SIG$sig: took $ms ms to end"
	left "$m"
	if [ -n "$(ls -A "$vtmp")" ]; then
		ak_fail "SIG$sig: TMPDIR not empty afterwards: $(ls -A "$vtmp" | head -3 | tr '\n' ' ')"
		rm -rf "${vtmp:?}"/*
	fi
}

ak_test "SIGINT and SIGTERM while a variant runs: exit 128+signal, no temp dir, no process left"
if ak_emulation linux/arm64; then
	interrupt INT 3
	interrupt TERM 4
	ak_pass
fi

# --- handlers ---

ak_test "no QEMU interpreter (--qemu-path to an empty folder): not runnable, with the fix; native still passes"
mkdir -p "$AK_TMP/no-qemu"
verify 1 --qemu-path "$AK_TMP/no-qemu" --platform linux/amd64 --platform linux/arm64 "$honest6" &&
	row linux/amd64 passed 'uname -m: x86_64 \(native\)' &&
	row linux/arm64 'not runnable' 'no QEMU interpreter for linux/arm64 here \(fix: .*qemu-user-static.*archkit binfmt install.*linux/arm64.*\)' &&
	expect_contains "$AK_STDOUT" "2 variants: 1 passed, 0 failed, 0 timed out, 1 not runnable" &&
	verify 1 --json --qemu-path "$AK_TMP/no-qemu" --platform linux/arm64 "$honest6" &&
	expect_jq '.ok == false and .not_runnable == 1 and (.variants[0] | .status == "not-runnable" and
		.exit_code == null and (.fix | contains("apt-get install qemu-user-static") and
		contains("archkit binfmt install") and contains("linux/arm64")))' &&
	fix=$(jq -r '.variants[0].fix' "$AK_STDOUT" | grep -oE 'archkit binfmt install [^)&;]*' | sed 's/ *$//') &&
	{ [ -n "$fix" ] || ak_fail "no 'archkit binfmt install' command in the fix"; } &&
	# the command it names works, in a sandbox of its own (never the host's handlers)
	expect_exit 0 "$AK_BIN" sandbox --platform none -- sh -c "\"\$0\" ${fix#archkit }" "$AK_BIN" &&
	expect_contains "$AK_STDOUT" "linux/arm64" && ak_pass

# --- options ---

ak_test "--platform: only those variants, in the image's order, aliases accepted"
if ak_emulation linux/arm64 linux/s390x; then
	verify 0 --json --platform s390x --platform aarch64 "$honest6" && all_passed 2 &&
		expect_jq '[.variants[].platform] == ["linux/arm64", "linux/s390x"]' &&
		verify 0 --json --platform linux/amd64 "$honest6" && all_passed 1 &&
		expect_jq '.variants[0].platform == "linux/amd64"' && ak_pass
fi

ak_test "--platform the image lacks: exit 2, naming what it has; an unknown platform is a usage error"
verify 2 --platform linux/riscv64 "$honest6" && expect_contains "$AK_STDERR" "linux/riscv64" &&
	for p in $six; do expect_contains "$AK_STDERR" "$p" || break; done &&
	expect_exit 64 "$AK_BIN" verify --platform linux/vax "$honest6" && ak_pass

ak_test "--timeout: 1 to 3600 seconds, anything else is a usage error"
for bad in 0 3601 -1 abc 2s ''; do
	expect_exit 64 "$AK_BIN" verify --timeout "$bad" "$arm64" && expect_contains "$AK_STDERR" "--timeout" || break
done && ak_emulation linux/arm64 && verify 0 --timeout 3600 "$arm64" && verify 0 --timeout 1 "$arm64" && ak_pass

ak_test "--jobs 1 and --jobs 2 give the same verdicts; --jobs 0 is a usage error"
if ak_emulation linux/arm64 linux/arm/v7 linux/ppc64le linux/s390x; then
	verify 0 --json --jobs 1 "$honest6" && all_passed 6 && verify 0 --json --jobs 2 "$honest6" && all_passed 6 &&
		expect_exit 64 "$AK_BIN" verify --jobs 0 "$honest6" && expect_exit 64 "$AK_BIN" verify --jobs x "$honest6" && ak_pass
fi

ak_test "--max-layer-bytes: 2 GiB of zeros stop at 64M, quickly, exit 2; a bad value is a usage error"
fresh bomb
oci gzip-bomb "$work/bomb.tar.gz" 2048 && oci set-layer bomb arm64 "$work/bomb.tar.gz" --append && rm -f "$work/bomb.tar.gz"
verify 2 --max-layer-bytes 64M bomb && expect_contains "$AK_STDERR" "exceeds the limit of 67108864 bytes" &&
	{ [ "$verify_ms" -lt 20000 ] || ak_fail "took $verify_ms ms to stop"; } &&
	expect_exit 64 "$AK_BIN" verify --max-layer-bytes 12Q bomb && ak_pass

ak_test "--max-unpack-bytes: a cap below the variant's size is exit 2 naming the cap; a larger one passes"
if ak_emulation linux/arm64; then
	verify 2 --max-unpack-bytes 100K "$arm64" &&
		{ grep -qE "102400|max-unpack-bytes" "$AK_STDERR" || ak_fail "the message names no cap: $(cat "$AK_STDERR")"; } &&
		verify 0 --max-unpack-bytes 64M "$arm64" &&
		verify 2 --max-unpack-bytes 64M bomb &&
		{ [ "$verify_ms" -lt 30000 ] || ak_fail "took $verify_ms ms to stop"; } &&
		expect_exit 64 "$AK_BIN" verify --max-unpack-bytes x "$arm64" && ak_pass
fi
rm -rf "${work:?}/bomb"

# crash: linux/amd64 with /bin/crash, an executable whose first instruction writes to
# address 0. A fault's SIGSEGV kills even a PID namespace's init, which 'kill -KILL $$'
# from inside cannot: whether the command is the namespace's PID 1 is archkit's choice.
oci elf amd64-osabi9 "$work/crash.elf" && oci tar "$work/crash.tar" "from:bin/crash=$work/crash.elf" &&
	oci make "$work/crash" linux/amd64="$(oci layer "$honest6" amd64),$work/crash.tar"
ak_test "-- CMD: its exit status, stdout and last stderr lines; a signal; a command the image lacks"
if ak_emulation linux/arm64; then
	cmd='echo hello; echo oops >&2; exit 3'
	verify 1 "$arm64" -- /bin/sh -c "$cmd" && row linux/arm64 failed 'exit status 3' &&
		{ grep -qE '^ +stderr: oops$' "$AK_STDOUT" || ak_fail "no 'stderr: oops' line under the row"; } &&
		verify 1 --json "$arm64" -- /bin/sh -c "$cmd" &&
		expect_jq '.variants[0] | .status == "failed" and .exit_code == 3 and .signal == null and
			.stdout == "hello\n" and (.stderr_tail | contains("oops")) and
			.command == ["/bin/sh", "-c", "echo hello; echo oops >&2; exit 3"]' &&
		verify 1 --json crash -- /bin/crash &&
		expect_jq '.variants[0] | .status == "failed" and .signal == 11 and .exit_code == null' &&
		verify 1 --json "$arm64" -- /nonexistent/cmd &&
		expect_jq '.variants[0] | .status == "failed" and (.detail + " " + .stderr_tail | contains("/nonexistent/cmd"))' &&
		verify 0 --json "$arm64" -- /bin/true && all_passed 1 && ak_pass
fi

ak_test "no /bin/sh in the final filesystem (whited out): the default is /bin/busybox uname -m"
if ak_emulation linux/arm64; then
	fresh nosh && add_layer nosh arm64 file:bin/.wh.sh= &&
		verify 0 --json nosh && all_passed 1 &&
		expect_jq '.variants[0] | .command == ["/bin/busybox", "uname", "-m"] and .machine == "aarch64"' && ak_pass
fi

ak_test "no shell and no busybox: the default is the Entrypoint with --version"
if ak_emulation linux/arm64; then
	oci tar "$work/app.tar" "from:app/busybox=$bb_arm64" && oci make "$work/entry" linux/arm64="$work/app.tar" &&
		oci config "$work/entry" arm64 --entrypoint '["/app/busybox", "true"]' &&
		verify 0 --json entry && all_passed 1 &&
		expect_jq '.variants[0].command == ["/app/busybox", "true", "--version"]' && ak_pass
fi

ak_test "busybox's shell runs its applets under emulation (the handler keeps argv[0]: flag P)"
# Debian's busybox sh re-executes /proc/self/exe for 'sleep'; without P the applet
# name is lost and sh reads "can't open '0'"
if ak_emulation linux/arm64 && ak_emulation linux/s390x; then
	verify 0 --json "$honest6" -- /bin/sh -c 'sleep 0 && echo slept' &&
		expect_jq '[.variants[] | .status == "passed" and .stdout == "slept\n"] | all and length == 6' && ak_pass
fi

ak_test "the config's Env and WorkingDir reach the command; PATH and HOME are added when missing"
if ak_emulation linux/arm64; then
	fresh envwd && add_layer envwd arm64 "dir:srv/app" &&
		oci config "$work/envwd" arm64 --env '["GREETING=hello there"]' --workdir '"/srv/app"' &&
		verify 0 --json --platform linux/arm64 envwd -- /bin/sh -c 'echo "$GREETING|$(pwd)|$PATH|$HOME"' &&
		expect_jq '.variants[0].stdout == "hello there|/srv/app|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|/root\n"' &&
		oci config "$work/envwd" arm64 --env '["PATH=/opt/bin:/bin"]' --workdir '"/missing"' &&
		verify 0 --json --platform linux/arm64 envwd -- /bin/sh -c 'echo "$PATH|$(pwd)"' &&
		expect_jq '.variants[0].stdout == "/opt/bin:/bin|/\n"' && ak_pass
fi

# --- image forms ---

ak_test "image forms: oci:DIR:TAG, oci-archive (named and bare), stdin, local:DIR, tar:FILE"
if ak_emulation linux/arm64 linux/arm/v7 linux/ppc64le linux/s390x; then
	verify 0 --json "oci:$honest6:latest" && all_passed 6 &&
		verify 0 --json "oci-archive:$IMAGES/honest6.oci-archive.tar" && all_passed 6 &&
		expect_jq '.kind == "oci-archive"' &&
		verify 0 --json "$IMAGES/honest6.oci-archive.tar" && all_passed 6 &&
		verify_stdin=$IMAGES/honest6.oci-archive.tar verify 0 --json - && all_passed 6 &&
		verify 0 --json "local:$IMAGES/honest6.local" && all_passed 6 && expect_jq '.kind == "local"' &&
		verify 0 --json "tar:$IMAGES/honest6.buildx.tar" && all_passed 6 &&
		expect_jq '[.variants[].platform] | sort == ["linux/386", "linux/amd64", "linux/arm/v7", "linux/arm64", "linux/ppc64le", "linux/s390x"]' &&
		ak_pass
fi

ak_test "image forms: docker-archive (one platform) and skopeo dir:"
if ak_emulation linux/arm64; then
	rm -rf "$work/skdir"
	verify 0 --json "docker-archive:$IMAGES/honest6-arm64.docker-archive.tar" && all_passed 1 &&
		expect_jq '.kind == "docker-archive" and .variants[0].platform == "linux/arm64" and .variants[0].machine == "aarch64"' &&
		skopeo copy -q --override-arch arm64 "oci:$honest6:latest" "dir:$work/skdir" &&
		verify 0 --json "dir:$work/skdir" && all_passed 1 &&
		expect_jq '.variants[0].platform == "linux/arm64" and .variants[0].machine == "aarch64"' && ak_pass
fi

ak_test "single-platform buildx local and tar output take the one --platform, and say it is needed"
if ak_emulation linux/arm64; then
	verify 0 --json --platform linux/arm64 "local:$IMAGES/honest-arm64.local" && all_passed 1 &&
		expect_jq '.variants[0].platform == "linux/arm64" and .variants[0].machine == "aarch64"' &&
		verify 0 --json --platform linux/arm64 "tar:$IMAGES/honest-arm64.buildx.tar" && all_passed 1 &&
		verify 2 "local:$IMAGES/honest-arm64.local" && expect_contains "$AK_STDERR" "--platform" && ak_pass
fi

ak_test "bad input: no such image is exit 2 with one line; a second IMAGE is a usage error"
verify 2 "$work/no-such-image" && expect_contains "$AK_STDERR" "no-such-image" &&
	expect_exit 64 "$AK_BIN" verify "$honest6" "$arm64" && ak_pass

# --- as an unprivileged user ---

# unpriv_copy: archkit and honest6 where uid 65534 can read them, with a TMPDIR it can
# write, in $unpriv_dir (the build and the image cache may sit below folders only
# their owner can enter)
unpriv_copy() {
	local base d
	for base in "${TMPDIR:-/tmp}" /tmp /var/tmp; do
		d=$(mktemp -d "$base/archkit-unpriv.XXXXXX" 2>/dev/null) || continue
		if chmod 755 "$d" && mkdir -m 1777 "$d/tmp" && cp "$AK_BIN" "$d/archkit" && cp -a "$honest6" "$d/image" &&
			chmod -R a+rX "$d/archkit" "$d/image" && setpriv --reuid=65534 --regid=65534 --clear-groups \
			sh -c 'test -x "$1/archkit" && test -r "$1/image/index.json" && test -w "$1/tmp"' sh "$d" 2>/dev/null; then
			unpriv_dir=$d
			return 0
		fi
		rm -rf "$d"
	done
	return 1
}

ak_test "an unprivileged user (uid 65534) verifies the honest image"
if [ "$(id -u)" != 0 ]; then
	ak_emulation linux/arm64 linux/arm/v7 linux/ppc64le linux/s390x &&
		verify 0 --json "$honest6" && all_passed 6 && ak_pass
elif ! command -v setpriv >/dev/null; then
	ak_skip "no setpriv (util-linux) to become uid 65534"
elif ! unpriv_copy; then
	ak_skip "no folder that uid 65534 can enter for a copy of archkit and the image (tried ${TMPDIR:-/tmp}, /tmp, /var/tmp)"
elif ak_emulation linux/arm64 linux/arm/v7 linux/ppc64le linux/s390x; then
	expect_exit 0 setpriv --reuid=65534 --regid=65534 --clear-groups \
		env TMPDIR="$unpriv_dir/tmp" HOME="$unpriv_dir/tmp" "$unpriv_dir/archkit" verify --json "$unpriv_dir/image" &&
		all_passed 6 &&
		{ [ -z "$(ls -A "$unpriv_dir/tmp")" ] || ak_fail "its TMPDIR is not empty afterwards"; } && ak_pass
fi

ak_summary
