#!/bin/sh
# Generate seeds for fuzz_layer into fuzz/seeds/fuzz_layer/ (binary seeds are never
# committed). Each seed is one option byte (bit 0: buildx prefix linux_arm_v7/, bit 1:
# literal whiteouts) followed by a layer: plain tar, gzip, two gzip members, zstd, two
# zstd frames, with whiteouts, opaque dirs, hard links, symlinks and a pax header.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/fuzz_layer}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

root=$work/root
mkdir -p "$root/etc" "$root/usr/lib" "$root/lib64" "$root/var/cache" "$root/opt"
printf 'box\n' > "$root/etc/hostname"
printf '\177ELF\002\001\001' > "$root/usr/lib/ld.so"
ln "$root/usr/lib/ld.so" "$root/usr/lib/ld-hard.so"
ln -s usr/lib "$root/lib"
ln -s /lib/ld.so "$root/lib64/ld-linux.so"
ln -s loop2 "$root/loop1"
ln -s /loop1 "$root/loop2"
: > "$root/etc/.wh.motd"
: > "$root/var/cache/.wh..wh..opq"
long=$(printf 'd%.0s' $(seq 1 120))
mkdir -p "$root/opt/$long"
printf 'pax' > "$root/opt/$long/file"

tar --format=pax -C "$root" -cf "$work/layer.tar" .
mkdir -p "$work/sub/linux_arm_v7"
cp -a "$root/." "$work/sub/linux_arm_v7/"
tar --format=gnu -C "$work/sub" -cf "$work/buildx.tar" .

seed() { # name flags file
	{ printf "\\$(printf '%03o' "$2")"; cat "$3"; } > "$out/$1"
}
seed plain 0 "$work/layer.tar"
gzip -9c "$work/layer.tar" > "$work/l.gz"; seed gzip 0 "$work/l.gz"
head -c 1500 "$work/layer.tar" | gzip -c > "$work/m.gz"
tail -c +1501 "$work/layer.tar" | gzip -c >> "$work/m.gz"; seed gzip-members 0 "$work/m.gz"
zstd -q -c "$work/layer.tar" > "$work/l.zst"; seed zstd 0 "$work/l.zst"
head -c 1500 "$work/layer.tar" | zstd -q -c > "$work/m.zst"
tail -c +1501 "$work/layer.tar" | zstd -q -c >> "$work/m.zst"; seed zstd-frames 0 "$work/m.zst"
head -c 700 "$work/l.gz" > "$work/t.gz"; seed gzip-truncated 0 "$work/t.gz"
seed buildx-tar 3 "$work/buildx.tar"
xz -c "$work/layer.tar" > "$work/l.xz"; seed xz 0 "$work/l.xz"
echo "seeds in $out: $(ls "$out" | wc -l)"
