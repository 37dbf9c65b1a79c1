"""The one home of the plugin's constants: modes, layers, the default target, the test clock.

Every module takes these from here (a test checks that no other module spells them
again). This module imports nothing of the package and nothing heavy.
"""

from __future__ import annotations

import datetime as _dt

__all__ = [
    "DEFAULT_IO_TIMEOUT",
    "DEFAULT_LAYERS",
    "DEFAULT_TARGET",
    "DEFAULT_TIMEOUT",
    "DRAW_LAYERS",
    "FIXED_TIME",
    "HISTORY_FUNCTION",
    "HISTORY_LAYERS",
    "LAYERS",
    "LOCAL_OFFSET",
    "MODES",
]

#: Input modes: what correct callers pass, and that plus out-of-contract input.
MODES: tuple[str, ...] = ("contract", "hostile")

#: Every layer a finding can be made at, in the order a call goes through them: the
#: helper called directly, through the RPC boundary (``serialize_args``), the row nova's
#: database API stores and reads back, what nova's API code renders of that row; and
#: (h-notify) a notification as a listener reads it back off a real message bus.
LAYERS: tuple[str, ...] = ("packer", "boundary", "store", "api", "bus")

#: The layers the built-in suite runs when none are chosen (``bus`` joins them when a
#: bus is given: ``--actionsec-bus``).
DEFAULT_LAYERS: tuple[str, ...] = ("packer", "boundary", "store", "api")

#: The layers calls are drawn for (the boundary draws what only an RPC caller passes:
#: live tracebacks, positional exception arguments); the others draw as the packer.
DRAW_LAYERS: tuple[str, ...] = ("packer", "boundary")

#: The module whose helpers are fuzzed when no target is given.
DEFAULT_TARGET = "nova.objects.instance_action"

#: Seconds a single call may take before it is a ``crash.timeout``.
DEFAULT_TIMEOUT = 10.0

#: Seconds a wait on a server (a database connect or statement, the bus, Redis) may
#: take before the connection counts as lost (the environment's fault).
DEFAULT_IO_TIMEOUT = 30.0

#: The test clock's fixed time: the server clock's default start, the start time of the
#: parent rows the store writes, the time printed replays freeze.
FIXED_TIME = _dt.datetime(2026, 11, 22, 12, 0, 0)

#: The test clock's local time zone: while it runs, naive local time (``datetime.now()``,
#: ``datetime.fromtimestamp(t)``, ``date.today()``) is this far ahead of UTC, so a
#: helper that stores local time where nova stores UTC shows it (a server whose zone is
#: UTC would hide it). A half hour, which no whole-hour skew looks like.
LOCAL_OFFSET = _dt.timedelta(hours=5, minutes=30)

#: The ``function`` a history finding names (its items are ``history-server-history-LAYER``).
HISTORY_FUNCTION = "server-history"
#: The layers history findings are judged at: ``store`` (the rows in the database) and
#: ``api`` (what nova's API shows a poller).
HISTORY_LAYERS: tuple[str, ...] = ("store", "api")
