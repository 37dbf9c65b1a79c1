"""Every finding reproduces from its printed input (issue 18, item 5).

A finding's ``input`` is a script: run with ``python snippet.py`` in an empty
folder, it goes the way of its layer (the helper, the RPC boundary, nova's DB
write and read-back, nova's API rendering; nova's own fault sink) and ends by
printing the violations it shows, one per line (``invariant field: evidence``).
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings

pytest.importorskip("nova")

from pytest_actionsec.clock import SkewedClock
from pytest_actionsec.engine import builtin_groups, run_group, store_executor
from pytest_actionsec.oracle import Violation, judge
from pytest_actionsec.snippets import call_source
from pytest_actionsec.specs import Call, ContextSpec
from pytest_actionsec.store import Store, StoreError
from pytest_actionsec.strategies import calls
from pytest_actionsec.targets import FUNCTIONS, Target, resolve_target

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("packer", "boundary", "store", "api")
MYSQL_URL = os.environ.get("ACTIONSEC_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/")


@pytest.fixture(scope="module")
def target() -> Target:
    return resolve_target()


def _findings(
    target: Target,
    mode: str,
    examples: int,
    run_seed: int,
    functions: Iterable[str] = FUNCTIONS,
) -> list[Violation]:
    """Every distinct finding of a run of ``functions`` at every layer (sqlite store),
    one per (invariant, function, layer, field)."""
    out: dict[tuple[str, str, str, str], Violation] = {}
    wanted = set(functions)
    with Store.open() as store:
        for group in [g for g in builtin_groups(LAYERS) if g.function in wanted]:
            with SkewedClock() as clock:
                result = run_group(
                    group,
                    target,
                    mode=mode,
                    max_examples=examples,
                    seed=run_seed,
                    clock=clock,
                    store=store,
                    database=None,
                )
            for v in result.violations:
                out.setdefault((v.invariant, v.function, v.layer, v.field or "-"), v)
    return list(out.values())


def _run_script(source: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python snippet.py`` in an empty folder, only our package on PYTHONPATH."""
    full = {k: v for k, v in os.environ.items() if k != "ACTIONSEC_STORE"}
    full["PYTHONPATH"] = str(ROOT)
    full.update(env or {})
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "snippet.py"
        path.write_text(source)
        return subprocess.run(
            [sys.executable, str(path)],
            cwd=folder,
            env=full,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )


def _shows(output: str, v: Violation) -> bool:
    return any(line.startswith(f"{v.invariant} {v.field or '-'}:") for line in output.splitlines())


#: Runs every snippet file given as ``__main__`` in this one process (nova is imported
#: once), printing a JSON list of [exit, stdout] (each snippet closes its own Store).
_HARNESS = r"""
import contextlib, io, json, runpy, sys, traceback
out = []
for path in sys.argv[1:]:
    buf = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(buf):
        try:
            runpy.run_path(path, run_name="__main__")
        except SystemExit as done:  # the script's own end: 1 when it shows a violation
            code = done.code if isinstance(done.code, int) else 2
        except BaseException:
            code = 1
            buf.write(traceback.format_exc())
    out.append([code, buf.getvalue()])
print(json.dumps(out))
"""


def _run_scripts(sources: list[str]) -> list[tuple[int, str]]:
    """Each source run as a script file in one empty folder, in one interpreter."""
    env = {k: v for k, v in os.environ.items() if k != "ACTIONSEC_STORE"}
    env["PYTHONPATH"] = str(ROOT)
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i, source in enumerate(sources):
            path = Path(folder) / f"snippet_{i}.py"
            path.write_text(source)
            paths.append(str(path))
        done = subprocess.run(
            [sys.executable, "-c", _HARNESS, *paths],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    return [(int(code), text) for code, text in json.loads(done.stdout.splitlines()[-1])]


def _assert_reproduced(found: Iterable[Violation]) -> None:
    found = list(found)
    done = _run_scripts([v.input for v in found])
    bad = [
        f"{v.invariant} {v.field} of {v.function} at {v.layer}:\n{v.input}\n"
        f"--- output\n{text[-2000:]}"
        for v, (code, text) in zip(found, done, strict=True)
        if code != 1 or not _shows(text, v)  # a script showing a violation exits 1
    ]
    assert not bad, f"{len(bad)} of {len(found)} findings do not reproduce:\n" + "\n".join(bad)
    # and as real scripts, one process each: one finding of every layer
    per_layer = {v.layer: v for v in found}
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda v: _run_script(v.input), per_layer.values()))
    for v, run in zip(per_layer.values(), runs, strict=True):
        assert run.returncode == 1 and _shows(run.stdout, v), (v.input, run.stdout, run.stderr)


def test_every_finding_of_a_contract_run_reproduces_from_its_printed_input(
    target: Target,
) -> None:
    found = _findings(target, "contract", 10, 3)
    layers = {v.layer for v in found}
    assert layers == set(LAYERS), layers  # every layer has findings on nova 34
    assert {v.function for v in found if v.layer == "store"} >= {
        "pack_action_event_finish",
        "add_instance_fault_from_exc",
    }
    _assert_reproduced(found)


def test_hostile_findings_reproduce_from_their_printed_input(target: Target) -> None:
    found = _findings(
        target, "hostile", 4, 5, ("pack_action_event_finish", "add_instance_fault_from_exc")
    )
    # a few of each layer: one per invariant and layer, at most 4 a layer
    chosen: dict[tuple[str, str], Violation] = {}
    for v in sorted(found, key=lambda v: v.key()):
        chosen.setdefault((v.invariant, v.layer), v)
    picked = [v for layer in LAYERS for v in [c for c in chosen.values() if c.layer == layer][:4]]
    assert {v.layer for v in picked} == set(LAYERS)
    _assert_reproduced(picked)


def _event_finish_at_store(target: Target) -> Call:
    return Call(
        function="pack_action_event_finish",
        layer="packer",
        context=ContextSpec(
            (
                ("user_id", "u"),
                ("project_id", "p"),
                ("request_id", "req-6f1c2e8a-1b0a-4c1e-9a43-6d5f0e7c1a11"),
                ("timestamp", dt.datetime(2026, 11, 22, 11, 59)),
            )
        ),
        arguments=(
            ("instance_uuid", "6f1c2e8a-1b0a-4c1e-9a43-6d5f0e7c1a12"),
            ("event_name", "compute_reboot_instance"),
            ("exc_val", "failed"),
            ("exc_tb", "Traceback (most recent call last):\n  boom \U0001f4a5\n"),
        ),
        server_time=dt.datetime(2026, 11, 22, 12, 0),
    )


def test_mariadb_refusal_of_a_4_byte_traceback_reproduces_on_mariadb(target: Target) -> None:
    try:
        store = Store.open(MYSQL_URL)
    except StoreError as exc:
        pytest.skip(f"no usable MariaDB: {exc}")
    with store, SkewedClock() as clock:
        obs = store_executor(target, store, clock=clock)(_event_finish_at_store(target))
        found = [v for v in judge(obs) if v.invariant == "bounds.store"]
    assert [v.field for v in found] == ["traceback"]
    (finding,) = found
    # the layer packs through serialize_args: so does the printed input
    assert "serialize_args" in finding.input
    assert "# found on the store mysql+pymysql://root@127.0.0.1:3306/" in finding.input
    on_mariadb = _run_script(finding.input, {"ACTIONSEC_STORE": MYSQL_URL})
    assert on_mariadb.returncode == 1, on_mariadb.stderr[-2000:]
    assert _shows(on_mariadb.stdout, finding), on_mariadb.stdout
    # sqlite stores any text: the refusal is MariaDB's (the store is the replay's)
    on_sqlite = _run_script(finding.input)
    assert on_sqlite.returncode in (0, 1), on_sqlite.stderr[-2000:]
    assert "Traceback" not in on_sqlite.stderr, on_sqlite.stderr[-2000:]
    assert not _shows(on_sqlite.stdout, finding), on_sqlite.stdout


def test_store_url_in_the_printed_input_is_masked(target: Target) -> None:
    source = call_source(
        _event_finish_at_store(target),
        target,
        layer="store",
        store_url="mysql+pymysql://nova:Secr3tPassw0rd@db.example:3306/nova",
    )
    assert "Secr3tPassw0rd" not in source
    assert "mysql+pymysql://nova:***@db.example:3306/nova" in source
    assert "with Store.open(os.environ.get('ACTIONSEC_STORE')) as store" in source


def test_fault_sink_printed_input_calls_novas_own_function(target: Target) -> None:
    drawn = _draw(target, "add_instance_fault_from_exc", "packer", "contract", 3)
    for layer in ("packer", "store", "api"):
        for call in drawn:
            layer_option = None if layer == "packer" else layer  # None: the call's own
            source = call_source(call, target, layer=layer_option)
            assert "from nova.compute.utils import add_instance_fault_from_exc" in source
            assert "replay.call(add_instance_fault_from_exc, context," in source
            assert "target.helpers" not in source and "resolve_target" not in source


def _draw(target: Target, function: str, layer: str, mode: str, n: int) -> list[Call]:
    drawn: list[Call] = []

    @seed(2718)
    @settings(max_examples=n, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(calls(target, function, mode=mode, layer=layer))
    def collect(call: Call) -> None:
        drawn.append(call)

    collect()
    return drawn


def _unused_imports(source: str) -> list[str]:
    tree = ast.parse(source)
    imported: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            imported.extend((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.extend(a.asname or a.name for a in node.names)
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    return [name for name in imported if name not in used]


def test_printed_inputs_import_only_what_they_use(target: Target) -> None:
    checked = 0
    for function in FUNCTIONS:
        for layer in LAYERS:
            if layer == "boundary" and function != "pack_action_event_finish":
                continue
            drawn_layer = "boundary" if layer == "boundary" else "packer"
            for mode in ("contract", "hostile"):
                for call in _draw(target, function, drawn_layer, mode, 12):
                    options: dict[str, Any] = {}
                    if layer in ("store", "api"):
                        options = {"layer": layer, "store_url": "sqlite://"}
                    source = call_source(call, target.path, **options)
                    compile(source, "<snippet>", "exec")
                    assert _unused_imports(source) == [], source
                    checked += 1
    assert checked >= 200


def test_printed_inputs_call_the_sink_and_boundary_the_run_named() -> None:
    pkg = "tests.targets.renamed_sink"
    named = resolve_target(
        pkg, sink=f"{pkg}.Faults.add_server_fault_from_exc", boundary=f"{pkg}.remotable_args"
    )
    (sink_call,) = _draw(named, "add_instance_fault_from_exc", "packer", "contract", 1)
    source = call_source(sink_call, named)
    assert f"from {pkg} import Faults" in source
    assert "replay.call(Faults.add_server_fault_from_exc, context," in source
    assert "nova.compute.utils" not in source
    (finish_call,) = _draw(named, "pack_action_event_finish", "boundary", "contract", 1)
    source = call_source(finish_call, named)
    assert "remote = remotable_args(lambda cls" in source and "serialize_args" not in source
    assert _unused_imports(source) == []
    done = _run_script(source)  # the printed input runs, through the named boundary
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.stdout.startswith("record: "), done.stdout
