#!/usr/bin/env bash
# archkit probe's report in every format, fed names an image may hold: terminal escapes,
# newlines, XML and workflow-command specials, bytes that are not UTF-8. Nothing from
# the image may forge a line, break the XML or drop a JSON key. Also: limits on the
# options, multi-image archives, and every documented option and IMAGE form.
#
#   AK_BIN=/tmp/build-x/archkit bash tests/integration/probe-output.sh
# AK_IMAGES=DIR keeps the sample images between runs (default: the test cache).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib.sh"
AK_BIN=${AK_BIN:-$top/build/archkit}
IMAGES=${AK_IMAGES:-${AK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/archkit-tests}/images}
oci() { python3 "$top/tests/integration/lib-oci.py" "$@"; }

ak_need_images "$IMAGES" honest6 stray-amd64-in-arm64 honest6.oci-archive.tar \
	honest6.local honest6.buildx.tar stray-amd64-in-arm64-arm64.docker-archive.tar

# probe WANT ARGS...: also keeps its stdout in $OUT, which checks read: a check run by
# expect_exit would find $AK_STDOUT truncated by its own redirection
OUT=$AK_TMP/probe.out
probe() {
	local rc=0
	expect_exit "$1" "$AK_BIN" probe "${@:2}" || rc=1
	cp "$AK_STDOUT" "$OUT"
	return $rc
}

# python3 -c with lib-oci.py's helpers importable as `lib`
pyoci() {
	local code=$1
	shift
	python3 -c "import importlib.util, sys
spec = importlib.util.spec_from_file_location('lib', '$top/tests/integration/lib-oci.py')
lib = importlib.util.module_from_spec(spec); spec.loader.exec_module(lib)
$code" "$@"
}

# elf_interp OUT INTERP: an AArch64 executable whose PT_INTERP is INTERP (any bytes)
elf_interp() {
	pyoci 'import os, struct
interp = os.fsencode(sys.argv[2]) + b"\0"
off = 64 + 56
ph = struct.pack("<IIQQQQQQ", 3, 4, off, 0x400000 + off, 0x400000 + off, len(interp), len(interp), 1)
open(sys.argv[1], "wb").write(lib.elf64_aarch64(64, 1, ph, interp))' "$@"
}

# set_config DIR ARCH KEY VALUE: the ARCH variant's config gets KEY=VALUE (any bytes,
# written as a JSON string with \u escapes; bytes that are not UTF-8 as surrogates, so
# the JSON text carries the raw byte)
set_config() {
	pyoci 'import json, os
top, arch, key, value = sys.argv[1:5]
index = json.load(open(os.path.join(top, "index.json")))
chain = lib.find_manifest(top, index, arch)
doc, i = chain[-1]
manifest = lib.load_json(top, doc["manifests"][i]["digest"])
config = lib.load_json(top, manifest["config"]["digest"])
config[key] = value
data = json.dumps(config, ensure_ascii=False).encode("utf-8", "surrogateescape")
manifest["config"]["digest"], manifest["config"]["size"] = lib.put_blob(top, data)
lib.rewrite_chain(top, chain, manifest)' "$@"
}

# Names that try to forge output: an ANSI erase-line and carriage return followed by a
# fake clean row and a newline; XML and workflow-command specials; a byte that is not
# UTF-8; a bidi override.
forged_row="linux/amd64           2       3      3       0         0     0  pass"
n_forge=$'usr/local/bin/evil\x1b[2K\r'"$forged_row"$'\n::error::forged'
n_xml='usr/local/bin/a<b&c"d]]>e'"'"'%f:g,h'
n_latin1=$'usr/local/bin/caf\xe9'
n_bidi=$'usr/local/bin/x\xe2\x80\xaegpj.exe'
interp_evil=$'/lib/ld\x1b[31m\xff.so'

work=$AK_TMP/work
mkdir -p "$work"
elf_interp "$work/aarch64" /lib/ld-linux-aarch64.so.1
elf_interp "$work/evil-interp" "$interp_evil"
# evil: stray-amd64-in-arm64 whose amd64 variant gains arm64 code under each name
evil=$work/evil
cp -r "$IMAGES/stray-amd64-in-arm64" "$evil" &&
	oci tar "$work/evil.tar" dir:usr dir:usr/local dir:usr/local/bin \
		"from:$n_forge=$work/aarch64" "from:$n_xml=$work/aarch64" \
		"from:$n_latin1=$work/aarch64" "from:$n_bidi=$work/aarch64" &&
	oci set-layer "$evil" amd64 "$work/evil.tar" --append &&
	oci tar "$work/interp.tar" dir:usr dir:usr/local dir:usr/local/bin \
		"from:usr/local/bin/interp=$work/evil-interp" &&
	oci set-layer "$evil" arm64 "$work/interp.tar" --append &&
	set_config "$evil" arm64 os $'linux\x1b]0;owned\x07' ||
	echo "# building the evil image failed" >&2

# --- 1: text output ---

ak_test "text: a file name with escapes and newlines cannot forge a row"
probe 1 "$evil" &&
	expect_exit 1 grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$OUT" &&
	expect_exit 0 grep -qxE 'linux/amd64 +2 +[0-9]+ +[0-9]+ +[1-9][0-9]* +[0-9]+ +[0-9]+  FAIL' "$OUT" &&
	[ "$(grep -c '^linux/amd64 ' "$OUT")" = 1 ] &&
	[ "$(grep -c 'pass$' "$OUT")" = 0 ] &&
	expect_contains "$OUT" '/usr/local/bin/evil\x1b[2K\r'"$forged_row"'\n::error::forged' &&
	ak_pass || ak_fail "a forged row or a raw control byte reached the text report"

ak_test "text: bytes that are not UTF-8 and bidi overrides show as \\xHH and \\uHHHH"
probe 1 "$evil" && expect_contains "$OUT" '/usr/local/bin/caf\xe9' &&
	expect_contains "$OUT" '/usr/local/bin/x\u202egpj.exe' &&
	expect_exit 0 python3 -c 'import sys; open(sys.argv[1], encoding="utf-8").read()' "$OUT" &&
	ak_pass

ak_test "text: a PT_INTERP string and a config's platform are escaped too"
probe 1 "$evil" &&
	expect_contains "$OUT" "PT_INTERP '/lib/ld\\x1b[31m\\xff.so', which is not in the image" &&
	expect_contains "$OUT" 'linux\x1b]0;owned\x07' && ak_pass

ak_test "text: a note quoting a media type from the index is escaped"
note=$work/note
cp -r "$IMAGES/honest6" "$note" &&
	pyoci 'import json
p = sys.argv[1] + "/index.json"
idx = json.load(open(p))
idx["manifests"].append({"mediaType": "application/x\x1b[2K\rfake\nnote: ok", "size": 2,
                         "digest": "sha256:" + "ab" * 32})
json.dump(idx, open(p, "w"))' "$note" &&
	probe 0 "$note" && expect_contains "$OUT" "media type 'application/x\x1b[2K\rfake\nnote: ok' is not an image" &&
	[ "$(grep -c '^note: ' "$OUT")" = 1 ] && ak_pass || ak_fail "the note was not escaped"

ak_test "text: an image reference given on the command line is escaped"
ln -s "$IMAGES/honest6" "$work/"$'ref\x1b[8m'
probe 0 "$work/"$'ref\x1b[8m' && expect_contains "$OUT" 'ref\x1b[8m (oci)' && ak_pass

ak_test "an error quoting a name from the image is one escaped line"
probe 2 "$work/"$'missing\nfake: line' && expect_contains "$AK_STDERR" 'missing\nfake: line' &&
	{ [ "$(wc -l <"$AK_STDERR")" = 1 ] || ak_fail "stderr is not one line: $(cat -A "$AK_STDERR")"; } &&
	ak_pass

# --- 2: junit and github ---

ak_test "junit: names with <, &, quotes, ]]> and control bytes give well-formed XML"
probe 1 --format junit "$evil" && cp "$OUT" "$work/junit.xml" &&
	expect_exit 0 python3 -c 'import sys, xml.etree.ElementTree as E
t = E.parse(sys.argv[1]).getroot()
cases = t.findall(".//testcase")
assert [c.get("name") for c in cases] == ["linux/amd64", "linux/arm64"], [c.get("name") for c in cases]
text = "".join(c.find("failure").text for c in cases)
for want in ["/usr/local/bin/a<b&c\"d]]>e\x27%f:g,h", "/usr/local/bin/caf\\xe9",
             "/usr/local/bin/evil\\x1b[2K\\r", "PT_INTERP \x27/lib/ld\\x1b[31m\\xff.so\x27"]:
    assert want in text, want
assert "\x1b" not in text' "$work/junit.xml" && ak_pass

ak_test "github: one annotation per finding; %, CR, LF escaped, and : , in properties"
"$AK_BIN" probe --json "$evil" >"$work/evil.json"
probe 1 --format github "$evil" &&
	expect_exit 0 python3 -c 'import json, re, sys
report = json.load(open(sys.argv[1]))
n = sum(len(v["findings"]) for v in report["variants"])
lines = open(sys.argv[2], "rb").read().decode("utf-8").split("\n")
assert lines[-1] == "", "no final newline"
lines = lines[:-1]
assert len(lines) == n, (len(lines), n)
for l in lines:
    m = re.fullmatch(r"::(error|warning|notice) title=([^:]*)::(.*)", l)
    assert m, l
    assert "," not in m.group(2), l
    assert not re.search(r"[\x00-\x1f\x7f]", l), l
    assert re.fullmatch(r"(%25|%0D|%0A|%3A|%2C|[^%])*", m.group(2)), m.group(2)
    assert re.fullmatch(r"(%25|%0D|%0A|[^%])*", m.group(3)), m.group(3)
msgs = [l.split("::", 2)[2] for l in lines]
assert any(s.startswith("/usr/local/bin/a<b&c\"d]]>e\x27%25f:g,h: found ") for s in msgs), msgs
assert any(s.startswith("/usr/local/bin/evil\\x1b[2K\\r") for s in msgs), msgs
assert any("title=archkit probe linux/amd64%3A wrong-machine" in l for l in lines)' \
		"$work/evil.json" "$OUT" && ak_pass

# --- 3: JSON ---

ak_test "json: a name that is not UTF-8 keeps its path, escaped, with the exact bytes in path_base64"
probe 1 --json "$evil" &&
	expect_exit 0 python3 -c 'import base64, json, sys
r = json.load(open(sys.argv[1]))
amd, arm = r["variants"]
paths = [f.get("path") for f in amd["findings"]]
assert None not in paths, paths
f = [f for f in amd["findings"] if f["path"] == "/usr/local/bin/caf\\xe9"]
assert f and base64.b64decode(f[0]["path_base64"]) == b"/usr/local/bin/caf\xe9", f
assert all("path_base64" not in g for g in amd["findings"] if g is not f[0]), amd["findings"]
assert "/usr/local/bin/evil\x1b[2K\r" + sys.argv[2] + "\n::error::forged" in paths, paths
i = [g for g in arm["findings"] if g["path"] == "/usr/local/bin/interp" and g["code"] == "loader-missing"][0]
assert i["found"] == "PT_INTERP \x27/lib/ld\x1b[31m\\xff.so\x27, which is not in the image", i
assert base64.b64decode(i["found_base64"]).startswith(b"PT_INTERP \x27/lib/ld\x1b[31m\xff.so"), i' \
		"$OUT" "$forged_row" && ak_pass

# jansson reads only UTF-8, so a ref name in index.json is UTF-8; it may still hold controls
ak_test "json: an image reference that is not UTF-8 is kept; ref names keep their controls"
refimg=$work/refs
cp -r "$IMAGES/honest6" "$refimg" &&
	pyoci 'import json
p = sys.argv[1] + "/index.json"
idx = json.load(open(p))
idx["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] = "v1\x1b"
json.dump(idx, open(p, "w"))' "$refimg" &&
	ln -s "$refimg" "$work/"$'img\xfe' &&
	probe 0 --json "$work/"$'img\xfe' &&
	expect_exit 0 python3 -c 'import base64, json, sys
r = json.load(open(sys.argv[1]))
assert r["image"].endswith("/img\\xfe") and base64.b64decode(r["image_base64"]).endswith(b"/img\xfe"), r["image"]
for v in r["variants"]:
    assert v["ref_name"] == "v1\x1b" and "ref_name_base64" not in v, v' \
		"$OUT" && ak_pass

# --- 4: no silent limits ---

ak_test "the 65th --ignore is not dropped"
args=()
for i in $(seq 64); do args+=(--ignore "/nothing/$i/*"); done
probe 0 "${args[@]}" --ignore '/usr/local/bin/*' "$IMAGES/stray-amd64-in-arm64" &&
	expect_contains "$OUT" "ignored" && ak_pass

ak_test "the 65th --platform is not dropped"
args=()
for i in $(seq 64); do args+=(--platform linux/amd64); done
probe 0 --json "${args[@]}" --platform arm64 "$IMAGES/honest6" &&
	expect_jq '[.variants[].platform] | sort == ["linux/amd64", "linux/arm64"]' "$OUT" && ak_pass

ak_test "--max-layer-bytes: 2^64 or more is a usage error, in bytes and with a suffix"
probe 64 --max-layer-bytes 18446744073709551616 "$IMAGES/honest6" &&
	expect_contains "$AK_STDERR" "archkit: --max-layer-bytes '18446744073709551616' is too large" &&
	probe 64 --max-layer-bytes 99999999999999999999999 "$IMAGES/honest6" &&
	probe 64 --max-layer-bytes 17179869184G "$IMAGES/honest6" &&
	probe 0 --max-layer-bytes 18446744073709551615 "$IMAGES/honest6" &&
	probe 0 --max-layer-bytes 17179869183G "$IMAGES/honest6" && ak_pass

ak_test "--max-layer-bytes: malformed values are usage errors"
for bad in 0 -1 +5 ' 5' 5KB 1T 0x10 '' 1.5M; do
	probe 64 --max-layer-bytes "$bad" "$IMAGES/honest6" &&
		expect_contains "$AK_STDERR" "invalid --max-layer-bytes '$bad'" || break
done && ak_pass

ak_test "--max-layer-bytes: a layer past the limit is stopped, exit 2; K, M and G suffixes work"
probe 2 --max-layer-bytes 64K "$IMAGES/honest6" && [ "$(wc -l <"$AK_STDERR")" = 1 ] &&
	expect_contains "$AK_STDERR" "65536" &&
	probe 0 --max-layer-bytes 64m "$IMAGES/honest6" && probe 0 --max-layer-bytes 1G "$IMAGES/honest6" && ak_pass

ak_test "--jobs: 1 and 64 give the same report; 0, 65, -1 and junk are usage errors"
"$AK_BIN" probe --json --jobs 1 "$IMAGES/honest6" >"$work/j1.json"
"$AK_BIN" probe --json --jobs 64 "$IMAGES/honest6" >"$work/j64.json"
cmp -s "$work/j1.json" "$work/j64.json" && expect_jq '.ok' "$work/j1.json" &&
	for bad in 0 65 -1 ' 2' 2x '' 99999999999999999999; do
		probe 64 --jobs "$bad" "$IMAGES/honest6" && expect_contains "$AK_STDERR" "invalid --jobs" || break
	done && ak_pass || ak_fail "--jobs 1 and --jobs 64 differ"

# --- 5: several images in one archive ---

# two_images OUT IN TAG1 TAG2: a docker-archive whose manifest.json lists IN's image twice
two_images() {
	pyoci 'import io, json, tarfile
out, src, t1, t2 = sys.argv[1:5]
with tarfile.open(src) as a, tarfile.open(out, "w") as b:
    for m in a.getmembers():
        data = a.extractfile(m).read() if m.isfile() else None
        if m.name == "manifest.json":
            e = json.loads(data)[0]
            data = json.dumps([dict(e, RepoTags=[t1]), dict(e, RepoTags=[t2])]).encode()
            m.size = len(data)
        b.addfile(m, io.BytesIO(data) if data is not None else None)' "$@"
}

ak_test "a docker save of two images names each row by its tag"
two_images "$work/two.tar" "$IMAGES/stray-amd64-in-arm64-arm64.docker-archive.tar" app:1 app:2 &&
	probe 1 "docker-archive:$work/two.tar" &&
	expect_exit 0 grep -qE '^linux/arm64 \(app:1\) +2 ' "$OUT" &&
	expect_exit 0 grep -qE '^linux/arm64 \(app:2\) +2 ' "$OUT" &&
	expect_contains "$OUT" $'\nlinux/arm64 (app:1):\n' &&
	expect_contains "$OUT" $'\nlinux/arm64 (app:2):\n' &&
	probe 1 --json "$work/two.tar" &&
	expect_jq '[.variants[] | .ref_name] == ["app:1", "app:2"]' "$OUT" &&
	probe 1 --format junit "$work/two.tar" &&
	expect_exit 0 python3 -c 'import sys, xml.etree.ElementTree as E
names = [c.get("name") for c in E.parse(sys.argv[1]).getroot().findall(".//testcase")]
assert names == ["linux/arm64 (app:1)", "linux/arm64 (app:2)"], names' "$OUT" &&
	probe 1 --format github "$work/two.tar" &&
	expect_contains "$OUT" "::error title=archkit probe linux/arm64 (app%3A1)%3A wrong-machine::" &&
	ak_pass

ak_test "an image with one reference keeps the plain platform rows"
probe 0 "$IMAGES/honest6" && expect_exit 0 grep -qE '^linux/arm64 +1 ' "$OUT" && ak_pass

ak_test "an OCI layout with two tags names each row; an escaped tag cannot forge one"
two=$work/two-tags
cp -r "$IMAGES/honest6" "$two" &&
	pyoci 'import json
p = sys.argv[1] + "/index.json"
idx = json.load(open(p))
m = dict(idx["manifests"][0], annotations={"org.opencontainers.image.ref.name": "v2\x1b[1A\n"})
idx["manifests"].append(m)
json.dump(idx, open(p, "w"))' "$two" &&
	probe 0 --platform arm64 "$two" &&
	expect_exit 0 grep -qE '^linux/arm64 \(latest\) +1 ' "$OUT" &&
	expect_contains "$OUT" 'linux/arm64 (v2\x1b[1A\n)' &&
	expect_exit 1 grep -q $'\x1b' "$OUT" && ak_pass

# --- 6: every documented option and IMAGE form ---

ak_test "--help and -h print the usage with exit codes and the man page, to stdout"
probe 0 --help && expect_contains "$OUT" "Usage: archkit probe [OPTIONS] IMAGE" &&
	expect_contains "$OUT" "Exit status:" && expect_contains "$OUT" "See archkit-probe(1)." &&
	[ ! -s "$AK_STDERR" ] && cp "$OUT" "$work/help" &&
	probe 0 -h && cmp -s "$OUT" "$work/help" && ak_pass

ak_test "--format text is the default report; --format json is --json"
"$AK_BIN" probe "$IMAGES/stray-amd64-in-arm64" >"$work/default.txt"
"$AK_BIN" probe --json "$IMAGES/stray-amd64-in-arm64" >"$work/json.txt"
probe 1 --format text "$IMAGES/stray-amd64-in-arm64" && cmp -s "$OUT" "$work/default.txt" &&
	probe 1 --format json "$IMAGES/stray-amd64-in-arm64" && cmp -s "$OUT" "$work/json.txt" &&
	expect_jq '.schema == "archkit.probe/v1" and .ok == false' "$work/json.txt" &&
	probe 64 --format xml "$IMAGES/honest6" && expect_contains "$AK_STDERR" "unknown --format 'xml'" &&
	ak_pass || ak_fail "the formats disagree"

ak_test "--fail-on: info fails on an ignored file, warning and error do not"
probe 1 --fail-on info --ignore '/usr/local/bin/*' "$IMAGES/stray-amd64-in-arm64" &&
	expect_exit 0 grep -qE '^linux/arm64 .* 1  FAIL$' "$OUT" &&
	probe 0 --fail-on warning --ignore '/usr/local/bin/*' "$IMAGES/stray-amd64-in-arm64" &&
	probe 0 --fail-on error --ignore '/usr/local/bin/*' "$IMAGES/stray-amd64-in-arm64" &&
	probe 1 --fail-on info --ignore '/usr/local/bin/*' --json "$IMAGES/stray-amd64-in-arm64" &&
	expect_jq '.fail_on == "info" and .ok == false' "$OUT" && ak_pass

ak_test "--fail-on warning: a warning fails only when asked"
warn=$work/warn
cp -r "$IMAGES/stray-amd64-in-arm64" "$warn" && oci elf magic "$work/bad" &&
	oci tar "$work/warn.tar" dir:bin "from:bin/bad=$work/bad" &&
	oci set-layer "$warn" amd64 "$work/warn.tar" --append &&
	"$AK_BIN" probe --json "$warn" >"$work/warn.json"
expect_jq '.variants[] | select(.platform == "linux/amd64") | .counts == {"error": 0, "warning": 1, "info": 0}' "$work/warn.json" &&
	probe 1 --platform amd64 --fail-on warning "$warn" && probe 0 --platform amd64 "$warn" && ak_pass

ak_test "-v is --verbose"
probe 0 -v --platform arm64 "$IMAGES/honest6" && cp "$OUT" "$work/v" &&
	probe 0 --verbose --platform arm64 "$IMAGES/honest6" && cmp -s "$OUT" "$work/v" && ak_pass

ak_test "usage errors: unknown option, two images, missing argument"
probe 64 --bogus "$IMAGES/honest6" && expect_contains "$AK_STDERR" "Try 'archkit probe --help'." &&
	probe 64 "$IMAGES/honest6" "$IMAGES/honest6" && expect_contains "$AK_STDERR" "one image at a time" &&
	probe 64 "$IMAGES/honest6" --platform && ak_pass

verdicts() { "$AK_BIN" probe --json "$@" | jq -r '[.variants[] | "\(.platform)=\(.verdict)"] | sort | join(" ")'; }
want6="linux/386=pass linux/amd64=pass linux/arm/v7=pass linux/arm64=pass linux/ppc64le=pass linux/s390x=pass"

ak_test "oci:DIR and oci:DIR:TAG; an unknown tag is refused"
[ "$(verdicts "oci:$IMAGES/honest6")" = "$want6" ] &&
	[ "$(verdicts "oci:$IMAGES/honest6:latest")" = "$want6" ] &&
	probe 2 "oci:$IMAGES/honest6:nosuchtag" && expect_contains "$AK_STDERR" "nosuchtag" && ak_pass ||
	ak_fail "oci:DIR or oci:DIR:TAG gave '$(verdicts "oci:$IMAGES/honest6:latest")'"

ak_test "oci-archive:FILE:TAG"
[ "$(verdicts "oci-archive:$IMAGES/honest6.oci-archive.tar:latest")" = "$want6" ] &&
	probe 2 "oci-archive:$IMAGES/honest6.oci-archive.tar:nosuchtag" && ak_pass ||
	ak_fail "oci-archive:FILE:TAG gave '$(verdicts "oci-archive:$IMAGES/honest6.oci-archive.tar:latest")'"

ak_test "local:DIR (buildx type=local)"
[ "$(verdicts "local:$IMAGES/honest6.local")" = "$want6" ] &&
	probe 0 "local:$IMAGES/honest6.local" && expect_contains "$OUT" "(local)" && ak_pass ||
	ak_fail "local:DIR gave '$(verdicts "local:$IMAGES/honest6.local")'"

ak_test "local:DIR of a single-platform buildx output: --platform says the platform it is"
one=local:$IMAGES/honest6.local/linux_arm64
probe 1 "$one" && expect_contains "$OUT" "nothing in the image names this variant's platform" &&
	probe 0 --platform aarch64 "$one" && expect_exit 0 grep -qE '^linux/arm64 +0 +1 +1 +0 +0 +0  pass$' "$OUT" &&
	probe 1 --platform amd64 "$one" && expect_contains "$OUT" "layer:    tree" && ak_pass

ak_test "dir:DIR (skopeo dir) of the arm64 image"
if ! command -v skopeo >/dev/null; then
	ak_skip "skopeo is not installed"
elif ! skopeo copy --override-arch arm64 "oci:$IMAGES/honest6:latest" "dir:$work/skopeo-dir" >"$AK_TMP/skopeo.log" 2>&1; then
	ak_fail "skopeo copy failed: $(tail -1 "$AK_TMP/skopeo.log")"
else
	probe 0 --json "dir:$work/skopeo-dir" &&
		expect_jq '.kind == "dir" and [.variants[].platform] == ["linux/arm64"]' "$OUT" &&
		probe 0 "$work/skopeo-dir" && ak_pass
fi

ak_test "tar:FILE (buildx type=tar), documented"
probe 0 "tar:$IMAGES/honest6.buildx.tar" && expect_contains "$OUT" "(local-tar), 6 variants" &&
	[ "$(verdicts "tar:$IMAGES/honest6.buildx.tar")" = "$want6" ] && ak_pass ||
	ak_fail "tar:FILE gave '$(verdicts "tar:$IMAGES/honest6.buildx.tar")'"

ak_summary
