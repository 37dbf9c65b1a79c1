"""Private database servers for the tests that kill or freeze one (issue 33): MariaDB and
PostgreSQL started from the machine's binaries in a fresh data folder, on a free port of
their own, so the shared servers stay up. Each is stopped (and thawed first) at the end."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["Server", "private_server"]


@dataclass
class Server:
    """A running private server: its URL (for ``--actionsec-store``) and process."""

    url: str
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        """The server's own process (not runuser's)."""
        return _real_pid(self.process)

    def alive(self) -> bool:
        return self.process.poll() is None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the private server exited: {log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.2)
    pytest.fail(f"the private server did not listen on {port} in 120 s")


def _mariadb(folder: Path, port: int) -> tuple[list[str], str]:
    install = shutil.which("mariadb-install-db")
    daemon = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
    if install is None or not os.path.exists(daemon):
        pytest.skip("MariaDB's binaries (mariadb-install-db, mariadbd) are not installed")
    data = folder / "data"
    subprocess.run(
        [install, "--no-defaults", f"--datadir={data}", "--user=root", "--skip-test-db"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    command = [
        daemon,
        "--no-defaults",
        f"--datadir={data}",
        f"--port={port}",
        "--bind-address=127.0.0.1",
        f"--socket={folder / 'sock'}",
        f"--pid-file={folder / 'pid'}",
        "--user=root",
        "--skip-grant-tables",  # no accounts: the tests are its only clients
        "--innodb-buffer-pool-size=32M",
        "--skip-log-bin",
    ]
    return command, f"mysql+pymysql://root@127.0.0.1:{port}/"


def _postgres(folder: Path, port: int) -> tuple[list[str], str]:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if not found:
        pytest.skip("PostgreSQL's server binaries are not installed")
    bin_dir = found[-1].parent
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL")
        prefix = [runuser, "-u", "postgres", "--"]
        shutil.chown(folder, "postgres")
    data = folder / "data"
    subprocess.run(
        [*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    command = [
        *prefix,
        str(bin_dir / "postgres"),
        "-D",
        str(data),
        "-p",
        str(port),
        "-k",
        str(folder),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "fsync=off",
    ]
    return command, f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"


@contextlib.contextmanager
def private_server(kind: str) -> Iterator[Server]:
    """Start a private ``mariadb`` or ``postgresql`` server; stop it at the end."""
    folder = Path(tempfile.mkdtemp(prefix=f"actionsec-{kind}-"))
    os.chmod(folder, 0o755)
    port = _free_port()
    command, url = (_mariadb if kind == "mariadb" else _postgres)(folder, port)
    log = folder / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    server = Server(url=url, process=process)
    try:
        _wait_for_port(port, process, log)
        yield server
    finally:
        real = _real_pid(process)
        for sig in (signal.SIGCONT, signal.SIGKILL):
            for pid in {process.pid, real}:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(30)
        shutil.rmtree(folder, ignore_errors=True)


def _real_pid(process: subprocess.Popen[bytes]) -> int:
    """The server's own process id (runuser's child when started through it)."""
    with contextlib.suppress(OSError, ValueError):
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        if children:
            return int(children[0])
    return process.pid
