#!/usr/bin/env bash
# archkit probe on images made at test time by real tools (umoci, skopeo) from real
# Debian binaries: honest images pass, each kind of mistake fails with its finding, and
# the same image in every form gets the same verdict.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib.sh"
AK_BIN=${AK_BIN:-$top/build/archkit}
IMAGES=${AK_IMAGES:-${AK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/archkit-tests}/images}

ak_test "sample images build from real Debian packages"
if ! "$top/tests/fixtures/images" "$IMAGES" >"$AK_TMP/images.log" 2>&1; then
  rc=$?
  if [ $rc -eq 77 ]; then
    ak_skip "$(grep -m1 '^skip' "$AK_TMP/images.log" || tail -1 "$AK_TMP/images.log")"
    ak_summary
    exit
  fi
  ak_fail "tests/fixtures/images failed ($rc): $(tail -3 "$AK_TMP/images.log")"
  ak_summary
  exit
fi
ak_pass

probe() { expect_exit "$1" "$AK_BIN" probe "${@:2}"; }
# verdicts IMAGE: "platform=verdict ..." from the JSON report, sorted
verdicts() { "$AK_BIN" probe --json "$@" | jq -r '[.variants[] | "\(.platform)=\(.verdict)"] | sort | join(" ")'; }

ak_test "an honest six-platform image passes"
probe 0 "$IMAGES/honest6" &&
  expect_contains "$AK_STDOUT" "6 variants" &&
  for p in linux/amd64 linux/arm64 linux/arm/v7 linux/386 linux/ppc64le linux/s390x; do
    grep -qE "^$p +1 +[0-9]+ +[1-9][0-9]* +0 +0 +0  pass$" "$AK_STDOUT" || { ak_fail "no clean row for $p"; cat "$AK_STDOUT"; break; }
  done && ak_pass

ak_test "gzip, zstd and uncompressed layers give the same clean verdict"
want=$(verdicts "$IMAGES/honest6")
[ "$(verdicts "$IMAGES/honest6-zstd")" = "$want" ] &&
  [ "$(verdicts "$IMAGES/honest6-none")" = "$want" ] &&
  [ "$want" = "linux/386=pass linux/amd64=pass linux/arm/v7=pass linux/arm64=pass linux/ppc64le=pass linux/s390x=pass" ] &&
  ak_pass || ak_fail "verdicts differ: '$want' / '$(verdicts "$IMAGES/honest6-zstd")' / '$(verdicts "$IMAGES/honest6-none")'"

ak_test "arm/v5 (Debian armel) and mips64le pass, in every compression"
for img in honest-extra honest-extra-zstd honest-extra-none; do
  probe 0 "$IMAGES/$img" && expect_contains "$AK_STDOUT" "linux/arm/v5" &&
    expect_contains "$AK_STDOUT" "linux/mips64le" || break
done && ak_pass

ak_test "dynamic coreutils with libc6 pass: their loader is in the image"
probe 0 --json "$IMAGES/dynamic" &&
  expect_jq '[.variants[] | select(.elf_files > 5 and .verdict == "pass")] | length == 2' &&
  probe 0 "$IMAGES/dynamic-zstd" && probe 0 "$IMAGES/dynamic-none" && ak_pass

ak_test "a missing loader fails the arm64 variant only"
probe 1 "$IMAGES/missing-loader" &&
  expect_contains "$AK_STDOUT" "loader-missing" &&
  expect_contains "$AK_STDOUT" "found:    PT_INTERP '/lib/ld-linux-aarch64.so.1', which is not in the image" &&
  "$AK_BIN" probe --json "$IMAGES/missing-loader" > "$AK_TMP/ml.json";
  expect_jq '.variants[] | select(.platform == "linux/amd64") | .verdict == "pass"' "$AK_TMP/ml.json" &&
  ak_pass

ak_test "a mislabeled arm64 variant (config says amd64) fails with platform-mismatch"
probe 1 "$IMAGES/mislabeled-arm64" &&
  expect_contains "$AK_STDOUT" "platform-mismatch" &&
  expect_contains "$AK_STDOUT" "found:    config says linux/amd64" && ak_pass

ak_test "arm64 code labelled linux/amd64 fails with wrong-machine"
probe 1 "$IMAGES/mislabeled-arm64-as-amd64" &&
  expect_contains "$AK_STDOUT" "wrong-machine" &&
  expect_contains "$AK_STDOUT" "found:    aarch64 (linux/arm64) ELF64 LSB" && ak_pass

ak_test "a stray amd64 binary in arm64 is found, with its path and layer"
probe 1 --json "$IMAGES/stray-amd64-in-arm64" &&
  expect_jq '.variants[] | select(.platform == "linux/arm64") | .findings[] |
    select(.code == "wrong-machine" and .path == "/usr/local/bin/tool" and .severity == "error" and
           (.layer | startswith("sha256:")) and (.found | startswith("x86-64")))' &&
  expect_jq '.variants[] | select(.platform == "linux/amd64") | .verdict == "pass"' && ak_pass

ak_test "--ignore turns the stray binary into an info finding"
probe 0 --ignore '/usr/local/bin/*' "$IMAGES/stray-amd64-in-arm64" &&
  expect_contains "$AK_STDOUT" "ignored" && expect_not_contains "$AK_STDOUT" "FAIL" && ak_pass

ak_test "armel code in arm/v7 fails with arm-soft-float"
probe 1 "$IMAGES/armel-in-armv7" &&
  expect_contains "$AK_STDOUT" "error   arm-soft-float       /bin/busybox" &&
  expect_contains "$AK_STDOUT" "expected: hard-float EABI5 (linux/arm/v7)" && ak_pass

ak_test "variants with byte-identical layers fail with identical-layers"
probe 1 "$IMAGES/identical-layers" &&
  expect_contains "$AK_STDOUT" "identical-layers" &&
  expect_contains "$AK_STDOUT" "byte for byte, as linux/arm64" && ak_pass

ak_test "a bad binary removed by a whiteout passes; --verbose lists it"
probe 0 "$IMAGES/whiteout-removes-bad" && expect_not_contains "$AK_STDOUT" "tool" &&
  probe 0 --verbose "$IMAGES/whiteout-removes-bad" &&
  expect_contains "$AK_STDOUT" "removed /usr/local/bin/tool (layer 2, removed by layer 3)" && ak_pass

ak_test "an opaque whiteout (.wh..wh..opq) hides the stray binary of a lower layer"
oci() { python3 "$top/tests/integration/lib-oci.py" "$@"; }
rm -rf "$AK_TMP/opq" "$AK_TMP/opq-other" && cp -r "$IMAGES/stray-amd64-in-arm64" "$AK_TMP/opq" &&
  cp -r "$IMAGES/stray-amd64-in-arm64" "$AK_TMP/opq-other" &&
  oci tar "$AK_TMP/opq.tar" dir:usr/local/bin file:usr/local/bin/.wh..wh..opq= file:usr/local/bin/readme=x &&
  oci set-layer "$AK_TMP/opq" arm64 "$AK_TMP/opq.tar" --append &&
  oci tar "$AK_TMP/other.tar" dir:opt file:opt/.wh..wh..opq= &&
  oci set-layer "$AK_TMP/opq-other" arm64 "$AK_TMP/other.tar" --append &&
  probe 0 --verbose "$AK_TMP/opq" &&
  expect_contains "$AK_STDOUT" "removed /usr/local/bin/tool (layer 2, removed by layer 3)" &&
  probe 1 "$AK_TMP/opq-other" && expect_contains "$AK_STDOUT" "/usr/local/bin/tool" && ak_pass

ak_test "whiteouts below a directory (opt/.wh.x86, opt/stray/.wh.bin) hide lower stray binaries"
# opt/stray/.wh.bin is what docker's classic builder writes for RUN rm -rf /opt/stray/bin
rm -rf "$AK_TMP/wh-deep" && cp -r "$IMAGES/stray-amd64-in-arm64" "$AK_TMP/wh-deep" &&
  tar -xOf "$(oci layer "$AK_TMP/wh-deep" amd64 0)" bin/busybox > "$AK_TMP/amd64-tool" 2>/dev/null &&
  oci tar "$AK_TMP/wh-lower.tar" dir:opt dir:opt/x86 from:opt/x86/tool="$AK_TMP/amd64-tool" \
    dir:opt/stray from:opt/stray/bin="$AK_TMP/amd64-tool" &&
  oci set-layer "$AK_TMP/wh-deep" arm64 "$AK_TMP/wh-lower.tar" --index 1 &&
  probe 1 "$AK_TMP/wh-deep" && expect_contains "$AK_STDOUT" "/opt/stray/bin" &&
  oci tar "$AK_TMP/wh-upper.tar" file:opt/stray/.wh.bin= file:opt/.wh.x86= &&
  oci set-layer "$AK_TMP/wh-deep" arm64 "$AK_TMP/wh-upper.tar" --append &&
  probe 0 --verbose "$AK_TMP/wh-deep" &&
  expect_contains "$AK_STDOUT" "removed /opt/stray/bin (layer 2, removed by layer 3)" &&
  expect_contains "$AK_STDOUT" "removed /opt/x86/tool (layer 2, removed by layer 3)" && ak_pass

ak_test "a whiteout below a symlink its own layer already replaced by a directory removes nothing"
# containerd and moby apply a layer in tar order: lnk is a real directory by the time
# lnk/.wh.evil is reached, so /bin/evil stays in the container
rm -rf "$AK_TMP/wh-lnk" && cp -r "$AK_TMP/wh-deep" "$AK_TMP/wh-lnk" &&
  oci tar "$AK_TMP/lnk-lower.tar" dir:bin from:bin/evil="$AK_TMP/amd64-tool" link:lnk=bin &&
  oci set-layer "$AK_TMP/wh-lnk" arm64 "$AK_TMP/lnk-lower.tar" --index 1 &&
  oci tar "$AK_TMP/lnk-upper.tar" dir:lnk file:lnk/.wh.evil= &&
  oci set-layer "$AK_TMP/wh-lnk" arm64 "$AK_TMP/lnk-upper.tar" --index 2 &&
  probe 1 --json "$AK_TMP/wh-lnk" &&
  expect_jq '[.variants[] | select(.platform == "linux/arm64") | .findings[] |
    select(.code == "wrong-machine")] | map(.path) == ["/bin/evil"]' && ak_pass

ak_test "a hard link to a binary the same layer then whites out keeps the binary"
rm -rf "$AK_TMP/wh-hard" && cp -r "$AK_TMP/wh-deep" "$AK_TMP/wh-hard" &&
  oci tar "$AK_TMP/hard-upper.tar" dir:usr/bin hardlink:usr/bin/keep=opt/stray/bin \
    file:opt/stray/.wh.bin= file:opt/.wh.x86= &&
  oci set-layer "$AK_TMP/wh-hard" arm64 "$AK_TMP/hard-upper.tar" --index 2 &&
  probe 1 --json "$AK_TMP/wh-hard" &&
  expect_jq '[.variants[] | select(.platform == "linux/arm64") | .findings[] |
    select(.code == "wrong-machine")] | map(.path) == ["/usr/bin/keep"]' && ak_pass

ak_test "attestation manifests are skipped and counted"
probe 0 "$IMAGES/with-attestation" &&
  expect_contains "$AK_STDOUT" "2 variants, 2 attestation manifests skipped" &&
  expect_contains "$AK_STDOUT" "note: skipped 2 attestation manifests (sha256:" &&
  { ! grep -v '^note: ' "$AK_STDOUT" | grep -q unknown || ak_fail "an attestation is listed as a variant"; } &&
  ak_pass

ak_test "an index that lists the manifests directly passes"
probe 0 "$IMAGES/honest-flat" && expect_contains "$AK_STDOUT" "2 variants" && ak_pass

ak_test "the same image as oci, oci-archive, buildx local and buildx tar gets the same verdict"
want=$(verdicts "$IMAGES/honest6")
got_archive=$(verdicts "$IMAGES/honest6.oci-archive.tar")
got_local=$(verdicts "$IMAGES/honest6.local")
got_tar=$(verdicts "$IMAGES/honest6.buildx.tar")
got_prefixed=$(verdicts "oci-archive:$IMAGES/honest6.oci-archive.tar")
[ "$got_archive" = "$want" ] && [ "$got_local" = "$want" ] && [ "$got_tar" = "$want" ] &&
  [ "$got_prefixed" = "$want" ] && ak_pass ||
  ak_fail "oci '$want', oci-archive '$got_archive', local '$got_local', tar '$got_tar'"

ak_test "tar:FILE of an OCI layout, a buildx type=tar and a docker save get the image's verdict"
tar -C "$IMAGES/honest6" -cf "$AK_TMP/layout.tar" . &&
  [ "$(verdicts "tar:$AK_TMP/layout.tar")" = "$want" ] &&
  [ "$(verdicts "tar:$IMAGES/honest6.buildx.tar")" = "$want" ] &&
  probe 0 --json "tar:$AK_TMP/layout.tar" && expect_jq '.kind == "oci-archive"' &&
  probe 0 --json "tar:$IMAGES/honest6-arm64.docker-archive.tar" &&
  expect_jq '.kind == "docker-archive" and [.variants[].platform] == ["linux/arm64"]' && ak_pass ||
  ak_fail "tar:FILE gave '$(verdicts "tar:$AK_TMP/layout.tar")'"

# A single-platform buildx or buildah type=tar: the root filesystem itself, no index.
tar -C "$IMAGES/honest6.local/linux_arm64" -cf "$AK_TMP/rootfs-arm64.tar" .
# elf_files, files and verdict of a variant, for comparing a tar with its layout
facts() { "$AK_BIN" probe --json "$@" | jq -c '[.variants[] | {platform, verdict, files, elf_files, counts}]'; }

ak_test "tar:FILE of a bare root filesystem with --platform: the layout's verdict for it"
layout_facts=$(facts --platform linux/arm64 "$IMAGES/honest6")
probe 0 --platform linux/arm64 "tar:$AK_TMP/rootfs-arm64.tar" &&
  expect_contains "$AK_STDOUT" "(local-tar), 1 variant" &&
  [ "$(facts --platform linux/arm64 "tar:$AK_TMP/rootfs-arm64.tar")" = "$layout_facts" ] &&
  [ "$(facts --platform aarch64 "$AK_TMP/rootfs-arm64.tar")" = "$layout_facts" ] &&
  expect_exit 0 sh -c "'$AK_BIN' probe --platform arm64 - < '$AK_TMP/rootfs-arm64.tar'" &&
  probe 1 --platform linux/amd64 "tar:$AK_TMP/rootfs-arm64.tar" &&
  expect_contains "$AK_STDOUT" "wrong-machine" && ak_pass ||
  ak_fail "layout '$layout_facts', tar '$(facts --platform linux/arm64 "tar:$AK_TMP/rootfs-arm64.tar")'"

ak_test "a bare root filesystem tar without --platform: unknown-platform says to pass --platform"
probe 1 "tar:$AK_TMP/rootfs-arm64.tar" &&
  expect_contains "$AK_STDOUT" "unknown-platform" &&
  expect_contains "$AK_STDOUT" "nothing in the image names this variant's platform" &&
  expect_contains "$AK_STDOUT" "pass --platform" &&
  probe 1 "$AK_TMP/rootfs-arm64.tar" && expect_contains "$AK_STDOUT" "pass --platform" && ak_pass

ak_test "a root filesystem tar's absolute symlinks mean its root: the amd64 loader link is found"
rm -rf "$AK_TMP/dynamic.local" &&
  "$top/tests/fixtures/convert" "$IMAGES/dynamic" local "$AK_TMP/dynamic.local" &&
  [ "$(readlink "$AK_TMP/dynamic.local/linux_amd64/lib64/ld-linux-x86-64.so.2")" = /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 ] &&
  tar -C "$AK_TMP/dynamic.local/linux_amd64" -cf "$AK_TMP/rootfs-dynamic-amd64.tar" . &&
  probe 0 --json --platform linux/amd64 "tar:$AK_TMP/rootfs-dynamic-amd64.tar" &&
  expect_jq '.variants[0].verdict == "pass" and .variants[0].elf_files > 5' && ak_pass

ak_test "tar:FILE of a missing file, or of an empty tar, exits 2 with one line"
probe 2 "tar:$AK_TMP/no-such.tar" && [ "$(wc -l < "$AK_STDERR")" -eq 1 ] &&
  expect_contains "$AK_STDERR" "archkit: cannot open archive '$AK_TMP/no-such.tar'" &&
  tar -C "$AK_TMP" -cf "$AK_TMP/empty.tar" -T /dev/null &&
  probe 2 "tar:$AK_TMP/empty.tar" && [ "$(wc -l < "$AK_STDERR")" -eq 1 ] &&
  expect_contains "$AK_STDERR" "the archive is empty" &&
  probe 2 "tar:" && [ "$(wc -l < "$AK_STDERR")" -eq 1 ] && ak_pass

ak_test "docker-archive (docker save) of the arm64 image passes; of the stray one fails"
probe 0 "$IMAGES/honest6-arm64.docker-archive.tar" && expect_contains "$AK_STDOUT" "linux/arm64" &&
  probe 1 "docker-archive:$IMAGES/stray-amd64-in-arm64-arm64.docker-archive.tar" &&
  expect_contains "$AK_STDOUT" "/usr/local/bin/tool" && ak_pass

ak_test "buildx local output with a stray binary fails with the folder's platform"
probe 1 --json "$IMAGES/stray-amd64-in-arm64.local" &&
  expect_jq '.variants[] | select(.platform == "linux/arm64") | .folder_platform == "linux/arm64" and .verdict == "fail" and
    (.findings[0].layer == "tree")' && ak_pass

ak_test "an archive on stdin ('-') is spooled and probed"
expect_exit 0 sh -c "'$AK_BIN' probe - < '$IMAGES/honest6.oci-archive.tar'" &&
  expect_contains "$AK_STDOUT" "6 variants" && ak_pass

ak_test "--platform keeps the requested variants, aliases accepted"
probe 0 --json --platform aarch64 --platform armhf "$IMAGES/honest6" &&
  expect_jq '[.variants[].platform] | sort == ["linux/arm/v7", "linux/arm64"]' &&
  probe 1 --platform riscv64 "$IMAGES/honest6" &&
  expect_contains "$AK_STDOUT" "platform-missing" && ak_pass

ak_test "--format junit is well-formed XML with one failing test case"
probe 1 --format junit "$IMAGES/stray-amd64-in-arm64" && cp "$AK_STDOUT" "$AK_TMP/junit.xml" &&
  expect_exit 0 python3 -c 'import sys, xml.etree.ElementTree as E
t = E.parse(sys.argv[1]).getroot()
cases = t.findall(".//testcase")
fails = [c.get("name") for c in cases if c.find("failure") is not None]
assert len(cases) == 2 and fails == ["linux/arm64"], (len(cases), fails)' "$AK_TMP/junit.xml" && ak_pass

ak_test "--format github writes one annotation per finding"
probe 1 --format github "$IMAGES/stray-amd64-in-arm64" &&
  expect_contains "$AK_STDOUT" "::error title=archkit probe linux/arm64%3A wrong-machine::/usr/local/bin/tool: found x86-64" && ak_pass

ak_test "usage errors exit 64"
probe 64 --fail-on never "$IMAGES/honest6" && expect_contains "$AK_STDERR" "unknown --fail-on 'never'" &&
  probe 64 && expect_contains "$AK_STDERR" "no image given" &&
  probe 64 --platform vax "$IMAGES/honest6" && expect_contains "$AK_STDERR" "unknown platform 'vax'" && ak_pass

ak_test "an unreadable image exits 2 with one line"
probe 2 /nonexistent/image && [ "$(wc -l < "$AK_STDERR")" -eq 1 ] &&
  expect_contains "$AK_STDERR" "archkit: " && ak_pass

ak_summary
