#!/usr/bin/env python3
"""Where proxy.py --redirect-blobs sends blob GETs: another host, as S3, CloudFront or
pkg-containers.githubusercontent.com are for real registries. GET /REPO/blobs/DIGEST?...
serves the blob's bytes (fetched anonymously from --upstream, the real registry), and,
as S3 does, refuses with 400 a request that carries an Authorization header besides its
signed query: a registry token must never reach this host. Every request is logged
with whether it carried Authorization."""

import sys

sys.dont_write_bytecode = True
import os  # noqa: E402
import re  # noqa: E402
import urllib.parse  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import akserver  # noqa: E402

ROUTE = re.compile(r"^/(.+)/blobs/(sha256:[0-9a-f]{64})$")


class BlobHandler(akserver.Handler):
    def do_GET(self):
        a = self.server.args
        url = urllib.parse.urlsplit(self.path)
        m = ROUTE.match(url.path)
        auth = akserver.auth_kind(self.headers)
        if not m or "X-Amz-Signature=" not in url.query:
            self.send_body(403, "<Error><Code>AccessDenied</Code></Error>", ctype="application/xml")
            akserver.log_request(a.log, method="GET", path=self.path, auth=auth, status=403)
            return
        if auth != "none":
            self.send_body(400, "<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism "
                           "allowed; only the X-Amz-Algorithm query parameter, Signature query string "
                           "parameter or the Authorization header should be specified</Message></Error>",
                           ctype="application/xml")
            akserver.log_request(a.log, method="GET", path=self.path, auth=auth, status=400)
            return
        conn, resp = akserver.upstream_request(a.upstream, "GET", "/v2/%s/blobs/%s" % m.groups(),
                                               [])
        try:
            akserver.relay(self, resp)
        finally:
            conn.close()
        akserver.log_request(a.log, method="GET", path=self.path, auth=auth, status=resp.status)


def main():
    p = akserver.base_args(__doc__.split("\n")[0])
    p.add_argument("--upstream", required=True, help="host:port of the real registry")
    akserver.serve(BlobHandler, p.parse_args())


if __name__ == "__main__":
    main()
