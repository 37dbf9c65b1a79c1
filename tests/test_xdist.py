"""xdist scheduling of the built-in suite, and the budget as a deadline (on a fake clock)."""

from __future__ import annotations

import gc
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_plugin import FAST, LEAKY, _run_sub

pytest_plugins = ["pytester"]

#: The checkout holding ``pytest_actionsec`` (subprocess runs put it on their path).
ROOT = Path(__file__).resolve().parents[1]

#: A conftest for pytester runs: the run clock (which the budget reads too)
#: advances STEP seconds at each reading, so time is a count of readings, whatever
#: the machine's speed.
FAKE_CLOCK = """
import itertools

from pytest_actionsec.execution import search

STEP = {step}
_readings = itertools.count()
search.RUN_CLOCK[0] = lambda: next(_readings) * STEP
"""


@pytest.fixture
def leaky(pytester: pytest.Pytester) -> str:
    pytester.makepyfile(leaky_target=LEAKY)
    pytester.syspathinsert()
    return "leaky_target"


def _report(pytester: pytest.Pytester, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((pytester.path / name).read_text())
    return data


def _verdicts(report: dict[str, Any], *, examples: bool = True) -> list[tuple[Any, ...]]:
    return [
        (p["id"], p["status"], *((p["examples"],) if examples else ()))
        for p in report["properties"]
    ]


def _findings(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(v["invariant"], v["function"], v["layer"], v["field"]) for v in report["violations"]]


_RAN = re.compile(r"\[(gw\d+)\] .*(?:PASSED|FAILED|SKIPPED) actionsec\[[a-z]+-(\S+?)\]")


def _workers_per_run(result: pytest.RunResult) -> dict[str, set[str]]:
    """Which workers ran the items of each run (from ``-v`` output)."""
    seen: dict[str, set[str]] = {}
    for line in result.outlines:
        match = _RAN.search(line)
        if match:
            seen.setdefault(match.group(2), set()).add(match.group(1))
    return seen


def test_n_without_dist_sends_each_run_to_one_worker(pytester: pytest.Pytester, leaky: str) -> None:
    """`-n 2` alone: every item of a run goes to one worker, which runs it once; the
    verdicts, example counts, findings and report are those of `-n 0`."""
    common = ["--actionsec", f"--actionsec-target={leaky}", *FAST, "-p", "no:cacheprovider"]
    serial = _run_sub(pytester, *common, "-n", "0", "--actionsec-report=serial.json")
    # from an empty example database: the serial run's saved failures would replay first
    (pytester.path / ".hypothesis").rename(pytester.path / "serial-db")
    parallel = _run_sub(pytester, *common, "-n", "2", "-v", "--actionsec-report=parallel.json")
    assert serial.ret == parallel.ret == pytest.ExitCode.TESTS_FAILED
    parallel.stdout.fnmatch_lines(["*scheduling tests via RunScheduling*"])
    workers = _workers_per_run(parallel)
    assert len(workers) == 6 and all(len(w) == 1 for w in workers.values()), workers
    assert len({w for ws in workers.values() for w in ws}) == 2  # both workers used
    a, b = _report(pytester, "serial.json"), _report(pytester, "parallel.json")
    assert _verdicts(a) == _verdicts(b) and len(_verdicts(a)) == 48
    assert _findings(a) == _findings(b) and _findings(a)
    # one run per group: every family of a run reports that run's wall time
    runs: dict[str, set[float]] = {}
    for p in b["properties"]:
        runs.setdefault(p["function"], set()).add(p["seconds"])
    assert all(len(s) == 1 for s in runs.values()), runs


def test_dist_load_given_by_the_user_still_gives_the_right_verdicts(
    pytester: pytest.Pytester, leaky: str
) -> None:
    """`--dist load`: a worker that gets an item of a run it did not do runs it itself."""
    common = ["--actionsec", f"--actionsec-target={leaky}", *FAST, "-p", "no:cacheprovider"]
    common += ["-k", "leak or null"]
    _run_sub(pytester, *common, "-n", "0", "--actionsec-report=serial.json")
    (pytester.path / ".hypothesis").rename(pytester.path / "serial-db")
    result = _run_sub(
        pytester, *common, "-n", "2", "--dist", "load", "-v", "--actionsec-report=load.json"
    )
    result.stdout.fnmatch_lines(["*scheduling tests via LoadScheduling*"])
    a, b = _report(pytester, "serial.json"), _report(pytester, "load.json")
    assert _verdicts(a, examples=False) == _verdicts(b, examples=False)
    assert len(_verdicts(a)) == 12
    assert {f for f in _findings(a)} == {f for f in _findings(b)} and _findings(a)


class _Node:
    """The part of xdist's WorkerController its scheduler talks to: what it is sent."""

    def __init__(self, name: str) -> None:
        self.shutting_down = False
        self.sent: list[int] = []
        self.gateway = type("Gateway", (), {"id": name})()

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent.extend(indices)

    def shutdown(self) -> None:
        self.shutting_down = True


def test_scheduler_hands_out_the_longest_runs_first(pytester: pytest.Pytester) -> None:
    """xdist's own loadgroup order (scopes with more tests first) would send the history
    run (two items, the suite's longest) last, for one worker to run alone: the
    scheduler hands out the actionsec runs by cost, then the other tests' scopes in
    xdist's order, each run's items to one worker, indices into each worker's own
    collection."""
    from pytest_actionsec.plugin import _RUN_COST, _run_scheduler

    config = pytester.parseconfigure(
        "--tx", "2*popen", "--dist", "loadgroup", "-p", "no:cacheprovider"
    )
    sched = _run_scheduler(config, None)
    collection = [
        "test_mine.py::test_a",
        "test_mine.py::test_b",
        "test_mine.py::test_c",
        "actionsec[leak-pack_action_start-packer]",
        "actionsec[leak-pack_action_start-store]",
        "actionsec[leak-add_instance_fault_from_exc-packer]",
        "actionsec[null-add_instance_fault_from_exc-packer]",
        "actionsec[leak-add_instance_fault_from_exc-api]",
        "actionsec[history-server-history-store]",
        "actionsec[history-server-history-api]",
    ]
    nodes = [_Node("gw0"), _Node("gw1")]
    for node in nodes:
        sched.add_node(node)
        sched.add_node_collection(node, collection)
    sched.schedule()
    handed = [[collection[i] for i in node.sent] for node in nodes]
    # first units: the history run to one worker, the fault sink's run to the other,
    # and nothing more while neither has finished its first item
    assert handed == [collection[8:10], collection[5:8]], handed
    sched.mark_test_complete(nodes[0], 0 + collection.index(collection[8]), 2.0)
    handed = [[collection[i] for i in node.sent] for node in nodes]
    assert handed[0][2:] == collection[3:5], handed  # the next run, once history ran
    assert _RUN_COST["server-history"] > _RUN_COST["add_instance_fault_from_exc"]
    # every item handed out once, each run to one worker; user's tests after the runs
    while sched.workqueue:
        for node in nodes:
            if sched.workqueue:
                sched._assign_work_unit(node)
    handed = [[collection[i] for i in node.sent] for node in nodes]
    assert sorted(handed[0] + handed[1]) == sorted(collection)
    # a run of one item (-k chose one property of it) is topped up at once: an xdist
    # worker runs an item only when it knows the next, so it must not wait alone
    single = _run_scheduler(config, None)
    lone = ["actionsec[leak-add_instance_fault_from_exc-packer]"]
    lone += ["actionsec[leak-pack_action_start-packer]", "test_mine.py::test_a"]
    workers = [_Node("gw0"), _Node("gw1")]
    for node in workers:
        single.add_node(node)
        single.add_node_collection(node, lone)
    single.schedule()
    assert [len(node.sent) for node in workers] == [2, 1]  # gw0 topped up past its one
    start = [collection[3], collection[4]]
    assert any(h[2:4] == start or h[3:5] == start for h in handed), handed
    assert all(
        h.index("test_mine.py::test_a") > h.index(collection[3])
        for h in handed
        if "test_mine.py::test_a" in h and collection[3] in h
    )


def test_longest_runs_are_collected_first(pytester: pytest.Pytester) -> None:
    """The longest runs first (the order at ``-n 0``; xdist's scheduler orders by cost
    too, see above)."""
    result = pytester.runpytest_subprocess(
        "--actionsec", "--collect-only", "-q", "-p", "no:cacheprovider", "-k", "leak"
    )
    from pytest_actionsec.execution.plan import run_of

    runs = [
        run_of(*line.rstrip("]").split("-", 1)[1].rsplit("-", 1)).id
        for line in result.outlines
        if line.startswith("actionsec[leak-")
    ]
    assert len(runs) == 17, result.outlines
    # the two runs that pack, store and render the most first, each run's items together
    order = list(dict.fromkeys(runs))
    assert order[:2] == ["add_instance_fault_from_exc", "pack_action_event_finish-boundary"]
    assert order[-1] == "pack_action_event_finish" and len(order) == 7, order
    assert runs == sorted(runs, key=order.index)


def test_budget_is_a_deadline_on_the_engine_clock(pytester: pytest.Pytester, leaky: str) -> None:
    """Runs draw rounds until their share is spent and stop at it (a fake clock: each
    reading is STEP seconds, so "more than one round" does not depend on speed)."""
    pytester.makeconftest(FAKE_CLOCK.format(step=2.0))
    result = _run_sub(
        pytester,
        "--actionsec",
        f"--actionsec-target={leaky}",
        "--actionsec-layers=packer",
        "--actionsec-examples=20",
        "--actionsec-budget=1000s",
        "--actionsec-seed=3",
        "--actionsec-report=r.json",
        "-p",
        "no:cacheprovider",
        "-k",
        "null",
    )
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*budget=1000s (--actionsec-budget)*"])
    report = _report(pytester, "r.json")
    examples = [p["examples"] for p in report["properties"]]
    assert all(n > 20 for n in examples), examples  # more than one round of 20 each
    # the session's start-up (real seconds) and every run's time add up within the
    # budget: the last round of each run is cut at its deadline (a reading of STEP)
    spent = sum(p["seconds"] for p in report["properties"])
    assert spent <= 1000 + 5 * 2.0, (spent, examples)


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    from pytest_actionsec.execution import search

    readings = [0]

    def clock() -> float:
        readings[0] += 1
        return float(readings[0])

    real = search.RUN_CLOCK[0]
    search.RUN_CLOCK[0] = clock
    try:
        yield readings
    finally:
        search.RUN_CLOCK[0] = real


def test_deadline_cuts_a_round_and_keeps_its_findings(fake_clock: list[int]) -> None:
    """A round of 10 000 examples on a 40 s budget (one second a reading) stops at the
    deadline: about 40 examples, the leak found before it kept, no error raised."""
    from pytest_actionsec.engine import Group, run_group
    from pytest_actionsec.targets import resolve_target

    target = resolve_target("tests.zoo.m_leak_str_fallback")
    result = run_group(
        Group("pack_action_event_finish", "packer"),
        target,
        families=("leak",),
        max_examples=10_000,
        seed=1,
        database=None,
        seconds=40.0,
    )
    assert result.status == "failed"
    assert any(v.invariant == "leak.field" for v in result.violations), result.violations
    assert 30 <= result.examples <= 60, result.examples  # probes + ~40 readings
    assert result.seconds <= 40.0 + 2


def test_xdist_controller_leaves_nova_to_its_workers(pytester: pytest.Pytester) -> None:
    """The controller runs no item: it neither imports nova's modules (seconds at start
    and at exit; finding the target loads only its light parent packages) nor hides a
    target that cannot be found (a one-line usage error). Before it starts the workers
    (its session start) it has not imported Hypothesis's engine or the history machine
    either (half a second before any worker could start)."""
    pytester.makeconftest(
        """
        import sys

        def pytest_sessionstart(session):
            if not hasattr(session.config, "workerinput"):
                with open("controller-start.txt", "w") as fh:
                    heavy = ("hypothesis.core", "pytest_actionsec.history.run")
                    fh.write(str(sorted(m for m in heavy if m in sys.modules)))

        def pytest_unconfigure(config):
            if not hasattr(config, "workerinput"):
                with open("controller-modules.txt", "w") as fh:
                    heavy = ("nova.objects.instance_action", "nova.compute.utils", "nova.db")
                    fh.write(str(sorted(m for m in heavy if m in sys.modules)))
        """
    )
    args = ["--actionsec", "--actionsec-layers=packer", "--actionsec-examples=3", "-n", "2"]
    result = pytester.runpytest_subprocess(*args, "-p", "no:cacheprovider", "-k", "null")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*each xdist worker imports the target*"])
    assert (pytester.path / "controller-modules.txt").read_text() == "[]"
    assert (pytester.path / "controller-start.txt").read_text() == "[]"
    bad = pytester.runpytest_subprocess(*args, "--actionsec-target=nosuch.module")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in bad.errlines if line.strip()] == [
        "ERROR: target 'nosuch.module' does not import: no module named 'nosuch'"
    ]


#: A conftest recording, per process, what the plugin did at the end: whether the
#: controller imported the modules of its end when the first worker was done, and
#: how many objects each process froze for its exit (``gc.get_freeze_count``).
END_RECORDER = """
import atexit
import gc
import sys

import pytest

_who = ["controller"]  # the environment may hold an outer xdist run's worker id


def pytest_configure(config):
    if hasattr(config, "workerinput"):
        _who[0] = config.workerinput["workerid"]


@pytest.hookimpl(trylast=True)
def pytest_testnodedown(node, error):
    with open("nodedown-" + node.gateway.id + ".txt", "w") as fh:
        fh.write(str("hypothesis.internal.observability" in sys.modules))


def pytest_unconfigure(config):
    hooks = config.pluginmanager.get_plugin("actionsec-xdist")
    if _who[0] == "controller" and hooks is not None:
        with open("prefetched.txt", "w") as fh:
            fh.write(str(hooks.prefetched))


def _frozen():
    with open("frozen-" + _who[0] + ".txt", "w") as fh:
        fh.write(str(gc.get_freeze_count()))


atexit.register(_frozen)
"""


def test_processes_end_quickly_under_xdist(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the first worker is done, the controller imports what its end needs (the
    report, the summary, Hypothesis's summary) while the other still runs; and every
    process that ran the suite froze its objects for a quick exit (after collecting
    its garbage), so the interpreter's exit does not walk nova's objects again."""
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    )
    pytester.makeconftest(END_RECORDER)
    args = ["--actionsec", "--actionsec-layers=packer", "--actionsec-examples=3", "-n", "2"]
    result = pytester.runpytest_subprocess(*args, "-p", "no:cacheprovider", "-k", "null")
    result.assert_outcomes(passed=6)
    assert (pytester.path / "prefetched.txt").read_text() == "True"
    # imported when the first worker was done (else only at Hypothesis's summary)
    downs = sorted(pytester.path.glob("nodedown-*.txt"))
    assert [p.read_text() for p in downs] == ["True", "True"]
    for who in ("controller", "gw0", "gw1"):
        assert int((pytester.path / f"frozen-{who}.txt").read_text()) > 1000, who


def test_an_in_process_run_freezes_nothing(pytester: pytest.Pytester) -> None:
    """A session run inside another process (pytester's in-process runs, an IDE's)
    leaves the process's garbage collector as it was."""
    before = gc.get_freeze_count()
    result = pytester.runpytest(
        "--actionsec", "--actionsec-layers=packer", "--actionsec-examples=3", "-k", "null"
    )
    result.assert_outcomes(passed=6)
    assert gc.get_freeze_count() == before


LOADER_RECORDER = """
import os
import sys

def pytest_collection_finish(session):
    from _pytest.assertion.rewrite import AssertionRewritingHook

    who = os.environ.get("PYTEST_XDIST_WORKER", "main")
    loader = sys.modules["hypothesis.core"].__loader__
    hooked = any(isinstance(f, AssertionRewritingHook) for f in sys.meta_path)
    with open(f"loader-{who}.txt", "w") as fh:
        fh.write(f"{isinstance(loader, AssertionRewritingHook)} {hooked}")
"""


@pytest.mark.parametrize("workers", ["0", "2"])
def test_hypothesis_is_imported_past_pytests_assertion_rewriter(
    pytester: pytest.Pytester, workers: str
) -> None:
    """Each process that runs properties imports Hypothesis with Python's own importer
    (its installed bytecode, not a rewrite from source that ``PYTHONDONTWRITEBYTECODE``
    never caches: up to 1.3 s per process); pytest's rewriter stays for the rest: a
    user's own test module still gets the rewritten assert message."""
    pytester.makeconftest(LOADER_RECORDER)
    pytester.makepyfile(test_user="def test_mine():\n    x = [1, 2]\n    assert x == [1, 3]\n")
    result = pytester.runpytest_subprocess(
        "--actionsec",
        "--actionsec-collect=all",  # test_user.py never names the plugin
        "--actionsec-layers=packer",
        "--actionsec-examples=3",
        "-n",
        workers,
        "-p",
        "no:cacheprovider",
        "-k",
        "null or mine",
    )
    result.assert_outcomes(passed=6, failed=1)
    assert "E       assert [1, 2] == [1, 3]" in result.stdout.lines  # rewritten: both shown
    records = sorted(pytester.path.glob("loader-*.txt"))
    assert len(records) == (1 if workers == "0" else 2), records
    for record in records:
        assert record.read_text() == "False True", record.name
