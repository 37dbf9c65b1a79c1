"""Long campaigns: the fuzz module's tests and run_group share their saved failures.

``tests.zoo.m_leak_cause`` leaks an exception's cause, a shape no probe has: a run of
one example misses it (each test checks that first), so a failing run of one example
shows that a saved failure was replayed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis.database import InMemoryExampleDatabase

from pytest_actionsec.clock import SkewedClock
from pytest_actionsec.engine import (
    Group,
    GroupResult,
    fuzz_test_name,
    group_test,
    run_group,
)
from pytest_actionsec.targets import Target, resolve_target

ROOT = Path(__file__).resolve().parents[1]
MUTANT = "tests.zoo.m_leak_cause"
GROUP = Group("pack_action_event_finish", "packer")
#: the run that judges GROUP (event finish packed directly)
RUN_ID = "pack_action_event_finish"

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")


@pytest.fixture(scope="module")
def clock() -> Iterator[SkewedClock]:
    with SkewedClock() as frozen:
        yield frozen


@pytest.fixture(scope="module")
def mutant() -> Target:
    return resolve_target(MUTANT)


def _one_example(target: Target, clock: SkewedClock, database: object) -> GroupResult:
    return run_group(GROUP, target, max_examples=1, seed=1, clock=clock, database=database)


def _fuzz_side_failure(target: Target, clock: SkewedClock, database: object, **kw: bool) -> None:
    test = group_test(GROUP, target, clock=clock, database=database, max_examples=2000, **kw)
    with pytest.raises(Exception):  # noqa: B017 - one finding or an ExceptionGroup of several
        test()


def test_a_failure_saved_by_the_fuzz_side_test_is_replayed_first_by_run_group(
    mutant: Target, clock: SkewedClock
) -> None:
    assert _one_example(mutant, clock, InMemoryExampleDatabase()).status == "passed"
    db = InMemoryExampleDatabase()
    _fuzz_side_failure(mutant, clock, db)  # plain Hypothesis, the module's own test
    replayed = _one_example(mutant, clock, db)
    assert replayed.status == "failed"
    assert "leak.field" in {v.invariant for v in replayed.violations}


def test_another_mode_or_target_does_not_replay_it(mutant: Target, clock: SkewedClock) -> None:
    db = InMemoryExampleDatabase()
    _fuzz_side_failure(mutant, clock, db)
    other = run_group(
        GROUP, mutant, mode="hostile", max_examples=1, seed=1, clock=clock, database=db
    )
    assert "leak.field" not in {v.invariant for v in other.violations}


def test_run_group_adopts_the_failures_of_a_hypofuzz_campaign(
    mutant: Target, clock: SkewedClock
) -> None:
    """HypoFuzz's records (its test keys, reports naming node ids, failing choices)."""
    found = InMemoryExampleDatabase()
    _fuzz_side_failure(mutant, clock, found, keyed=False)  # the database as HypoFuzz uses it
    choices = [value for values in found.data.values() for value in values]
    db = InMemoryExampleDatabase()
    fuzz_key = b"\x07" * 48  # HypoFuzz keys a test by its node id: any key will do
    db.save(b"hypofuzz.test_keys", fuzz_key)
    nodeid = f"pytest_actionsec/fuzz.py::{fuzz_test_name(RUN_ID, MUTANT, 'contract')}"
    db.save(fuzz_key + b".hypofuzz.reports", json.dumps({"nodeid": nodeid}).encode())
    for value in choices:
        db.save(fuzz_key + b".secondary", value)  # saved unshrunk, before its shrink
    replayed = _one_example(mutant, clock, db)
    assert replayed.status == "failed"
    assert "leak.field" in {v.invariant for v in replayed.violations}
    # another group's fuzz test is not adopted
    other = Group("pack_action_event_finish", "boundary")
    assert (
        run_group(other, mutant, max_examples=1, seed=1, clock=clock, database=db).status
        == "passed"
    )


def _run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ, PYTHONPATH=str(ROOT), **env)
    # Hypothesis loads its "ci" profile (no example database) when CI is set; the
    # replay is what is tested here, so these runs use the default profile
    full.pop("CI", None)
    full["HYPOTHESIS_STORAGE_DIRECTORY"] = str(tmp_path / "db")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=tmp_path,
        env=full,
        capture_output=True,
        text=True,
        check=False,
    )


def test_pytest_actionsec_replays_what_the_fuzz_module_found(tmp_path: Path) -> None:
    replay = [
        "--actionsec",
        f"--actionsec-target={MUTANT}",
        "--actionsec-examples=1",
        "--actionsec-layers=packer",
        "--actionsec-seed=1",
        "-k",
        "leak",
    ]
    assert _run(replay, tmp_path).returncode == 0  # one example misses it
    fuzz = _run(["--pyargs", "pytest_actionsec.fuzz"], tmp_path, ACTIONSEC_TARGET=MUTANT)
    assert fuzz.returncode == 1, fuzz.stdout[-2000:]
    name = fuzz_test_name(RUN_ID, MUTANT, "contract")
    assert f"FAILED ::{name}" in fuzz.stdout or f"::{name} FAILED" in fuzz.stdout
    again = _run(replay, tmp_path)
    assert again.returncode == 1, again.stdout[-2000:]
    assert "leak.field" in again.stdout


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("ACTIONSEC_MODE", "evil", "ACTIONSEC_MODE must be one of contract, hostile, got 'evil'"),
        ("ACTIONSEC_LAYERS", "packer,db", "ACTIONSEC_LAYERS must be a comma-separated list"),
        ("ACTIONSEC_TIMEOUT", "soon", "ACTIONSEC_TIMEOUT must be a number of seconds"),
    ],
)
def test_the_fuzz_module_names_a_bad_setting(
    tmp_path: Path, name: str, value: str, error: str
) -> None:
    done = _run(["--pyargs", "pytest_actionsec.fuzz", "--co"], tmp_path, **{name: value})
    assert done.returncode != 0
    assert error in done.stdout


def test_hypofuzz_collects_every_fuzz_test(tmp_path: Path) -> None:
    """HypoFuzz (optional extra) fuzzes all five: same database as the profile, no skip."""
    pytest.importorskip("hypofuzz")
    code = (
        "import hypofuzz.detection as d; d._in_hypofuzz_run = True\n"
        "from hypofuzz.collection import collect_tests\n"
        "r = collect_tests(['--pyargs', 'pytest_actionsec.fuzz', '-p', 'no:cacheprovider'])\n"
        "print(sorted(t.nodeid.rsplit('::', 1)[-1] for t in r.fuzz_targets))\n"
        "print(r.not_collected)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT), ACTIONSEC_TARGET=MUTANT)
    env["HYPOTHESIS_STORAGE_DIRECTORY"] = str(tmp_path / "db")
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names, skipped = done.stdout.strip().splitlines()[-2:]
    expected = sorted(
        fuzz_test_name(run_id, MUTANT, "contract")
        for run_id in [
            "pack_action_start",
            "pack_action_finish",
            "pack_action_event_start",
            "pack_action_event_finish",
            "pack_action_event_finish-boundary",
        ]
    )
    assert names == repr(expected)
    assert skipped == "{}"
