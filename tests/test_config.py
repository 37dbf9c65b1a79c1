"""The run configuration: one table, one reader, three sources, one frozen result."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_actionsec.config import (
    ENTRIES,
    FLAGS,
    FUZZ_DEFAULTS,
    OPTIONS,
    ConfigError,
    RunConfig,
    read_config,
)
from pytest_actionsec.constants import DEFAULT_LAYERS, DEFAULT_TARGET, DEFAULT_TIMEOUT

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
OPTION = {option.name: option for option in OPTIONS}

# (setting, a bad value, the words every source says of it after naming itself)
BAD = [
    ("mode", "evil", "must be one of contract, hostile, got 'evil'"),
    ("collect", "some", "must be one of actionsec, all, got 'some'"),
    ("supervise", "yes", "must be one of on, off, got 'yes'"),
    ("io_timeout", "-1", "must be a number of seconds (0: no limit), got '-1'"),
    ("examples", "0", "must be a positive whole number, got '0'"),
    ("examples", "many", "must be a positive whole number, got 'many'"),
    ("seed", "-3", "must not be negative, got '-3'"),
    ("seed", "x", "must be a whole number, got 'x'"),
    (
        "layers",
        "packer,db",
        "must be a comma-separated list of packer, boundary, store, api, bus, got 'packer,db'",
    ),
    (
        "layers",
        ",",
        "must be a comma-separated list of packer, boundary, store, api, bus, got ','",
    ),
    ("timeout", "soon", "must be a number of seconds (0: no limit), got 'soon'"),
    ("timeout", "-1", "must be a number of seconds (0: no limit), got '-1'"),
    ("timeout", "inf", "must be a number of seconds (0: no limit), got 'inf'"),
    ("timeout", "nan", "must be a number of seconds (0: no limit), got 'nan'"),
    ("target", "a..b", "must be a dotted module path, got 'a..b'"),
    ("min_severity", "loud", "must be one of stored, admin, bus, tenant, got 'loud'"),
    ("budget", "soon", "must be a duration like 90s, 10m or 2h, got 'soon'"),
    ("budget", "0s", "must be a positive duration like 90s, 10m or 2h, got '0s'"),
    ("sink", "nova", "must be a dotted path pkg.mod.func or none, got 'nova'"),
    ("boundary", "a..b", "must be a dotted path pkg.mod.func or none, got 'a..b'"),
    (
        "database",
        "ftp://h/0",
        "names an unknown kind of database 'ftp://' (directories and redis:// URLs are "
        "known): 'ftp://h/0'",
    ),
    ("store_stage", "f", "must be a dotted path pkg.mod.func or none, got 'f'"),
    ("notifier", "a..b", "must be a dotted path pkg.mod.func or none, got 'a..b'"),
    (
        "bus",
        "127.0.0.1:5672",
        "must be a transport URL like rabbit://user:password@host:5672/, got '127.0.0.1:5672'",
    ),
]


def _error(**sources: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as info:
        read_config(**sources)
    message = str(info.value)
    assert "\n" not in message
    return message


# -- each source ---------------------------------------------------------------


def test_nothing_given_is_every_default() -> None:
    config = read_config()
    assert config == RunConfig()
    assert (config.target, config.mode, config.layers) == (
        DEFAULT_TARGET,
        "contract",
        DEFAULT_LAYERS,
    )
    assert (config.examples, config.timeout, config.min_severity) == (
        100,
        DEFAULT_TIMEOUT,
        "stored",
    )
    assert (config.active, config.update_baseline, config.seed, config.trusted) == (
        False,
        False,
        None,
        None,
    )
    assert set(config.origins) == {entry.name for entry in ENTRIES}
    assert set(config.origins.values()) == {"default"}


def test_command_line_values_are_parsed_or_taken_as_argparse_converted_them() -> None:
    raw = read_config(
        cli={"actionsec_layers": " packer , store ", "actionsec_seed": "0x10", "actionsec": True}
    )
    converted = read_config(
        cli={"actionsec_layers": ("packer", "store"), "actionsec_seed": 16, "actionsec": True}
    )
    assert raw == converted
    assert (raw.layers, raw.seed, raw.active) == (("packer", "store"), 16, True)
    assert raw.origins["layers"] == "--actionsec-layers"
    assert raw.origins["seed"] == "--actionsec-seed"
    assert raw.origins["active"] == "--actionsec"


def test_ini_values() -> None:
    config = read_config(
        ini={
            "actionsec": True,
            "actionsec_mode": "hostile",
            "actionsec_budget": "10m",
            "actionsec_trusted": "a.B, c.D",
            "actionsec_examples": "",  # an empty ini value is unset
            "actionsec_report": None,
        }
    )
    assert (config.active, config.mode, config.budget) == (True, "hostile", 600.0)
    assert config.trusted == ("a.B", "c.D")
    assert config.examples == 100
    assert config.origins["mode"] == "ini actionsec_mode"
    assert config.origins["active"] == "ini actionsec"
    assert config.origins["examples"] == config.origins["report"] == "default"


def test_an_ini_flag_set_to_false_is_the_default() -> None:
    config = read_config(ini={"actionsec": "false", "actionsec_update_baseline": False})
    assert not config.active and not config.update_baseline
    assert config.origins["active"] == config.origins["update_baseline"] == "default"
    assert _error(ini={"actionsec": "maybe"}) == (
        "ini option actionsec must be true or false, got 'maybe'"
    )


def test_environment_is_read_for_the_variables_the_table_names() -> None:
    env = {
        "ACTIONSEC_TARGET": " tests.zoo.m_leak_cause ",
        "ACTIONSEC_MODE": "hostile",
        "ACTIONSEC_LAYERS": "store",
        "ACTIONSEC_STORE": "sqlite:///x.db",
        "ACTIONSEC_TIMEOUT": "0",
        "ACTIONSEC_TRUSTED": "a.B",
        "ACTIONSEC_EXAMPLES": "3",  # not a variable of the table: ignored
    }
    config = read_config(env=env)
    assert config.target == "tests.zoo.m_leak_cause"
    assert (config.mode, config.layers, config.store) == ("hostile", ("store",), "sqlite:///x.db")
    assert (config.timeout, config.time_limit, config.trusted) == (0.0, None, ("a.B",))
    assert config.examples == 100
    assert {config.origins[name] for name in ("target", "mode", "timeout")} == {
        "ACTIONSEC_TARGET",
        "ACTIONSEC_MODE",
        "ACTIONSEC_TIMEOUT",
    }
    assert {o.env for o in OPTIONS if o.env} == {
        "ACTIONSEC_TARGET",
        "ACTIONSEC_MODE",
        "ACTIONSEC_LAYERS",
        "ACTIONSEC_STORE",
        "ACTIONSEC_TIMEOUT",
        "ACTIONSEC_IO_TIMEOUT",
        "ACTIONSEC_TRUSTED",
        "ACTIONSEC_SINK",
        "ACTIONSEC_BOUNDARY",
        "ACTIONSEC_DATABASE",
        "ACTIONSEC_POLICY",
        "ACTIONSEC_STORE_STAGE",
        "ACTIONSEC_NOTIFIER",
        "ACTIONSEC_BUS",
    }


def test_sink_and_boundary_from_the_command_line_ini_and_environment() -> None:
    assert (read_config().sink, read_config().boundary) == (None, None)  # the target's, else nova's
    cli = read_config(cli={"actionsec_sink": "a.b.f", "actionsec_boundary": " NONE "})
    assert (cli.sink, cli.boundary) == ("a.b.f", "none")
    assert (cli.origins["sink"], cli.origins["boundary"]) == (
        "--actionsec-sink",
        "--actionsec-boundary",
    )
    ini = read_config(ini={"actionsec_sink": "a.B.f", "actionsec_boundary": "a.g"})
    assert (ini.sink, ini.boundary, ini.origins["sink"]) == ("a.B.f", "a.g", "ini actionsec_sink")
    env = read_config(env={"ACTIONSEC_SINK": "none", "ACTIONSEC_BOUNDARY": "a.g"})
    assert (env.sink, env.boundary, env.origins["boundary"]) == (
        "none",
        "a.g",
        "ACTIONSEC_BOUNDARY",
    )


def test_replay_flags_carry_the_sink_and_the_boundary_when_given() -> None:
    assert not any("sink" in f or "boundary=" in f for f in read_config().replay_flags())
    config = read_config(cli={"actionsec_sink": "a.Faults.f", "actionsec_boundary": "none"})
    flags = config.replay_flags()
    assert "--actionsec-sink=a.Faults.f" in flags and "--actionsec-boundary=none" in flags


def test_an_empty_variable_is_unset() -> None:
    config = read_config(env={"ACTIONSEC_MODE": "  ", "ACTIONSEC_TRUSTED": ""})
    assert (config.mode, config.trusted) == ("contract", None)
    assert config.origins["mode"] == "default"


def test_the_fuzz_defaults_replace_the_table_defaults() -> None:
    config = read_config(env={}, defaults=FUZZ_DEFAULTS)
    assert config.layers == ("packer", "boundary")
    assert config.origins["layers"] == "default"
    assert read_config(env={"ACTIONSEC_LAYERS": "api"}, defaults=FUZZ_DEFAULTS).layers == ("api",)


def test_command_line_wins_over_ini_and_ini_over_environment() -> None:
    key, var = "actionsec_mode", "ACTIONSEC_MODE"
    both = read_config(cli={key: "hostile"}, ini={key: "contract"}, env={var: "contract"})
    assert (both.mode, both.origins["mode"]) == ("hostile", "--actionsec-mode")
    ini = read_config(cli={key: None}, ini={key: "hostile"}, env={var: "contract"})
    assert (ini.mode, ini.origins["mode"]) == ("hostile", "ini actionsec_mode")
    env = read_config(cli={key: None}, ini={key: ""}, env={var: "hostile"})
    assert (env.mode, env.origins["mode"]) == ("hostile", "ACTIONSEC_MODE")


def test_a_bad_value_a_winner_hides_is_not_read() -> None:
    config = read_config(cli={"actionsec_mode": "hostile"}, ini={"actionsec_mode": "evil"})
    assert config.mode == "hostile"


def test_update_baseline_needs_a_baseline_from_any_source() -> None:
    message = "--actionsec-update-baseline needs --actionsec-baseline=PATH"
    assert _error(cli={"actionsec_update_baseline": True}) == message
    assert _error(ini={"actionsec_update_baseline": "true"}) == message
    config = read_config(
        cli={"actionsec_update_baseline": True}, ini={"actionsec_baseline": "b.json"}
    )
    assert config.update_baseline and config.baseline == "b.json"


# -- errors --------------------------------------------------------------------


@pytest.mark.parametrize(("name", "value", "words"), BAD)
def test_each_source_names_itself_and_says_the_same_words(
    name: str, value: str, words: str
) -> None:
    option = OPTION[name]
    assert _error(cli={option.ini: value}) == f"argument {option.flag}: {words}"
    assert _error(ini={option.ini: value}) == f"ini option {option.ini} {words}"
    if option.env is not None:
        assert _error(env={option.env: value}) == f"{option.env} {words}"


def test_every_parser_with_errors_is_exercised() -> None:
    """Every option whose parser can refuse a value has a case in ``BAD``."""
    # text; trusted classes: by the target; policy files: when read (tests/test_policy.py)
    free = ("report", "baseline", "store", "trusted", "policy")
    assert {name for name, _, _ in BAD} == {o.name for o in OPTIONS if o.name not in free}


# -- the result ----------------------------------------------------------------


def test_the_configuration_is_frozen() -> None:
    config = read_config(cli={"actionsec_mode": "hostile"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.mode = "contract"  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.origins["mode"] = "default"  # type: ignore[index]
    assert hash(config) == hash(read_config(cli={"actionsec_mode": "hostile"}))


def test_with_seed_is_a_new_configuration() -> None:
    config = read_config()
    seeded = config.with_seed(7, "random")
    assert (seeded.seed, seeded.origins["seed"]) == (7, "random")
    assert (config.seed, config.origins["seed"]) == (None, "default")
    assert seeded.origins["mode"] == "default"


def test_ini_keys_read_fields() -> None:
    config = read_config(cli={"actionsec_examples": "5", "actionsec": True})
    for entry in ENTRIES:
        assert config[entry.ini] == getattr(config, entry.name)
    assert config["actionsec_examples"] == 5 and config["actionsec"] is True
    with pytest.raises(KeyError):
        config["actionsec_nothing"]


def test_the_store_url_is_not_in_the_repr() -> None:
    config = read_config(cli={"actionsec_store": "mysql+pymysql://u:hunter22@db/nova"})
    assert "hunter22" not in repr(config)


def test_help_texts_show_the_defaults() -> None:
    assert OPTION["timeout"].help_text().endswith("(0: no limit) (default: 10)")
    assert OPTION["layers"].help_text().endswith("(default: packer,boundary,store,api)")
    assert OPTION["seed"].help_text().endswith("(default: random, printed in the header)")
    assert all(f.help.endswith("(default: off)") for f in FLAGS)


# -- replay flags --------------------------------------------------------------


def test_replay_flags_name_the_seed_first_and_leave_defaults_out() -> None:
    config = read_config(
        cli={
            "actionsec": True,
            "actionsec_mode": "contract",  # the default, given: still left out
            "actionsec_examples": "5",
            "actionsec_report": "r.json",  # a replay need not write the report
            "actionsec_timeout": "2.5",
            "actionsec_budget": "2m",
            "actionsec_trusted": "a.B,c.D",
            "actionsec_baseline": "base line.json",
        }
    ).with_seed(42, "random")
    assert config.replay_flags() == [
        "--actionsec-seed=42",
        "--actionsec-examples=5",
        "'--actionsec-baseline=base line.json'",
        "--actionsec-timeout=2.5",
        "--actionsec-budget=120s",
        "--actionsec-trusted=a.B,c.D",
    ]


def test_replay_flags_name_the_store_without_its_password_only_when_it_is_used() -> None:
    url = "postgresql://u:hunter22@db/nova"
    given = {"actionsec": True, "actionsec_store": url}
    unused = read_config(cli={**given, "actionsec_layers": "packer,boundary"})
    assert unused.with_seed(1, "random").replay_flags() == [
        "--actionsec-seed=1",
        "--actionsec-layers=packer,boundary",
    ]
    used = read_config(cli={**given, "actionsec_layers": "store"}).with_seed(1, "random")
    assert used.replay_flags() == [
        "--actionsec-seed=1",
        "--actionsec-layers=store",
        "--actionsec-store=postgresql://u@db/nova",
    ]
    inactive = read_config(cli={"actionsec_store": url}).with_seed(1, "random")
    assert inactive.replay_flags() == ["--actionsec-seed=1"]  # no suite: the store is unused


def test_a_campaigns_replay_names_its_layers() -> None:
    """The fuzz module's default layers are not the plugin's: the replay names them."""
    config = read_config(env={}, defaults=FUZZ_DEFAULTS).with_seed(3, "random")
    assert config.replay_flags() == ["--actionsec-seed=3", "--actionsec-layers=packer,boundary"]


# -- the module and its two users ----------------------------------------------


def test_the_module_imports_no_pytest_nova_or_hypothesis() -> None:
    code = (
        "import sys, pytest_actionsec.config as c\n"
        "c.read_config(env={'ACTIONSEC_MODE': 'hostile'}).replay_flags()\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'pytest', '_pytest', 'nova', 'hypothesis', 'freezegun', 'sqlalchemy'}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "[]"


def test_the_plugin_reads_no_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACTIONSEC_MODE", "hostile")
    monkeypatch.setenv("ACTIONSEC_LAYERS", "bogus")
    result = pytester.runpytest("--co", "--actionsec", "--actionsec-layers=packer")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["actionsec: target=* mode=contract (default), *"])


def _fuzz(pytester: pytest.Pytester, var: str, value: str) -> str:
    """The one-line collection error of the fuzz module given ``var=value``."""
    old = os.environ.get("PYTHONPATH", "")
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), old])), var: value}
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        result = pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", "--pyargs", "pytest_actionsec.fuzz", "--co", timeout=300
        )
    finally:
        for name, before in saved.items():
            if before is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = before
    assert result.ret == pytest.ExitCode.INTERRUPTED
    prefix = f"pytest_actionsec.fuzz: {var} "
    lines = [line for line in result.stdout.lines if line.startswith(prefix)]
    assert lines, result.stdout.str()[-2000:]
    return lines[0][len(prefix) :]


@pytest.mark.parametrize(("name", "value"), [("mode", "evil"), ("timeout", "-1")])
def test_the_plugin_and_the_fuzz_module_refuse_a_value_in_the_same_words(
    pytester: pytest.Pytester, name: str, value: str
) -> None:
    option = OPTION[name]
    assert option.env is not None
    ini = pytester.makeini(f"[pytest]\n{option.ini} = {value}\n")
    plugin = pytester.runpytest("--actionsec")
    assert plugin.ret == pytest.ExitCode.USAGE_ERROR
    prefix = f"ERROR: ini option {option.ini} "
    said = [line[len(prefix) :] for line in plugin.stderr.lines if line.startswith(prefix)]
    assert said, plugin.stderr.str()
    ini.unlink()  # the fuzz module's run reads the environment only
    assert _fuzz(pytester, option.env, value) == said[0]
    words = dict(((n, v), w) for n, v, w in BAD)[(name, value)]
    assert said[0] == words
