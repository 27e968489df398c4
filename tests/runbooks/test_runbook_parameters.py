"""Typed parameters: every type valid and invalid, unknown/missing names, env names."""

from __future__ import annotations

from typing import Any

import pytest

from console.cli.assignments import parse_assignments
from console.errors import UsageError
from console.runbooks.parameters import (
    Parameter,
    convert,
    env_for,
    env_name,
    parse_values,
)

VALID: list[tuple[Parameter, Any, Any]] = [
    (Parameter("s"), "  spaces kept ", "  spaces kept "),
    (Parameter("s"), "", ""),
    (Parameter("n", "int"), "42", 42),
    (Parameter("n", "int"), " -7 ", -7),
    (Parameter("n", "int"), 5, 5),
    (Parameter("x", "float"), "2.5", 2.5),
    (Parameter("x", "float"), "3", 3.0),
    (Parameter("x", "float"), 1, 1.0),
    *[(Parameter("b", "bool"), word, True) for word in ("true", "YES", "1", "on", True)],
    *[(Parameter("b", "bool"), word, False) for word in ("false", "No", "0", "off", False)],
    (Parameter("c", "choice", choices=("fast", "safe")), "safe", "safe"),
    (Parameter("l", "list"), "a, b,,c ", ["a", "b", "c"]),
    (Parameter("l", "list"), '["a,b", 2, null]', ["a,b", 2, None]),
    (Parameter("l", "list"), "", []),
    (Parameter("l", "list"), ["x"], ["x"]),
    (Parameter("j", "json"), '{"a": [1, true]}', {"a": [1, True]}),
    (Parameter("j", "json"), "3", 3),
    (Parameter("j", "json"), {"already": "typed"}, {"already": "typed"}),
    (Parameter("k", "credential"), " deploy-key ", "deploy-key"),
]


@pytest.mark.parametrize(("param", "raw", "expected"), VALID)
def test_valid_values_are_typed(param: Parameter, raw: Any, expected: Any) -> None:
    value = convert(param, raw)
    assert value == expected and type(value) is type(expected)


INVALID: list[tuple[Parameter, Any, str]] = [
    (Parameter("s"), 5, "expected text"),
    (Parameter("s"), "nul\0byte", "NUL"),
    (Parameter("n", "int"), "4.5", "expected a whole number, got '4.5'"),
    (Parameter("n", "int"), "ten", "expected a whole number"),
    (Parameter("n", "int"), True, "expected a whole number"),
    (Parameter("x", "float"), "nan", "expected a number"),
    (Parameter("x", "float"), "1,5", "expected a number"),
    (Parameter("b", "bool"), "maybe", "expected true/false, yes/no or 1/0"),
    (Parameter("b", "bool"), 1, "expected true/false"),
    (
        Parameter("c", "choice", choices=("fast", "safe")),
        "quick",
        "'quick' is not allowed; choose one of fast, safe",
    ),
    (Parameter("l", "list"), "[1, 2", "not a valid JSON array"),
    (Parameter("l", "list"), {"a": 1}, "expected a list"),
    (Parameter("j", "json"), "{bad}", "not valid JSON"),
    (Parameter("k", "credential"), "  ", "name of a credential asset"),
]


@pytest.mark.parametrize(("param", "raw", "message"), INVALID)
def test_invalid_values_name_the_parameter_and_reason(
    param: Parameter, raw: Any, message: str
) -> None:
    with pytest.raises(UsageError) as caught:
        convert(param, raw)
    assert f"parameter {param.name!r}" in str(caught.value)
    assert message in str(caught.value)


SPECS = {
    "service": Parameter("service", required=True, description="the unit to restart"),
    "retries": Parameter("retries", "int", default=3),
    "action": Parameter("action", "choice", default="restart", choices=("restart", "stop")),
    "note": Parameter("note"),
}


def test_defaults_apply_and_absent_optionals_stay_absent() -> None:
    values = parse_values(SPECS, {"service": "nginx"}, "restart-service")
    assert values == {"service": "nginx", "retries": 3, "action": "restart"}


def test_given_values_override_defaults() -> None:
    values = parse_values(SPECS, {"service": "ssh", "retries": "0", "action": "stop"})
    assert values == {"service": "ssh", "retries": 0, "action": "stop"}


def test_missing_required_parameter_is_named() -> None:
    with pytest.raises(
        UsageError,
        match="restart-service: parameter 'service' is required "
        r"\(string: the unit to restart\)",
    ):
        parse_values(SPECS, {}, "restart-service")


def test_unknown_parameter_suggests_close_matches() -> None:
    with pytest.raises(UsageError, match="no parameter 'retry'; did you mean 'retries'"):
        parse_values(SPECS, {"service": "x", "retry": "2"}, "restart-service")
    with pytest.raises(UsageError, match="no parameter 'zzz'; it takes service, retries"):
        parse_values(SPECS, {"zzz": "1"}, "restart-service")
    with pytest.raises(UsageError, match="it takes no parameters"):
        parse_values({}, {"zzz": "1"}, "plain")


def test_cli_assignments_split_on_the_first_equals_sign() -> None:
    assert parse_assignments(["a=1", "query=x=y", "a=2", "empty="]) == {
        "a": "2",
        "query": "x=y",
        "empty": "",
    }
    with pytest.raises(UsageError, match="-p: 'novalue' is not NAME=VALUE"):
        parse_assignments(["novalue"])


def test_environment_names_and_values() -> None:
    assert env_name("log-file.path") == "OPS_PARAM_LOG_FILE_PATH"
    specs = {
        "name": Parameter("name"),
        "n": Parameter("n", "int"),
        "x": Parameter("x", "float"),
        "dry-run": Parameter("dry-run", "bool"),
        "files": Parameter("files", "list"),
        "extra": Parameter("extra", "json"),
        "login": Parameter("login", "credential"),
    }
    values = {
        "name": "a b",
        "n": 3,
        "x": 0.5,
        "dry-run": False,
        "files": ["/a", "/b c", 7],
        "extra": {"k": "v"},
        "login": "ops",
    }
    assert env_for(specs, values) == {
        "OPS_PARAM_NAME": "a b",
        "OPS_PARAM_N": "3",
        "OPS_PARAM_X": "0.5",
        "OPS_PARAM_DRY_RUN": "false",
        "OPS_PARAM_FILES": '["/a","/b c",7]',
        "OPS_PARAM_FILES_LINES": "/a\n/b c\n7",
        "OPS_PARAM_EXTRA": '{"k":"v"}',
        "OPS_PARAM_LOGIN": "ops",
    }


def test_the_asset_parameter_types_are_the_asset_kinds() -> None:
    """runbooks spells the kinds out (it cannot import console.assets): keep them equal."""
    from console.assets.model import ASSET_PARAMETER_TYPES
    from console.runbooks.parameters import ASSET_TYPES

    assert ASSET_TYPES == ASSET_PARAMETER_TYPES
