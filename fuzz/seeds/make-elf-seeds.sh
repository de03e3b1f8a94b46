#!/bin/sh
# Generate seeds for fuzz/fuzz_elf.c into fuzz/seeds/fuzz_elf/ (nothing binary is
# committed): tiny freestanding programs and objects for several architectures, built by
# clang + ld.lld, and the head of a host binary. Each seed starts with the two control
# bytes fuzz_elf reads (size mode, chunk seed).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=$here/fuzz_elf
CLANG=${CLANG:-$(command -v clang-14 || command -v clang)}
LLD=${LLD:-$(command -v ld.lld-14 || command -v ld.lld)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"

seed() { # name file [mode]
	{ printf "\\$(printf %03o "${3:-0}")\\007"; cat "$2"; } > "$out/$1"
}

cat > "$tmp/s.c" <<'C'
static const char go[] __attribute__((section(".go.buildinfo"), aligned(16), used)) =
	"\xff Go buildinf:\x08\x02\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
	"\x08go1.22.1\x1c" "build\tGOARCH=arm\nbuild\tGOARM=7\n";
void _start(void) { for (;;) ; }
C
for t in x86_64-linux-gnu aarch64-linux-gnu armv7a-linux-gnueabihf armv5te-linux-gnueabi \
	 powerpc64le-linux-gnu riscv64-linux-gnu mips64el-linux-gnuabi64 i386-linux-gnu; do
	"$CLANG" --target=$t -O1 -ffreestanding -fno-pic -c "$tmp/s.c" -o "$tmp/$t.o" 2>/dev/null || continue
	seed "obj-$t" "$tmp/$t.o"
	if "$LLD" -static -e _start --build-id=none "$tmp/$t.o" -o "$tmp/$t" 2>/dev/null; then
		seed "exe-$t" "$tmp/$t"
		seed "exe-$t-sparse" "$tmp/$t" 1
	fi
done
for b in /bin/true /bin/ls; do
	[ -r "$b" ] || continue
	head -c 8192 "$b" > "$tmp/head"
	seed "head-$(basename "$b")" "$tmp/head" 2
done
echo "seeds in $out: $(ls "$out" | wc -l)"
