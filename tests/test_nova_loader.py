"""pytest_actionsec.nova: the one nova loader (each test in a fresh interpreter)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str, *flags: str) -> str:
    out = subprocess.run(
        [sys.executable, *flags, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,  # not a timed test: a guard against a hang
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


def test_importing_the_loader_imports_no_nova() -> None:
    code = """
        import sys
        import pytest_actionsec.nova
        print(sorted({m.split('.')[0] for m in sys.modules} & {'nova', 'oslo_db', 'oslo_policy'}))
    """
    assert _run(code) == "[]"


def test_modules_load_once_under_threads_and_register_all_runs_once() -> None:
    code = """
        import threading
        import eventlet  # nova imports it; imported first in a thread, join() never returns
        import nova.objects
        from pytest_actionsec import nova as loader

        calls = []
        real = nova.objects.register_all
        nova.objects.register_all = lambda: (calls.append(1), real())[1]
        start = threading.Barrier(8)
        seen = []

        def load():
            start.wait()
            seen.append(loader.modules())

        threads = [threading.Thread(target=load) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        loader.modules(); loader.migration(); loader.api()
        print(len(calls), len({id(m) for m in seen}), len(seen))
        print(loader.modules().objects.InstanceFault.__name__, loader.modules().conf is not None)
    """
    assert _run(code).splitlines() == ["1 1 8", "InstanceFault True"]


def test_the_api_modules_load_only_when_asked_and_under_w_error() -> None:
    code = """
        import sys
        from pytest_actionsec import nova
        nova.modules()
        print('nova.api.openstack.compute.instance_actions' in sys.modules)
        api = nova.api()
        print(api.enforcer is api.policy._ENFORCER, api.versions.max_api_version().get_string())
    """
    lines = _run(code, "-W", "error").splitlines()
    assert lines[0] == "False"
    assert lines[1].startswith("True 2.")
