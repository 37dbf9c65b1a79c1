"""Draw primitives shared by the strategies: few Hypothesis choices per call.

Hypothesis pays for every choice it records (spans, the data tree, mutation and
shrinking bookkeeping), and that cost, not our objects, dominated a call's
generation (38-84 choices per call in 0.1.0). So the many small decisions of one
component (which kind of id, which template, which flags) are packed into one
integer (:func:`pick`), and only free-form values (text, uuids, dates) are drawn
on their own. Weights are expressed by repeating options.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from hypothesis import strategies as st

from pytest_actionsec.constants import DRAW_LAYERS, MODES

__all__ = [
    "DRAW_LAYERS",
    "EDGE_CHARS",
    "FLAGS",
    "MODES",
    "TEXT",
    "UNIFORM",
    "Centered",
    "check_layer",
    "check_mode",
    "index",
    "pick",
    "weighted",
]


def check_mode(mode: str) -> str:
    """``mode`` if it is one of :data:`MODES`, else Hypothesis's ``InvalidArgument``."""
    if mode not in MODES:
        from hypothesis.errors import InvalidArgument

        raise InvalidArgument(f"mode must be one of {MODES}, got {mode!r}")
    return str(mode)


def check_layer(layer: str) -> str:
    """``layer`` if it is one of :data:`DRAW_LAYERS`, else Hypothesis's ``InvalidArgument``."""
    if layer not in DRAW_LAYERS:
        from hypothesis.errors import InvalidArgument

        raise InvalidArgument(f"layer must be one of {DRAW_LAYERS}, got {layer!r}")
    return layer


#: Hypothesis draws an integer uniformly only within 256 of zero (beyond, its
#: distribution thins out on a log scale), so a packed integer never exceeds this
#: many outcomes and :func:`pick` splits longer products into several draws.
#: A private detail of Hypothesis (its ``INTEGERS_DISTRIBUTION``), pinned by
#: ``tests/test_strategies.py::test_index_draws_are_uniform_up_to_uniform``.
UNIFORM = 257

#: Code points of drawn text: any but lone surrogates (not encodable as UTF-8).
TEXT = st.characters(exclude_categories=["Cs"])
#: One character of each UTF-8 length (1 to 4 bytes), for length-edge texts.
EDGE_CHARS = ("a", "é", "中", "𝄞")
#: A flag as a :func:`pick` option (off first: Hypothesis leans to first options).
FLAGS = (False, True)


@cache
def index(n: int) -> st.SearchStrategy[int]:
    """The integers ``0..n-1`` (one strategy per ``n``): uniform when ``n <= UNIFORM``."""
    return st.integers(0, n - 1)


def pick(draw: st.DrawFn, *options: Sequence[Any]) -> list[Any]:
    """One option of each sequence, drawn as one integer per 257 outcomes.

    The first sequence is the most significant digit: shrinking the integer
    moves it towards its first option first. A single sequence longer than
    :data:`UNIFORM` is drawn as one integer, so its first options are favoured.
    """
    picked: list[Any] = []
    group: list[Sequence[Any]] = []
    total = 1

    def flush() -> None:
        n = draw(index(total))
        digits = []
        for opts in reversed(group):
            n, d = divmod(n, len(opts))
            digits.append(opts[d])
        picked.extend(reversed(digits))

    for opts in options:
        if group and total * len(opts) > UNIFORM:
            flush()
            group, total = [], 1
        group.append(opts)
        total *= len(opts)
    flush()
    return picked


class Centered(Sequence[int]):
    """The integers -n..n ordered 0, 1, -1, 2, -2, ... (index 0 is the simplest)."""

    def __init__(self, n: int) -> None:
        self._n = n

    def __len__(self) -> int:
        return 2 * self._n + 1

    def __getitem__(self, i: Any) -> Any:
        if not 0 <= i < len(self):
            raise IndexError(i)
        return (i + 1) // 2 if i % 2 else -(i // 2)


def weighted(*pairs: tuple[int, Sequence[Any]]) -> tuple[Any, ...]:
    """Options repeated so each group has the given total weight (split evenly)."""
    out: list[Any] = []
    for weight, group in pairs:
        each, rest = divmod(weight, len(group))
        if rest:
            raise ValueError(f"weight {weight} does not split over {len(group)} options")
        for option in group:
            out.extend([option] * each)
    return tuple(out)
