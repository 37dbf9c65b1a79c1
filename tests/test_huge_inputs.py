"""Huge inputs are one-line errors, never a run out of memory (issue 33, item 6): a
baseline, a policy file or a report to merge larger than the plugin reads whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_actionsec import errors


@pytest.fixture
def small_limit(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(errors, "MAX_INPUT_BYTES", 64)
    return 64


def test_read_bounded_reads_up_to_the_limit_and_refuses_past_it(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_text("x" * 10)
    assert errors.read_bounded(path, 10) == "x" * 10
    with pytest.raises(OSError) as refused:
        errors.read_bounded(path, 9)
    assert refused.value.strerror == "larger than 9 bytes, the most it reads"


def test_a_huge_baseline_is_one_line(tmp_path: Path, small_limit: int) -> None:
    from pytest_actionsec.report import Baseline, BaselineError

    path = tmp_path / "b.json"
    path.write_text('{"version": 1, "accepted": []}' + " " * small_limit)
    with pytest.raises(BaselineError) as refused:
        Baseline.load(path)
    assert str(refused.value) == (
        f"baseline {str(path)!r} is not readable JSON: larger than 64 bytes, the most it reads"
    )


def test_a_huge_report_to_merge_is_one_line(tmp_path: Path, small_limit: int) -> None:
    from pytest_actionsec.merge import ReportError, load_report

    path = tmp_path / "r.json"
    path.write_text("{}" + " " * small_limit)
    with pytest.raises(ReportError) as refused:
        load_report(path)
    assert str(refused.value) == f"{path}: cannot be read: larger than 64 bytes, the most it reads"


def test_a_huge_policy_file_is_one_line(tmp_path: Path, small_limit: int) -> None:
    from pytest_actionsec.policies import PolicyError, _read

    path = tmp_path / "policy.yaml"
    path.write_text("# " + "x" * small_limit + "\n")
    with pytest.raises(PolicyError) as refused:
        _read(str(path), None)
    assert str(refused.value) == (
        f"policy file {path}: cannot be read: larger than 64 bytes, the most it reads"
    )
