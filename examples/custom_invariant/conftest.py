"""A fork's own invariant, registered the way the built-ins are.

Our cloud names its compute hosts ``<name>.compute.<region>.acme.example``; such a
name tells a tenant our topology, so no field a tenant can read may hold one.
The built-in suite (``pytest --actionsec``) judges it on every helper at every
layer, with its own family ``acme``: ``-k acme`` selects it, the summary, JSON and
SARIF reports and baselines list it like a built-in.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from pytest_actionsec import Finding, Observation, invariant

#: Host names of our cloud.
CLOUD_HOST = re.compile(r"[A-Za-z0-9-]+\.compute\.[a-z0-9-]+\.acme\.example")

#: Fields of an action or event a project member reads through the API.
TENANT_FIELDS = ("action", "event", "result", "details", "message", "request_id")


@invariant(
    "acme.hostname",
    statement="No host name of the ACME cloud appears in a field a project member can read.",
    source="ACME security policy SEC-12: hosts are not disclosed to tenants",
)
def no_cloud_host_names(obs: Observation) -> Iterator[Finding]:
    """Search every tenant-readable text field for a host name of the cloud."""
    for name, text in obs.text_fields():
        if name in TENANT_FIELDS:
            match = CLOUD_HOST.search(text)
            if match:
                yield Finding(name, f"host name {match.group(0)!r} in {name}")
