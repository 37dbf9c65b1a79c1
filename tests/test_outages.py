"""A gate its environment cannot fool (issue 33): a database server that dies or freezes
mid-run is the environment's fault, never a finding. Each test starts a private MariaDB
or PostgreSQL server on a port of its own (``tests/servers.py``; the shared servers stay
up) and does to it what the issue saw: SIGKILL (gone for good), SIGSTOP (frozen), and a
run killed while its database exists (left for the next run to drop)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.servers import private_server

pytestmark = pytest.mark.servers

ROOT = Path(__file__).resolve().parents[1]
LINE = "actionsec: the database connection failed, not the code under test"


def _args(url: str, *extra: str) -> list[str]:
    return [
        *("-p", "no:cacheprovider", "--actionsec", "--actionsec-target=tests.targets.outage"),
        *("--actionsec-layers=store", f"--actionsec-store={url}", "--actionsec-seed=1"),
        *("--actionsec-sink=none", "--actionsec-notifier=none", "--actionsec-boundary=none"),
        *("-k", "pack_action_start"),
        *extra,
    ]


def _pytest(
    cwd: Path, server_pid: int, how: str, *args: str, at: int = 5
) -> subprocess.CompletedProcess[str]:
    """``pytest ARGS`` in ``cwd``, the outage target told what to do to the server."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args],
        cwd=cwd,
        env=_env(server_pid, how, at),
        capture_output=True,
        text=True,
        timeout=600,
    )


def _env(server_pid: int, how: str, at: int = 5) -> dict[str, str]:
    return dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        ACTIONSEC_TEST_SERVER_PID=str(server_pid),
        ACTIONSEC_TEST_OUTAGE=how,
        ACTIONSEC_TEST_OUTAGE_AT=str(at),
    )


@pytest.mark.parametrize("how", ["kill", "freeze"])
@pytest.mark.parametrize("kind", ["mariadb", "postgresql"])
def test_a_server_lost_mid_run_is_no_finding_and_no_baseline_entry(
    tmp_path: Path, kind: str, how: str
) -> None:
    """Killed (gone for good) or frozen (answers nothing) at the fifth call: every item
    of the run fails with one line naming the environment, the run exits 1, the
    baseline update writes nothing, the report holds no finding; a frozen server ends
    within the I/O deadline (the subprocess's own limit catches a hang)."""
    with private_server(kind) as server:
        done = _pytest(
            tmp_path,
            server.pid,
            how,
            *_args(server.url, "--actionsec-examples=20", "--actionsec-io-timeout=3"),
            *("--actionsec-baseline=b.json", "--actionsec-update-baseline"),
            "--actionsec-report=r.json",
        )
    out = done.stdout + done.stderr
    assert done.returncode == 1, out[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith(LINE)]
    assert len(lines) == 8 and all("environment fault" in line for line in lines), out[-3000:]
    assert "Traceback" not in out and ".store" not in "\n".join(lines)
    assert json.loads((tmp_path / "b.json").read_text())["accepted"] == []
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["violations"] == [] and report["run"]["complete"] is False


def _databases(url: str) -> set[str]:
    import sqlalchemy as sa

    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if engine.url.get_backend_name() == "mysql":
                rows = conn.exec_driver_sql("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
            else:
                rows = conn.exec_driver_sql("SELECT datname FROM pg_database")
            return {str(row[0]) for row in rows if str(row[0]).startswith("actionsec_")}
    finally:
        engine.dispose()


@pytest.mark.parametrize("kind", ["mariadb", "postgresql"])
def test_the_database_of_a_killed_run_is_dropped_by_the_next(tmp_path: Path, kind: str) -> None:
    with private_server(kind) as server:
        run = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pytest",
                *_args(server.url, "--actionsec-examples=5", "--actionsec-timeout=0"),
                "--actionsec-supervise=off",
            ],
            cwd=tmp_path,
            env=_env(server.pid, "hang", at=1),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            left: set[str] = set()
            deadline = time.monotonic() + 300
            while not left and run.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
                left = _databases(server.url)
        finally:
            run.send_signal(signal.SIGKILL)
            run.wait(60)
        assert len(left) == 1, left  # the killed run's database stayed behind
        assert _databases(server.url) == left
        again = _pytest(
            tmp_path, server.pid, "none", *_args(server.url, "--actionsec-examples=1"), at=0
        )
        assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
        assert _databases(server.url) == set()  # the orphan dropped, its own too


_KILL_BEFORE_HISTORY = '''
import os
import signal

from tests.targets.outage import _family


def pytest_runtest_setup(item):
    """The server dies after the store opened (the first run stored records), before
    the history machine's first step."""
    if "history" in item.nodeid:
        for pid in _family(int(os.environ["ACTIONSEC_TEST_SERVER_PID"])):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:  # the second item: gone already
                pass
'''


@pytest.mark.parametrize("kind", ["mariadb", "postgresql"])
def test_the_history_machine_losing_its_server_is_no_finding(tmp_path: Path, kind: str) -> None:
    (tmp_path / "conftest.py").write_text(_KILL_BEFORE_HISTORY)
    with private_server(kind) as server:
        done = _pytest(
            tmp_path,
            server.pid,
            "none",
            *("-p", "no:cacheprovider", "--actionsec", "--actionsec-layers=store,api"),
            *(f"--actionsec-store={server.url}", "--actionsec-seed=1"),
            *("--actionsec-examples=10", "--actionsec-io-timeout=3"),
            *("-k", "leak-pack_action_start-store or history"),
            *("--actionsec-baseline=b.json", "--actionsec-update-baseline"),
            at=0,
        )
    out = done.stdout + done.stderr
    assert done.returncode == 1, out[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith(LINE)]
    assert len(lines) == 2, out[-3000:]  # the history run's two items
    assert "Traceback" not in out and "history." not in "\n".join(lines)
    assert json.loads((tmp_path / "b.json").read_text())["accepted"] == []
