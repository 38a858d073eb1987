"""A throwaway local PostgreSQL (tests and benchmarks): initdb, start on 127.0.0.1, stop, delete.

Needs PostgreSQL 15 with pgvector (`scripts/postgres.sh` installs both). As root, the
server runs as the ``postgres`` system user, since PostgreSQL refuses to run as root.
``fsync=off``: the data is thrown away afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rag.errors import ServerUnavailable
from rag.models.llm import free_port

BIN = Path("/usr/lib/postgresql/15/bin")


@dataclass
class LocalServer:
    url: str
    folder: Path

    def stop(self) -> None:
        _run(
            [str(BIN / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop"],
            check=False,
        )
        shutil.rmtree(self.folder, ignore_errors=True)


def _run(cmd: list[str], check: bool = True) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise ServerUnavailable(f"{' '.join(cmd)} failed: {(done.stderr or done.stdout).strip()[-400:]}")
    return done


def start() -> LocalServer:
    """A fresh cluster on a free port; raises ServerUnavailable with the fix when it cannot start."""
    if not (BIN / "initdb").exists():
        raise ServerUnavailable(
            f"PostgreSQL 15 is not installed ({BIN / 'initdb'} is missing): run scripts/postgres.sh"
        )
    folder = Path(tempfile.mkdtemp(prefix="isnad-pg-"))
    os.chmod(folder, 0o755)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    port = free_port()
    data = folder / "data"
    # fmt: off
    _run(
        [
            str(BIN / "initdb"),
            "-D",
            str(data),
            "-U", "isnad", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8",
        ]
    )
    # fmt: on
    opts = (
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
        "-c full_page_writes=off -c shared_buffers=256MB -c max_connections=50"
    )
    _run([str(BIN / "pg_ctl"), "-D", str(data), "-w", "-l", str(folder / "server.log"), "-o", opts, "start"])
    return LocalServer(f"postgresql://isnad@127.0.0.1:{port}/postgres", folder)
