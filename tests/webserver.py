"""A real HTTP server on 127.0.0.1 for the web tests: the shared fixture pages, plus the hostile and broken
responses a URL ingest must survive (redirects to other local addresses, huge bodies, wrong types)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "web"
ARABIC_PAGE = FIXTURES / "cnnarabic-syria-2013.html"
ARABIC_EXPECTED = FIXTURES / "cnnarabic-syria-2013.expected.txt"
ENGLISH_PAGE = FIXTURES / "cnn-english-article.html"
ROBOTS = b"User-agent: *\nDisallow: /private/\n"
NAV_ONLY = "<html><body><nav><a href='/'>Home</a> <a href='/world'>World</a></nav><p>Menu</p></body></html>"


class Handler(BaseHTTPRequestHandler):
    pages: dict[str, tuple[str, bytes]] = {}  # path -> (content type, body), added by tests

    def log_message(self, *args) -> None:  # quiet test output
        pass

    def _send(self, status: int, kind: str, body: bytes, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", headers.pop("length", str(len(body))))
        for k, v in headers.items():
            self.send_header(k.replace("_", "-"), v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.server.hits.append(url.path)
        if url.path in self.pages:
            kind, body = self.pages[url.path]
            return self._send(200, kind, body)
        if url.path == "/robots.txt":
            return self._send(200, "text/plain", ROBOTS)
        if url.path == "/ar.html":
            return self._send(200, "text/html; charset=utf-8", ARABIC_PAGE.read_bytes())
        if url.path == "/en.html":
            return self._send(200, "text/html; charset=utf-8", ENGLISH_PAGE.read_bytes())
        if url.path.startswith("/private/"):
            return self._send(200, "text/html", ARABIC_PAGE.read_bytes())
        if url.path == "/redirect":
            return self._send(302, "text/plain", b"", Location=query["to"])
        if url.path == "/report.pdf":
            return self._send(200, "application/pdf", b"%PDF-1.4 not a page")
        if url.path == "/nav.html":
            return self._send(200, "text/html", NAV_ONLY.encode())
        if url.path == "/huge.html":  # announces 50 MB
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(50 * 2**20))
            self.end_headers()
            return
        if url.path == "/endless.html":  # no length, 11 MB streamed
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            try:
                for _ in range(11 * 16):
                    self.wfile.write(b"<p>" + b"x" * (64 * 1024 - 7) + b"</p>\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        return self._send(404, "text/plain", b"not found")


class WebServer:
    """Serves Handler on 127.0.0.1 at a free port until stopped; ``hits`` lists the paths requested."""

    def __init__(self) -> None:
        if not ARABIC_PAGE.is_file():
            raise FileNotFoundError(
                f"{FIXTURES} is missing: the web tests read shared/ beside the checkout "
                "(../shared, as CI lays it out)"
            )
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.hits = []
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def hits(self) -> list[str]:
        return self.httpd.hits

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self, path: str, kind: str, body: bytes) -> str:
        Handler.pages[path] = (kind, body)
        return self.url(path)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
