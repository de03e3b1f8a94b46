"""What the registry test servers share: a threaded HTTP/1.1 server on 127.0.0.1
that binds port 0 and writes the port it got to a file once it listens (so the
shell never races another process for a port), a JSON-lines request log for the
tests to count from, and a hard lifetime so a server left behind stops by itself."""

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import signal
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_log_lock = threading.Lock()


def base_args(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--port-file", required=True, help="written with the port once listening")
    p.add_argument("--log", help="JSON lines, one per request")
    p.add_argument("--lifetime", type=float, default=900, help="seconds before it exits by itself")
    return p


def log_request(log_file, **fields):
    """One JSON line per request; never the value of an Authorization header."""
    if not log_file:
        return
    fields["t"] = round(time.time(), 3)
    line = json.dumps(fields, sort_keys=True) + "\n"
    with _log_lock, open(log_file, "a") as f:
        f.write(line)


def auth_kind(headers):
    v = headers.get("Authorization")
    if v is None:
        return "none"
    return v.split(" ", 1)[0].lower() or "empty"


def basic_creds(headers):
    """(user, pass) from a Basic Authorization header, or None."""
    v = headers.get("Authorization", "")
    if not v.lower().startswith("basic "):
        return None
    try:
        user, _, pw = base64.b64decode(v[6:].strip(), validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user, pw


# --- tokens: HMAC-signed, so the token service and the proxy need share only a secret ---

def _b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def _unb64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def make_token(secret, sub, scopes, ttl):
    claims = {"sub": sub, "scopes": scopes, "exp": time.time() + ttl, "nonce": _b64(os.urandom(9))}
    body = _b64(json.dumps(claims, sort_keys=True).encode())
    sig = _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())
    return "akt." + body + "." + sig


def check_token(secret, token):
    """The claims of a valid token, "expired", or None when forged or malformed."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != "akt":
        return None
    want = _b64(hmac.new(secret.encode(), parts[1].encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(want, parts[2]):
        return None
    try:
        claims = json.loads(_unb64(parts[1]))
    except ValueError:
        return None
    if claims.get("exp", 0) < time.time():
        return "expired"
    return claims


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "archkit-test"

    def log_message(self, fmt, *args):  # the JSON log is the record; keep stderr quiet
        pass

    def send_body(self, status, body=b"", headers=None, ctype="application/json"):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body or status not in (204, 304):
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error_json(self, status, code, message, headers=None):
        body = json.dumps({"errors": [{"code": code, "message": message, "detail": None}]})
        self.send_body(status, body, headers)


HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate"}
# what BaseHTTPRequestHandler sends itself, or what must not be passed on
NOT_RELAYED = HOP_BY_HOP | {"host", "date", "server", "content-length"}


def upstream_request(upstream, method, path, headers):
    """Opens method path on upstream (host:port) with headers, a list of (name, value)
    pairs (a client may send Accept several times); returns the http.client response."""
    conn = http.client.HTTPConnection(upstream, timeout=60)
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", upstream)
    for k, v in headers:
        conn.putheader(k, v)
    conn.endheaders()
    return conn, conn.getresponse()


def relay(handler, resp, body_hook=None):
    """Sends upstream's response on: status, headers, body (streamed). body_hook, when
    given, is called with (handler, resp, length) instead of copying the body."""
    length = resp.getheader("Content-Length")
    data = None
    if length is None and handler.command != "HEAD":
        data = resp.read()  # chunked upstream: send it with a length
        length = str(len(data))
    handler.send_response(resp.status)
    for k, v in resp.getheaders():
        if k.lower() in NOT_RELAYED:
            continue
        handler.send_header(k, v)
    if length is not None:
        handler.send_header("Content-Length", length)
    handler.end_headers()
    if handler.command == "HEAD":
        return
    if data is not None:
        handler.wfile.write(data)
        return
    if body_hook:
        body_hook(handler, resp, int(length))
        return
    while True:
        chunk = resp.read(65536)
        if not chunk:
            break
        handler.wfile.write(chunk)


def serve(handler_cls, args, setup=None):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_cls)
    server.daemon_threads = True
    server.args = args
    if setup:
        setup(server)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.replace(tmp, args.port_file)

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threading.Timer(args.lifetime, stop).start()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    # leave the still-running threads (a stall) behind
    os._exit(0)


socketserver.TCPServer.allow_reuse_address = True
sys.dont_write_bytecode = True
