#!/usr/bin/env python3
"""A misbehaving HTTP server for tests/check_http.c.

Binds 127.0.0.1 on a free port and prints the port on its first line of stdout.
With --tls CERT KEY it speaks https. Each path is one behaviour; ?key=K keeps per-test
counters apart, and /count?key=K answers how many requests that key has seen.

  /body?size=N            N deterministic bytes; X-Body-Sha256 names their sha256
  /redirect?to=URL&code=C answers C (default 307) with Location: URL
  /echo-auth?key=K        the Authorization header received ("none" when absent)
  /headers                a 200 with the headers a registry sends, oddly cased
  /429-once?key=K         429 with Retry-After: 1 the first time, then 200 "ok"
  /503?key=K              503 forever
  /nothing-once?key=K     closes the connection without an answer the first time
  /drop?size=N            Content-Length N, N/2 bytes, then closes the connection
  /drop-early-once?size=N&key=K  the first time, Content-Length N and no byte of it
  /stall?size=N&sleep=S   Content-Length N, N/2 bytes, S seconds of silence, the rest
  /stall-headers?sleep=S  S seconds of silence before the status line
  /loop                   redirects to itself forever
"""
import hashlib
import http.server
import socket
import ssl
import sys
import threading
import time
import urllib.parse

counts = {}
lock = threading.Lock()


def body_bytes(n):
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(b"%d" % i).digest()
        i += 1
    return bytes(out[:n])


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        # /form echoes "POST <content-type> <body>"; /redirect-post redirects with ?code
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n) if n else b""
        if u.path == "/form":
            self.reply(200, b"POST " + self.headers.get("Content-Type", "").encode() + b" " + body)
        elif u.path == "/503":
            self.reply(503, b"unavailable")
        elif u.path == "/redirect-post":
            self.reply(int(q.get("code", "307")), b"moved", [("Location", q["to"])])
        else:
            self.reply(404, b"no such path")

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        key = q.get("key", "")
        with lock:
            n = counts.get(key, 0) + 1
            counts[key] = n
        size = int(q.get("size", "0"))
        p = u.path
        if p == "/count":
            with lock:
                c = counts.get(key, 0) - 1  # this request is not one to count
                counts[key] = c
            self.reply(200, b"%d" % c)
        elif p == "/body":
            b = body_bytes(size)
            self.reply(200, b, [("Content-Type", "application/octet-stream"),
                                ("X-Body-Sha256", hashlib.sha256(b).hexdigest())])
        elif p == "/redirect":
            self.reply(int(q.get("code", "307")), b"moved",
                       [("Location", q["to"])])
        elif p == "/form":
            self.reply(200, b"GET")
        elif p == "/echo-auth":
            self.reply(200, self.headers.get("Authorization", "none").encode())
        elif p == "/headers":
            self.reply(200, b"{}", [
                ("content-TYPE", "application/vnd.oci.image.index.v1+json"),
                ("docker-content-digest", "sha256:" + "ab" * 32),
                ("Www-Authenticate", 'Bearer realm="https://auth.example/token"'),
                ("WWW-Authenticate", 'Basic realm="x"')])
        elif p == "/429-once":
            if n == 1:
                self.reply(429, b"slow down", [("Retry-After", "1")])
            else:
                self.reply(200, b"ok")
        elif p == "/503":
            self.reply(503, b"unavailable")
        elif p == "/nothing-once":
            if n == 1:
                self.close_now()
            else:
                self.reply(200, b"ok")
        elif p == "/drop-early-once" and n == 1:
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            self.close_now()
        elif p == "/drop-early-once":
            self.reply(200, body_bytes(size))
        elif p in ("/drop", "/stall"):
            b = body_bytes(size)
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            self.wfile.write(b[:size // 2])
            self.wfile.flush()
            if p == "/drop":
                self.close_now()
                return
            time.sleep(float(q.get("sleep", "5")))
            try:
                self.wfile.write(b[size // 2:])
            except OSError:
                pass
        elif p == "/stall-headers":
            time.sleep(float(q.get("sleep", "5")))
            self.reply(200, b"late")
        elif p == "/loop":
            self.reply(302, b"", [("Location", "/loop")])
        else:
            self.reply(404, b"no such path")

    def close_now(self):
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client that hangs up mid-answer is what these tests are about


def main():
    srv = Server(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    if len(sys.argv) == 4 and sys.argv[1] == "--tls":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[2], sys.argv[3])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
