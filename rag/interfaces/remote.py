"""The CLI against a shared server (``isnad --server URL``): the same commands, answered by its HTTP API,
so a team uses one index. The key comes from ``ISNAD_API_KEY``; errors read as the server wrote them."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from rag.errors import IngestFileError


class RemoteError(RuntimeError):
    """The server refused or failed a call; the message is the server's."""


class Remote:
    """The calls the CLI makes, over ``/api/v1`` of one server."""

    def __init__(self, url: str, key: str | None = None, timeout: float = 600.0):
        key = key if key is not None else os.environ.get("ISNAD_API_KEY", "")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.Client(base_url=url.rstrip("/") + "/api/v1", headers=headers, timeout=timeout)

    def _call(self, method: str, path: str, **kw) -> dict:
        try:
            r = self.client.request(method, path, **kw)
        except httpx.HTTPError as e:
            raise RemoteError(f"the server could not be reached ({type(e).__name__}: {e})") from None
        try:
            body = r.json()
        except ValueError:
            body = {}
        if r.status_code >= 400:
            error = body.get("error", {}) if isinstance(body, dict) else {}
            raise RemoteError(f"the server answered {r.status_code}: {error.get('message') or r.text[:200]}")
        return body

    def ask(
        self,
        question: str,
        engine: str,
        outlet: str | None,
        date_from: str | None,
        date_to: str | None,
        mode: str | None,
    ) -> dict:
        body = {
            "question": question,
            "engine": engine,
            "outlet": outlet,
            "date_from": date_from,
            "date_to": date_to,
            "mode": mode,
        }
        return self._call("POST", "/ask", json=body)

    def search(
        self,
        query: str,
        k: int,
        mode: str | None,
        outlet: str | None,
        date_from: str | None,
        date_to: str | None,
    ) -> list[dict]:
        body = {
            "query": query,
            "k": k,
            "mode": mode,
            "outlet": outlet,
            "date_from": date_from,
            "date_to": date_to,
        }
        return self._call("POST", "/search", json=body)["hits"]

    def brief(self, **body) -> dict:
        return self._call("POST", "/brief", json=body)

    def info(self) -> dict:
        return {**self._call("GET", "/info"), "per_document": self._call("GET", "/documents")["documents"]}

    def add(self, item: str) -> dict:
        """A URL, or a local file uploaded to the server."""
        if "://" in item:
            return self._call("POST", "/documents/url", json={"url": item})
        path = Path(item)
        if not path.is_file():
            raise IngestFileError(f"{item}: no such file (folders are added one file at a time)")
        with path.open("rb") as f:
            return self._call("POST", "/documents", files={"file": (path.name, f)})

    def delete(self, ref: str, purge: bool = False) -> dict:
        return self._call("DELETE", f"/documents/{ref}", params={"purge": purge})
