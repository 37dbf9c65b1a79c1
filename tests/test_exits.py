"""The code under test cannot end or take over the run (issue 33, item 3): ``os._exit``,
``os.abort``, ``os.kill`` of its own process, ``signal.signal`` and ``sys.exit`` inside
a helper are a crash finding of that call, at ``-n 0`` and under xdist, never the end of
the run with exit 0."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARGS = (
    "-p",
    "no:cacheprovider",
    "--actionsec",
    "--actionsec-target=tests.targets.exits",
    "--actionsec-layers=packer",
    "--actionsec-examples=3",
    "--actionsec-seed=1",
    "--actionsec-sink=none",
    "--actionsec-notifier=none",
    "--actionsec-boundary=none",
    "-k",
    "crash and pack_action_start",
)


@pytest.mark.parametrize(
    ("how", "workers", "said"),
    [
        ("os_exit0", "0", "os._exit(0) called by the code under test"),
        ("os_exit0", "2", "os._exit(0) called by the code under test"),
        ("os_exit3", "0", "os._exit(3) called by the code under test"),
        ("os_exit3", "2", "os._exit(3) called by the code under test"),
        ("abort", "0", "os.abort() called by the code under test"),
        ("kill", "0", "of its own process called by the code under test"),
        ("signal", "0", "signal.signal(<Signals.SIGALRM: 14>"),
        ("sys_exit", "0", "raised SystemExit"),
    ],
)
def test_a_helper_that_ends_the_process_is_a_crash_finding(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, how: str, workers: str, said: str
) -> None:
    monkeypatch.setenv("ACTIONSEC_TEST_EXIT", how)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    result = pytester.runpytest_subprocess(*ARGS, "-n", workers)
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, out[-3000:]
    assert said in out, out[-3000:]
    assert "crash.contract" in out and "actionsec summary" in out
    result.assert_outcomes(failed=1)


def test_the_guard_is_put_back_after_each_call() -> None:
    import signal
    import subprocess

    from pytest_actionsec.execution.sandbox import ProcessExit, no_process_exit

    real = (os._exit, os.abort, os.kill, signal.signal)
    other = subprocess.Popen(["sleep", "30"])
    try:
        with no_process_exit():
            with pytest.raises(ProcessExit, match=r"os\._exit\(5\)"):
                os._exit(5)
            with pytest.raises(ProcessExit, match="of its own process"):
                os.kill(0, 0)  # the process group
            os.kill(other.pid, signal.SIGTERM)  # another process: allowed
        assert other.wait(30) == -signal.SIGTERM
    finally:
        other.kill()
    assert (os._exit, os.abort, os.kill, signal.signal) == real


# Out of the guard's reach: an ``_exit`` bound at import, a loop in C, a loop that
# swallows the alarm. The parent (``-n 0``: the supervisor; ``-n 2``: xdist's
# controller) says what happened in one line and the run fails; never exit 0.
STUCK = "crash.timeout: a call of the code under test ran past its 1 s limit"
GONE_N0 = "the test process exited with status {} while actionsec["
GONE_N2 = "ended while this ran, before it could report"


def _line_of(text: str) -> int:
    source = (ROOT / "tests" / "targets" / "exits.py").read_text().splitlines()
    return next(i for i, line in enumerate(source, 1) if text in line)


@pytest.mark.parametrize(
    ("how", "workers", "code", "said"),
    [
        ("bound_exit0", "0", 1, GONE_N0.format(0)),
        ("bound_exit3", "0", 3, GONE_N0.format(3)),
        ("bound_exit0", "2", 1, GONE_N2),
        ("bound_exit3", "2", 1, GONE_N2),
        ("c_hang", "0", 1, STUCK),
        ("c_hang", "2", 1, STUCK),
        ("swallow", "0", 1, STUCK),
    ],
)
def test_a_helper_that_ends_the_process_past_the_guard_fails_the_run(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
    workers: str,
    code: int,
    said: str,
) -> None:
    import json

    monkeypatch.setenv("ACTIONSEC_TEST_EXIT", how)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    args = [a for a in ARGS if a not in ("-k", "crash and pack_action_start")]
    result = pytester.runpytest_subprocess(
        *args,
        "-k",
        "pack_action_start and (crash or leak)",
        "--actionsec-timeout=1",
        "--actionsec-report=r.json",
        "-n",
        workers,
    )
    out = result.stdout.str() + result.stderr.str()
    assert result.ret == code, out[-3000:]
    assert said in out, out[-3000:]
    if how == "c_hang":  # the line of the loop in C
        assert f"/tests/targets/exits.py:{_line_of('sum(range(')} in _leave" in out
    elif how == "swallow":  # somewhere in its loop
        assert re.search(r"stuck at \S*/tests/targets/exits\.py:\d+ in _leave", out), out[-3000:]
    run = json.loads((pytester.path / "r.json").read_text())["run"]
    assert run["complete"] is False and run["exit_status"] == code, run
    if workers == "0":
        assert said in run["stopped"]
    else:  # the run's two items, neither judged, and the run went on to its end
        assert set(run["not_run"]) == {
            "crash-pack_action_start-packer",
            "leak-pack_action_start-packer",
        }
        result.assert_outcomes(failed=2)


@pytest.mark.parametrize("dist", ["load", "loadscope", "loadfile", "loadgroup"])
def test_a_dead_worker_never_hangs_the_controller_whatever_the_dist(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, dist: str
) -> None:
    """xdist's loadscope family handed the test a worker died in to the next worker,
    which died too, until the controller waited for ever (issue 33)."""
    monkeypatch.setenv("ACTIONSEC_TEST_EXIT", "bound_exit3")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    result = pytester.runpytest_subprocess(*ARGS, "-n", "2", "--dist", dist, timeout=300)
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, out[-3000:]
    assert GONE_N2 in out, out[-3000:]
    result.assert_outcomes(failed=1)


def test_a_signal_another_process_sends_the_run_is_passed_on_and_named(
    tmp_path: Path,
) -> None:
    """A CI runner's SIGTERM reaches the supervising parent: it is passed on to the run,
    which ends; the line says who stopped it (not the code under test), exit 143."""
    import subprocess
    import sys
    import time

    env = dict(
        os.environ,
        ACTIONSEC_TEST_EXIT="sleep",
        PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    )
    out = tmp_path / "out.txt"
    with out.open("w") as sink:
        run = subprocess.Popen(
            [sys.executable, "-m", "pytest", *ARGS, "--actionsec-timeout=0", "-v"],
            cwd=tmp_path,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 300
        while "actionsec[crash-pack_action_start-packer]" not in out.read_text():
            assert run.poll() is None and time.monotonic() < deadline, out.read_text()
            time.sleep(0.1)
        run.send_signal(signal.SIGTERM)
        assert run.wait(120) == 128 + signal.SIGTERM
    finally:
        run.kill()
    text = out.read_text()
    assert "stopped by SIGTERM, which another process sent the run while actionsec[" in text
