#!/usr/bin/env bash
# archkit probe's layer cache on the sample images (tests/fixtures/images): a probe
# stores each layer's entries and ELF facts by digest; a later probe of a layer it has
# seen reads no blob of it, and says byte for byte what a probe without the cache says.
# A damaged cache file is ignored and rewritten; --no-cache reads and writes nothing of
# the cache; a cache that cannot be written costs nothing but time.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib.sh"
AK_BIN=${AK_BIN:-$top/build/archkit}
IMAGES=${AK_IMAGES:-$AK_CACHE/images}
oci() { python3 "$top/tests/integration/lib-oci.py" "$@"; }
work=$AK_TMP/work
mkdir -p "$work"

ak_test "the sample images build"
rc=0
"$top/tests/fixtures/images" "$IMAGES" honest6 stray-amd64-in-arm64 identical-layers \
	missing-loader whiteout-removes-bad dynamic honest6.oci-archive.tar \
	honest6-arm64.docker-archive.tar honest6.local >"$AK_STDOUT" 2>"$AK_STDERR" || rc=$?
if [ $rc = 77 ]; then
	ak_skip "$(tail -n1 "$AK_STDERR")"
	ak_summary
	exit
fi
[ $rc = 0 ] && ak_pass || { ak_fail "images exited $rc: $(tail -n3 "$AK_STDERR")"; ak_summary; exit; }

# fresh NAME [IMAGE]: a private copy of a sample image (default honest6) at $work/NAME
fresh() {
	rm -rf "${work:?}/$1"
	cp -a "$IMAGES/${2:-honest6}" "$work/$1"
}

# layer_blobs DIR: the path of every layer blob of the OCI layout, nested indexes walked
layer_blobs() {
	python3 - "$1" <<'EOF'
import json, os, sys
top = sys.argv[1]
def path(d): return os.path.join(top, "blobs", *d.split(":"))
seen = set()
def walk(desc):
    doc = json.load(open(path(desc["digest"])))
    for m in doc.get("manifests", []):
        walk(m)
    for l in doc.get("layers", []):
        if l["digest"] not in seen:
            seen.add(l["digest"])
            print(path(l["digest"]))
for m in json.load(open(os.path.join(top, "index.json")))["manifests"]:
    walk(m)
EOF
}

# run WANT NAME ARGS...: archkit probe ARGS, stdout to $work/NAME.out, stderr to
# $work/NAME.err; fails the test unless it exits WANT
run() {
	local want=$1 name=$2 rc=0
	shift 2
	"$AK_BIN" probe "$@" >"$work/$name.out" 2>"$work/$name.err" </dev/null || rc=$?
	[ "$rc" = "$want" ] && return 0
	ak_fail "'archkit probe $*' exited $rc, expected $want: $(head -c 300 "$work/$name.err")"
	return 1
}

# exit_of NAME ARGS...: the same, printing the exit status instead
exit_of() {
	local name=$1 rc=0
	shift
	"$AK_BIN" probe "$@" >"$work/$name.out" 2>"$work/$name.err" </dev/null || rc=$?
	echo "$rc"
}

# same A B: the runs A and B printed the same bytes, on stdout and on stderr
same() {
	local s
	for s in out err; do
		cmp -s "$work/$1.$s" "$work/$2.$s" && continue
		ak_fail "'$1' and '$2' differ on std$s: $(diff "$work/$1.$s" "$work/$2.$s" | head -n 4 | tr '\n' ' ')"
		return 1
	done
}

ncache() { find "$1" -maxdepth 1 -type f 2>/dev/null | wc -l; }

ak_test "a second probe reads no layer blob: with every one removed, the same JSON"
fresh gone
d=$work/cache-gone
run 0 cold --json --cache-dir "$d" "$work/gone" &&
	n=$(layer_blobs "$work/gone" | wc -l) &&
	{ [ "$(ncache "$d")" = "$n" ] || ak_fail "$(ncache "$d") cache files for $n layers"; } &&
	layer_blobs "$work/gone" | xargs rm -f && [ -z "$(layer_blobs "$work/gone" | xargs ls 2>/dev/null)" ] &&
	run 0 warm --json --cache-dir "$d" "$work/gone" && same cold warm &&
	expect_jq '.ok == true and (.variants | length) == 6' "$work/warm.out" &&
	run 2 nocache --json --no-cache --cache-dir "$d" "$work/gone" &&
	expect_contains "$work/nocache.err" "is missing from" && ak_pass

ak_test "a cached probe prints what an uncached one prints, byte for byte, in every format"
d=$work/cache-formats
ok=1
for img in honest6 stray-amd64-in-arm64 identical-layers missing-loader whiteout-removes-bad \
	dynamic honest6.oci-archive.tar honest6-arm64.docker-archive.tar honest6.local; do
	for fmt in text json junit github; do
		a=$(exit_of "u-$fmt" --format "$fmt" --no-cache -v "$IMAGES/$img")
		b=$(exit_of "c-$fmt" --format "$fmt" --cache-dir "$d" -v "$IMAGES/$img")
		c=$(exit_of "w-$fmt" --format "$fmt" --cache-dir "$d" -v "$IMAGES/$img")
		if [ "$a" != "$b" ] || [ "$a" != "$c" ]; then
			ak_fail "$img --format $fmt: exit $a without the cache, $b cold, $c warm"
			ok=
		fi
		same "u-$fmt" "c-$fmt" && same "u-$fmt" "w-$fmt" || ok=
		[ -n "$ok" ] || break 2
	done
done
# the images hold findings of each kind the cache must keep: wrong code, a missing
# loader, identical layers, a whiteout that removes a file
[ -n "$ok" ] && [ "$(ncache "$d")" -gt 10 ] && ak_pass

ak_test "a layer's media type is checked again: the same blob declared as a plain tar"
fresh relabel
d=$work/cache-relabel
layer=$(oci layer "$work/relabel" arm64)
run 0 r-cold --json --cache-dir "$d" "$work/relabel" &&
	oci set-layer "$work/relabel" arm64 "$layer" --media-type application/vnd.oci.image.layer.v1.tar &&
	run 1 r-nocache --json --no-cache "$work/relabel" &&
	run 1 r-warm --json --cache-dir "$d" "$work/relabel" && same r-nocache r-warm &&
	expect_jq '[.variants[].findings[].code] | index("layer-media-type-mismatch") != null' "$work/r-warm.out" &&
	ak_pass

ak_test "a descriptor whose size is not its blob's is refused as without the cache"
fresh size
d=$work/cache-size
run 0 s-cold --cache-dir "$d" "$work/size" &&
	oci set-layer "$work/size" arm64 "$(oci layer "$work/size" arm64)" --size 1000 &&
	run 2 s-nocache --no-cache "$work/size" &&
	run 2 s-warm --cache-dir "$d" "$work/size" && same s-nocache s-warm &&
	expect_contains "$work/s-warm.err" "its descriptor says 1000" && ak_pass

ak_test "--max-layer-bytes holds for a cached layer"
d=$work/cache-max
run 0 m-cold --cache-dir "$d" "$IMAGES/honest6" &&
	run 2 m-nocache --no-cache --jobs 1 --max-layer-bytes 64K "$IMAGES/honest6" &&
	run 2 m-warm --cache-dir "$d" --jobs 1 --max-layer-bytes 64K "$IMAGES/honest6" &&
	same m-nocache m-warm && expect_contains "$work/m-warm.err" "max-layer-bytes" && ak_pass

ak_test "a damaged cache file is ignored and rewritten"
fresh damaged
d=$work/cache-damaged
run 0 d-cold --json --cache-dir "$d" "$work/damaged" &&
	f=$(find "$d" -type f | sort | head -n1) && cp "$f" "$work/good" &&
	python3 -c 'import sys
f = open(sys.argv[1], "r+b"); f.seek(f.seek(0, 2) // 2); b = f.read(1)
f.seek(-1, 1); f.write(bytes([b[0] ^ 0xff]))' "$f" &&
	! cmp -s "$f" "$work/good" &&
	run 0 d-warm --json --cache-dir "$d" "$work/damaged" && same d-cold d-warm &&
	{ cmp -s "$f" "$work/good" || ak_fail "the damaged file was not rewritten"; } &&
	head -c 100 "$work/good" >"$f" && # cut short, and the layers gone: it must be read
	layer_blobs "$work/damaged" | xargs rm -f &&
	run 2 d-gone --json --cache-dir "$d" "$work/damaged" && # not the cut-short file
	expect_contains "$work/d-gone.err" "is missing from" && ak_pass

ak_test "--no-cache writes nothing; without --cache-dir the cache is \$XDG_CACHE_HOME/archkit/layers"
d=$work/cache-never
rm -rf "$XDG_CACHE_HOME"
run 0 n1 --no-cache --cache-dir "$d" "$IMAGES/honest6" &&
	run 0 n2 --no-cache "$IMAGES/honest6" &&
	{ [ ! -e "$d" ] && [ ! -e "$XDG_CACHE_HOME" ] || ak_fail "--no-cache made '$d' or '$XDG_CACHE_HOME'"; } &&
	run 0 n3 "$IMAGES/honest6" && same n2 n3 &&
	{ [ "$(ncache "$XDG_CACHE_HOME/archkit/layers")" -gt 0 ] || ak_fail "nothing cached under \$XDG_CACHE_HOME"; } &&
	{ [ "$(stat -c %a "$XDG_CACHE_HOME/archkit/layers")" = 700 ] || ak_fail "the cache directory is not private"; } &&
	ak_pass

ak_test "a cache directory that cannot be used costs nothing but the cache"
: >"$work/a-file"
run 1 f-nocache --json --no-cache "$IMAGES/stray-amd64-in-arm64" &&
	run 1 f-file --json --cache-dir "$work/a-file" "$IMAGES/stray-amd64-in-arm64" &&
	run 1 f-below --json --cache-dir "$work/a-file/sub" "$IMAGES/stray-amd64-in-arm64" &&
	same f-nocache f-file && same f-nocache f-below && [ ! -s "$work/a-file" ] && ak_pass

ak_test "two probes sharing a fresh cache at once: both right, every file whole"
fresh shared
d=$work/cache-shared
"$AK_BIN" probe --json --cache-dir "$d" "$work/shared" >"$work/p1.out" 2>"$work/p1.err" &
p1=$!
"$AK_BIN" probe --json --cache-dir "$d" "$work/shared" >"$work/p2.out" 2>"$work/p2.err" &
p2=$!
rc1=0 rc2=0
wait $p1 || rc1=$?
wait $p2 || rc2=$?
[ "$rc1$rc2" = 00 ] && same p1 p2 && layer_blobs "$work/shared" | xargs rm -f &&
	run 0 p3 --json --cache-dir "$d" "$work/shared" && same p1 p3 &&
	[ -z "$(find "$d" -name '.tmp.*')" ] && ak_pass ||
	{ [ "$AK_STATE" = open ] && ak_fail "exits $rc1 $rc2, or the third probe needed a blob"; }

ak_test "probe --help documents --cache-dir and --no-cache"
expect_exit 0 "$AK_BIN" probe --help && expect_contains "$AK_STDOUT" "--cache-dir DIR" &&
	expect_contains "$AK_STDOUT" "--no-cache" && expect_exit 64 "$AK_BIN" probe --cache-dir "" x &&
	expect_contains "$AK_STDERR" "--cache-dir needs a directory" && ak_pass

ak_summary
