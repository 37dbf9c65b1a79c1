"""pytest_actionsec.nova: the one nova loader (each test in a fresh interpreter)."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap
import threading

import pytest

from pytest_actionsec import nova as loader


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


def _depth_and_thread() -> tuple[int, str]:
    return len(inspect.stack(0)), threading.current_thread().name


def _at_depth(depth: int, call: object) -> object:
    return _at_depth(depth - 1, call) if depth else call()  # type: ignore[operator]


def test_a_fresh_stack_build_runs_at_the_same_depth_from_any_caller() -> None:
    """The API's build runs on a new thread: its depth (the frame-stack position that
    made nova's import 30 times slower in xdist workers) does not depend on the caller."""
    shallow = loader._Once(_depth_and_thread, fresh_stack=True)()
    deep = _at_depth(300, loader._Once(_depth_and_thread, fresh_stack=True))
    inline = _at_depth(300, loader._Once(_depth_and_thread))
    assert shallow == deep
    assert shallow[1] == "actionsec-nova-load"
    assert inline[0] > deep[0] + 300  # type: ignore[index]
    assert loader._API._fresh_stack is True


def test_a_fresh_stack_build_raises_in_the_caller_and_is_retried() -> None:
    attempts: list[int] = []

    def build() -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise ImportError("no nova here")
        return 42

    once = loader._Once(build, fresh_stack=True)
    with pytest.raises(ImportError, match="no nova here"):
        once()
    assert once() == 42
    assert once() == 42
    assert len(attempts) == 2


def test_the_api_loads_first_in_a_process_without_nova_loaded() -> None:
    """``api()`` in a fresh interpreter: nova's objects (and eventlet) are loaded on the
    calling thread first, the API on a fresh stack, and the join returns."""
    code = """
        import sys
        from pytest_actionsec import nova
        api = nova.api()
        print(api.instance_actions.__name__, 'eventlet' in sys.modules)
    """
    assert _run(code) == "nova.api.openstack.compute.instance_actions True"


def test_nova_never_monkey_patches_the_test_process() -> None:
    """nova 31 and earlier monkey-patch the process with eventlet when its API package is
    imported (the pytest process then hangs at exit): the loader sets nova's own switch
    ``OS_NOVA_DISABLE_EVENTLET_PATCHING=1`` before any nova import, unless it is set."""
    code = """
        import os
        os.environ.pop("OS_NOVA_DISABLE_EVENTLET_PATCHING", None)
        from pytest_actionsec import nova
        print(os.environ.get("OS_NOVA_DISABLE_EVENTLET_PATCHING"))
        nova.api()
        print(os.environ["OS_NOVA_DISABLE_EVENTLET_PATCHING"])
        import eventlet.patcher
        print(eventlet.patcher.is_monkey_patched("socket"))
    """
    assert _run(code).split() == ["None", "1", "False"]
    kept = """
        import os
        os.environ["OS_NOVA_DISABLE_EVENTLET_PATCHING"] = "true"
        from pytest_actionsec import nova
        nova.modules()
        print(os.environ["OS_NOVA_DISABLE_EVENTLET_PATCHING"])
    """
    assert _run(kept) == "true"  # the environment's own value wins


def test_what_was_built_from_nova_is_built_again_when_nova_is_imported_anew() -> None:
    """An in-process pytest run (pytester) that first imported nova takes nova's modules out
    of ``sys.modules`` when it ends; nova's objects, configuration and API are then loaded
    again from the nova imported next, never used half from the old one (which failed with
    oslo.config's NotInitializedError)."""
    code = """
        import sys
        from pytest_actionsec import exposure, nova
        before = set(sys.modules)
        first = nova.modules()
        assert exposure.audience("add_instance_fault_from_exc", "message", None) == "tenant"
        for name in set(sys.modules) - before:
            del sys.modules[name]  # what pytester's snapshot restore does
        assert exposure.audience("pack_action_event_finish", "details", None) == "admin"
        again = nova.modules()
        print(again is not first, again.objects is sys.modules["nova.objects"])
    """
    assert _run(code) == "True True"
