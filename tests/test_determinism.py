"""A seed replays the same run: two runs of one seed report the same findings and inputs.

In-process: seeded canary tokens; run_group whatever the example database holds and
whatever local code is imported. Whole runs: each a pytest subprocess in a fresh
folder with its own ``PYTHONHASHSEED`` (string hashing, so set iteration order,
differs between processes), against real nova on the in-process sqlite store, every
layer; the JSON reports must be identical apart from durations (``seconds``) and the
folder's path: the same examples, verdicts, printed inputs (canary tokens included)
and evidence. These take minutes on a loaded machine (ten runs of the whole suite).
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["pytester"]

pytest.importorskip("nova")

LAYERS = "--actionsec-layers=packer,boundary,store,api"
#: Few examples keep four runs cheap; the probes and these still give findings with
#: printed inputs at every layer (checked below).
EXAMPLES = "--actionsec-examples=8"


def test_seeded_tokens_repeat_per_seed_and_never_repeat_within_a_run() -> None:
    from pytest_actionsec.canaries import MIN_FRAGMENT, new_canary, seeded_canaries

    def tokens(*parts: object) -> list[str]:
        with seeded_canaries(*parts):
            return [new_canary("context.user_id").token for _ in range(200)]

    first = tokens(5, "pack_action_start-packer")
    assert first == tokens(5, "pack_action_start-packer")
    assert len(set(first)) == len(first)
    assert not set(first) & set(tokens(6, "pack_action_start-packer"))
    assert not set(first) & set(tokens(5, "pack_action_start-store"))
    assert all(re.fullmatch(r"[0-9a-f]{12}cnry[0-9a-f]{4}", t) for t in first)
    assert len(first[0]) > MIN_FRAGMENT
    outside = {new_canary("x").token for _ in range(3)}  # no seed: fresh randomness
    assert len(outside) == 3 and not outside & set(first)


def _group_run(database: Any, seed: int = 5) -> Any:
    from pytest_actionsec.clock import SkewedClock
    from pytest_actionsec.engine import Group, run_group
    from pytest_actionsec.targets import resolve_target

    target = resolve_target("nova.objects.instance_action")
    with SkewedClock() as clock:
        return run_group(
            Group("pack_action_event_finish", "packer"),
            target,
            mode="hostile",
            max_examples=30,
            seed=seed,
            clock=clock,
            database=database,
        )


def test_run_group_replays_a_seed_whatever_the_database_holds() -> None:
    """In-process: one seed, the same findings and inputs, with an empty database or
    one holding another seed's failures (replayed apart: they may only add)."""
    from hypothesis.database import InMemoryExampleDatabase

    fresh = _group_run(InMemoryExampleDatabase())
    assert fresh.violations and all("cnry" in v.input for v in fresh.violations)
    again = _group_run(None)
    assert [v.to_dict() for v in again.violations] == [v.to_dict() for v in fresh.violations]
    assert again.examples == fresh.examples
    used = InMemoryExampleDatabase()
    _group_run(used, seed=4)
    assert used.data  # seed 4 saved failures
    warm = _group_run(used)
    shown = [v.to_dict() for v in warm.violations]
    assert [v for v in (v.to_dict() for v in fresh.violations) if v not in shown] == []
    assert warm.examples > fresh.examples  # the saved examples were replayed too


def test_run_group_draws_the_same_whatever_local_code_is_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hypothesis draws literals from the source of imported "local" modules (neither
    stdlib nor site-packages): importing one between two runs of one seed (another
    install, another xdist worker, another group first) must not change the draws."""
    first = _group_run(None)
    module = tmp_path / "actionsec_local_literals.py"
    literals = [f"'{chr(0x41 + k % 26) * (k % 40 + 1)}-{k}'" for k in range(300)]
    module.write_text(f"WORDS = [{', '.join(literals)}]\nNUMBERS = {list(range(-50, 250))}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("actionsec_local_literals")
    second = _group_run(None)
    assert [v.to_dict() for v in second.violations] == [v.to_dict() for v in first.violations]
    assert second.examples == first.examples


def _normal(value: Any, folder: str) -> Any:
    """The report without what may differ between runs: durations and the folder."""
    if isinstance(value, dict):
        return {k: _normal(v, folder) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [_normal(v, folder) for v in value]
    if isinstance(value, str):
        return value.replace(folder, "<folder>")
    return value


def _run(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    folder: str,
    hash_seed: int,
    *args: str,
) -> Any:
    """One run in ``folder`` (created fresh unless it exists); its normalised report."""
    where = pytester.path / folder
    where.mkdir(exist_ok=True)
    monkeypatch.chdir(where)
    monkeypatch.setenv("PYTHONHASHSEED", str(hash_seed))
    # Hypothesis's "ci" profile (no example database) would hide what a database does
    monkeypatch.delenv("CI", raising=False)
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--actionsec",
        LAYERS,
        EXAMPLES,
        "--actionsec-report=r.json",
        *args,
    )
    assert result.ret in (0, 1), result.stdout.str()[-3000:]
    report = json.loads((where / "r.json").read_text())
    return _normal(report, str(where))


def _has_inputs_at_every_layer(report: Any) -> None:
    """The comparison means something: findings with printed canary tokens everywhere."""
    layers = {v["layer"] for v in report["violations"] if re.search(r"cnry", v["input"])}
    assert layers == {"packer", "boundary", "store", "api"}, layers


def _differences(one: Any, two: Any) -> list[str]:
    out = [k for k in one if k not in ("properties", "violations") and one[k] != two[k]]
    out += [
        f"{a['id']}: {a} != {b}"
        for a, b in zip(one["properties"], two["properties"], strict=False)
        if a != b
    ]
    out += [
        f"{a['invariant']} {a['function']} {a['layer']}:\n{a}\n!=\n{b}"
        for a, b in zip(one["violations"], two["violations"], strict=False)
        if a != b
    ]
    if len(one["violations"]) != len(two["violations"]):
        out.append(f"{len(one['violations'])} != {len(two['violations'])} violations")
    return out


@pytest.mark.parametrize("mode", ["contract", "hostile"])
def test_one_seed_gives_one_report(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    args = ("--actionsec-seed=5", f"--actionsec-mode={mode}", "-n", "0")
    one = _run(pytester, monkeypatch, "one", 1, *args)
    two = _run(pytester, monkeypatch, "two", 2, *args)
    _has_inputs_at_every_layer(one)
    assert not _differences(one, two), "\n".join(_differences(one, two))[:6000]


def test_one_seed_gives_one_report_under_xdist(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same at ``-n 2`` (and the same as at ``-n 0``): which worker runs a group
    does not change what it draws."""
    args = ("--actionsec-seed=5", "--actionsec-mode=hostile")
    one = _run(pytester, monkeypatch, "one", 3, *args, "-n", "2")
    two = _run(pytester, monkeypatch, "two", 4, *args, "-n", "2")
    alone = _run(pytester, monkeypatch, "alone", 5, *args, "-n", "0")
    _has_inputs_at_every_layer(one)
    assert not _differences(one, two), "\n".join(_differences(one, two))[:6000]
    assert not _differences(one, alone), "\n".join(_differences(one, alone))[:6000]


def test_a_seed_replays_the_same_run_after_other_runs(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder whose example database holds another seed's failures replays a seed
    as a fresh folder does: every finding with the same input and evidence (the saved
    examples are replayed apart, and only add examples and findings of their own)."""
    args = ("--actionsec-mode=hostile", "-n", "0")
    _run(pytester, monkeypatch, "used", 6, "--actionsec-seed=4", *args)
    assert (pytester.path / "used" / ".hypothesis" / "examples").is_dir()
    used = _run(pytester, monkeypatch, "used", 7, "--actionsec-seed=5", *args)
    fresh = _run(pytester, monkeypatch, "fresh", 8, "--actionsec-seed=5", *args)
    missing = [v for v in fresh["violations"] if v not in used["violations"]]
    assert not missing, json.dumps(missing, indent=1)[:6000]
    for a, b in zip(fresh["properties"], used["properties"], strict=True):
        assert a["id"] == b["id"]
        assert a["examples"] <= b["examples"], (a, b)


def test_canaries_fixture_tokens_come_from_the_seed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_plant(actionsec_canaries):
            print("TOKEN", actionsec_canaries.plant("context.auth_token"))
            print("TOKEN", actionsec_canaries.plant("context.user_id", allowed=["user_id"]))
        """
    )

    def tokens(seed: int) -> list[str]:
        result = pytester.runpytest("-s", "-p", "no:cacheprovider", f"--actionsec-seed={seed}")
        result.assert_outcomes(passed=1)
        return re.findall(r"TOKEN (\S+)", result.stdout.str())

    five = tokens(5)
    assert len(set(five)) == 2
    assert tokens(5) == five
    assert not set(tokens(6)) & set(five)
