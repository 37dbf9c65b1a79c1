"""The history machine's items in the built-in suite (``pytest --actionsec``).

Two items, ``actionsec[history-server-history-store]`` (the rows nova's database
holds) and ``actionsec[history-server-history-api]`` (what nova's API shows a
``changes-since`` poller), share one run of the machine against nova 34's database
API on the session's store (sqlite, or ``--actionsec-store=URL``: then concurrent),
when the target is nova's own ``nova.objects.instance_action`` (the machine drives
nova's DB API and helpers, never a target's own).
They carry the ``actionsec`` marker and the keywords ``history``, ``server-history``
and their layer, so ``-k history`` selects them and ``-k "not history"`` drops them;
their findings are counted in the report and the baseline like every other item's,
each with the minimal sequence of steps as a script that replays it. nova's
documented recovery path (bug 1817542) is reported as noted, never failing.

This module is part of the pytest layer (it subclasses the plugin's item); the plugin
registers it as a pytest plugin when ``--actionsec`` is given.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import pytest

from pytest_actionsec.constants import DEFAULT_TARGET, HISTORY_FUNCTION, HISTORY_LAYERS
from pytest_actionsec.execution.plan import Property, PropertyResult
from pytest_actionsec.invariants.history import HISTORY_FAMILY
from pytest_actionsec.plugin import ActionsecFailure, ActionsecItem, _state

if TYPE_CHECKING:
    from pytest_actionsec.history.run import HistoryResult

__all__ = [
    "HISTORY_EXAMPLES_SHARE",
    "HISTORY_SEQUENCES_PER_EXAMPLE",
    "HistoryItem",
    "history_items",
    "pytest_collection_modifyitems",
]

#: The machine searches ``--actionsec-examples`` divided by this many sequences (at
#: least 10): a sequence is up to a dozen steps, each a write, a judgement and maybe a
#: read.
HISTORY_EXAMPLES_SHARE = 5
#: Sequences run in all (searching and shrinking) per sequence searched: shrinking
#: nova 34's four findings to the end costs Hypothesis about 25 times the search (4 to 7
#: s CPU); capped at 10 times, it costs 1 to 2 s and each finding keeps the shortest
#: sequence seen, 1 to 10 steps (seeds 1 to 5; fully shrunk: 1 to 4).
HISTORY_SEQUENCES_PER_EXAMPLE = 10

_RESULTS: weakref.WeakKeyDictionary[Any, HistoryResult] = weakref.WeakKeyDictionary()


def history_items(session: pytest.Session, layers: tuple[str, ...]) -> list[HistoryItem]:
    """The history items of the layers selected (none without ``store``/``api``)."""
    out = []
    for layer in HISTORY_LAYERS:
        if layer in layers:
            prop = Property(HISTORY_FAMILY, HISTORY_FUNCTION, layer)
            name = f"actionsec[{prop.id}]"
            out.append(HistoryItem.from_parent(session, name=name, nodeid=name, prop=prop))
    return out


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Add the history items after the plugin's (its implementation is ``tryfirst``) and
    before -k/-m select (this module is registered after pytest's own plugins, so its
    plain implementation runs before theirs), counted as collected."""
    state = _state(config)
    if not state.active or state.settings.target != DEFAULT_TARGET:
        return  # the machine drives nova's own DB API and helpers: nova's target only
    found = history_items(session, state.settings.layers)
    for node in found:
        config.hook.pytest_itemcollected(item=node)
    config.hook.pytest_collectreport(
        report=pytest.CollectReport("actionsec-history", "passed", None, list(found))
    )
    items.extend(found)


class HistoryItem(ActionsecItem):
    """One layer of the history machine's run (see the module's docstring)."""

    def run_id(self) -> str:
        """The history run's id (both items share it; xdist groups them by it)."""
        return HISTORY_FUNCTION

    def _history(self) -> HistoryResult:
        from pytest_actionsec.history.run import run_history

        config = self.config
        found = _RESULTS.get(config)
        if found is None:
            state = _state(config)
            suite = state.suite
            if HISTORY_FUNCTION in suite.lost:  # the other item lost the database
                pytest.fail(str(suite.lost[HISTORY_FUNCTION]), pytrace=False)
            store = suite.open_store()
            if store is None:
                pytest.fail(suite.store_error or "actionsec: the store cannot be opened")
            from pytest_actionsec.store import Store

            if not isinstance(store, Store):
                pytest.skip("the history machine runs on nova's own store stage only")
            examples = max(10, state.settings.examples // HISTORY_EXAMPLES_SHARE)
            share = state.budget_share(self.session) if state.settings.budget else None
            from pytest_actionsec.store import StoreUnavailable

            try:
                with suite.losing(HISTORY_FUNCTION):
                    found = run_history(
                        store,
                        "nova",
                        max_examples=examples,
                        seed=suite.seed_of(HISTORY_FUNCTION),
                        seconds=share,
                        max_sequences=examples * HISTORY_SEQUENCES_PER_EXAMPLE,
                    )
            except StoreUnavailable as exc:
                lost = str(exc)
            else:
                _RESULTS[config] = found
                return found
            pytest.fail(lost, pytrace=False)  # outside the except: one line, no chain
        return found

    def runtest(self) -> None:
        """Run (or reuse) the history run and report this layer's verdict."""
        from pytest_actionsec.suite import verdict

        state = _state(self.config)
        found = self._history()
        mine = tuple(v for v in found.violations if v.layer == self.prop.layer)
        result = PropertyResult(
            self.prop,
            "failed" if mine else "passed",
            examples=found.sequences,
            violations=mine,
            seed=state.suite.seed_of(HISTORY_FUNCTION),
            seconds=found.seconds,
            run=HISTORY_FUNCTION,
        )
        s = state.settings
        judged = verdict(
            result, state.baseline(), min_severity=s.min_severity, update_baseline=s.update_baseline
        )
        self.user_properties.append(("actionsec", judged.payload()))
        if judged.new:
            raise ActionsecFailure(judged.failures(), list(judged.accepted))

    def _via_lines(self, state: Any) -> list[str]:
        return []

    def _replay_selection(self) -> str:
        return "history"

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"actionsec {self.prop.id}"
