"""Web pages by URL: a guarded fetch, the article extracted, the original kept beside it.

A URL a user gives is a request the server makes on the user's behalf, so the fetch refuses
every address the user could not reach themselves: schemes other than http and https, and hosts
that resolve to loopback, private, link-local or otherwise non-public addresses, unless the
operator lists that host (or host:port) in ``ISNAD_FETCH_ALLOW``. The connection goes to the
address that was checked (never a second DNS answer), every redirect is checked the same way,
robots.txt is respected, and the body is capped while it streams.

The article body, title, outlet and date come from trafilatura (dates only from the page's own
markup: ``article:published_time``, JSON-LD, ``itemprop``); where the markup has none, Isnad's own
rules read the date line under the headline. A fetched page is stored as three files in
``pages_dir``: ``<name>.txt`` (the extracted text every citation points into), ``<name>.html.original``
(the bytes the server sent) and ``<name>.json`` (URL, fetch time, metadata and where each came from).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import logging
import re
import socket
import time
import urllib.robotparser
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from rag.errors import AddressRefused, FetchError
from rag.ingest.clean import clean, html_to_text
from rag.ingest.files import megabytes

log = logging.getLogger("isnad.web")

USER_AGENT = "Isnad/0.1 (cited news question answering; +https://github.com/isnad-project/isnad)"
ROBOTS_AGENT = "Isnad"
MAX_PAGE_BYTES = 10 * 2**20
MAX_REDIRECTS = 5
PAGE_TYPES = ("text/html", "application/xhtml+xml")
FEED_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/rdf+xml",
    "application/xml",
    "text/xml",
)
MAX_FEED_BYTES = 5 * 2**20
SIDECAR = ".json"
ORIGINAL = ".html.original"


@dataclass
class Page:
    """A fetched article page: its extracted text and what is known about it, with provenance."""

    url: str  # the address the user gave
    final_url: str  # after redirects
    fetched_at: str
    html: bytes
    text: str  # title line, a blank line, then the body paragraphs
    title: str | None
    outlet: str | None
    date: str | None
    author: str | None
    provenance: dict[str, str] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)

    def meta(self) -> dict:
        d = asdict(self)
        del d["html"], d["text"]
        return d


# ---------------------------------------------------------------- addresses


def _allowed(host: str, port: int, allow: set[str]) -> bool:
    return host.lower() in allow or f"{host.lower()}:{port}" in allow


def allow_list(spec: str) -> set[str]:
    """``"127.0.0.1:8080, intranet.example"`` → the host and host:port entries the operator allows."""
    return {s.strip().lower().strip("[]") for s in spec.split(",") if s.strip()}


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


@dataclass
class Target:
    """A checked URL: where to connect (the vetted address) and what to call the host."""

    url: str
    scheme: str
    host: str
    port: int
    ip: str


def vet(url: str, allow: set[str]) -> Target:
    """Check a URL before any connection: http(s) only, and an address the public could reach.

    Raises AddressRefused with a message that names the rule, never the resolved address.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as e:
        raise AddressRefused(f"not a valid web address ({e})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise AddressRefused(f"only http and https addresses can be added, not '{scheme or 'no scheme'}:'")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise AddressRefused("the address has no host name")
    if parts.username or parts.password:
        raise AddressRefused("addresses with a user name or password are not fetched")
    port = port or (443 if scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise FetchError(f"the host '{host}' could not be found ({e.args[-1] if e.args else e})") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not _allowed(host, port, allow) and not all(_public(a) for a in addresses):
        log.warning("refused a fetch of %s: it resolves to a non-public address", url)
        raise AddressRefused(
            "this address points to the server's own machine or a private network, which Isnad does not fetch "
            "for users (an operator can allow a host with ISNAD_FETCH_ALLOW)"
        )
    return Target(
        urlunsplit((scheme, parts.netloc, parts.path or "/", parts.query, "")),
        scheme,
        host,
        port,
        str(addresses[0]),
    )


# ---------------------------------------------------------------- fetching


class Fetcher:
    """One guarded HTTP client: vetted addresses, pinned connections, checked redirects, capped bodies."""

    def __init__(
        self,
        allow: str = "",
        timeout: float = 20.0,
        max_bytes: int = MAX_PAGE_BYTES,
        respect_robots: bool = True,
    ):
        self.allow = allow_list(allow)
        self.max_bytes = max_bytes
        self.respect_robots = respect_robots
        self.deadline_s = 3 * timeout
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": USER_AGENT, "Accept": "text/html,application/xhtml+xml"},
        )
        self._robots: dict[str, urllib.robotparser.RobotFileParser] = {}

    def close(self) -> None:
        self.client.close()

    def get(self, url: str, max_bytes: int | None = None) -> tuple[httpx.Response, bytes, str]:
        """(response, body, final URL) after at most MAX_REDIRECTS checked redirects."""
        start = time.monotonic()
        for _ in range(MAX_REDIRECTS + 1):
            target = vet(url, self.allow)
            response, body = self._get_once(target, max_bytes or self.max_bytes, start)
            if response.status_code in (301, 302, 303, 307, 308) and "location" in response.headers:
                url = urljoin(target.url, response.headers["location"])
                continue
            return response, body, target.url
        raise FetchError(f"more than {MAX_REDIRECTS} redirects")

    def _get_once(self, target: Target, max_bytes: int, start: float) -> tuple[httpx.Response, bytes]:
        parts = urlsplit(target.url)
        ip = f"[{target.ip}]" if ":" in target.ip else target.ip
        pinned = urlunsplit((target.scheme, f"{ip}:{target.port}", parts.path, parts.query, ""))
        default = (target.scheme, target.port) in (("http", 80), ("https", 443))
        host = target.host if default else f"{target.host}:{target.port}"
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        try:
            with self.client.stream("GET", pinned, headers={"Host": host}, extensions=extensions) as r:
                size = r.headers.get("content-length", "")
                if size.isdigit() and int(size) > max_bytes:
                    raise FetchError(
                        f"the page is {megabytes(int(size))}; the limit is {megabytes(max_bytes)}"
                    )
                chunks, total = [], 0
                for chunk in r.iter_bytes():
                    total += len(chunk)
                    if total > max_bytes:
                        raise FetchError(f"the page is larger than the limit of {megabytes(max_bytes)}")
                    if time.monotonic() - start > self.deadline_s:
                        raise FetchError(
                            f"the server took longer than {self.deadline_s:.0f} s to send the page"
                        )
                    chunks.append(chunk)
                return r, b"".join(chunks)
        except httpx.TimeoutException:
            raise FetchError("the server did not answer in time") from None
        except httpx.HTTPError as e:
            raise FetchError(f"the page could not be fetched ({type(e).__name__}: {e})") from None

    def robots_allow(self, url: str) -> bool:
        """robots.txt's word for Isnad's user agent; a missing or unreadable robots.txt allows."""
        if not self.respect_robots:
            return True
        parts = urlsplit(url)
        root = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        if root not in self._robots:
            parser = urllib.robotparser.RobotFileParser()
            try:
                response, body, _ = self.get(root + "/robots.txt", max_bytes=512 * 1024)
                if response.status_code in (401, 403):
                    parser.disallow_all = True
                elif response.status_code == 200:
                    parser.parse(body.decode("utf-8", "replace").splitlines())
                else:
                    parser.allow_all = True
            except AddressRefused:
                raise
            except FetchError:
                parser.allow_all = True
            self._robots[root] = parser
        return self._robots[root].can_fetch(ROBOTS_AGENT, url)

    def feed(self, url: str) -> bytes:
        """The body of an RSS or Atom feed, fetched under the same guards as a page."""
        if not self.robots_allow(url):
            raise FetchError("the site's robots.txt asks automated readers not to fetch this feed")
        response, body, _ = self.get(url, MAX_FEED_BYTES)
        if response.status_code >= 400:
            raise FetchError(
                f"the server answered HTTP {response.status_code} {response.reason_phrase}".rstrip()
            )
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in FEED_TYPES and not kind.endswith("+xml"):
            raise FetchError(f"the address serves '{kind or 'no content type'}', not an RSS or Atom feed")
        return body

    def page(self, url: str) -> Page:
        """Fetch one article page and extract it; FetchError says what went wrong. The address is checked
        by the first request made for it (robots.txt's, or the page's)."""
        if not self.robots_allow(url):
            raise FetchError("the site's robots.txt asks automated readers not to fetch this page")
        response, body, final = self.get(url)
        if response.status_code >= 400:
            raise FetchError(
                f"the server answered HTTP {response.status_code} {response.reason_phrase}".rstrip()
            )
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in PAGE_TYPES:
            raise FetchError(f"the address serves '{kind or 'no content type'}', not a web page")
        return extract(body, url, final, response.encoding)


# ---------------------------------------------------------------- extraction


def extract(
    html: bytes,
    url: str,
    final_url: str | None = None,
    encoding: str | None = None,
    today: dt.date | None = None,
) -> Page:
    """The article of a page: trafilatura's body and markup metadata, Isnad's dateline rule as the fallback."""
    import trafilatura

    markup = _decode(html, encoding)
    doc = trafilatura.bare_extraction(
        markup,
        url=final_url or url,
        with_metadata=True,
        include_comments=False,
        include_tables=False,
        favor_precision=True,
        date_extraction_params={"extensive_search": False, "original_date": True},
    )
    body = (doc.text or "").strip() if doc is not None else ""
    if len(body) < 80:
        raise FetchError("no article text was found on the page")
    paragraphs = [p.strip() for p in body.split("\n") if p.strip()]
    title = (doc.title or "").strip()
    visible = html_to_text(markup)
    headline = visible.rfind(f"\n{title}\n") if title else -1  # the headline as a line of its own (<h1>)
    # Isnad's reading: dateline, outlet
    own = clean(visible[headline + 1 :] if headline >= 0 else visible, today)[1]
    title = title or own.title
    page = Page(
        url=url,
        final_url=final_url or url,
        fetched_at=_now(),
        html=html,
        text="\n\n".join([title or "", *paragraphs]).strip() + "\n",
        title=title,
        outlet=(doc.sitename or "").strip() or own.outlet,
        date=None,
        author=(doc.author or "").strip() or None,
    )
    page.provenance["title"] = "page markup (title)" if doc.title else own.provenance.get("title", "")
    page.provenance["outlet"] = (
        "page markup (og:site_name)" if doc.sitename else own.provenance.get("outlet", "")
    )
    if doc.date:
        page.date, page.provenance["date"] = doc.date, "page markup (published time)"
        if own.date and own.date != doc.date:
            page.flags.append(f"the page's markup gives {doc.date}, its text {own.date}")
    elif own.date:
        page.date, page.provenance["date"] = own.date, f"page text: {own.provenance.get('date', 'date line')}"
    else:
        page.flags.append("no publication date in the page's markup or text")
    page.provenance = {k: v for k, v in page.provenance.items() if v}
    return page


def _decode(html: bytes, encoding: str | None) -> str:
    from charset_normalizer import from_bytes

    head = html[:4096].decode("ascii", "ignore").lower()
    declared = re.search(r"charset=[\"']?([\w-]+)", head)
    for name in (encoding, declared.group(1) if declared else None, "utf-8"):
        if name:
            try:
                return html.decode(name)
            except (LookupError, UnicodeDecodeError):
                continue
    best = from_bytes(html).best()
    if best is None:
        raise FetchError("the page's text encoding could not be read")
    return str(best)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# ---------------------------------------------------------------- storage


def save(page: Page, folder: Path) -> Path:
    """Write the page's three files; returns the text file (what the index reads). A page already
    saved from the same address is overwritten, so fetching it again updates it."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = urlsplit(page.url)
    slug = re.sub(r"[^\w.-]+", "-", (parts.hostname or "page") + "-" + Path(parts.path).stem).strip("-.")[:60]
    stem = f"{slug}-{hashlib.sha256(page.url.encode()).hexdigest()[:8]}"
    text = folder / f"{stem}.txt"
    for path, data in (
        (folder / f"{stem}{ORIGINAL}", page.html),
        (folder / f"{stem}{SIDECAR}", json.dumps(page.meta(), ensure_ascii=False, indent=1).encode()),
        (text, page.text.encode("utf-8")),
    ):
        tmp = path.with_name(f".{path.name}.part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return text


def saved_meta(path: Path) -> dict | None:
    """The metadata saved beside a fetched page's text file, or None for any other file."""
    sidecar = path.with_suffix(SIDECAR)
    if path.suffix != ".txt" or not sidecar.is_file():
        return None
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and "url" in meta else None
