"""A seed replays the same run: two runs of one seed report the same findings and inputs.

Each run is a pytest subprocess in a fresh folder with its own ``PYTHONHASHSEED``
(string hashing, so set iteration order, differs between processes), against real
nova on the in-process sqlite store. The JSON reports must be identical apart from
durations (``seconds``) and the folder's path: the same examples, verdicts, printed
inputs (canary tokens included) and evidence.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

pytest_plugins = ["pytester"]

pytest.importorskip("nova")

LAYERS = "--actionsec-layers=packer,boundary,store,api"
#: Few examples keep four runs cheap; the probes and these still give findings with
#: printed inputs at every layer (checked below).
EXAMPLES = "--actionsec-examples=8"


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
