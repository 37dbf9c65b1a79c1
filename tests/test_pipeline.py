"""One pipeline per function: each drawn call is packed, stored and rendered once, and
every selected layer is judged on its own stage's observation, in one Hypothesis run.

Against real nova 34 and a real sqlite store; the stage functions are wrapped with
counters (the real ones still run).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_actionsec.constants import LAYERS
from pytest_actionsec.engine import Run, builtin_runs, run_of, run_pipeline
from pytest_actionsec.execution import stages
from pytest_actionsec.oracle import FAMILIES, Observation
from pytest_actionsec.store import Store
from pytest_actionsec.targets import Target, resolve_target

ROOT = Path(__file__).resolve().parents[1]
ALL = tuple(FAMILIES)


@pytest.fixture(scope="module")
def nova() -> Target:
    return resolve_target()


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    with Store.open() as opened:
        yield opened


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often each stage did its work (the real work: the functions are wrapped)."""
    counts: Counter[str] = Counter()
    for name in ("execute", "stored", "rendered"):
        real = getattr(stages, name)

        def wrapper(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            counts[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(stages, name, wrapper)
    return counts


def test_nova_takes_seven_runs_and_each_layer_has_one() -> None:
    runs = builtin_runs(LAYERS)
    assert [r.id for r in runs] == [
        "pack_action_start",
        "pack_action_finish",
        "pack_action_event_start",
        "pack_action_event_finish",
        "add_instance_fault_from_exc",
        "notify_about_instance_action",
        "pack_action_event_finish-boundary",
    ]
    # the notification sink: packer and bus only, both in its one run
    assert run_of("notify_about_instance_action", "bus") == Run("notify_about_instance_action")
    assert Run("notify_about_instance_action").layers() == ("packer", "bus")
    # event finish is stored as nova stores it: through serialize_args
    assert run_of("pack_action_event_finish", "store") == Run(
        "pack_action_event_finish", "boundary"
    )
    assert run_of("pack_action_event_finish", "packer").id == "pack_action_event_finish"
    # a target without a boundary packs event finish directly for every layer
    assert run_of("pack_action_event_finish", "api", has_boundary=False).via == "packer"
    assert run_of("pack_action_start", "api") == Run("pack_action_start")
    assert len(builtin_runs(("packer",))) == 6 and len(builtin_runs(("store", "api"))) == 5


def test_each_example_is_packed_stored_and_rendered_once(
    nova: Target, store: Store, counted: Counter[str]
) -> None:
    """Three layers in one run: a pack, a write and a render per example, no more."""
    result = run_pipeline(
        nova,
        Run("pack_action_finish"),
        {"packer": ALL, "store": ALL, "api": ALL},
        max_examples=20,
        seed=3,
        store=store,
        database=None,
    )
    assert result.status == "passed" and not result.violations  # nova 34 finishes cleanly
    assert result.examples >= 20
    assert counted == {
        "execute": result.examples,
        "stored": result.examples,
        "rendered": result.examples,
    }


def test_a_layer_not_selected_is_not_run(nova: Target, store: Store, counted: Counter[str]) -> None:
    result = run_pipeline(
        nova,
        Run("pack_action_start"),
        {"packer": ("leak",)},
        max_examples=10,
        seed=1,
        store=store,
        database=None,
    )
    assert counted["execute"] == result.examples >= 10
    assert counted["stored"] == counted["rendered"] == 0
    stored_only = run_pipeline(
        nova,
        Run("pack_action_start"),
        {"store": ("type",)},
        max_examples=10,
        seed=1,
        store=store,
        database=None,
    )
    assert counted["stored"] == stored_only.examples and counted["rendered"] == 0


def test_every_layer_is_judged_on_its_own_stage(nova: Target, store: Store) -> None:
    """nova 34's falsy-exception defect (integrity.details) is found at the boundary,
    store and api layers of one run, each with the printed input of its own way."""
    result = run_pipeline(
        nova,
        Run("pack_action_event_finish", "boundary"),
        {"boundary": ALL, "store": ALL, "api": ALL},
        max_examples=10,
        seed=1,
        store=store,
        database=None,
    )
    by_layer = {v.layer: v for v in result.violations if v.invariant == "integrity.details"}
    assert set(by_layer) == {"boundary", "store", "api"}
    assert "Store" not in by_layer["boundary"].input
    assert (
        "replay.write(" in by_layer["store"].input
        and "replay.render(" not in by_layer["store"].input
    )
    assert "replay.render(" in by_layer["api"].input
    assert {p.layer for p in _properties(result, "integrity")} == {"boundary", "store", "api"}


def _properties(result: Any, family: str) -> list[Any]:
    from pytest_actionsec.engine import Property

    return [
        Property(family, result.run.function, layer)
        for layer in result.judged
        if result.for_property(Property(family, result.run.function, layer)).status == "failed"
    ]


def test_observations_and_violations_are_frozen(nova: Target) -> None:
    from pytest_actionsec.engine import execute
    from pytest_actionsec.probes import probes

    obs = execute(nova, probes(nova, "pack_action_event_finish")[0])
    assert isinstance(obs, Observation)
    with pytest.raises(dataclasses.FrozenInstanceError):
        obs.layer = "store"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        obs.record = {}  # type: ignore[misc]


def test_the_suite_reports_its_eight_runs(tmp_path: Path) -> None:
    """The default suite (all four layers) on nova: 128 per-call items in 6 Hypothesis
    runs, the notification sink's 8 in a seventh and the history machine's 2 items in an
    eighth, each report entry naming its run."""
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "BUILD_NUMBER")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--actionsec",
            "-p",
            "no:cacheprovider",
            "-q",
            "--actionsec-examples=5",
            "--actionsec-seed=1",
            "--actionsec-report=r.json",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "138 properties in 8 Hypothesis runs" in done.stdout, done.stdout[-3000:]
    report = json.loads((tmp_path / "r.json").read_text())
    runs = Counter(p["run"] for p in report["properties"])
    assert len(runs) == 8 and sum(runs.values()) == 138
    assert runs["server-history"] == 2  # the history machine: store and api
    assert runs["notify_about_instance_action"] == len(FAMILIES)  # packer (no bus given)
    assert runs["pack_action_event_finish-boundary"] == 3 * len(FAMILIES)  # boundary,store,api
    assert runs["pack_action_event_finish"] == len(FAMILIES)  # packer only


def test_every_probe_goes_every_way(nova: Target, store: Store) -> None:
    """The probes are not shrinking: each reaches every stage, so the fault sink's
    non-dict-kwargs crash (a probe's shape, rare in draws) is found at all three layers
    even after another probe found a leak (one drawn example besides)."""
    result = run_pipeline(
        nova,
        Run("add_instance_fault_from_exc"),
        {"packer": ALL, "store": ALL, "api": ALL},
        max_examples=1,
        seed=1,
        store=store,
        database=None,
    )
    found = {(v.invariant, v.layer) for v in result.violations}
    assert {("leak.field", layer) for layer in ("packer", "store", "api")} <= found
    assert {("crash.contract", layer) for layer in ("packer", "store", "api")} <= found
