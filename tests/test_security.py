"""The running app attacked as a hostile client would: file references that were never uploaded, links
and ``..`` out of the upload folder, oversized bodies, and URLs that point the server at itself. Each is
refused with nothing read, nothing stored and nothing added to the corpus.

File references are sent as raw HTTP to Gradio's API, as a client on another machine would send them:
``gradio_client`` given a path that exists on its own machine uploads that file's bytes itself, so
it cannot stand for a remote attacker (the app then receives a real upload of the client's own file).
The app's own check on references (rag/uploads.py) is tested beside Gradio's in tests/test_uploads.py."""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path

import gradio as gr
import httpx
import pytest
from gradio_client import Client

from rag.interfaces.layout import EXTRACTIVE
from rag.interfaces.messages import message_text
from rag.text.escape import md_unescape
from tests.conftest import ROOT

REFUSED = "refused: this is not a file uploaded through the app"


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


def file_data(path: str | Path, **extra) -> dict:
    """What a hostile client sends instead of an upload: a bare server path dressed as Gradio's FileData."""
    return {"path": str(path), "meta": {"_type": "gradio.FileData"}, **extra}


def corpus(client) -> list[tuple]:
    return sorted(tuple(r) for r in client.predict(api_name="/corpus")["data"])


def call(app_url: str, api: str, *data) -> tuple[str, object]:
    """One raw call of a Gradio API route: (the last event's kind, its data)."""
    r = httpx.post(f"{app_url}gradio_api/call/{api}", json={"data": list(data)}, timeout=30)
    r.raise_for_status()
    stream = httpx.get(f"{app_url}gradio_api/call/{api}/{r.json()['event_id']}", timeout=300)
    kind, payload = re.findall(r"event: (\w+)\ndata: (.*)", stream.text)[-1]
    return kind, json.loads(payload)


def refused_reference(app_url: str, reference: str | Path) -> None:
    """A bare server path sent as an upload: refused by the server, and the path never echoed."""
    kind, payload = call(app_url, "upload", [file_data(reference)], False)
    assert kind == "error", payload
    assert str(reference) not in json.dumps(payload) and Path(reference).name not in json.dumps(payload)


def in_upload_folder(name: str, text: str | None = None) -> Path:
    folder = Path(gr.utils.get_upload_folder()) / f"isnad-test-{uuid.uuid4().hex}"
    folder.mkdir(parents=True)
    path = folder / name
    if text is not None:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def unchanged(client, app_server):
    """Asserts after the test that the corpus and the stored uploads are exactly as before."""
    settings = app_server[1]
    before = corpus(client), sorted(os.listdir(settings.uploads_dir)) if settings.uploads_dir.exists() else []
    yield
    after = corpus(client), sorted(os.listdir(settings.uploads_dir)) if settings.uploads_dir.exists() else []
    assert after == before


@pytest.mark.parametrize(
    "target",
    [
        ROOT / "README.md",  # the reproduction: a file of the server's own checkout
        ROOT / "seeds" / "000_93952b5621d37da0.txt",
        "/etc/hostname.txt",
    ],
)
def test_a_server_path_is_refused_and_not_echoed(app_url, unchanged, target):
    refused_reference(app_url, target)


def test_a_file_in_the_temp_folder_but_outside_the_upload_folder_is_refused(app_url, unchanged, tmp_path):
    planted = tmp_path / "earlier_test_note.txt"  # /tmp, which Gradio allows for a function's outputs
    planted.write_text("ملاحظة\n\nنص خاص على القرص لا يجوز أن يصل إلى الفهرس أبدا.\n", encoding="utf-8")
    refused_reference(app_url, planted)


def test_a_link_inside_the_upload_folder_is_refused(app_url, unchanged):
    link = in_upload_folder("notes.txt")
    link.symlink_to(ROOT / "README.md")
    refused_reference(app_url, link)
    folder_link = in_upload_folder("docs")  # a linked folder: the file inside resolves outside
    folder_link.symlink_to(ROOT)
    refused_reference(app_url, folder_link / "README.md")


def test_dot_dot_out_of_the_upload_folder_is_refused(app_url, unchanged):
    inside = in_upload_folder("x.txt", "x")
    refused_reference(app_url, f"{inside.parent}/../../../../../../{str(ROOT / 'README.md').lstrip('/')}")


def test_a_url_given_as_a_file_is_not_fetched(app_url, unchanged, web_server):
    hits = len(web_server.hits)
    kind, _ = call(app_url, "upload", [file_data(web_server.url("/ar.html"))], False)
    assert kind == "error" and "/ar.html" not in web_server.hits[hits:]


def test_a_real_upload_with_dot_dot_in_its_name_is_stored_under_its_base_name(app_server, tmp_path):
    app_url, settings = app_server
    note = tmp_path / "dotdot_note.txt"
    note.write_text(
        "وحدة تصل إلى الكويت\n\nوصلت وحدة من قوات التحالف إلى قاعدة في الكويت يوم الأحد بعد مغادرة "
        "العراق، بحسب مسؤولين.\n",
        encoding="utf-8",
    )
    with note.open("rb") as f:
        [stored] = httpx.post(
            f"{app_url}gradio_api/upload", files={"files": (note.name, f, "text/plain")}
        ).json()
    kind, (report, _, _) = call(
        app_url, "upload", [file_data(stored, orig_name="../../../escaped.txt")], False
    )
    report = md_unescape(report)
    assert "✓ dotdot_note.txt: added" in report
    assert (settings.uploads_dir / "dotdot_note.txt").is_file()
    assert not list(settings.uploads_dir.parent.rglob("escaped.txt"))


def test_an_oversized_body_is_refused_before_it_is_stored(app_url, client, unchanged, tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * (21 * 2**20))
    with big.open("rb") as f:
        r = httpx.post(
            f"{app_url}gradio_api/upload", files={"files": ("big.txt", f, "text/plain")}, timeout=60
        )
    assert r.status_code == 413 and "big.txt" not in str(
        list(Path(gr.utils.get_upload_folder()).rglob("big.txt"))
    )


@pytest.mark.parametrize(
    "url, why",
    [
        ("file:///etc/passwd", "only http and https"),
        ("file://" + str(ROOT / "README.md"), "only http and https"),
        ("http://127.0.0.1:{other}/ar.html", "private network"),
        ("http://localhost:{port}/ar.html", "private network"),
        ("http://[::1]:{port}/ar.html", "private network"),
        ("http://2130706433:{port}/ar.html", "private network"),
        ("http://169.254.169.254/latest/meta-data/", "private network"),
        ("http://10.0.0.1/", "private network"),
        ("http://127.0.0.1:{port}/redirect?to=http://127.0.0.1:{other}/secret", "private network"),
        ("http://127.0.0.1:{port}/redirect?to=http://localhost:{port}/ar.html", "private network"),
        ("http://127.0.0.1:{port}/redirect?to=file:///etc/passwd", "only http and https"),
    ],
)
def test_urls_that_point_the_server_at_itself_are_refused(client, unchanged, web_server, url, why):
    from rag.models.llm import free_port

    url = url.format(port=web_server.port, other=free_port())
    hits = len(web_server.hits)
    report, _, _ = client.predict(url, api_name="/add_url")
    assert "✗" in report and why in md_unescape(report)
    assert "/secret" not in web_server.hits[hits:]


def test_a_page_from_an_allowed_host_is_added_and_answers_cite_it(client, web_server):
    report, table, _ = client.predict(web_server.url("/ar.html"), api_name="/add_url")
    assert "✓" in md_unescape(report) and "added" in report
    assert any(
        r[0] == "معارضون يسيطرون على مخازن للصواريخ بريف دمشق"
        and r[1] == "CNNArabic"
        and r[2] == "2013-08-28"
        for r in table["data"]
    )
    history, _, _ = client.predict(
        "ما الذي سيطرت عليه الفصائل المعارضة في ريف دمشق؟",
        [],
        EXTRACTIVE,
        "",
        "",
        "",
        8,
        "hybrid",
        api_name="/ask",
    )
    answer = message_text(history[-1])
    assert "مستودعات للأسلحة" in answer and "CNNArabic" in answer
