#!/usr/bin/env bash
# The archkit executable loads libarchive, libcrypto, libzstd, libisal and libcurl only
# when a command reads an image (cli/image-libs.c): it does not need them to start, a
# command that reads no image loads none of them, and where one is missing an image
# command says which, in one line, with exit 2.
. "$(dirname "$0")/../lib.sh"
: "${AK_BIN:?}"

image_libs='libarchive|libcrypto|libzstd|libisal|libcurl'

ak_test "the executable does not link the image libraries"
readelf -d "$AK_BIN" >"$AK_TMP/dynamic" 2>&1 &&
  grep -q 'NEEDED.*libelf' "$AK_TMP/dynamic" &&
  if grep -E "NEEDED.*($image_libs)" "$AK_TMP/dynamic" >"$AK_TMP/needed"; then
    ak_fail "linked: $(tr '\n' ' ' <"$AK_TMP/needed")"
  else ak_pass; fi

ak_test "a command that reads no image loads none of them"
LD_DEBUG=libs "$AK_BIN" binfmt show --mount-dir "$AK_TMP" >/dev/null 2>"$AK_TMP/ld-show"
if grep -E "calling init: .*($image_libs)" "$AK_TMP/ld-show" >"$AK_TMP/loaded"; then
  ak_fail "binfmt show loaded $(tr '\n' ' ' <"$AK_TMP/loaded")"
elif ! grep -q 'calling init: .*libelf' "$AK_TMP/ld-show"; then
  ak_fail "LD_DEBUG=libs shows no library at all: nothing to judge by"
  _ak_show ld-show "$AK_TMP/ld-show"
else
  ak_pass
fi

if ! "$AK_BIN" sandbox --platform none -- true 2>"$AK_TMP/why"; then
  ak_test "sandbox available"
  ak_skip "$(cat "$AK_TMP/why")"
  ak_summary
  exit
fi

# A root holding archkit and what the dynamic loader needs for it, nothing else.
root=$AK_TMP/root
mkdir -p "$root/tmp" "$root/proc"
cp "$AK_BIN" "$root/archkit"
ldd "$AK_BIN" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' >"$AK_TMP/libs"
while read -r lib; do
  mkdir -p "$root${lib%/*}" && cp -L "$lib" "$root$lib"
done <"$AK_TMP/libs"
# an OCI layout whose manifest blob is there to be checked (with sha256: libcrypto)
python3 - "$root/image" <<'EOF'
import hashlib, json, os, sys
d = sys.argv[1]
os.makedirs(d + "/blobs/sha256")
def blob(b):
    h = hashlib.sha256(b).hexdigest()
    open(f"{d}/blobs/sha256/{h}", "wb").write(b)
    return {"digest": "sha256:" + h, "size": len(b)}
cfg = blob(json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode())
man = blob(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": dict(cfg, mediaType="application/vnd.oci.image.config.v1+json"),
                       "layers": []}).encode())
json.dump({"schemaVersion": 2, "manifests": [dict(man, mediaType="application/vnd.oci.image.manifest.v1+json")]},
          open(d + "/index.json", "w"))
open(d + "/oci-layout", "w").write('{"imageLayoutVersion": "1.0.0"}')
EOF
ak_test "probe loads what it needs when it needs it"
LD_DEBUG=libs "$AK_BIN" probe "oci:$root/image" >"$AK_TMP/probe-out" 2>"$AK_TMP/ld-probe"
if ! grep -q 'calling init: .*libcrypto' "$AK_TMP/ld-probe"; then
  ak_fail "probe did not load libcrypto"
  _ak_show ld-probe "$AK_TMP/ld-probe"
else
  expect_exit 0 "$AK_BIN" probe "oci:$root/image" && ak_pass
fi

# /proc as the sanitizers need it (a sanitizer build's runtime is among ldd's libraries)
chrooted() {
  "$AK_BIN" sandbox --platform none -- sh -c 'mount --rbind /proc "$0/proc" && exec chroot "$0" /archkit "$@"' "$root" "$@"
}

ak_test "it starts where the image libraries are missing"
if grep -E "$image_libs" "$AK_TMP/libs" >"$AK_TMP/copied"; then
  ak_fail "the root got $(tr '\n' ' ' <"$AK_TMP/copied")"
else
  expect_exit 0 chrooted --help && expect_contains "$AK_STDOUT" "Usage: archkit" &&
    expect_exit 0 chrooted doctor --help && ak_pass
fi

ak_test "an image command there names the library it lacks: one line, exit 2"
expect_exit 2 chrooted probe oci:/image &&
  expect_contains "$AK_STDERR" "from libcrypto.so." &&
  grep -qE '^archkit: cannot load [A-Za-z_0-9]+ from libcrypto\.so\.[0-9]+, which checking digests needs: .+' "$AK_STDERR" &&
  [ "$(wc -l <"$AK_STDERR")" -eq 1 ] || { ak_fail "not one such line"; _ak_show stderr "$AK_STDERR"; false; } &&
  expect_exit 2 chrooted probe docker://127.0.0.1:9/nothing:latest &&
  grep -qE '^archkit: cannot load curl_[a-z_]+ from libcurl\.so\.[0-9]+, which reading registries needs: ' "$AK_STDERR" &&
  [ "$(wc -l <"$AK_STDERR")" -eq 1 ] || { ak_fail "not one such line"; _ak_show stderr "$AK_STDERR"; false; } &&
  ak_pass

ak_summary
