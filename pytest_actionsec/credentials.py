"""Database URLs and their passwords: masking them in any text, and finding them.

The store's password never reaches a report: :func:`mask_url` is the one masking
function (the plugin passes headers, errors, captured output, replay lines and reports
through it), :func:`remember_secret` tells it the passwords of the stores this process
used. :func:`url_password`, :func:`without_password` and :func:`with_env_password`
read and rewrite a URL's password (SQLAlchemy parses it; it is imported when called).
This module imports nothing of the package.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

__all__ = [
    "PASSWORD_ENV",
    "mask_url",
    "remember_secret",
    "url_password",
    "with_env_password",
    "without_password",
]

#: The environment variable whose value is the store's password when the URL has
#: none (:func:`with_env_password`); replay lines name it instead of the password.
PASSWORD_ENV = "ACTIONSEC_STORE_PASSWORD"

_URL_CREDENTIAL = re.compile(
    r"(?P<head>^\s*[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s'\"]*:)(?P<password>[^@\s'\"]*)@"
)
_SECRETS: set[str] = set()
_SECRET_MIN = 4  # shorter passwords are masked in their URL form only


def remember_secret(secret: str | None) -> None:
    """Have :func:`mask_url` replace ``secret`` (the store's password) in any text.

    In ``user:secret@`` form at any length; alone when it has at least 4 characters
    (in the spellings a URL, a form or a JSON string give it).
    """
    if secret:
        _SECRETS.add(secret)


def mask_url(text: str) -> str:
    """``text`` with the store's password, and a URL's own password, as ``***``.

    The one masking function: the plugin passes the header, store errors, skip and
    failure reasons, captured output and logs, replay lines, the JSON and SARIF
    reports and baselines through it. ``text`` that is a URL has its password
    masked whatever it is; in other text only the passwords of the stores this
    process used (:func:`remember_secret`) are, so that the fuzzer's own canary
    URLs (planted secrets a finding shows) stay as they are.
    """
    if not text:
        return text
    masked = str(text)
    stripped = masked.strip()
    if stripped and not any(c.isspace() for c in stripped):
        masked = _URL_CREDENTIAL.sub(
            lambda m: m["head"] + ("***" if m["password"] else "") + "@", masked, count=1
        )
    if not _SECRETS:
        return masked
    from urllib.parse import quote, quote_plus

    for secret in sorted(_SECRETS, key=len, reverse=True):
        spellings = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
        for spelling in sorted(spellings, key=len, reverse=True):
            masked = masked.replace(f":{spelling}@", ":***@")
            if len(secret) >= _SECRET_MIN:
                masked = masked.replace(spelling, "***")
    return masked


def url_password(url: str) -> str | None:
    """The password ``url`` carries (None without one, or when it is no URL)."""
    import sqlalchemy as sa

    try:
        password = sa.engine.make_url(url.strip()).password
    except Exception:
        return None
    return None if password is None else str(password)


def without_password(url: str) -> str:
    """``url`` with no password at all (a replay names the variable that holds it)."""
    import sqlalchemy as sa

    try:
        parsed = sa.engine.make_url(url.strip())
    except Exception:
        return mask_url(url)
    return str(parsed._replace(password=None).render_as_string(hide_password=False))


def with_env_password(url: str | None, environ: Mapping[str, str]) -> str | None:
    """``url`` with the password of :data:`PASSWORD_ENV` when it names a user but no password."""
    password = environ.get(PASSWORD_ENV)
    if not url or not password:
        return url
    import sqlalchemy as sa

    try:
        parsed = sa.engine.make_url(url.strip())
    except Exception:
        return url  # the store reports a bad URL when it parses it
    if parsed.username is None or parsed.password is not None:
        return url
    remember_secret(password)
    return str(parsed.set(password=password).render_as_string(hide_password=False))
