"""Trust in a CI run: a store that cannot run stops the run at start-up, no credential
reaches any output, output paths are checked before the run and written atomically, and
the printed replay line replays the run (issue 18, items 1, 2, 5 and 6).

The credential tests use the real MariaDB and PostgreSQL on loopback with a user that
has a password; they skip (saying why) only when the server is not reachable.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from tests.test_plugin import LEAKY

pytest_plugins = ["pytester"]

# one user per test process: xdist workers (and two CI jobs on one server) must not
# reset each other's passwords
USER = f"actionsec_trust_{secrets.token_hex(4)}"
# URL-special characters: the URL carries it percent-encoded, the driver raw
CORE = secrets.token_hex(6)
PASSWORD = f"Pw@{CORE}:s/3"
WRONG = f"Wrong-{secrets.token_hex(6)}"


def _mariadb() -> Any:
    import pymysql

    try:
        return pymysql.connect(
            host="127.0.0.1", port=3306, user="root", password="", connect_timeout=3,
            autocommit=True,
        )  # fmt: skip
    except Exception as exc:
        pytest.skip(f"MariaDB not reachable as root on 127.0.0.1:3306: {exc}")


def _postgres() -> Any:
    import psycopg2

    try:
        conn = psycopg2.connect(
            host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=3
        )
    except Exception as exc:
        pytest.skip(f"PostgreSQL not reachable as postgres on 127.0.0.1:5432: {exc}")
    conn.autocommit = True
    return conn


@pytest.fixture(scope="module")
def mariadb_url() -> Iterator[str]:
    """A MariaDB user with a password, allowed to create and drop actionsec_* databases."""
    conn = _mariadb()
    with conn.cursor() as cur:
        cur.execute(f"CREATE USER IF NOT EXISTS '{USER}'@'127.0.0.1' IDENTIFIED BY %s", (PASSWORD,))
        cur.execute(f"ALTER USER '{USER}'@'127.0.0.1' IDENTIFIED BY %s", (PASSWORD,))
        cur.execute(f"GRANT ALL PRIVILEGES ON `actionsec\\_%`.* TO '{USER}'@'127.0.0.1'")
    yield f"mysql+pymysql://{USER}:{quote(PASSWORD, safe='')}@127.0.0.1:3306/"
    with conn.cursor() as cur, contextlib.suppress(Exception):
        cur.execute(f"DROP USER IF EXISTS '{USER}'@'127.0.0.1'")
    conn.close()


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL role with a password (loopback uses trust auth: it is not checked)."""
    conn = _postgres()
    with conn.cursor() as cur:
        cur.execute(f"SELECT 1 FROM pg_roles WHERE rolname = '{USER}'")
        if cur.fetchone() is None:
            cur.execute(f"CREATE ROLE {USER} LOGIN CREATEDB")
        cur.execute(f"ALTER ROLE {USER} LOGIN CREATEDB PASSWORD %s", (PASSWORD,))
    # no +driver: the db extra's psycopg2 serves it
    yield f"postgresql://{USER}:{quote(PASSWORD, safe='')}@127.0.0.1:5432/postgres"
    with conn.cursor() as cur, contextlib.suppress(Exception):
        cur.execute(f"DROP ROLE IF EXISTS {USER}")  # fails while it still owns a database
    conn.close()


def _leaks(text: str, *secrets_: str) -> list[str]:
    return [s for s in secrets_ if s in text]


SPELLINGS = (CORE, PASSWORD, quote(PASSWORD, safe=""), quote_plus(PASSWORD))


def _every_output(result: pytest.RunResult, root: Path) -> dict[str, str]:
    outputs = {"stdout": result.stdout.str(), "stderr": result.stderr.str()}
    for path in root.rglob("*"):
        if path.is_file():
            outputs[str(path.relative_to(root))] = path.read_bytes().decode("utf-8", "replace")
    return outputs


# ---------------------------------------------------------------------------
# 1. A store layer that cannot run is a usage error at start-up.


def _usage_error(result: pytest.RunResult) -> str:
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1, errors  # one line, no traceback
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    return errors[0]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "mysql+pymysql://root:secret-pw@127.0.0.1:1/",
            "cannot connect to mysql+pymysql://root:***@127.0.0.1:1/: connection refused: "
            "no server at 127.0.0.1:1",
        ),
        (
            "mongodb://root:secret-pw@127.0.0.1/x",
            "bad database URL 'mongodb://root:***@127.0.0.1/x': unknown backend 'mongodb'",
        ),
        (
            "mysql+mysqldb://root:secret-pw@127.0.0.1/",
            "driver 'mysqldb' is not usable: missing driver (ModuleNotFoundError: No module "
            "named 'MySQLdb'); install it: pip install mysqlclient",
        ),
        (
            "postgresql+psycopg://root:secret-pw@127.0.0.1/x",
            "install it: pip install 'psycopg[binary]'",
        ),
    ],
)
def test_unusable_store_is_a_one_line_usage_error_at_start_up(
    pytester: pytest.Pytester, url: str, expected: str
) -> None:
    if "+mysqldb" in url or "+psycopg:" in url:
        module = "MySQLdb" if "+mysqldb" in url else "psycopg"
        try:
            __import__(module)
        except ImportError:
            pass
        else:  # pragma: no cover - depends on the environment
            pytest.skip(f"{module} is installed: the driver is not missing")
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    line = _usage_error(
        pytester.runpytest_subprocess("--actionsec", f"--actionsec-store={url}", "-k", "one")
    )
    assert line.startswith("ERROR: actionsec: the store layer cannot run: "), line
    assert expected in line and "secret-pw" not in line
    # an unused store (no store or api layer) is neither opened nor checked
    unused = pytester.runpytest_subprocess(
        "--actionsec",
        "--actionsec-collect=all",  # test_one.py names no plugin part
        f"--actionsec-store={url}",
        "--actionsec-layers=packer,boundary",
        "-k",
        "one",
    )
    unused.assert_outcomes(passed=1)


def test_xdist_controller_fails_at_start_up_too(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    result = pytester.runpytest_subprocess(
        "-n", "2", "--actionsec", "--actionsec-store=mysql+pymysql://root@127.0.0.1:1/", "-k", "x"
    )
    assert "connection refused: no server at 127.0.0.1:1" in _usage_error(result)


def test_wrong_password_is_authentication_failed(
    pytester: pytest.Pytester, mariadb_url: str
) -> None:
    url = mariadb_url.replace(quote(PASSWORD, safe=""), WRONG)
    line = _usage_error(
        pytester.runpytest_subprocess("--actionsec", f"--actionsec-store={url}", "-k", "x")
    )
    assert f"cannot connect to mysql+pymysql://{USER}:***@127.0.0.1:3306/: authentication " in line
    assert WRONG not in line


def test_unknown_database_is_named(pytester: pytest.Pytester, postgres_url: str) -> None:
    url = postgres_url.replace("/postgres", "/actionsec_no_such_db")
    line = _usage_error(
        pytester.runpytest_subprocess("--actionsec", f"--actionsec-store={url}", "-k", "x")
    )
    assert "unknown database 'actionsec_no_such_db'" in line
    assert not _leaks(line, *SPELLINGS)


def test_a_store_fixture_that_cannot_open_fails_instead_of_skipping(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_uses="def test_uses(actionsec_store):\n    pass\n")
    result = pytester.runpytest_subprocess(
        "--actionsec-store=mysql+pymysql://root:secret-pw@127.0.0.1:1/"
    )
    result.assert_outcomes(errors=1)
    out = result.stdout.str()
    assert "the store cannot be opened" in out and "connection refused" in out
    assert "secret-pw" not in out


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://postgres@127.0.0.1:5432/postgres", "postgresql+psycopg2"),
        ("mysql://root@127.0.0.1:3306/", "mysql+pymysql"),
    ],
)
def test_urls_without_a_driver_work_with_the_db_extra(url: str, driver: str) -> None:
    """SQLAlchemy 2.1 maps postgresql:// to psycopg 3 and mysql:// to MySQLdb: neither is in
    the db extra, so those URLs fall back to its psycopg2 and PyMySQL."""
    (_postgres if url.startswith("postgresql") else _mariadb)().close()
    for module, fallback in (("psycopg", "postgresql"), ("MySQLdb", "mysql")):
        if url.startswith(fallback):
            try:
                __import__(module)
            except ImportError:
                pass
            else:  # pragma: no cover - depends on the environment
                pytest.skip(f"{module} is installed: SQLAlchemy's default driver serves {url}")
    from pytest_actionsec.store import Store

    with Store.open(url) as store:
        assert store.url.startswith(driver + "://"), store.url
        assert store.row_counts()["instance_actions"] == 0
        assert store.server_database_exists()


# ---------------------------------------------------------------------------
# 2. No credential in any output.


USER_TEST = """
import logging, os


def test_user_logs_the_url():
    url = os.environ["ACTIONSEC_TEST_URL"]
    logging.getLogger("app").warning("connecting to %s", url)
    print("stdout says", url)
    assert url == "", url
"""


@pytest.mark.parametrize("backend", ["mariadb", "postgres"])
def test_no_credential_in_any_output(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    backend: str,
) -> None:
    url = request.getfixturevalue(f"{backend}_url")
    pytester.makepyfile(leaky_target=LEAKY, test_user=USER_TEST)
    monkeypatch.setenv("ACTIONSEC_TEST_URL", url)
    common = [
        "-p",
        "no:cacheprovider",
        "--actionsec",
        "--actionsec-collect=all",  # the user's test names no plugin part
        "--actionsec-target=leaky_target",
        f"--actionsec-store={url}",
        "--actionsec-layers=store",
        "--actionsec-examples=10",
        "--actionsec-seed=7",
        "-rA",
        "--log-level=INFO",
        "-k",
        "leak and pack_action_event_finish or test_user",
    ]
    failing = pytester.runpytest_subprocess(
        *common, "--actionsec-report=out/report.json", "--junitxml=out/junit.xml"
    )
    failing.assert_outcomes(failed=2)  # the leaky target's leak and the user's test
    assert "leak.field" in failing.stdout.str()
    assert "connecting to" in failing.stdout.str() and "***" in failing.stdout.str()
    updating = pytester.runpytest_subprocess(
        *common,
        "--actionsec-report=out/report.sarif",
        "--actionsec-baseline=out/baseline.json",
        "--actionsec-update-baseline",
    )
    assert (pytester.path / "out" / "baseline.json").exists()
    assert json.loads((pytester.path / "out" / "report.sarif").read_text())["version"] == "2.1.0"
    report = json.loads((pytester.path / "out" / "report.json").read_text())
    assert any(v["layer"] == "store" for v in report["violations"])
    outputs = _every_output(failing, pytester.path)
    outputs.update({f"update {k}": v for k, v in _every_output(updating, pytester.path).items()})
    header = [line for line in failing.stdout.lines if line.startswith("actionsec: target=")]
    assert f"store={url.split('://')[0].split('+')[0]}" in header[0] and "***" in header[0]
    leaked = {name: _leaks(text, *SPELLINGS) for name, text in outputs.items()}
    assert not any(leaked.values()), {k: v for k, v in leaked.items() if v}


# ---------------------------------------------------------------------------
# 6. Output paths checked at start-up; atomic writes.


@pytest.mark.parametrize("option", ["report", "baseline"])
@pytest.mark.parametrize("where", ["directory", "proc", "under-a-file"])
def test_unwritable_output_path_is_a_usage_error_before_the_run(
    pytester: pytest.Pytester, option: str, where: str
) -> None:
    (pytester.path / "a-dir").mkdir()
    (pytester.path / "a-file").write_text("x")
    path = {"directory": "a-dir", "proc": "/proc/x/y.json", "under-a-file": "a-file/r.json"}[where]
    args = [f"--actionsec-report={path}"]
    if option == "baseline":
        args = [f"--actionsec-baseline={path}", "--actionsec-update-baseline"]
    pytester.makepyfile(test_one="def test_one():\n    open('ran', 'w').close()\n")
    result = pytester.runpytest_subprocess(
        "--actionsec", "--actionsec-layers=packer", *args, "-k", "one"
    )
    line = _usage_error(result)
    assert line.startswith(f"ERROR: --actionsec-{option}={path}: cannot be written: "), line
    assert not (pytester.path / "ran").exists()  # nothing ran
    assert not [p for p in pytester.path.rglob("*") if p.name.endswith(".tmp")]


def test_a_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    from pytest_actionsec.report import write_baseline, write_report

    path = tmp_path / "report.json"
    path.write_text("old\n")
    unencodable = {"violations": [], "note": "\ud800"}  # a lone surrogate: no UTF-8
    with pytest.raises(UnicodeEncodeError):
        write_report(path, unencodable, tool_version="0")
    baseline = tmp_path / "baseline.json"
    with pytest.raises(UnicodeEncodeError):
        write_baseline(
            baseline, [{"invariant": "x", "function": "f", "layer": "l", "evidence": "\ud800"}]
        )
    assert path.read_text() == "old\n"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]  # no stray .tmp


CHANGES_THE_OUTPUT = """
import os, shutil


def test_breaks_the_report_directory():
    shutil.rmtree("out")
    open("out", "w").close()  # the report's directory is now a file
"""


def test_a_write_that_fails_at_the_end_is_one_line_and_fails_the_run(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_breaks=CHANGES_THE_OUTPUT)
    result = pytester.runpytest_subprocess(
        "--actionsec",
        "--actionsec-collect=all",  # test_breaks.py names no plugin part
        "--actionsec-layers=packer",
        "--actionsec-examples=2",
        "--actionsec-report=out/r.json",
        "-k",
        "breaks or (leak and pack_action_start)",
    )
    out = result.stdout.str()
    assert "Traceback" not in out + result.stderr.str()
    errors = [line for line in result.stdout.lines if line.startswith("actionsec: ERROR:")]
    assert len(errors) == 1 and errors[0].startswith(
        "actionsec: ERROR: --actionsec-report=out/r.json: not written ("
    ), errors
    assert "actionsec summary" in out and "2 passed" in out
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # a lost report is not a green run
    assert not [p for p in pytester.path.rglob("*") if p.name.endswith(".tmp")]


# ---------------------------------------------------------------------------
# 5 (the replay line). The replay line, run as printed, replays the run.


def _report_keys(path: Path) -> tuple[set[tuple[str, ...]], dict[str, int]]:
    report = json.loads(path.read_text())
    keys = {
        (v["invariant"], v["function"], v["layer"], v["field"] or "") for v in report["violations"]
    }
    return keys, {p["id"]: p["examples"] for p in report["properties"]}


@pytest.fixture
def no_password_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("ACTIONSEC_STORE_PASSWORD", raising=False)
    yield


def test_the_replay_line_replays_a_mariadb_finding(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    mariadb_url: str,
    no_password_env: None,
) -> None:
    # bounds.store of the fault sink: MariaDB's utf8mb3 instance_faults refuses 4-byte
    # characters; sqlite stores them, so a replay on the default store would pass
    for name in ("CI", "BUILD_NUMBER"):  # on CI pytest repeats whole failures in its summary
        monkeypatch.delenv(name, raising=False)
    first = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--actionsec",
        f"--actionsec-store={mariadb_url}",
        "--actionsec-layers=store",
        "--actionsec-examples=7",
        "--actionsec-seed=3",
        "--actionsec-timeout=30",
        "-k",
        "bounds and add_instance_fault_from_exc",
        "--actionsec-report=first.json",
    )
    first.assert_outcomes(failed=1)
    keys, examples = _report_keys(pytester.path / "first.json")
    assert ("bounds.store", "add_instance_fault_from_exc", "store", "message") in keys
    out = first.stdout.str()
    lines = [line for line in first.stdout.lines if line.startswith("replay: pytest ")]
    assert len(lines) == 1, out
    line = lines[0]
    assert not _leaks(out + line, *SPELLINGS)
    assert "ACTIONSEC_STORE_PASSWORD" in out[out.index(line) :].split("\n", 2)[1]
    # the header and the summary say the same
    flags = line[len("replay: pytest --actionsec ") : line.index(" -k ")]
    assert out.count(f"replay with {flags} (with ACTIONSEC_STORE_PASSWORD set") == 2
    for flag in ("--actionsec-seed=3", "--actionsec-examples=7", "--actionsec-layers=store"):
        assert flag in shlex.split(line)
    assert f"--actionsec-store=mysql+pymysql://{USER}@127.0.0.1:3306/" in shlex.split(line)
    assert "--actionsec-timeout=30" in shlex.split(line)

    monkeypatch.setenv("ACTIONSEC_STORE_PASSWORD", PASSWORD)
    words = shlex.split(line)[2:]  # after "replay:" and "pytest"
    again = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", *words, "--actionsec-report=again.json"
    )
    again.assert_outcomes(failed=1)
    assert re.search(rf"store=mysql\+pymysql://{USER}:\*\*\*@", again.stdout.str())
    # the same findings (the example counts differ: the saved failure is replayed first)
    assert _report_keys(pytester.path / "again.json")[0] == keys
    assert set(_report_keys(pytester.path / "again.json")[1]) == set(examples)
    assert not _leaks(again.stdout.str() + again.stderr.str(), *SPELLINGS)


def test_the_password_variable_is_not_used_when_the_url_has_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pytest_actionsec.store import PASSWORD_ENV, with_env_password

    env = {PASSWORD_ENV: "from-env"}
    assert with_env_password("mysql+pymysql://u@h/", env) == "mysql+pymysql://u:from-env@h/"
    assert with_env_password("mysql+pymysql://u:given@h/", env) == "mysql+pymysql://u:given@h/"
    assert with_env_password("sqlite://", env) == "sqlite://"  # no user: nothing to add
    assert with_env_password("mysql+pymysql://u@h/", {}) == "mysql+pymysql://u@h/"
