#!/usr/bin/env python3
"""A registry token service, as Docker Hub's auth.docker.io or GHCR's /token are:

  GET /token?service=S&scope=repository:REPO:pull[&scope=...]
      Basic credentials (--user/--password) or none (only with --anonymous)
      -> 200 {"token": T, "expires_in": TTL, "issued_at": ...}
  POST /token (OAuth2 form: grant_type=refresh_token&refresh_token=R or
      grant_type=password&username=U&password=P, service, scope)
      -> 200 {"access_token": T, "expires_in": TTL}

Tokens are HMAC-signed with --secret (proxy.py checks them with the same secret),
each issued one is appended to --tokens-file so a test can grep archkit's output for
it, and every request is logged (never a credential's value)."""

import sys

sys.dont_write_bytecode = True
import datetime  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import threading  # noqa: E402
import urllib.parse  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import akserver  # noqa: E402

_tokens_lock = threading.Lock()


class TokenHandler(akserver.Handler):
    def issue(self, who, scopes, field):
        a = self.server.args
        tok = akserver.make_token(a.secret, who, scopes, a.ttl)
        if a.tokens_file:
            with _tokens_lock, open(a.tokens_file, "a") as f:
                f.write(tok + "\n")
        body = {"expires_in": a.ttl,
                "issued_at": datetime.datetime.now(datetime.timezone.utc).isoformat()}
        fields = {"token": ["token"], "access_token": ["access_token"],
                  "both": ["token", "access_token"]}[a.field or field]
        for k in fields:
            body[k] = tok
        return body

    def reply(self, status, body, **logged):
        self.send_body(status, json.dumps(body))
        akserver.log_request(self.server.args.log, method=self.command, path=self.path,
                           auth=akserver.auth_kind(self.headers), status=status, **logged)

    def check(self, q, who_ok):
        a = self.server.args
        service = q.get("service", [None])[0]
        if service != a.service:
            return 400, {"errors": [{"code": "DENIED", "message": "unknown service %r" % service}]}
        if not who_ok:
            return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}
        return None

    def do_GET(self):
        a = self.server.args
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/token":
            return self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": "no such page"}]})
        q = urllib.parse.parse_qs(url.query)
        creds = akserver.basic_creds(self.headers)
        if creds is not None:
            ok, who = creds == (a.user, a.password), creds[0]
        else:
            ok, who = a.anonymous, "anonymous"
        if self.headers.get("Authorization") and creds is None:
            ok = False  # a Bearer or garbage header at the realm is no login
        bad = self.check(q, ok)
        scopes = q.get("scope", [])
        if bad:
            return self.reply(bad[0], bad[1], scopes=scopes, creds=creds is not None)
        self.reply(200, self.issue(who, scopes, "token"), scopes=scopes, creds=creds is not None)

    def do_POST(self):
        a = self.server.args
        n = int(self.headers.get("Content-Length") or 0)
        q = urllib.parse.parse_qs(self.rfile.read(n).decode("utf-8", "replace"))
        grant = q.get("grant_type", [""])[0]
        if grant == "refresh_token":
            ok = a.refresh_token is not None and q.get("refresh_token", [""])[0] == a.refresh_token
        elif grant == "password":
            ok = (q.get("username", [""])[0], q.get("password", [""])[0]) == (a.user, a.password)
        else:
            ok = False
        bad = self.check(q, ok)
        scopes = q.get("scope", [])
        if bad:
            return self.reply(bad[0], bad[1], scopes=scopes, grant=grant)
        self.reply(200, self.issue(q.get("username", ["refresh"])[0], scopes, "access_token"),
                   scopes=scopes, grant=grant)


def main():
    p = akserver.base_args(__doc__.split("\n")[0])
    p.add_argument("--secret", required=True)
    p.add_argument("--service", default="archkit-test")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--refresh-token", help="the identitytoken a config.json may hold")
    p.add_argument("--anonymous", action="store_true", help="tokens without credentials too")
    p.add_argument("--ttl", type=int, default=60, help="expires_in, seconds")
    p.add_argument("--field", choices=["token", "access_token", "both"],
                   help="which JSON field carries the token (default: token for GET)")
    p.add_argument("--tokens-file", help="every token issued, one a line")
    akserver.serve(TokenHandler, p.parse_args())


if __name__ == "__main__":
    main()
