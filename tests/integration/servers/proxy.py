#!/usr/bin/env python3
"""A reverse proxy in front of a real registry (docker-registry on --upstream), that
the tests use to be a registry that does what Debian's does not, or misbehaves:

  --bearer            demand a token from token_service.py (same --secret): a request
                      without a valid one gets 401 and
                      WWW-Authenticate: Bearer realm=...,service=...,scope=repository:REPO:pull
  --redirect-blobs U  answer a blob GET with 307 to U/REPO/blobs/DIGEST?X-Amz-...
                      (blobstore.py there serves the bytes: another host)
  --fault KIND        for a layer blob GET (a body of --fault-min-bytes or more):
                        drop   send half the body, then reset the connection
                        stall  send half the body, then nothing (--stall-seconds at most)
                        429    answer 429 with Retry-After (--retry-after), no body
                        503    answer 503
                      the first --fault-times of them (default: all), then proxy
  --delay-blobs S     wait S seconds before each blob answer (a slow probe)
  --tamper-manifests  a manifest GET by digest gets one byte changed, the size kept
  --wrong-digest-header  a manifest GET by tag gets a Docker-Content-Digest that is
                      not the body's

Manifests, configs and everything else come from the real registry. Every request is
logged as a JSON line: method, path, the kind of Authorization it carried, status, and
the fault applied; never a credential."""

import sys

sys.dont_write_bytecode = True
import hashlib  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import select  # noqa: E402
import socket  # noqa: E402
import struct  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import urllib.parse  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import akserver  # noqa: E402

ROUTE = re.compile(r"^/v2/(.+)/(manifests|blobs|tags)/([^/]+)$")
_fault_lock = threading.Lock()


class ProxyHandler(akserver.Handler):
    def log(self, status, **fields):
        akserver.log_request(self.server.args.log, method=self.command, path=self.path,
                             auth=akserver.auth_kind(self.headers), status=status, **fields)

    def route(self):
        """(repo, kind, ref) of a /v2/ API path, or None."""
        m = ROUTE.match(urllib.parse.urlsplit(self.path).path)
        return m.groups() if m else None

    def challenge(self, repo, error=None):
        a = self.server.args
        c = 'Bearer realm="%s",service="%s"' % (a.realm, a.service)
        if repo:
            c += ',scope="repository:%s:pull"' % repo
        if error:
            c += ',error="%s"' % error
        self.send_error_json(401, "UNAUTHORIZED", "authentication required",
                             {"WWW-Authenticate": c})
        self.log(401, challenge=error or "none")

    def authorized(self, repo):
        """True when the request may go on; else the 401 is sent."""
        a = self.server.args
        if not a.bearer:
            return True
        v = self.headers.get("Authorization", "")
        if not v.startswith("Bearer "):
            self.challenge(repo)
            return False
        claims = akserver.check_token(a.secret, v[7:].strip())
        if claims is None:
            self.challenge(repo, "invalid_token")
            return False
        if claims == "expired":
            self.challenge(repo, "invalid_token")
            return False
        if repo is None:
            return True
        for s in claims.get("scopes", []):
            for one in s.split(" "):
                p = one.split(":")
                if len(p) == 3 and p[0] == "repository" and p[1] == repo and "pull" in p[2].split(","):
                    return True
        self.challenge(repo, "insufficient_scope")
        return False

    def take_fault(self):
        a = self.server.args
        with _fault_lock:
            if a.fault_times >= 0 and self.server.faults >= a.fault_times:
                return False
            self.server.faults += 1
            return True

    def half_then(self, resp, length, what):
        half = max(1, length // 2)
        sent = 0
        while sent < half:
            chunk = resp.read(min(65536, half - sent))
            if not chunk:
                break
            self.wfile.write(chunk)
            sent += len(chunk)
        self.wfile.flush()
        self.close_connection = True
        sock = self.connection
        if what == "stall":
            deadline = time.time() + self.server.args.stall_seconds
            while time.time() < deadline:
                r, _, _ = select.select([sock], [], [], 0.25)
                if r:
                    try:
                        if not sock.recv(4096):
                            break  # the client gave up
                    except OSError:
                        break
        # a reset, not an orderly close: what a dying load balancer sends
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        except OSError:
            pass

    def edit_manifest(self, resp, by_digest):
        a = self.server.args
        body = resp.read()
        headers = {k: v for k, v in resp.getheaders()
                   if k.lower() not in akserver.NOT_RELAYED and k.lower() != "content-type"}
        edit = None
        if by_digest and a.tamper_manifests:
            # one byte changed, the size kept: only the digest can tell
            i = body.find(b'"application/')
            body = body[:i + 1] + b"A" + body[i + 2:] if i >= 0 else body + b"\n"
            edit = "tampered"
        if not by_digest and a.wrong_digest_header:
            headers["Docker-Content-Digest"] = "sha256:" + hashlib.sha256(body + b"x").hexdigest()
            edit = "wrong-digest-header"
        self.send_body(200, body, headers, resp.getheader("Content-Type") or "application/json")
        self.log(200, edit=edit)

    def forward(self):
        a = self.server.args
        r = self.route()
        repo = r[0] if r else None
        if not (self.path == "/v2/" or self.path.startswith("/v2/?") or r):
            self.send_error_json(404, "NOT_FOUND", "no such route")
            self.log(404)
            return
        if not self.authorized(repo):
            return
        blob = r is not None and r[1] == "blobs"
        if blob and a.delay_blobs:
            time.sleep(a.delay_blobs)
        if blob and a.redirect_blobs and self.command == "GET":
            loc = "%s/%s/blobs/%s?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=%s" % (
                a.redirect_blobs, repo, r[2], os.urandom(8).hex())
            self.send_body(307, "", {"Location": loc})
            self.log(307, location=loc)
            return
        headers = [(k, v) for k, v in self.headers.items()
                   if k.lower() not in akserver.NOT_RELAYED
                   and not (a.bearer and k.lower() == "authorization")]
        conn, resp = akserver.upstream_request(a.upstream, self.command, self.path, headers)
        try:
            if (r and r[1] == "manifests" and self.command == "GET" and resp.status == 200
                    and (a.tamper_manifests or a.wrong_digest_header)):
                return self.edit_manifest(resp, r[2].startswith("sha256:"))
            length = int(resp.getheader("Content-Length") or -1)
            fault = None
            if (blob and self.command == "GET" and a.fault and resp.status == 200
                    and length >= a.fault_min_bytes and self.take_fault()):
                fault = a.fault
            if fault in ("429", "503"):
                hdr = {"Retry-After": str(a.retry_after)} if a.retry_after >= 0 else {}
                self.send_error_json(int(fault), "TOOMANYREQUESTS" if fault == "429" else "UNAVAILABLE",
                                     "try again later", hdr)
                self.log(int(fault), fault=fault)
                return
            if fault in ("drop", "stall"):
                self.log(resp.status, fault=fault, length=length)
                akserver.relay(self, resp, lambda h, rs, n: h.half_then(rs, n, fault))
                return
            akserver.relay(self, resp)
            self.log(resp.status, length=length)
        finally:
            conn.close()

    def do_GET(self):
        self.forward()

    def do_HEAD(self):
        self.forward()


def main():
    p = akserver.base_args(__doc__.split("\n")[0])
    p.add_argument("--upstream", required=True, help="host:port of the real registry")
    p.add_argument("--bearer", action="store_true")
    p.add_argument("--secret", default="")
    p.add_argument("--realm", default="")
    p.add_argument("--service", default="archkit-test")
    p.add_argument("--redirect-blobs", help="base URL of blobstore.py")
    p.add_argument("--fault", choices=["drop", "stall", "429", "503"])
    p.add_argument("--fault-times", type=int, default=-1, help="how many (default: every one)")
    p.add_argument("--fault-min-bytes", type=int, default=65536)
    p.add_argument("--retry-after", type=int, default=1, help="-1: no Retry-After header")
    p.add_argument("--stall-seconds", type=float, default=120)
    p.add_argument("--delay-blobs", type=float, default=0)
    p.add_argument("--tamper-manifests", action="store_true")
    p.add_argument("--wrong-digest-header", action="store_true")
    args = p.parse_args()

    def setup(server):
        server.faults = 0

    akserver.serve(ProxyHandler, args, setup)


if __name__ == "__main__":
    main()
