"""Every command of ``docs/campaigns.md`` runs (on loopback).

The ``sh`` blocks' ``pytest`` commands run with the documented host replaced by the
local Redis (``ACTIONSEC_TEST_REDIS``) and ``--co`` added (the options are parsed and
the database opened and checked, nothing is searched; the runs themselves are
``tests/test_databases.py``'s); ``--tx ssh=...`` workers are started with ``popen``
here. The merge command runs on two reports in a scratch folder.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_merge import _report, _violation

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "campaigns.md"
REDIS_URL = os.environ.get("ACTIONSEC_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _commands() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    out = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        for command in block.replace("\\\n", " ").splitlines():
            if command.strip():
                out.append(" ".join(command.split()))
    return out


def _local(command: str) -> list[str]:
    words = shlex.split(command.replace("$SHARD", "1"))
    local = REDIS_URL.rsplit("/", 1)[0].removeprefix("redis://")
    words = [w.replace("redis.ci.example:6379", local) for w in words]
    words = [
        re.sub(r"^\d+\*ssh=[^/]+//python=.*$", f"popen//python={sys.executable}", w) for w in words
    ]
    return words


def test_the_doc_has_the_commands_it_describes() -> None:
    commands = _commands()
    assert {" ".join(c.split()[:3]) for c in commands if not c.startswith("pytest ")} == {
        "pip install 'pytest-actionsec[nova,redis]'",
        "python -m pytest_actionsec.merge",
    }
    assert any("readonly:redis://" in c for c in commands)
    assert any("--tx" in c for c in commands)


@pytest.mark.parametrize("command", [c for c in _commands() if c.startswith("pytest ")])
def test_each_pytest_command_is_accepted(command: str, tmp_path: Path) -> None:
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:
        pytest.skip(f"no usable Redis at {REDIS_URL}: {exc}")
    if "-n" in command.split() or "--tx" in command:
        pytest.importorskip("xdist")
    words = _local(command)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", *words, "--co", "-q"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "actionsec[" in done.stdout  # the built-in suite was collected


def test_the_merge_command_runs(tmp_path: Path) -> None:
    (merge,) = [c for c in _commands() if c.startswith("python -m pytest_actionsec.merge ")]
    merge = shlex.quote(sys.executable) + merge.removeprefix("python")
    for shard, evidence in ((1, "one"), (2, "two")):
        report = _report([_violation(evidence=evidence, kind=evidence)], seed=shard)
        (tmp_path / f"actionsec-report-{shard}.json").write_text(json.dumps(report))
    done = subprocess.run(
        merge,
        shell=True,  # the glob, as a CI step's shell expands it
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        check=False,
        executable="/bin/sh",
    )
    assert done.returncode == 0, done.stderr
    merged = json.loads((tmp_path / "actionsec-report.json").read_text())
    assert len(merged["violations"]) == 2 and len(merged["merged_from"]) == 2
    assert (tmp_path / "actionsec.sarif").is_file()
