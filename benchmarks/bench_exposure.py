"""Benchmark 9: per-example cost of the api layer (and the store layer) against the packer layer.

For every function of the built-in suite (the four pack helpers and the fault sink
``add_instance_fault_from_exc``), in one process, ``engine.run_group(Group(function,
layer), nova, mode=M, max_examples=N, seed=S, clock=<one running SkewedClock>,
database=None, store=<one Store.open()>)`` is timed at three layers, with the same
seed and mode for each layer of a repetition (seed S + repetition) and the layer order
rotated per function and repetition (packer, store, api; store, api, packer; ...):

packer
    the helper called directly (``pack_action_event_finish`` too; the fault sink with
    its ``InstanceFault.create()`` captured, nothing written);
store
    the packed record written through nova's DB API to the in-process sqlite database
    and read back (``store_executor``; ``pack_action_event_finish`` through nova's
    ``serialize_args`` boundary there, as in the plugin);
api
    the store layer, then each stored row rendered through nova's API code
    (``exposure.render_views``: 8 personas x 5 microversions = 40 views, one render per
    distinct set of policy decisions;
    ``store_executor(render=True)``).

Per-example cost = the run_group's wall seconds / ``GroupResult.examples`` (every call
of the run's check: probes, generated examples and shrinking). The draws are the
same at the three layers (store and api draw as the packer), but a layer that finds
something else shrinks something else: each layer's examples, status and findings are
printed. ratio = median over repetitions of (layer / packer per example) within the
same repetition.

Within the timed runs, ``exposure.render_views`` and ``Store.roundtrip`` (with
``Store.blame``, which runs on a refused record) are wrapped with timers: the api
layer's split (render, roundtrip, the rest = generation, packing, oracle). Untimed
one-off costs, printed apart: ``Store.open()`` (nova's DB modules, sqlite migrations),
the first ``exposure._nova()`` (nova's API modules, policy enforcer, controller and
view classes: built once, explicitly, before anything else can), and the first
``render_views`` call over the median later one of its record kind (with each kind's
median render). A warm-up run of every function at every layer (5 examples) precedes
the measurements. ``--profile K`` adds cProfile's
top K entries (by own time) of one more, untimed, api-layer run of every function.
Usage: python benchmarks/bench_exposure.py [--examples 100] [--repeats 3] [--mode contract]
[--seed 20261122] [--functions f1,f2] [--profile 0] [--policy FILE ...]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from _common import fmt, median, now, table
from bench_reshape import working_tree_label

from pytest_actionsec import exposure
from pytest_actionsec.clock import SkewedClock
from pytest_actionsec.engine import Group, GroupResult, run_group
from pytest_actionsec.store import Store
from pytest_actionsec.targets import FUNCTIONS, Target, resolve_target

LAYERS = ("packer", "store", "api")
#: cProfile's cumulative listing: these frames only (Hypothesis's own would fill it).
_OURS_AND_NOVA = r"exposure|store\.py|oslo_policy|/nova/|sqlalchemy/orm/session|inspect|logging"
WARMUP_EXAMPLES = 5


@dataclass
class Spent:
    """Seconds and calls of the wrapped functions (reset before each timed run)."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    render_errors: int = 0
    #: every render_views call in order: (record kind, seconds)
    renders: list[tuple[str, float]] = field(default_factory=list)

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()
        self.render_errors = 0


def instrument(store: Store, spent: Spent) -> None:
    """Time ``exposure.render_views`` (store_executor imports it per call) and the
    store's ``roundtrip``/``blame`` (instance attributes shadow the methods)."""
    original_render = exposure.render_views

    def render_views(function: str, row: Any) -> dict[str, Any]:
        t = now()
        try:
            return original_render(function, row)
        except Exception:
            spent.render_errors += 1
            raise
        finally:
            took = now() - t
            spent.seconds["render"] += took
            spent.calls["render"] += 1
            spent.renders.append((exposure._kind_of(function), took))

    exposure.render_views = render_views
    for name in ("roundtrip", "blame"):
        method = getattr(store, name)

        def timed(*args: Any, _method: Any = method, **kwargs: Any) -> Any:
            t = now()
            try:
                return _method(*args, **kwargs)
            finally:
                spent.seconds["roundtrip"] += now() - t
                spent.calls["roundtrip"] += 1

        setattr(store, name, timed)


def measure(
    target: Target,
    store: Store,
    clock: Any,
    function: str,
    layer: str,
    n: int,
    seed: int,
    mode: str,
) -> tuple[float, GroupResult]:
    t = now()
    result = run_group(
        Group(function, layer),
        target,
        mode=mode,
        max_examples=n,
        seed=seed,
        clock=clock,
        database=None,
        store=store,
    )
    return now() - t, result


def findings(result: GroupResult) -> str:
    names = sorted({v.invariant for v in result.violations})
    return ", ".join(names) if names else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mode", default="contract", choices=("contract", "hostile"))
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--functions", default=",".join(FUNCTIONS))
    parser.add_argument("--profile", type=int, default=0, help="cProfile top K of the api layer")
    parser.add_argument(
        "--policy",
        action="append",
        default=[],
        help="a policy file to render with (repeatable; default: nova's in-code defaults)",
    )
    args = parser.parse_args()
    if args.policy:
        from pytest_actionsec.policies import load_policies

        exposure.use_policies(load_policies(args.policy))
    functions = [f for f in args.functions.split(",") if f]
    unknown = [f for f in functions if f not in FUNCTIONS]
    if unknown:
        raise SystemExit(f"unknown functions {unknown}; known: {FUNCTIONS}")
    started = now()

    # one-off costs, each measured once, in this order, before any run
    t = now()
    target = resolve_target()
    t_target = now() - t
    missing = [f for f in functions if f not in target.helpers]
    if missing:
        raise SystemExit(f"target {target.path} lacks {missing}: {target.notes}")
    t = now()
    store = Store.open()
    t_store = now() - t
    t = now()
    exposure._nova()
    t_nova = now() - t

    spent = Spent()
    instrument(store, spent)
    per_ex: dict[tuple[str, str], list[float]] = defaultdict(list)
    examples: dict[tuple[str, str], list[int]] = defaultdict(list)
    results: dict[tuple[str, str], GroupResult] = {}
    split: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    errors: dict[tuple[str, str], int] = defaultdict(int)
    with SkewedClock() as clock:
        for function in functions:  # warm-up: first runs of each layer, untimed
            for layer in LAYERS:
                measure(target, store, clock, function, layer, WARMUP_EXAMPLES, 0, args.mode)
        for rep in range(args.repeats):
            seed = args.seed + rep
            for i, function in enumerate(functions):
                k = (rep + i) % len(LAYERS)
                for layer in LAYERS[k:] + LAYERS[:k]:
                    spent.reset()
                    total, result = measure(
                        target, store, clock, function, layer, args.examples, seed, args.mode
                    )
                    calls = max(result.examples, 1)
                    per_ex[function, layer].append(total / calls)
                    examples[function, layer].append(result.examples)
                    results[function, layer] = result
                    errors[function, layer] += spent.render_errors
                    if layer == "api":
                        render = spent.seconds["render"]
                        trip = spent.seconds["roundtrip"]
                        split[function]["render"].append(render / total)
                        split[function]["roundtrip"].append(trip / total)
                        split[function]["rest"].append((total - render - trip) / total)
                        split[function]["render_ms"].append(render / calls * 1e3)
                        split[function]["renders"].append(spent.calls["render"] / calls)
        steady: dict[str, list[float]] = defaultdict(list)  # before the profiled run
        for kind, took in spent.renders:
            steady[kind].append(took)
        renders = list(spent.renders)
        profile = run_profile(target, store, clock, functions, args) if args.profile else ""
    store.close()

    rows = []
    api_ratios: list[float] = []
    store_ratios: list[float] = []
    for function in functions:
        p = per_ex[function, "packer"]
        s = per_ex[function, "store"]
        a = per_ex[function, "api"]
        each_store = [x / y for x, y in zip(s, p, strict=True)]
        each_api = [x / y for x, y in zip(a, p, strict=True)]
        r_store, r_api = median(each_store), median(each_api)
        store_ratios.append(r_store)
        api_ratios.append(r_api)
        sp = {key: median(v) for key, v in split[function].items()}
        rows.append(
            [
                function,
                fmt(median(p) * 1e3),
                fmt(median(s) * 1e3),
                fmt(median(a) * 1e3),
                f"{fmt(r_store)} ({fmt(min(each_store))}-{fmt(max(each_store))})",
                f"{fmt(r_api)} ({fmt(min(each_api))}-{fmt(max(each_api))})",
                " / ".join(
                    "..".join(str(x) for x in sorted({min(v), max(v)}))
                    for v in (examples[function, layer] for layer in LAYERS)
                ),
                f"{sp['render']:.0%} ({fmt(sp['render_ms'])} ms, {fmt(sp['renders'])}/ex)",
                f"{sp['roundtrip']:.0%}",
                f"{sp['rest']:.0%}",
            ]
        )
    print(
        "### 9. Per-example cost of the api and store layers vs the packer layer "
        f"(nova {_nova_version()})\n"
    )
    print(
        f"{args.examples} examples per run, {args.mode} mode, {args.repeats} repetitions "
        "(seed S + repetition, the same for the three layers; layer order rotated), "
        "database=None, one SkewedClock, one in-process sqlite Store; medians. "
        "ms/ex = run_group wall time / GroupResult.examples (probes, generated and "
        "shrinking calls). ratio = median over repetitions of layer/packer per example "
        "(min-max over repetitions). "
        "api split = share of the api layer's wall time: render (exposure.render_views: "
        "8 personas x 5 microversions, one render per distinct set of decisions; ms per "
        "example and calls per example), roundtrip "
        "(Store.roundtrip/blame: write + read back), rest (generation, packing, oracle). "
        f"Working tree {working_tree_label()}.\n"
    )
    print(
        table(
            [
                "function",
                "packer ms/ex",
                "store ms/ex",
                "api ms/ex",
                "store/packer",
                "api/packer",
                "examples packer / store / api",
                "api: render",
                "roundtrip",
                "rest",
            ],
            rows,
        )
    )
    print(
        f"\napi/packer: median {fmt(median(api_ratios))}, min {fmt(min(api_ratios))}, max "
        f"{fmt(max(api_ratios))}; store/packer: median {fmt(median(store_ratios))}, min "
        f"{fmt(min(store_ratios))}, max {fmt(max(store_ratios))}.\n"
    )
    print("Findings (last repetition) and render errors (all repetitions):\n")
    frows = []
    for function in functions:
        for layer in LAYERS:
            result = results[function, layer]
            frows.append(
                [
                    f"{function}-{layer}",
                    result.status,
                    findings(result),
                    str(errors[function, layer]) if layer == "api" else "",
                ]
            )
    print(table(["group", "status", "invariants found", "render errors"], frows))
    print("\nOne-off costs (untimed above; measured once each, in this order):\n")
    print(f"- resolve_target() (nova's objects imported): {fmt(t_target)} s")
    print(f"- Store.open() (nova's DB API, sqlite migrations): {fmt(t_store)} s")
    print(
        f"- first exposure._nova() (nova's API modules, policy.init, controller/view "
        f"classes): {fmt(t_nova)} s"
    )
    if renders:
        kind, took = renders[0]
        later = median(x for k, x in renders[1:] if k == kind)
        print(
            f"- first render_views call (a{'n' if kind[0] in 'aeiou' else ''} {kind}, 40 views): "
            f"{fmt(took * 1e3)} ms, later ones of that kind median {fmt(later * 1e3)} ms: "
            + (
                f"one-off {fmt((took - later) * 1e3)} ms"
                if took > later
                else "no one-off measurable beyond _nova()"
            )
        )
        shown = ", ".join(f"{kind} {fmt(median(steady[kind]) * 1e3)} ms" for kind in sorted(steady))
        print(f"- render_views per call, all runs, median by record kind: {shown}")
    if profile:
        print(profile)
    print(f"\nTotal {fmt(now() - started, 0)} s.\n")


def run_profile(target: Target, store: Store, clock: Any, functions: list[str], args: Any) -> str:
    """cProfile's top entries of one untimed api-layer run of every function."""
    profiler = cProfile.Profile()
    profiler.enable()
    total = 0
    for function in functions:
        _, result = measure(
            target, store, clock, function, "api", args.examples, args.seed, args.mode
        )
        total += result.examples
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(args.profile)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    body = "\n".join(lines[lines.index(next(x for x in lines if "ncalls" in x)) :])
    cumulative = io.StringIO()
    pstats.Stats(profiler, stream=cumulative).sort_stats("cumulative").print_stats(
        _OURS_AND_NOVA, args.profile
    )
    clines = [line for line in cumulative.getvalue().splitlines() if line.strip()]
    cbody = "\n".join(clines[clines.index(next(x for x in clines if "ncalls" in x)) :])
    return (
        f"\ncProfile of one api-layer run of every function ({total} examples, "
        f"seed {args.seed}), top {args.profile} by own time:\n\n```\n{body}\n```\n\n"
        f"by cumulative time, frames of exposure, store, oslo.policy, nova, sqlalchemy, "
        f"inspect and logging only:\n\n```\n{cbody}\n```"
    )


def _nova_version() -> str:
    from importlib.metadata import version

    return version("nova")


if __name__ == "__main__":
    main()
