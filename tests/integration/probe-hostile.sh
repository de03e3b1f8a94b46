#!/usr/bin/env bash
# archkit probe against hostile images: each case damages an honest sample image
# (tests/fixtures/images) in one way and checks what a user sees. Refused input
# exits 2 with exactly one "archkit: ..." line naming the problem; nothing crashes
# (no signal, no sanitizer report), nothing hangs (each run under timeout 60), and
# nothing is written outside TMPDIR, which archkit must leave empty again.
#
#   AK_BIN=/tmp/build-x/archkit bash tests/integration/probe-hostile.sh
# AK_IMAGES=DIR keeps the sample images between runs (default: a temp dir).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib.sh"
export AK_BIN=${AK_BIN:-$top/build/archkit}
images=${AK_IMAGES:-$AK_TMP/images}
oci() { python3 "$top/tests/integration/lib-oci.py" "$@"; }

work=$AK_TMP/work         # images under test, and the cwd of every run
hostile_tmp=$AK_TMP/tmp   # archkit's TMPDIR
mkdir -p "$work" "$hostile_tmp"
cd "$work" || exit 2
abs_canary=/archkit-hostile-abs.$$ # an absolute archive entry that must never appear

ak_test "the sample images build"
rc=0
"$top/tests/fixtures/images" "$images" honest6 honest6.oci-archive.tar >"$AK_STDOUT" 2>"$AK_STDERR" || rc=$?
if [ $rc = 77 ]; then
	ak_skip "$(tail -n1 "$AK_STDERR")"
	ak_summary
	exit
fi
[ $rc = 0 ] && ak_pass || { ak_fail "images exited $rc: $(tail -n3 "$AK_STDERR")"; ak_summary; exit; }
honest=$images/honest6
honest_archive=$images/honest6.oci-archive.tar

# fresh NAME: a private copy of honest6 at $work/NAME
fresh() {
	rm -rf "${work:?}/$1"
	cp -a "$honest" "$work/$1"
}

# Everything a run could leave behind: the test's temp dir (images, cwd, TMPDIR,
# the parent of TMPDIR) and the canary at the root.
snapshot() {
	find "$AK_TMP" -path "$AK_STDOUT" -prune -o -path "$AK_STDERR" -prune -o -print | sort
	[ -e "$abs_canary" ] && echo "$abs_canary"
}

# probe WANT ARGS...: runs archkit probe ARGS (stdin from $probe_stdin) and checks
# the exit status, that it neither crashed nor hung nor wrote outside TMPDIR, and
# when WANT is 2 that stderr is exactly one "archkit: " line. --no-cache: each case
# damages a copy of one honest image, whose layers' facts a cache would hold from the
# case before, and the damaged bytes would never be read (the cache is under $AK_TMP,
# so the snapshot also shows that --no-cache writes nothing).
probe_stdin=/dev/null
probe() {
	local want=$1 rc=0 before after start
	shift
	before=$(snapshot)
	start=$(date +%s)
	TMPDIR=$hostile_tmp timeout -k 5 60 "$AK_BIN" probe --no-cache "$@" \
		>"$AK_STDOUT" 2>"$AK_STDERR" <"$probe_stdin" || rc=$?
	probe_seconds=$(($(date +%s) - start))
	after=$(snapshot)
	if [ $rc = 124 ] || [ $rc = 137 ]; then
		ak_fail "'archkit probe $*' hung: killed by timeout after ${probe_seconds}s"
	elif [ $rc -ge 128 ]; then
		ak_fail "'archkit probe $*' crashed: signal $((rc - 128))"
	elif grep -qE "Sanitizer|runtime error:" "$AK_STDERR"; then
		ak_fail "'archkit probe $*': sanitizer report"
	elif [ $rc != "$want" ]; then
		ak_fail "'archkit probe $*' exited $rc, expected $want"
	elif [ "$want" = 2 ] && { [ "$(wc -l <"$AK_STDERR")" != 1 ] || ! head -c 9 "$AK_STDERR" | grep -qx "archkit: "; }; then
		ak_fail "stderr is not exactly one line starting 'archkit: '"
	elif [ "$want" != 2 ] && [ -s "$AK_STDERR" ]; then
		ak_fail "stderr is not empty"
	elif [ -n "$(ls -A "$hostile_tmp")" ]; then
		ak_fail "TMPDIR not empty afterwards: $(ls -A "$hostile_tmp" | head -3 | tr '\n' ' ')"
		rm -rf "${hostile_tmp:?}"/* "$hostile_tmp"/.[!.]*
	elif [ "$before" != "$after" ]; then
		ak_fail "files appeared outside TMPDIR: $(diff <(echo "$before") <(echo "$after") | grep '^>' | head -3 | tr '\n' ' ')"
	else
		return 0
	fi
	[ -e "$abs_canary" ] && rm -rf "$abs_canary"
	echo "#   stderr:"
	head -n 5 "$AK_STDERR" | sed 's/^/#     /'
	[ $rc = "$want" ] || tail -n 8 "$AK_STDOUT" | sed 's/^/#     /'
	return 1
}

# add_layer IMAGE ENTRY...: a gzip'd tar of ENTRY (see lib-oci.py tar) becomes the
# arm64 variant's last layer, with a correct digest, size and diff_id.
add_layer() {
	local img=$1
	shift
	oci tar "$work/layer.tar" "$@" && gzip -n -f "$work/layer.tar" &&
		oci set-layer "$img" arm64 "$work/layer.tar.gz" --append && rm -f "$work/layer.tar.gz"
}

# flip FILE OFFSET: inverts one byte, size unchanged
flip() {
	python3 -c 'import sys
f = open(sys.argv[1], "r+b"); off = int(sys.argv[2])
if off < 0: off += f.seek(0, 2)
f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0xff]))' "$1" "$2"
}

ak_test "the honest image is clean, and the harness sees nothing written"
probe 0 "$honest" && expect_contains "$AK_STDOUT" "linux/arm64" && ak_pass

# --- blobs that are not what their descriptor says ---

ak_test "digest mismatch: one byte of a layer changed, size kept"
fresh digest
layer=$(oci layer digest arm64)
flip "$layer" 9 # the gzip header's OS byte: the stream still inflates cleanly
probe 2 digest && expect_contains "$AK_STDERR" "digest mismatch" &&
	expect_contains "$AK_STDERR" "sha256:${layer##*/}" && ak_pass

ak_test "a changed byte inside the compressed data: the digest mismatch is the reported cause"
fresh digest2
layer=$(oci layer digest2 arm64)
flip "$layer" -6 # in the gzip trailer's CRC: inflating fails before the digest is known
hex=${layer##*/}
probe 2 digest2 && expect_contains "$AK_STDERR" "blob 'sha256:${hex:0:12}" &&
	expect_contains "$AK_STDERR" "digest mismatch" && ak_pass

ak_test "size mismatch: the descriptor's size is not the blob's"
fresh size
layer=$(oci layer size arm64)
oci set-layer size arm64 "$layer" --size 1000
probe 2 size && expect_contains "$AK_STDERR" "bytes on disk, its descriptor says 1000" && ak_pass

ak_test "a descriptor size of 2^63-1 is refused, not allocated"
fresh size63
oci set-layer size63 arm64 "$(oci layer size63 arm64)" --size 9223372036854775807
probe 2 size63 && expect_contains "$AK_STDERR" "size 9223372036854775807 is larger than 2^62 bytes" && ak_pass

ak_test "missing blob"
fresh missing
layer=$(oci layer missing arm64)
rm "$layer"
probe 2 missing && expect_contains "$AK_STDERR" "blob 'sha256:${layer:${#layer}-64:12}…' is missing" && ak_pass

ak_test "truncated gzip: a layer cut short, its descriptor rewritten to match"
fresh truncgz
head -c 300000 "$(oci layer truncgz arm64)" >"$work/cut.gz"
oci set-layer truncgz arm64 "$work/cut.gz"
probe 2 truncgz && expect_contains "$AK_STDERR" "truncated gzip stream" && ak_pass

# --- media types that lie: the bytes are read by magic, and the lie is an error finding ---

mismatch=layer-media-type-mismatch
ak_test "a zstd layer labelled tar+gzip is read as zstd, and the label is an error"
fresh zstd
gzip -dc "$(oci layer zstd arm64)" | zstd -q -c >"$work/layer.zst"
oci set-layer zstd arm64 "$work/layer.zst" --media-type application/vnd.oci.image.layer.v1.tar+gzip
layer=$(oci layer zstd arm64)
probe 1 zstd && expect_contains "$AK_STDOUT" "linux/arm64           1       1      1       1" &&
	expect_contains "$AK_STDOUT" "error   $mismatch (layer)" &&
	expect_contains "$AK_STDOUT" "layer 1 is zstd-compressed, but its media type is 'application/vnd.oci.image.layer.v1.tar+gzip'" &&
	expect_contains "$AK_STDOUT" "sha256:${layer##*/}" && ak_pass

ak_test "a plain tar layer labelled tar+gzip is read as tar, and the label is an error"
fresh plain
gzip -dc "$(oci layer plain arm64)" >"$work/layer.tar"
oci set-layer plain arm64 "$work/layer.tar" --media-type application/vnd.oci.image.layer.v1.tar+gzip
probe 1 plain && expect_contains "$AK_STDOUT" "linux/arm64           1       1      1       1" &&
	expect_contains "$AK_STDOUT" "layer 1 is an uncompressed tar, but its media type is 'application/vnd.oci.image.layer.v1.tar+gzip'" && ak_pass

ak_test "a gzip layer labelled plain tar is read as gzip, and the label is an error"
fresh gzplain
oci set-layer gzplain arm64 "$(oci layer gzplain arm64)" --media-type application/vnd.oci.image.layer.v1.tar
probe 1 gzplain --json && expect_contains "$AK_STDOUT" '"code": "layer-media-type-mismatch"' &&
	expect_contains "$AK_STDOUT" "layer 1 is gzip-compressed, but its media type is 'application/vnd.oci.image.layer.v1.tar'" && ak_pass

# --- bombs ---

ak_test "decompression bomb: 2 GiB of zeros stop at --max-layer-bytes 64M, quickly"
fresh bomb
oci gzip-bomb "$work/bomb.tar.gz" 2048 && oci set-layer bomb arm64 "$work/bomb.tar.gz" --append
probe 2 bomb --max-layer-bytes 64M &&
	expect_contains "$AK_STDERR" "uncompressed size exceeds the limit of 67108864 bytes (a decompression bomb?" &&
	{ [ "$probe_seconds" -le 20 ] || ak_fail "took ${probe_seconds}s to stop"; } && ak_pass

ak_test "a sparse file of 100 GiB is a bomb too"
fresh sparse
mkdir -p "$work/sparse-root/bin" && oci elf aarch64-dynamic "$work/sparse-root/bin/big" &&
	truncate -s 100G "$work/sparse-root/bin/big" &&
	tar --sparse -C "$work/sparse-root" -cf - bin | gzip -n >"$work/sparse.tar.gz" &&
	oci set-layer sparse arm64 "$work/sparse.tar.gz" --append
probe 2 sparse && expect_contains "$AK_STDERR" "entry 'bin/big': sparse file expands the layer beyond the limit" && ak_pass

# --- tar entries that leave the root ---

ak_test "a layer entry '../evil' is refused"
fresh dotdot
add_layer dotdot file:../evil=x
probe 2 dotdot && expect_contains "$AK_STDERR" "entry '../evil' escapes the root" && ak_pass

ak_test "an absolute layer entry is refused"
fresh absolute
add_layer absolute file:/abs=x
probe 2 absolute && expect_contains "$AK_STDERR" "entry '/abs' is an absolute path" && ak_pass

ak_test "a PAX path header hiding a traversal is refused"
fresh pax
add_layer pax pax:innocent=../../x
probe 2 pax && expect_contains "$AK_STDERR" "entry '../../x' escapes the root" && ak_pass

ak_test "'a/../../x' is refused, 'a/../b' is fine"
fresh inner
add_layer inner dir:a file:a/../../x=x
probe 2 inner && expect_contains "$AK_STDERR" "entry 'a/../../x' escapes the root" &&
	fresh inner2 && add_layer inner2 dir:a file:a/../b=x && probe 0 inner2 && ak_pass

ak_test "an entry below a regular file is refused, as containerd refuses to unpack it"
fresh notdir
add_layer notdir file:etc=x file:etc/passwd=x
probe 2 notdir && expect_contains "$AK_STDERR" "entry 'etc/passwd': 'etc' is not a directory" &&
	expect_contains "$AK_STDERR" "archkit: linux/arm64: layer 2 'sha256:" && ak_pass

# --- findings, not aborts ---

ak_test "a PT_INTERP into a symlink loop is a loader-missing finding"
fresh loop
oci elf aarch64-dynamic "$work/dyn"
add_layer loop dir:lib link:lib/ld-linux-aarch64.so.1=loop1 link:lib/loop1=ld-linux-aarch64.so.1 \
	from:bin/dyn="$work/dyn"
probe 1 loop && expect_contains "$AK_STDOUT" "loader-missing       /bin/dyn" &&
	expect_contains "$AK_STDOUT" "PT_INTERP '/lib/ld-linux-aarch64.so.1' ends in a symlink loop" && ak_pass

# an executable the kernel cannot load is an error (exec-refused), not a mere warning
ak_test "an executable with e_phoff past the end and e_phnum 65535 is an exec-refused error"
fresh badelf
oci elf bad-phoff "$work/bad"
add_layer badelf from:bin/bad="$work/bad"
probe 1 badelf && expect_contains "$AK_STDOUT" "error   exec-refused         /bin/bad" &&
	expect_contains "$AK_STDOUT" "e_phnum 65535 (PN_XNUM): more than the kernel's 65536 bytes of program headers, execve fails with ENOEXEC" && ak_pass

ak_test "an executable with e_phoff past the end and 1000 headers is an exec-refused error"
fresh badelf2
oci elf bad-phoff "$work/bad2" 1000
add_layer badelf2 from:bin/bad="$work/bad2"
probe 1 badelf2 && expect_contains "$AK_STDOUT" "program header table (offset 0x7fffffff00, 1000 entries) beyond the end of the file (128 bytes): execve fails with EIO" && ak_pass

# --- index.json ---

ak_test "index.json nested 10,000 deep: the message names index.json"
fresh deep
python3 -c 'print("[" * 10000 + "]" * 10000)' >deep/index.json
probe 2 deep && expect_contains "$AK_STDERR" "'deep': 'index.json': invalid JSON: maximum parsing depth reached" && ak_pass

ak_test "an empty index.json"
fresh empty
: >empty/index.json
probe 2 empty && expect_contains "$AK_STDERR" "'empty': 'index.json': invalid JSON" && ak_pass

# --- oci-archive ---

# archive OUT ENTRY...: honest6's oci-archive plus extra entries: file:NAME=TEXT,
# link:NAME=TARGET (symlink), hard:NAME=TARGET
archive() {
	python3 - "$honest_archive" "$@" <<'EOF'
import io, sys, tarfile
src, out, *extra = sys.argv[1:]
with tarfile.open(src) as s, tarfile.open(out, "w") as d:
    for m in s.getmembers():
        d.addfile(m, s.extractfile(m) if m.isfile() else None)
    for e in extra:
        kind, _, rest = e.partition(":")
        name, _, value = rest.partition("=")
        info = tarfile.TarInfo(name)
        if kind == "file":
            info.size = len(value)
            d.addfile(info, io.BytesIO(value.encode()))
        else:
            info.type = tarfile.SYMTYPE if kind == "link" else tarfile.LNKTYPE
            info.linkname = value
            d.addfile(info)
EOF
}

ak_test "an oci-archive is extracted to TMPDIR and removed"
probe 0 "$honest_archive" && expect_contains "$AK_STDOUT" "linux/s390x" && ak_pass

ak_test "'-' reads an oci-archive from stdin"
probe_stdin=$honest_archive
probe 0 - && expect_contains "$AK_STDOUT" "linux/s390x" && ak_pass
probe_stdin=/dev/null

ak_test "an oci-archive entry '../evil' is refused, nothing created"
archive "$work/dotdot.tar" file:../evil=x
probe 2 dotdot.tar && expect_contains "$AK_STDERR" "archive entry '../evil' leads outside the archive" && ak_pass

ak_test "an oci-archive entry '/abs' is refused, nothing created"
archive "$work/abs.tar" "file:$abs_canary=x" "file:$AK_TMP/abs=x"
probe 2 abs.tar && expect_contains "$AK_STDERR" "archive entry '$abs_canary' is an absolute path" && ak_pass

ak_test "a hard link to an absolute path in an oci-archive is refused"
archive "$work/hard.tar" hard:blobs/h=/etc/passwd
probe 2 hard.tar && expect_contains "$AK_STDERR" "archive entry '/etc/passwd' is an absolute path" && ak_pass

ak_test "a symlink out of an oci-archive is dropped and nothing is written through it"
archive "$work/link.tar" "link:blobs/out=$AK_TMP" link:blobs/up=../../.. file:blobs/out/evil=x file:blobs/up/evil=x
probe 0 link.tar && [ ! -e "$AK_TMP/evil" ] && ak_pass

ak_test "a gzip'd oci-archive of 4 GiB of zeros stops after 1 GiB, TMPDIR emptied"
oci gzip-bomb "$work/bomb.tar.gz" 4096 blobs/zeros
probe 2 bomb.tar.gz && expect_contains "$AK_STDERR" "'bomb.tar.gz': expands more than 100 times past 1073741824 bytes (a decompression bomb?)" &&
	{ [ "$probe_seconds" -le 30 ] || ak_fail "took ${probe_seconds}s to stop"; } && ak_pass
rm -f "$work/bomb.tar.gz"

ak_test "a truncated oci-archive"
head -c 3000000 "$honest_archive" >"$work/cut.tar"
probe 2 cut.tar && expect_contains "$AK_STDERR" "Truncated tar archive" && ak_pass

ak_test "an oci-archive cut inside its first header"
head -c 700 "$honest_archive" >"$work/cut2.tar"
probe 2 cut2.tar && expect_contains "$AK_STDERR" "not a readable tar archive" && ak_pass

# --- ELF judgement, end to end (probe hardening): crafted ELF files (lib-oci.py elf) in
# the arm64 variant of honest6, or in one-variant images umoci makes from a root ---

# elf_image NAME PLATFORM=ROOT: a one-variant OCI layout at $work/NAME
elf_image() {
	"$top/tests/fixtures/make-image" "$work/$1" --variant "$2" >/dev/null 2>"$work/make-image.log" ||
		ak_fail "make-image failed: $(tail -n1 "$work/make-image.log")"
}

ak_test "an x86-64 file marked FreeBSD (EI_OSABI 9) in arm64 is wrong-machine, OSABI aside"
fresh osabi
oci elf amd64-osabi9 "$work/osabi9.elf"
add_layer osabi from:bin/tool="$work/osabi9.elf"
probe 1 osabi && expect_contains "$AK_STDOUT" "error   wrong-machine        /bin/tool" &&
	expect_contains "$AK_STDOUT" "found:    x86-64 (linux/amd64) ELF64 LSB" &&
	expect_contains "$AK_STDOUT" "info    non-linux-abi        /bin/tool" && ak_pass

ak_test "the bare ELF magic (4 bytes) is an exec-refused warning with its reason"
fresh magic
oci elf magic "$work/magic.elf"
add_layer magic from:bin/magic="$work/magic.elf"
probe 0 magic && expect_contains "$AK_STDOUT" "warning exec-refused         /bin/magic" &&
	expect_contains "$AK_STDOUT" "ELF file: the file (4 bytes) ends inside the elf identification (16 bytes): execve fails with ENOEXEC" &&
	probe 1 magic --fail-on warning && ak_pass

ak_test "e_phentsize 0 with program headers is an exec-refused error"
fresh phent
oci elf aarch64-phentsize0 "$work/phent0.elf"
add_layer phent from:bin/tool="$work/phent0.elf"
probe 1 phent && expect_contains "$AK_STDOUT" "error   exec-refused         /bin/tool" &&
	expect_contains "$AK_STDOUT" "aarch64 (linux/arm64) ELF64 LSB executable: e_phentsize 0, ELF64 needs 56: execve fails with ENOEXEC" && ak_pass

ak_test "a PT_INTERP with a trailing slash is an exec-refused error, though the loader exists"
fresh slash
oci elf aarch64-interp-slash "$work/slash.elf"
add_layer slash dir:lib from:lib/ld-linux-aarch64.so.1="$work/slash.elf" from:bin/tool="$work/slash.elf"
probe 1 slash && expect_contains "$AK_STDOUT" "error   exec-refused         /bin/tool" &&
	expect_contains "$AK_STDOUT" "PT_INTERP '/lib/ld-linux-aarch64.so.1/' ends in '/': execve fails with ENOTDIR" && ak_pass

ak_test "an ARMv6K binary (Tag_CPU_arch 9, hard-float) passes in arm/v6"
mkdir -p "$work/v6k-root/bin" && oci elf arm-v6k "$work/v6k-root/bin/tool"
elf_image v6k linux/arm/v6="$work/v6k-root"
probe 0 v6k && grep -qE "^linux/arm/v6 +1 +1 +1 +0 +0 +0  pass$" "$AK_STDOUT" && ak_pass ||
	ak_fail "arm/v6 is not clean: $(grep -A3 'arm-cpu' "$AK_STDOUT" | head -4)"

ak_test "Tag_CPU_arch 200 is shown as 200, a warning in arm/v6"
mkdir -p "$work/tag200-root/bin" && oci elf arm-cpu-arch-200 "$work/tag200-root/bin/tool"
elf_image tag200 linux/arm/v6="$work/tag200-root"
probe 0 tag200 && expect_contains "$AK_STDOUT" "warning arm-cpu-too-new      /bin/tool" &&
	expect_contains "$AK_STDOUT" "code for an ARM architecture archkit does not know (Tag_CPU_arch 200)" && ak_pass

ak_test "a mips64le executable whose loader is big-endian mips64 fails with loader-wrong-machine"
mkdir -p "$work/mips-root/bin" "$work/mips-root/lib64" &&
	oci elf mips64le-dynamic "$work/mips-root/bin/dyn" && oci elf mips64-loader "$work/mips-root/lib64/ld.so.1"
elf_image mipsld linux/mips64le="$work/mips-root"
probe 1 mipsld && expect_contains "$AK_STDOUT" "error   loader-wrong-machine /bin/dyn" &&
	expect_contains "$AK_STDOUT" "found:    PT_INTERP '/lib64/ld.so.1' is loader mips (linux/mips64) ELF64 MSB" &&
	expect_contains "$AK_STDOUT" "expected: mips (linux/mips64le) loader" && ak_pass

ak_test "an amd64 executable whose loader is x32 (ELFCLASS32) fails with loader-wrong-machine"
mkdir -p "$work/x32-root/bin" "$work/x32-root/libx32" &&
	oci elf amd64-x32-loader-user "$work/x32-root/bin/dyn" && oci elf x32-loader "$work/x32-root/libx32/ld-linux-x32.so.2"
elf_image x32ld linux/amd64="$work/x32-root"
probe 1 x32ld && expect_contains "$AK_STDOUT" "error   loader-wrong-machine /bin/dyn" &&
	expect_contains "$AK_STDOUT" "found:    PT_INTERP '/libx32/ld-linux-x32.so.2' is loader x86-64 (no linux platform) ELF32 LSB" && ak_pass
# --- probe hardening (FIFOs, oci-layout, near-miss digests, attestations, signals) ---

ak_test "a FIFO as a blob or as index.json is refused at once, not waited on"
fresh fifo
layer=$(oci layer fifo arm64)
rm "$layer" && mkfifo "$layer"
probe 2 fifo && expect_contains "$AK_STDERR" "is not a regular file (a FIFO)" &&
	fresh fifo2 && rm fifo2/index.json && mkfifo fifo2/index.json &&
	probe 2 fifo2 && expect_contains "$AK_STDERR" "'index.json' is not a regular file (a FIFO)" && ak_pass

ak_test "an OCI layout without its oci-layout file is refused, naming the file"
fresh nolayout
rm nolayout/oci-layout
probe 2 nolayout && expect_contains "$AK_STDERR" "'nolayout' is not an OCI layout: no 'oci-layout' file" &&
	fresh badlayout && echo '{"imageLayoutVersion":"2.0.0"}' >badlayout/oci-layout &&
	probe 2 badlayout && expect_contains "$AK_STDERR" "imageLayoutVersion '2.0.0' is not supported" && ak_pass

ak_test "a layer whose digest differs from its name in the last hex digit: digest mismatch"
fresh nearmiss
named=$(oci misname-layer nearmiss arm64)
probe 2 nearmiss && expect_contains "$AK_STDERR" "blob 'sha256:${named:${#named}-64:12}…': digest mismatch" && ak_pass

# attestation CASE ARGS...: a copy of honest6 whose descriptors lib-oci.py edits
attest() {
	fresh "$1"
	local img=$1
	shift
	oci descriptor "$img" "$@"
}

ak_test "an attestation annotation alone skips nothing: linux/arm64 is probed"
attest annot arm64 --annotate vnd.docker.reference.type=attestation-manifest
probe 0 annot && expect_contains "$AK_STDOUT" "image: annot (oci), 6 variants" &&
	expect_not_contains "$AK_STDOUT" "skipped" && expect_contains "$AK_STDOUT" "linux/arm64" &&
	expect_contains "$AK_STDOUT" "note: manifest 'sha256:" &&
	expect_contains "$AK_STDOUT" "is annotated as an attestation but its platform linux/arm64 is runnable: probed" &&
	probe 0 annot --json && [ "$(jq .skipped_attestations "$AK_STDOUT")" = 0 ] &&
	[ "$(jq '.variants | length' "$AK_STDOUT")" = 6 ] &&
	expect_jq '.notes | any(test("annotated as an attestation"))' && ak_pass

ak_test "platform unknown/unknown without the annotation is skipped as an attestation"
attest unknown amd64 --platform unknown/unknown
probe 0 unknown && expect_contains "$AK_STDOUT" "image: unknown (oci), 5 variants, 1 attestation manifest skipped" &&
	expect_contains "$AK_STDOUT" "note: skipped 1 attestation manifest (sha256:" &&
	expect_contains "$AK_STDOUT" "platform unknown/unknown in the index, which no runtime runs" &&
	probe 0 unknown --json && [ "$(jq .skipped_attestations "$AK_STDOUT")" = 1 ] &&
	[ "$(jq '.variants | length' "$AK_STDOUT")" = 5 ] && ak_pass

ak_test "platform unknown/unknown with the annotation is skipped as an attestation"
attest both amd64 --platform unknown/unknown --annotate vnd.docker.reference.type=attestation-manifest
probe 0 both && expect_contains "$AK_STDOUT" "image: both (oci), 5 variants, 1 attestation manifest skipped" &&
	probe 0 both --json && [ "$(jq .skipped_attestations "$AK_STDOUT")" = 1 ] &&
	expect_jq '.notes | any(test("skipped 1 attestation manifest"))' && ak_pass

# interrupt SIG: 'archkit probe -' reading an archive from a writer that stalls half
# way; SIG goes to archkit's own pid once the extraction has begun
interrupt() {
	local sig=$1 num writer pid rc=0 i
	num=$(kill -l "$sig")
	rm -f "$work/stdin.fifo" && mkfifo "$work/stdin.fifo"
	python3 -c 'import sys, time
data = open(sys.argv[1], "rb").read()
out = open(sys.argv[2], "wb")
out.write(data[:len(data) // 2]); out.flush(); time.sleep(60)' "$honest_archive" "$work/stdin.fifo" &
	writer=$!
	TMPDIR=$hostile_tmp env --default-signal="$sig" "$AK_BIN" probe - <"$work/stdin.fifo" \
		>"$AK_STDOUT" 2>"$AK_STDERR" &
	pid=$!
	for i in $(seq 100); do
		[ -n "$(find "$hostile_tmp" -type f 2>/dev/null | head -n1)" ] && break
		sleep 0.1
	done
	[ -n "$(find "$hostile_tmp" -type f | head -n1)" ] || ak_fail "no extraction began in TMPDIR"
	kill -"$sig" "$pid"
	wait "$pid" || rc=$?
	kill "$writer" 2>/dev/null
	wait "$writer" 2>/dev/null
	[ "$rc" = $((128 + num)) ] || ak_fail "SIG$sig: exited $rc, expected $((128 + num))"
	if [ -n "$(ls -A "$hostile_tmp")" ]; then
		ak_fail "SIG$sig: TMPDIR not empty afterwards: $(ls -A "$hostile_tmp" | head -3 | tr '\n' ' ')"
		rm -rf "${hostile_tmp:?}"/*
	fi
}

ak_test "SIGINT and SIGTERM during a probe of stdin: the extraction dir is removed, exit 128+signal"
interrupt INT
interrupt TERM
ak_pass
# --- probe hardening: documents that cost a lot, blobs shared, platforms asked for ---

# probe_rss WANT MIB ARGS...: probe (as above), and fail when the peak RSS exceeds MIB
# MiB; sanitizer builds are not held to it (their shadow memory is not archkit's).
rss_file=$AK_TMP/rss # made now, so the snapshot of what a run writes sees it before too
: >"$rss_file"
printf '#!/bin/sh\nexec /usr/bin/time -o "%s" -f %%M "%s" "$@"\n' "$rss_file" "$AK_BIN" >"$work/timed-archkit"
chmod +x "$work/timed-archkit"
probe_rss() {
	local want=$1 mib=$2 kib
	shift 2
	if [ ! -x /usr/bin/time ]; then
		probe "$want" "$@"
		return
	fi
	AK_BIN=$work/timed-archkit probe "$want" "$@" || return 1
	kib=$(tail -n1 "$rss_file")
	echo "#   peak RSS ${kib} KiB, ${probe_seconds}s"
	grep -qa __asan_init "$AK_BIN" && return 0
	[ "$kib" -le $((mib * 1024)) ] || { ak_fail "peak RSS ${kib} KiB, more than ${mib} MiB"; return 1; }
}


ak_test "a manifest listing one 100-file layer 40,000 times stays under 64 MiB"
oci tar "$work/f100.tar" $(for i in $(seq 100); do echo "file:etc/f$i=x"; done)
oci make "$work/l40k" linux/arm64="$work/f100.tar" && oci repeat-layer "$work/l40k" arm64 40000
probe_rss 0 64 l40k && expect_contains "$AK_STDOUT" "linux/arm64       40000     100" && ak_pass

ak_test "an index listing one 40,000-layer manifest 300 times: read and judged once, with a note, in 64 MiB"
oci make "$work/r300" linux/arm64="$(oci layer "$honest" arm64)" && oci repeat-layer "$work/r300" arm64 40000 &&
	oci repeat-manifest "$work/r300" arm64 300
probe_rss 0 64 --json r300 &&
	expect_jq '(.variants | length) == 1 and .variants[0].layers == 40000 and
		any(.notes[]; test("is listed 300 times: probed once"))' && ak_pass

ak_test "100,000 hard links to a stray binary: 100,001 findings, in bounded time"
python3 - "$work/hl.tar" "$(oci layer "$honest" amd64)" <<'EOF'
import gzip, io, sys, tarfile
with tarfile.open(sys.argv[2]) as src:
    busybox = src.extractfile("bin/busybox").read()
with tarfile.open(sys.argv[1], "w", format=tarfile.GNU_FORMAT) as t:
    info = tarfile.TarInfo("bin/tool")
    info.size, info.mode = len(busybox), 0o755
    t.addfile(info, io.BytesIO(busybox))
    for i in range(100000):
        info = tarfile.TarInfo("l/%06d" % i)
        info.type, info.linkname = tarfile.LNKTYPE, "bin/tool"
        t.addfile(info)
EOF
oci make "$work/hardlinks" linux/arm64="$work/hl.tar" && rm -f "$work/hl.tar"
probe 1 --json hardlinks &&
	expect_jq '.variants[0].counts.error == 100001' && ak_pass

ak_test "a docker-archive whose second layer file claims the first's diff_id is read and refused"
"$top/tests/fixtures/images" "$images" honest6-arm64.docker-archive.tar >/dev/null 2>&1 &&
	oci docker-dup-layer "$images/honest6-arm64.docker-archive.tar" "$work/dup.tar"
probe 2 dup.tar && expect_contains "$AK_STDERR" "digest mismatch" && ak_pass

ak_test "a second manifest declaring a wrong size for a shared layer: one line naming it"
fresh shared-size
layer=$(oci layer shared-size amd64)
oci set-layer shared-size arm64 "$layer" --size 1000
hex=${layer##*/}
probe 2 shared-size && expect_contains "$AK_STDERR" "manifest 'sha256:" &&
	expect_contains "$AK_STDERR" "layer 'sha256:${hex:0:12}…' is $(stat -c %s "$layer") bytes, its descriptor says 1000" &&
	ak_pass

ak_test "--platform names a platform the image lacks: a platform-missing error, alone or not"
probe 1 --json --platform riscv64 --platform arm64 "$honest" &&
	expect_jq '[.variants[] | {platform, verdict}] == [{"platform": "linux/arm64", "verdict": "pass"},
		{"platform": "linux/riscv64", "verdict": "fail"}] and
		(.variants[1].findings | map(.code) == ["platform-missing"])' &&
	probe 1 --platform riscv64 "$honest" && expect_contains "$AK_STDOUT" "error   platform-missing     (image)" &&
	expect_contains "$AK_STDOUT" "found:    no variant for linux/riscv64 in the image (it has: linux/amd64, linux/arm64" &&
	probe 1 --platform riscv64 --platform riscv64 "$honest" &&
	expect_contains "$AK_STDOUT" "linux/riscv64         0       0      0       1" && ak_pass

ak_test "identical layers without ELF code, or with code both platforms run, are info"
oci tar "$work/data.tar" dir:app file:app/run.sh='#!/bin/sh' file:etc/motd=hello &&
	oci make "$work/data-only" linux/amd64="$work/data.tar" linux/arm64="$work/data.tar"
"$top/tests/fixtures/images" "$images" honest-extra >/dev/null 2>&1 &&
	armel=$(oci layer "$images/honest-extra" arm) &&
	oci make "$work/armel-v5-v6" linux/arm/v5="$armel" linux/arm/v6="$armel"
probe 0 data-only && expect_contains "$AK_STDOUT" "info    identical-layers     (image)" &&
	expect_contains "$AK_STDOUT" "as linux/arm64, with no ELF file in them" &&
	probe 0 armel-v5-v6 && expect_contains "$AK_STDOUT" "as linux/arm/v6, with ELF code that runs on both" &&
	expect_contains "$AK_STDOUT" "warning arm-soft-float       /bin/busybox" &&
	expect_not_contains "$AK_STDOUT" "error   identical-layers" && ak_pass

ak_test "identical layers with code one platform cannot run stay an error"
oci make "$work/same-amd64" linux/amd64="$(oci layer "$honest" amd64)" linux/arm64="$(oci layer "$honest" amd64)"
probe 1 same-amd64 && expect_contains "$AK_STDOUT" "error   identical-layers     (image)" &&
	expect_contains "$AK_STDOUT" "error   wrong-machine        /bin/busybox" && ak_pass
# --- probe hardening: sniffing ties, damaged headers, bombs the cap must stop ---

ak_test "a plain tar layer whose first file is named 'BZh91AY&SY' is a tar, not bzip2"
fresh bzname
oci tar "$work/layer.tar" "file:BZh91AY&SY=not bzip2" file:etc/motd=hi &&
	oci set-layer bzname arm64 "$work/layer.tar" --append --media-type application/vnd.oci.image.layer.v1.tar
probe 0 bzname && expect_contains "$AK_STDOUT" "linux/arm64           2       3" && ak_pass

ak_test "a docker-archive (no layer media types) raises no media type finding"
"$top/tests/fixtures/images" "$images" honest6-arm64.docker-archive.tar >/dev/null 2>"$AK_STDERR" &&
	probe 0 "$images/honest6-arm64.docker-archive.tar" && expect_not_contains "$AK_STDOUT" "$mismatch" && ak_pass

ak_test "a damaged tar header fails the layer with its offset, not skipped"
fresh damaged
oci tar "$work/layer.tar" file:one=1 file:two=2 file:three=3 &&
	off=$(python3 -c 'import sys, tarfile
with tarfile.open(sys.argv[1]) as t: print([m.offset for m in t.getmembers() if m.name == "two"][0])' "$work/layer.tar") &&
	flip "$work/layer.tar" $((off + 1)) && gzip -n -f "$work/layer.tar" &&
	oci set-layer damaged arm64 "$work/layer.tar.gz" --append
layer=$(oci layer damaged arm64 1)
probe 2 damaged && expect_contains "$AK_STDERR" "layer 'sha256:${layer##*/}': damaged tar header at offset $off" && ak_pass

ak_test "a GNU long link cut short says where, not 'unknown error'"
fresh longlink
oci tar "$work/layer.tar" --gnu file:first=1 "link:lib/link=$(printf 't%.0s' $(seq 300))" &&
	head -c 1536 "$work/layer.tar" >"$work/cut.tar" && gzip -n -f "$work/cut.tar" &&
	oci set-layer longlink arm64 "$work/cut.tar.gz" --append
probe 2 longlink && expect_contains "$AK_STDERR" "bad tar archive at offset 1024: the layer ends after 1536 bytes, inside this entry (truncated)" &&
	expect_not_contains "$AK_STDERR" "unknown error" && expect_not_contains "$AK_STDERR" "(null)" && ak_pass

ak_test "4 GiB of gzip zero padding after the tar end stops at --max-layer-bytes, quickly"
fresh padbomb
oci tar "$work/layer.tar" file:small=x && gzip -n -f "$work/layer.tar" &&
	oci set-layer padbomb arm64 "$work/layer.tar.gz" --append --pad-zeros $((4 << 30))
probe 2 padbomb --max-layer-bytes 16M &&
	expect_contains "$AK_STDERR" "compressed size exceeds the limit of 16777216 bytes (a decompression bomb?" &&
	{ [ "$probe_seconds" -le 20 ] || ak_fail "took ${probe_seconds}s to stop"; } && ak_pass
rm -rf "${work:?}/padbomb"

ak_test "sparse files each under --max-layer-bytes, together over it, stop the layer"
fresh sparse8
rm -rf "$work/sparse8-root" && mkdir -p "$work/sparse8-root/bin" &&
	for i in 1 2 3 4 5 6 7 8; do
		oci elf aarch64-dynamic "$work/sparse8-root/bin/big$i" && truncate -s 100M "$work/sparse8-root/bin/big$i"
	done &&
	tar --sparse -C "$work/sparse8-root" -cf - bin | gzip -n >"$work/sparse8.tar.gz" &&
	oci set-layer sparse8 arm64 "$work/sparse8.tar.gz" --append
probe 2 sparse8 --max-layer-bytes 512M &&
	expect_contains "$AK_STDERR" "sparse file expands the layer beyond the limit of 536870912 bytes" && ak_pass

ak_summary
