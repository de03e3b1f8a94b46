#!/usr/bin/env python3
"""Edit an OCI image layout in place, keeping every descriptor consistent,
so that a test can damage exactly one thing and nothing else.

  lib-oci.py layer DIR ARCH [N]
      prints the path of layer N (default 0) of the ARCH variant's blob
  lib-oci.py set-layer DIR ARCH FILE [--index N | --append]
                 [--media-type MT] [--size SIZE] [--pad-zeros N]
      stores FILE as a blob and makes it layer N of the ARCH variant (or a new
      last layer), with its real digest and size (or SIZE, to lie), and
      rewrites the config (diff_ids), manifest and indexes above it; without
      --media-type, an OCI layer type is set to match FILE's compression (tar,
      tar+gzip, tar+zstd), so that an honest layer stays honest;
      --pad-zeros appends N zero bytes to the blob (a sparse file on disk, so
      gigabytes cost nothing but hashing them)
  lib-oci.py misname-layer DIR ARCH [N]
      moves layer N (default 0) of the ARCH variant to a blob named by its
      digest with the last hex digit changed, and points the descriptor there:
      a blob whose real digest differs from its name in one digit only
  lib-oci.py descriptor DIR ARCH [--annotate KEY=VALUE] [--platform OS/ARCH]
      edits the index descriptor of the ARCH variant (an annotation, another
      platform) and rewrites the indexes above it
  lib-oci.py tar OUT [--gnu] ENTRY...
      writes an uncompressed tar (PAX, or GNU with --gnu: long names and link
      targets then take ././@LongLink headers); ENTRY is one of
        file:NAME=TEXT     a regular file
        from:NAME=PATH     a regular file holding PATH's bytes
        link:NAME=TARGET   a symlink
        hardlink:NAME=TARGET  a hard link to TARGET (a path in the image)
        pax:NAME=PATH      a regular file named NAME whose PAX 'path' is PATH
        dir:NAME           a directory
        mode:NAME=OCTAL,PATH  a regular file holding PATH's bytes with mode OCTAL
                           (04755: setuid), owned by uid 0 and gid 0
        cap:NAME=PATH      a regular file holding PATH's bytes with a file
                           capability (PAX SCHILY.xattr.security.capability:
                           cap_sys_admin, cap_setuid, permitted and effective)
        chardev:NAME=MAJOR,MINOR  a character device node (1,1 is /dev/mem)
        blockdev:NAME=MAJOR,MINOR a block device node
        fifo:NAME          a FIFO
  lib-oci.py config DIR ARCH [--entrypoint JSON] [--cmd JSON] [--env JSON] [--workdir JSON]
      sets the ARCH variant's config Entrypoint or Cmd (a JSON array, or null to
      remove it) and rewrites the manifest and indexes above it
  lib-oci.py elf KIND OUT [PHNUM]
      writes a crafted ELF file: 'aarch64-dynamic' (a tiny AArch64 executable
      whose PT_INTERP is /lib/ld-linux-aarch64.so.1), 'bad-phoff' (a valid
      AArch64 header with e_phoff past the end and e_phnum PHNUM, 65535 unless
      given), 'magic' (the four bytes \x7fELF alone), or one of ELF_KINDS
      below (OSABI, ARM Tag_CPU_arch, loaders of another class or endianness,
      a PT_INTERP ending in '/', e_phentsize 0)
  lib-oci.py gzip-bomb OUT MIB [NAME]
      writes a gzip'd tar holding one file NAME ('zeros') of MIB MiB of zeros, in
      well under a second: one compressed block of zeros is repeated
  lib-oci.py make OUT PLATFORM=FILE[,FILE...]...
      writes a new OCI layout at OUT: one variant per PLATFORM (os/arch[/variant])
      whose layers are the FILEs, bottom first, under one index
  lib-oci.py repeat-layer DIR ARCH N
      makes the ARCH variant's manifest list its layer 0 N times (layer descriptors
      without a media type, to keep the manifest under 4 MiB)
  lib-oci.py repeat-manifest DIR ARCH N
      makes index.json list the ARCH variant's manifest N times, flat
  lib-oci.py docker-dup-layer IN OUT
      copies docker-archive IN (skopeo's form, one layer) to OUT with a second
      layer file that claims the first one's diff_id but holds other bytes

ARCH is the 'architecture' of the platform in the index (arm64, amd64...).
Old blobs are left in place; nothing else in DIR changes.
"""
import gzip
import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import tarfile
import zlib

OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")


def blob_path(top, digest):
    algo, hexd = digest.split(":", 1)
    return os.path.join(top, "blobs", algo, hexd)


def put_blob(top, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = blob_path(top, digest)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return digest, len(data)


def put_padded_blob(top, data, pad):
    """data then pad zero bytes, written as a sparse file."""
    h = hashlib.sha256(data)
    chunk = bytes(1 << 20)
    left = pad
    while left:
        n = min(left, len(chunk))
        h.update(chunk[:n])
        left -= n
    digest = "sha256:" + h.hexdigest()
    path = blob_path(top, digest)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
        f.truncate(len(data) + pad)
    return digest, len(data) + pad


def load_json(top, digest):
    with open(blob_path(top, digest), "rb") as f:
        return json.load(f)


def dump(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def find_manifest(top, index, arch, path=()):
    """Returns the chain of (document, descriptor) from the top index down
    to the ARCH manifest's descriptor."""
    for i, desc in enumerate(index.get("manifests", [])):
        if desc.get("mediaType") in INDEX_TYPES:
            sub = load_json(top, desc["digest"])
            found = find_manifest(top, sub, arch, path + ((index, i),))
            if found:
                return found
        elif desc.get("platform", {}).get("architecture") == arch:
            return path + ((index, i),)
    return None


def rewrite_chain(top, chain, new_doc):
    """Stores new_doc as the blob the last descriptor in chain points at and
    rewrites each index above it; the top index goes to index.json."""
    data = dump(new_doc)
    for doc, i in reversed(chain):
        digest, size = put_blob(top, data)
        doc["manifests"][i]["digest"] = digest
        doc["manifests"][i]["size"] = size
        data = dump(doc)
    with open(os.path.join(top, "index.json"), "wb") as f:
        f.write(data)


def uncompressed_digest(data):
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError):
            return None
    elif data[:4] == b"\x28\xb5\x2f\xfd":
        r = subprocess.run(["zstd", "-dc"], input=data, capture_output=True)
        if r.returncode != 0:
            return None
        data = r.stdout
    return "sha256:" + hashlib.sha256(data).hexdigest()


def cmd_layer(top, arch, n=0):
    index = json.load(open(os.path.join(top, "index.json")))
    chain = find_manifest(top, index, arch)
    if not chain:
        sys.exit("lib-oci: no variant '%s'" % arch)
    doc, i = chain[-1]
    manifest = load_json(top, doc["manifests"][i]["digest"])
    print(blob_path(top, manifest["layers"][int(n)]["digest"]))


def cmd_set_layer(top, arch, file, *opts):
    opts = list(opts)
    where, media_type, size, pad = 0, None, None, 0
    while opts:
        o = opts.pop(0)
        if o == "--index":
            where = int(opts.pop(0))
        elif o == "--append":
            where = None
        elif o == "--media-type":
            media_type = opts.pop(0)
        elif o == "--size":
            size = int(opts.pop(0))
        elif o == "--pad-zeros":
            pad = int(opts.pop(0))
        else:
            sys.exit("lib-oci: unknown option '%s'" % o)
    with open(file, "rb") as f:
        data = f.read()
    if pad:
        digest, real_size = put_padded_blob(top, data, pad)
    else:
        digest, real_size = put_blob(top, data)
    index = json.load(open(os.path.join(top, "index.json")))
    chain = find_manifest(top, index, arch)
    if not chain:
        sys.exit("lib-oci: no variant '%s'" % arch)
    doc, i = chain[-1]
    manifest = load_json(top, doc["manifests"][i]["digest"])
    config = load_json(top, manifest["config"]["digest"])
    layers = manifest["layers"]
    diff_ids = config.setdefault("rootfs", {"type": "layers"}).setdefault("diff_ids", [])
    diff_id = uncompressed_digest(data) or digest
    if where is None:
        layers.append(dict(layers[-1]))
        diff_ids.append(diff_id)
        where = len(layers) - 1
    elif where < len(diff_ids):
        diff_ids[where] = diff_id
    layers[where]["digest"] = digest
    layers[where]["size"] = real_size if size is None else size
    if media_type is None and layers[where].get("mediaType", "").startswith(OCI_LAYER):
        media_type = OCI_LAYER + ("+gzip" if data[:2] == b"\x1f\x8b" else
                                  "+zstd" if data[:4] == b"\x28\xb5\x2f\xfd" else "")
    if media_type:
        layers[where]["mediaType"] = media_type
    cdigest, csize = put_blob(top, dump(config))
    manifest["config"]["digest"] = cdigest
    manifest["config"]["size"] = csize
    rewrite_chain(top, chain, manifest)


def cmd_misname_layer(top, arch, n=0):
    index = json.load(open(os.path.join(top, "index.json")))
    chain = find_manifest(top, index, arch)
    if not chain:
        sys.exit("lib-oci: no variant '%s'" % arch)
    doc, i = chain[-1]
    manifest = load_json(top, doc["manifests"][i]["digest"])
    layer = manifest["layers"][int(n)]
    old = layer["digest"]
    last = "0" if old[-1] != "0" else "1"
    new = old[:-1] + last
    os.rename(blob_path(top, old), blob_path(top, new))
    layer["digest"] = new
    rewrite_chain(top, chain, manifest)
    print(blob_path(top, new))


def cmd_descriptor(top, arch, *opts):
    opts = list(opts)
    index = json.load(open(os.path.join(top, "index.json")))
    chain = find_manifest(top, index, arch)
    if not chain:
        sys.exit("lib-oci: no variant '%s'" % arch)
    doc, i = chain[-1]
    desc = doc["manifests"][i]
    while opts:
        o = opts.pop(0)
        if o == "--annotate":
            k, _, v = opts.pop(0).partition("=")
            desc.setdefault("annotations", {})[k] = v
        elif o == "--platform":
            os_, _, a = opts.pop(0).partition("/")
            desc["platform"] = {"os": os_, "architecture": a}
        else:
            sys.exit("lib-oci: unknown option '%s'" % o)
    if len(chain) == 1:
        with open(os.path.join(top, "index.json"), "wb") as f:
            f.write(dump(doc))
    else:
        rewrite_chain(top, chain[:-1], doc)


def cmd_tar(out, *entries):
    fmt = tarfile.PAX_FORMAT
    if entries and entries[0] == "--gnu":
        fmt, entries = tarfile.GNU_FORMAT, entries[1:]
    with tarfile.open(out, "w", format=fmt) as tar:
        for e in entries:
            kind, _, rest = e.partition(":")
            name, _, value = rest.partition("=")
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            body = None
            if kind in ("file", "from", "pax"):
                if kind == "from":
                    with open(value, "rb") as f:
                        body = f.read()
                else:
                    body = value.encode() if kind == "file" else b"x\n"
                info.size = len(body)
                info.mode = 0o755
                if kind == "pax":
                    info.pax_headers = {"path": value}
            elif kind == "link":
                info.type = tarfile.SYMTYPE
                info.linkname = value
            elif kind == "hardlink":
                info.type = tarfile.LNKTYPE
                info.linkname = value
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
            elif kind in ("mode", "cap"):
                path = value
                if kind == "mode":
                    mode, _, path = value.partition(",")
                    info.mode = int(mode, 8)
                else:
                    info.mode = 0o755
                    info.pax_headers = {"SCHILY.xattr.security.capability":
                                        file_capability().decode("utf-8", "surrogateescape")}
                with open(path, "rb") as f:
                    body = f.read()
                info.size = len(body)
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
            elif kind in ("chardev", "blockdev"):
                info.type = tarfile.CHRTYPE if kind == "chardev" else tarfile.BLKTYPE
                major, _, minor = value.partition(",")
                info.devmajor, info.devminor = int(major), int(minor)
                info.mode = 0o666
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
                info.mode = 0o666
            else:
                sys.exit("lib-oci: unknown tar entry '%s'" % e)
            tar.addfile(info, io.BytesIO(body) if body is not None else None)


def file_capability():
    """A VFS_CAP_REVISION_2 security.capability value: cap_setuid (7) and
    cap_sys_admin (21) permitted, with the effective bit set."""
    permitted = (1 << 7) | (1 << 21)
    return struct.pack("<IIIII", 0x02000000 | 1, permitted, 0, 0, 0)


def cmd_config(top, arch, *opts):
    opts = list(opts)
    index = json.load(open(os.path.join(top, "index.json")))
    chain = find_manifest(top, index, arch)
    if not chain:
        sys.exit("lib-oci: no variant '%s'" % arch)
    doc, i = chain[-1]
    manifest = load_json(top, doc["manifests"][i]["digest"])
    config = load_json(top, manifest["config"]["digest"])
    run = config.setdefault("config", {})
    while opts:
        o = opts.pop(0)
        keys = {"--entrypoint": "Entrypoint", "--cmd": "Cmd", "--env": "Env",
                "--workdir": "WorkingDir"}
        if o not in keys:
            sys.exit("lib-oci: unknown option '%s'" % o)
        key = keys[o]
        value = json.loads(opts.pop(0))
        if value is None:
            run.pop(key, None)
        else:
            run[key] = value
    cdigest, csize = put_blob(top, dump(config))
    manifest["config"]["digest"] = cdigest
    manifest["config"]["size"] = csize
    rewrite_chain(top, chain, manifest)


def elf64_aarch64(phoff, phnum, phdrs=b"", tail=b""):
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    # e_type ET_EXEC, e_machine EM_AARCH64, e_version, e_entry, e_phoff,
    # e_shoff, e_flags, e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx
    header = ident + struct.pack("<HHIQQQIHHHHHH", 2, 183, 1, 0x400000, phoff, 0, 0, 64, 56,
                                 phnum, 64, 0, 0)
    return header + phdrs + tail


def cmd_gzip_bomb(out, mib, name="zeros"):
    mib = int(mib)
    header = tarfile.TarInfo(name)
    header.size = mib << 20
    header.mtime = 1700000000
    head = header.tobuf(format=tarfile.GNU_FORMAT)
    chunk = bytes(1 << 20)
    # after a full flush the compressor starts afresh, so each 1 MiB of zeros
    # compresses to the same bytes: compress it once, repeat it
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    first = c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(head)
    for _ in range(mib):
        crc = zlib.crc32(chunk, crc)
    total = len(head) + (mib << 20)
    # the end: 1024 zero bytes of tar end-of-archive, a final block, the trailer
    crc = zlib.crc32(bytes(1024), crc)
    total += 1024
    d = zlib.compressobj(9, zlib.DEFLATED, -15)
    tail = d.compress(bytes(1024)) + d.flush(zlib.Z_FINISH)
    with open(out, "wb") as f:
        f.write(first)
        for _ in range(mib):
            f.write(block)
        f.write(tail + struct.pack("<II", crc, total & 0xffffffff))


def elf_file(cls64, le, machine, etype=2, interp=None, osabi=0, flags=0, arm_cpu_arch=None,
             phentsize=None):
    """A small ELF file: header, program headers (PT_INTERP when interp is given,
    then one PT_LOAD over the file), the interpreter path, and with arm_cpu_arch
    a .ARM.attributes section (Tag_CPU_arch, ULEB128) with its section headers."""
    e = "<" if le else ">"
    addr = "Q" if cls64 else "I"
    ehsize, phsize, shsize = (64, 56, 64) if cls64 else (52, 32, 40)
    interp_b = interp.encode() + b"\0" if interp is not None else b""
    nph = 2 if interp is not None else 1
    body_off = ehsize + nph * phsize
    body = interp_b
    attrs_off = attrs = None
    if arm_cpu_arch is not None:
        v, tag = arm_cpu_arch, b""
        while True:
            tag += bytes([(v & 0x7f) | (0x80 if v > 0x7f else 0)])
            v >>= 7
            if not v:
                break
        file_attrs = b"\x06" + tag  # Tag_CPU_arch
        sub = b"aeabi\0" + b"\x01" + struct.pack("<I", 5 + len(file_attrs)) + file_attrs
        attrs = b"A" + struct.pack("<I", 4 + len(sub)) + sub
        attrs_off = body_off + len(body)
        body += attrs
    shstrtab = b"\0.shstrtab\0.ARM.attributes\0"
    shdrs = b""
    shoff = shnum = shstrndx = 0
    if attrs is not None:
        strtab_off = body_off + len(body)
        body += shstrtab
        pad = (-(body_off + len(body))) % 8
        body += bytes(pad)
        shoff = body_off + len(body)

        def shdr(name, typ, off, size):
            if cls64:
                return struct.pack(e + "IIQQQQIIQQ", name, typ, 0, 0, off, size, 0, 0, 1, 0)
            return struct.pack(e + "IIIIIIIIII", name, typ, 0, 0, off, size, 0, 0, 1, 0)
        shdrs = (shdr(0, 0, 0, 0) + shdr(1, 3, strtab_off, len(shstrtab)) +
                 shdr(11, 0x70000003, attrs_off, len(attrs)))
        shnum, shstrndx = 3, 1
    size = body_off + len(body) + len(shdrs)

    def phdr(typ, flags_, off, filesz, align):
        vaddr = 0x400000 + off
        if cls64:
            return struct.pack(e + "IIQQQQQQ", typ, flags_, off, vaddr, vaddr, filesz, filesz,
                               align)
        return struct.pack(e + "IIIIIIII", typ, off, vaddr, vaddr, filesz, filesz, flags_, align)
    ph = b""
    if interp is not None:
        ph += phdr(3, 4, body_off, len(interp_b), 1)
    ph += phdr(1, 5, 0, size, 0x10000)
    ident = b"\x7fELF" + bytes([2 if cls64 else 1, 1 if le else 2, 1, osabi]) + bytes(8)
    header = ident + struct.pack(e + "HHI" + addr * 3 + "IHHHHHH", etype, machine, 1,
                                 0x400000 + body_off, ehsize, shoff, flags, ehsize,
                                 phsize if phentsize is None else int(phentsize), nph, shsize,
                                 shnum, shstrndx)
    return header + ph + body + shdrs


# name: (ELF64, little-endian, e_machine, e_type, PT_INTERP, EI_OSABI, e_flags, Tag_CPU_arch)
ELF_KINDS = {
    # an x86-64 executable marked FreeBSD (EI_OSABI 9): Linux runs it all the same
    "amd64-osabi9": (True, True, 62, 2, None, 9, 0, None),
    # ARMv6K (Tag_CPU_arch 9), hard-float EABI5: what arm/v6 runs
    "arm-v6k": (False, True, 40, 2, None, 0, 0x05000400, 9),
    "arm-cpu-arch-200": (False, True, 40, 2, None, 0, 0x05000400, 200),
    # dynamic executables and the loaders they name
    "mips64le-dynamic": (True, True, 8, 3, "/lib64/ld.so.1", 0, 0x80000007, None),
    "mips64-loader": (True, False, 8, 3, None, 0, 0x80000007, None),
    "amd64-x32-loader-user": (True, True, 62, 3, "/libx32/ld-linux-x32.so.2", 0, 0, None),
    "x32-loader": (False, True, 62, 3, None, 0, 0, None),
    "aarch64-interp-slash": (True, True, 183, 3, "/lib/ld-linux-aarch64.so.1/", 0, 0, None),
    "aarch64-phentsize0": (True, True, 183, 2, None, 0, 0, None),
}


def cmd_elf(kind, out, phnum=65535):
    if kind == "aarch64-dynamic":
        interp = b"/lib/ld-linux-aarch64.so.1\0"
        phoff = 64
        interp_off = phoff + 2 * 56
        size = interp_off + len(interp)
        # PT_INTERP, then one PT_LOAD covering the file
        ph = struct.pack("<IIQQQQQQ", 3, 4, interp_off, 0x400000 + interp_off,
                         0x400000 + interp_off, len(interp), len(interp), 1)
        ph += struct.pack("<IIQQQQQQ", 1, 5, 0, 0x400000, 0x400000, size, size, 0x10000)
        data = elf64_aarch64(phoff, 2, ph, interp)
    elif kind == "bad-phoff":
        data = elf64_aarch64(0x7fffffff00, int(phnum), tail=bytes(64))
    elif kind == "magic":
        data = b"\x7fELF"
    elif kind in ELF_KINDS:
        cls64, le, machine, etype, interp, osabi, flags, cpu_arch = ELF_KINDS[kind]
        data = elf_file(cls64, le, machine, etype, interp, osabi, flags, cpu_arch,
                        phentsize=0 if kind.endswith("phentsize0") else None)
    else:
        sys.exit("lib-oci: unknown elf kind '%s'" % kind)
    with open(out, "wb") as f:
        f.write(data)


def platform_json(name):
    parts = name.split("/")
    p = {"os": parts[0], "architecture": parts[1]}
    if len(parts) > 2:
        p["variant"] = parts[2]
    return p


def cmd_make(out, *specs):
    os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)
    manifests = []
    for spec in specs:
        name, _, files = spec.partition("=")
        layers, diff_ids = [], []
        for file in files.split(","):
            with open(file, "rb") as f:
                data = f.read()
            digest, size = put_blob(out, data)
            mt = "application/vnd.oci.image.layer.v1.tar"
            if data[:2] == b"\x1f\x8b":
                mt += "+gzip"
            layers.append({"mediaType": mt, "digest": digest, "size": size})
            diff_ids.append(uncompressed_digest(data) or digest)
        plat = platform_json(name)
        config = dict(plat, rootfs={"type": "layers", "diff_ids": diff_ids})
        cdigest, csize = put_blob(out, dump(config))
        manifest = {"schemaVersion": 2,
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                               "digest": cdigest, "size": csize},
                    "layers": layers}
        mdigest, msize = put_blob(out, dump(manifest))
        manifests.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "digest": mdigest, "size": msize, "platform": plat})
    index = {"schemaVersion": 2, "mediaType": INDEX_TYPES[0], "manifests": manifests}
    with open(os.path.join(out, "index.json"), "wb") as f:
        f.write(dump(index))
    with open(os.path.join(out, "oci-layout"), "wb") as f:
        f.write(b'{"imageLayoutVersion":"1.0.0"}')


def cmd_repeat_layer(top, arch, n):
    index = json.load(open(os.path.join(top, "index.json")))
    chain = find_manifest(top, index, arch)
    if not chain:
        sys.exit("lib-oci: no variant '%s'" % arch)
    doc, i = chain[-1]
    manifest = load_json(top, doc["manifests"][i]["digest"])
    config = load_json(top, manifest["config"]["digest"])
    layer = {"digest": manifest["layers"][0]["digest"], "size": manifest["layers"][0]["size"]}
    manifest["layers"] = [layer] * int(n)
    config["rootfs"]["diff_ids"] = config["rootfs"]["diff_ids"][:1] * int(n)
    cdigest, csize = put_blob(top, dump(config))
    manifest["config"]["digest"] = cdigest
    manifest["config"]["size"] = csize
    rewrite_chain(top, chain, manifest)


def cmd_repeat_manifest(top, arch, n):
    index = json.load(open(os.path.join(top, "index.json")))
    chain = find_manifest(top, index, arch)
    if not chain:
        sys.exit("lib-oci: no variant '%s'" % arch)
    doc, i = chain[-1]
    desc = dict(doc["manifests"][i])
    if "platform" not in desc:
        desc["platform"] = {"os": "linux", "architecture": arch}
    flat = {"schemaVersion": 2, "mediaType": INDEX_TYPES[0], "manifests": [desc] * int(n)}
    with open(os.path.join(top, "index.json"), "wb") as f:
        f.write(dump(flat))


def cmd_docker_dup_layer(src, out):
    with tarfile.open(src) as s:
        files = {m.name: s.extractfile(m).read() for m in s.getmembers() if m.isfile()}
    manifest = json.loads(files["manifest.json"])
    entry = manifest[0]
    config = json.loads(files[entry["Config"]])
    first = files[entry["Layers"][0]]
    # the same tar with one byte of its first member's name changed: other bytes, and
    # still a tar a scanner would read happily
    second = bytearray(first)
    second[0] = ord("x") if second[0] != ord("x") else ord("y")
    second[148:156] = b"%06o\0 " % (sum(second[:148]) + 8 * 32 + sum(second[156:512]))
    name2 = hashlib.sha256(second).hexdigest() + ".tar"
    files[name2] = bytes(second)
    entry["Layers"].append(name2)
    config["rootfs"]["diff_ids"].append(config["rootfs"]["diff_ids"][0])
    cdata = dump(config)
    del files[entry["Config"]]
    entry["Config"] = hashlib.sha256(cdata).hexdigest() + ".json"
    files[entry["Config"]] = cdata
    files["manifest.json"] = dump(manifest)
    with tarfile.open(out, "w") as d:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            d.addfile(info, io.BytesIO(data))


def main(argv):
    cmds = {"layer": cmd_layer, "set-layer": cmd_set_layer, "tar": cmd_tar, "elf": cmd_elf,
            "gzip-bomb": cmd_gzip_bomb, "misname-layer": cmd_misname_layer,
            "descriptor": cmd_descriptor, "make": cmd_make, "repeat-layer": cmd_repeat_layer,
            "repeat-manifest": cmd_repeat_manifest, "docker-dup-layer": cmd_docker_dup_layer,
            "config": cmd_config}
    if len(argv) < 2 or argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[argv[1]](*argv[2:])


if __name__ == "__main__":
    main(sys.argv)
