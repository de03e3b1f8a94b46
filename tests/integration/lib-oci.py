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
  lib-oci.py tar OUT [--gnu] ENTRY...
      writes an uncompressed tar (PAX, or GNU with --gnu: long names and link
      targets then take ././@LongLink headers); ENTRY is one of
        file:NAME=TEXT     a regular file
        from:NAME=PATH     a regular file holding PATH's bytes
        link:NAME=TARGET   a symlink
        pax:NAME=PATH      a regular file named NAME whose PAX 'path' is PATH
        dir:NAME           a directory
  lib-oci.py elf KIND OUT [PHNUM]
      writes a crafted ELF file: 'aarch64-dynamic' (a tiny AArch64 executable
      whose PT_INTERP is /lib/ld-linux-aarch64.so.1) or 'bad-phoff' (a valid
      AArch64 header with e_phoff past the end and e_phnum PHNUM, 65535 unless
      given)
  lib-oci.py gzip-bomb OUT MIB [NAME]
      writes a gzip'd tar holding one file NAME ('zeros') of MIB MiB of zeros, in
      well under a second: one compressed block of zeros is repeated

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
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
            else:
                sys.exit("lib-oci: unknown tar entry '%s'" % e)
            tar.addfile(info, io.BytesIO(body) if body is not None else None)


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
    else:
        sys.exit("lib-oci: unknown elf kind '%s'" % kind)
    with open(out, "wb") as f:
        f.write(data)


def main(argv):
    cmds = {"layer": cmd_layer, "set-layer": cmd_set_layer, "tar": cmd_tar, "elf": cmd_elf,
            "gzip-bomb": cmd_gzip_bomb}
    if len(argv) < 2 or argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[argv[1]](*argv[2:])


if __name__ == "__main__":
    main(sys.argv)
