# shellcheck shell=bash
# bench/minbase.sh: the benchmark image that bench/probe and bench/registry share, two
# Debian bookworm minbase root filesystems (debootstrap --foreign, amd64 and arm64),
# one gzip layer each, in an OCI layout under the cache. Source it after bench/lib.sh
# and call bench_minbase: it builds the image once (root, debootstrap and the mirror
# needed then; 77 without them) and sets cache, layout, tag, arches, blobs (the layer
# files) and compressed (their bytes).

# ---- the image, built once and cached ----

cache=${AK_CACHE:-$HOME/.cache/archkit-tests}/bench/probe
mirror=${AK_DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=bookworm
arches=(amd64 arm64)
layout=$cache/layout
tag=bench

# make_layer ARCH: $cache/layer-ARCH.tar.gz, the minbase rootfs as one gzip layer.
make_layer() {
  local arch=$1 root=$cache/rootfs-$1 log=$cache/debootstrap-$1.log
  [ -s "$cache/layer-$arch.tar.gz" ] && return 0
  if [ ! -d "$root" ]; then
    command -v debootstrap >/dev/null ||
      bench_skip "no cached image in '$cache' and no debootstrap to build one (apt-get install debootstrap)"
    [ "$(id -u)" = 0 ] || bench_skip "no cached image in '$cache'; building one with debootstrap needs root"
    echo "$BENCH_NAME: building the $arch rootfs with debootstrap (once; cached in $cache)" >&2
    rm -rf "$root.tmp"
    if ! debootstrap --foreign --variant=minbase --arch="$arch" "$suite" "$root.tmp" "$mirror" >"$log" 2>&1; then
      rm -rf "$root.tmp"
      bench_skip "debootstrap $arch from '$mirror' failed (no network?): $(tail -n 1 "$log")"
    fi
    mv "$root.tmp" "$root"
  fi
  # a plain tar as a layer builder writes one: numeric owners, stable order
  tar --numeric-owner --sort=name -C "$root" -cf - . | gzip -n >"$cache/layer-$arch.tar.gz.tmp" ||
    bench_die "cannot tar and gzip '$root'"
  mv "$cache/layer-$arch.tar.gz.tmp" "$cache/layer-$arch.tar.gz"
  rm -rf "$root"
}

# put_blob FILE: moves FILE into the layout's blobs; prints "sha256:HEX SIZE".
put_blob() {
  local hex size
  hex=$(sha256sum "$1" | cut -d' ' -f1)
  size=$(stat -c %s "$1")
  mv -f "$1" "$layout.tmp/blobs/sha256/$hex"
  echo "sha256:$hex $size"
}

# make_layout: the OCI layout, index.json -> one manifest per platform (the shape
# buildx writes with --output type=oci, minus the nested index).
make_layout() {
  [ -s "$layout/index.json" ] && return 0
  local arch ld ls diff cd cs md ms descs=()
  rm -rf "$layout.tmp"
  mkdir -p "$layout.tmp/blobs/sha256"
  echo '{"imageLayoutVersion": "1.0.0"}' >"$layout.tmp/oci-layout"
  for arch in "${arches[@]}"; do
    diff=sha256:$(gzip -dc "$cache/layer-$arch.tar.gz" | sha256sum | cut -d' ' -f1)
    # a hard link keeps one copy on disk; put_blob renames the link
    ln -f "$cache/layer-$arch.tar.gz" "$layout.tmp/layer" 2>/dev/null ||
      cp "$cache/layer-$arch.tar.gz" "$layout.tmp/layer"
    read -r ld ls < <(put_blob "$layout.tmp/layer")
    jq -nc --arg a "$arch" --arg d "$diff" '{architecture: $a, os: "linux",
      config: {Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
      rootfs: {type: "layers", diff_ids: [$d]}}' >"$layout.tmp/config"
    read -r cd cs < <(put_blob "$layout.tmp/config")
    jq -nc --arg ld "$ld" --argjson ls "$ls" --arg cd "$cd" --argjson cs "$cs" '{schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $cd, size: $cs},
      layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $ld, size: $ls}]}' \
      >"$layout.tmp/manifest"
    read -r md ms < <(put_blob "$layout.tmp/manifest")
    descs+=("$(jq -nc --arg d "$md" --argjson s "$ms" --arg a "$arch" --arg t "$tag" '{
      mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $d, size: $s,
      annotations: {"org.opencontainers.image.ref.name": $t},
      platform: {architecture: $a, os: "linux"}}')")
  done
  printf '%s\n' "${descs[@]}" | jq -sc '{schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json", manifests: .}' >"$layout.tmp/index.json" ||
    bench_die "cannot write the index"
  rm -rf "$layout"
  mv "$layout.tmp" "$layout"
}

bench_minbase() {
  mkdir -p "$cache" || bench_skip "cannot make the cache dir '$cache'"
  if [ ! -s "$layout/index.json" ]; then
    for arch in "${arches[@]}"; do make_layer "$arch"; done
    make_layout
  fi
  mapfile -t blobs < <(jq -r '.manifests[].digest' "$layout/index.json" |
    while read -r m; do jq -r '.layers[].digest' "$layout/blobs/sha256/${m#sha256:}"; done |
    sed "s|^sha256:|$layout/blobs/sha256/|")
  [ "${#blobs[@]}" -eq "${#arches[@]}" ] || bench_die "the cached layout '$layout' does not hold one layer per platform (remove it to rebuild)"
  compressed=0
  for b in "${blobs[@]}"; do compressed=$((compressed + $(stat -c %s "$b"))); done
}
