#!/bin/sh
# Generate seeds for fuzz/fuzz_image.c into fuzz/seeds/fuzz_image/ (binary seeds are
# never committed). Each seed is an uncompressed tar of a small, consistent OCI layout:
# a two-platform index with an attestation, nested indexes, gzip and plain layers,
# whiteouts, opaque dirs, symlinks, hard links, dynamic ELF files with loaders, and a
# wrong-machine binary, so the fuzzer starts from images read all the way through.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/fuzz_image}
mkdir -p "$out"
python3 - "$out" <<'PY'
import gzip, hashlib, io, json, struct, sys, tarfile

out = sys.argv[1]

def elf(machine, cls=2, data=1, interp=None, osabi=0):
    """A tiny ELF executable: header, PT_LOAD, optional PT_INTERP."""
    end = "<" if data == 1 else ">"
    interp_b = interp.encode() + b"\0" if interp else b""
    if cls == 2:
        ehsz, phsz = 64, 56
    else:
        ehsz, phsz = 52, 32
    phnum = 2 if interp else 1
    body_off = ehsz + phsz * phnum
    ident = b"\x7fELF" + bytes([cls, data, 1, osabi]) + b"\0" * 8
    if cls == 2:
        hdr = ident + struct.pack(end + "HHIQQQIHHHHHH", 2, machine, 1, 0x400000 + body_off,
                                  ehsz, 0, 0, ehsz, phsz, phnum, 64, 0, 0)
    else:
        hdr = ident + struct.pack(end + "HHIIIIIHHHHHH", 2, machine, 1, 0x10000 + body_off,
                                  ehsz, 0, 0x5000400 if machine == 40 else 0, ehsz, phsz,
                                  phnum, 40, 0, 0)
    ph = b""
    total = body_off + len(interp_b) + 16
    if interp:
        if cls == 2:
            ph += struct.pack(end + "IIQQQQQQ", 3, 4, body_off, body_off, body_off,
                              len(interp_b), len(interp_b), 1)
        else:
            ph += struct.pack(end + "IIIIIIII", 3, body_off, body_off, body_off,
                              len(interp_b), len(interp_b), 4, 1)
    if cls == 2:
        ph = struct.pack(end + "IIQQQQQQ", 1, 5, 0, 0x400000, 0x400000, total, total,
                         0x1000) + ph
    else:
        ph = struct.pack(end + "IIIIIIII", 1, 0, 0x10000, 0x10000, total, total, 5,
                         0x1000) + ph
    return hdr + ph + interp_b + b"\0" * 16

def tar(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for kind, name, val in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 0
            if kind == "file":
                ti.size = len(val)
                ti.mode = 0o755
                t.addfile(ti, io.BytesIO(val))
            elif kind == "dir":
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
                t.addfile(ti)
            elif kind == "sym":
                ti.type = tarfile.SYMTYPE
                ti.linkname = val
                t.addfile(ti)
            elif kind == "hard":
                ti.type = tarfile.LNKTYPE
                ti.linkname = val
                t.addfile(ti)
    return buf.getvalue()

class Layout:
    def __init__(self):
        self.blobs = {}
    def put(self, data):
        d = "sha256:" + hashlib.sha256(data).hexdigest()
        self.blobs[d] = data
        return d, len(data)
    def doc(self, obj, mt):
        data = json.dumps(obj, sort_keys=True).encode()
        d, n = self.put(data)
        return {"mediaType": mt, "digest": d, "size": n}
    def layer(self, entries, gz=True):
        raw = tar(entries)
        data = gzip.compress(raw, mtime=0) if gz else raw
        mt = "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if gz else "")
        d, n = self.put(data)
        return {"mediaType": mt, "digest": d, "size": n}, "sha256:" + hashlib.sha256(raw).hexdigest()
    def manifest(self, arch, layers, variant=None, osname="linux"):
        descs = [l[0] for l in layers]
        cfg = {"architecture": arch, "os": osname,
               "rootfs": {"type": "layers", "diff_ids": [l[1] for l in layers]}}
        if variant:
            cfg["variant"] = variant
        c = self.doc(cfg, "application/vnd.oci.image.config.v1+json")
        m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
             "config": c, "layers": descs}
        return self.doc(m, "application/vnd.oci.image.manifest.v1+json")
    def write(self, name, root_entries):
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                 "manifests": root_entries}
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
            files = [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
                     ("index.json", json.dumps(index).encode())]
            files += [("blobs/sha256/" + d[7:], b) for d, b in sorted(self.blobs.items())]
            for p, b in files:
                ti = tarfile.TarInfo(p)
                ti.size = len(b)
                t.addfile(ti, io.BytesIO(b))
        open(f"{out}/{name}", "wb").write(buf.getvalue())

def plat(desc, arch, variant=None, osname="linux", ann=None):
    d = dict(desc)
    d["platform"] = {"architecture": arch, "os": osname}
    if variant:
        d["platform"]["variant"] = variant
    if ann:
        d["annotations"] = ann
    return d

EM_X86_64, EM_AARCH64, EM_ARM, EM_386, EM_PPC64, EM_S390 = 62, 183, 40, 3, 21, 22

# 1: amd64 + arm64, dynamic binaries with loaders, an attestation
L = Layout()
base = [("dir", "usr", None), ("dir", "usr/lib", None), ("sym", "lib", "usr/lib"),
        ("dir", "usr/bin", None)]
a = L.layer(base + [("file", "usr/lib/ld-linux-x86-64.so.2", elf(EM_X86_64)),
                    ("file", "usr/bin/tool", elf(EM_X86_64, interp="/lib/ld-linux-x86-64.so.2")),
                    ("hard", "usr/bin/tool2", "usr/bin/tool")])
b = L.layer(base + [("file", "usr/lib/ld-linux-aarch64.so.1", elf(EM_AARCH64)),
                    ("file", "usr/bin/tool", elf(EM_AARCH64, interp="/lib/ld-linux-aarch64.so.1"))])
att = L.layer([("file", "sbom.json", b"{}")], gz=False)
ma, mb = L.manifest("amd64", [a]), L.manifest("arm64", [b])
mt = L.manifest("unknown", [att], osname="unknown")
L.write("two-platforms", [plat(ma, "amd64"), plat(mb, "arm64"),
    plat(mt, "unknown", osname="unknown",
         ann={"vnd.docker.reference.type": "attestation-manifest",
              "vnd.docker.reference.digest": mb["digest"]})])

# 2: arm64 with a stray amd64 binary removed by a whiteout, an opaque dir, plain layer
L = Layout()
l1 = L.layer([("dir", "opt", None), ("dir", "opt/stray", None),
              ("file", "opt/stray/bin", elf(EM_X86_64)), ("file", "opt/keep", elf(EM_X86_64)),
              ("dir", "etc", None), ("file", "etc/x", elf(EM_X86_64))])
l2 = L.layer([("file", "opt/stray/.wh.bin", b""), ("file", "etc/.wh..wh..opq", b""),
              ("file", "opt/ok", elf(EM_AARCH64)), ("sym", "bin", "opt")], gz=False)
m = L.manifest("arm64", [l1, l2])
L.write("whiteouts", [plat(m, "arm64")])

# 3: nested index (as buildx writes it), arm/v7 and 386 and s390x, OSABI and class lies
L = Layout()
v7 = L.manifest("arm", [L.layer([("file", "a", elf(EM_ARM, cls=1)),
                                 ("file", "b", elf(EM_AARCH64, osabi=9))])], variant="v7")
i386 = L.manifest("386", [L.layer([("file", "x", elf(EM_386, cls=1)),
                                    ("file", "y", elf(EM_X86_64, cls=1))])])
s390 = L.manifest("s390x", [L.layer([("file", "z", elf(EM_S390, data=2)),
                                      ("file", "w", elf(EM_PPC64, data=2))])])
inner = L.doc({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
               "manifests": [plat(v7, "arm", "v7"), plat(i386, "386"), plat(s390, "s390x")]},
              "application/vnd.oci.image.index.v1+json")
L.write("nested", [inner])

# 4: two variants sharing one layer (identical layers), a symlinked loader dir
L = Layout()
shared = L.layer([("dir", "lib", None), ("file", "lib/ld.so", elf(EM_AARCH64)),
                  ("sym", "lib64", "lib"),
                  ("file", "app", elf(EM_AARCH64, interp="/lib64/ld.so"))])
m1, m2 = L.manifest("arm64", [shared]), L.manifest("amd64", [shared])
L.write("identical", [plat(m1, "arm64"), plat(m2, "amd64")])
PY
echo "seeds in $out: $(ls "$out" | wc -l)"
