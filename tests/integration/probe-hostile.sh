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
# when WANT is 2 that stderr is exactly one "archkit: " line.
probe_stdin=/dev/null
probe() {
	local want=$1 rc=0 before after start
	shift
	before=$(snapshot)
	start=$(date +%s)
	TMPDIR=$hostile_tmp timeout -k 5 60 "$AK_BIN" probe "$@" \
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
	expect_contains "$AK_STDOUT" "$mismatch" &&
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

# --- findings, not aborts ---

ak_test "a PT_INTERP into a symlink loop is a loader-missing finding"
fresh loop
oci elf aarch64-dynamic "$work/dyn"
add_layer loop dir:lib link:lib/ld-linux-aarch64.so.1=loop1 link:lib/loop1=ld-linux-aarch64.so.1 \
	from:bin/dyn="$work/dyn"
probe 1 loop && expect_contains "$AK_STDOUT" "loader-missing       /bin/dyn" &&
	expect_contains "$AK_STDOUT" "PT_INTERP '/lib/ld-linux-aarch64.so.1' ends in a symlink loop" && ak_pass

ak_test "an ELF with e_phoff past the end and e_phnum 65535 is a malformed-elf warning"
fresh badelf
oci elf bad-phoff "$work/bad"
add_layer badelf from:bin/bad="$work/bad"
probe 0 badelf && expect_contains "$AK_STDOUT" "warning malformed-elf        /bin/bad" &&
	probe 1 badelf --fail-on warning && expect_contains "$AK_STDOUT" "warning malformed-elf        /bin/bad" && ak_pass

ak_test "an ELF with e_phoff past the end and 1000 headers is a malformed-elf warning"
fresh badelf2
oci elf bad-phoff "$work/bad2" 1000
add_layer badelf2 from:bin/bad="$work/bad2"
probe 0 badelf2 && expect_contains "$AK_STDOUT" "program header table (offset 0x7fffffff00, 1000 entries) beyond the end of the file" &&
	probe 1 badelf2 --fail-on warning && ak_pass

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
