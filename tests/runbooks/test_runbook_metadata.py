"""The `# /// runbook` metadata block: parsing, every error with file and line, the catalog."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from console.errors import ConfigError, UsageError
from console.runbooks.catalog import RunbookCatalog
from console.runbooks.metadata import RunbookError, parse_metadata_block

REPO_RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"

FULL = """\
#!/bin/sh
# /// runbook
# description = "Everything at once"
# target = "web:&prod"
# timeout = 90
#
# [parameters.name]
# type = "string"
# required = true
# description = "Who"
# [parameters.count]
# type = "int"
# default = 3
# [parameters.ratio]
# type = "float"
# default = 2
# [parameters.force]
# type = "bool"
# default = false
# [parameters.mode]
# type = "choice"
# choices = ["fast", "safe"]
# default = "safe"
# [parameters.hosts]
# type = "list"
# default = ["a", "b"]
# [parameters.extra]
# type = "json"
# default = {key = [1, 2]}
# [parameters.login]
# type = "credential"
# ///
echo hi
"""


def test_full_block_is_parsed_with_typed_defaults() -> None:
    meta = parse_metadata_block(FULL, "full.sh")
    assert meta.description == "Everything at once"
    assert meta.target == "web:&prod"
    assert meta.timeout == 90.0
    assert meta.line == 2
    params = meta.parameters
    assert list(params) == ["name", "count", "ratio", "force", "mode", "hosts", "extra", "login"]
    assert params["name"].required and params["name"].description == "Who"
    assert params["count"].default == 3
    assert params["ratio"].default == 2.0 and isinstance(params["ratio"].default, float)
    assert params["force"].default is False
    assert params["mode"].choices == ("fast", "safe") and params["mode"].default == "safe"
    assert params["hosts"].default == ["a", "b"]
    assert params["extra"].default == {"key": [1, 2]}
    assert params["login"].type == "credential" and params["login"].default is None


def test_a_runbook_without_a_block_has_no_parameters() -> None:
    meta = parse_metadata_block("#!/bin/sh\necho plain\n", "plain.sh")
    assert meta.parameters == {} and meta.description == "" and meta.line is None


def block(*lines: str, before: int = 1) -> str:
    """A file with `before` lines of script, then a block holding `lines`."""
    head = "".join(f"echo {n}\n" for n in range(before))
    body = "".join(f"# {line}\n" if line else "#\n" for line in lines)
    return f"{head}# /// runbook\n{body}# ///\necho done\n"


# (case id, block lines, expected file line (block opens on line 2), parameter, message part)
ERRORS = [
    ("bad-toml", ['description = "x"', "timeout = = 3"], 4, None, "invalid TOML"),
    ("unknown-type", ["[parameters.size]", 'type = "integer"'], 3, "size", "unknown type"),
    (
        "choice-without-choices",
        ["[parameters.mode]", 'type = "choice"'],
        3,
        "mode",
        "needs choices",
    ),
    (
        "choices-on-a-string",
        ["", "[parameters.mode]", 'choices = ["a"]'],
        4,
        "mode",
        "only apply to type 'choice'",
    ),
    (
        "int-default-is-text",
        ["[parameters.n]", 'type = "int"', 'default = "five"'],
        3,
        "n",
        "default 'five' is not a valid int",
    ),
    (
        "int-default-is-float",
        ["[parameters.n]", 'type = "int"', "default = 1.5"],
        3,
        "n",
        "not a valid int",
    ),
    (
        "bool-default-is-text",
        ["[parameters.f]", 'type = "bool"', 'default = "yes"'],
        3,
        "f",
        "not a valid bool",
    ),
    (
        "choice-default-not-a-choice",
        ["[parameters.m]", 'type = "choice"', 'choices = ["a"]', 'default = "b"'],
        3,
        "m",
        "not a valid choice",
    ),
    (
        "list-default-is-text",
        ["[parameters.l]", 'type = "list"', 'default = "a,b"'],
        3,
        "l",
        "not a valid list",
    ),
    (
        "unknown-parameter-key",
        ["[parameters.x]", "requird = true"],
        3,
        "x",
        "unknown key 'requird'",
    ),
    (
        "required-not-bool",
        ["[parameters.x]", 'required = "yes"'],
        3,
        "x",
        "required must be true or false",
    ),
    ("bad-parameter-name", ['[parameters."two words"]'], 3, "two words", "a name must start"),
    ("unknown-top-key", ['description = "x"', "timout = 5"], 4, None, "unknown key 'timout'"),
    ("negative-timeout", ["timeout = -1"], 3, None, "timeout must be a positive number"),
    (
        "env-collision",
        ["[parameters.log-file]", "[parameters.log_file]"],
        4,
        "log_file",
        "OPS_PARAM_LOG_FILE",
    ),
    (
        "list-lines-collision",
        ["[parameters.files]", 'type = "list"', "[parameters.files_lines]"],
        5,
        "files_lines",
        "OPS_PARAM_FILES_LINES",
    ),
]


@pytest.mark.parametrize(
    ("lines", "line", "parameter", "message"),
    [case[1:] for case in ERRORS],
    ids=[case[0] for case in ERRORS],
)
def test_block_errors_name_file_line_and_parameter(
    lines: list[str], line: int, parameter: str | None, message: str
) -> None:
    with pytest.raises(RunbookError) as caught:
        parse_metadata_block(block(*lines), "runbooks/broken.sh")
    error = caught.value
    assert isinstance(error, ConfigError)
    assert (error.path, error.line, error.parameter) == ("runbooks/broken.sh", line, parameter)
    assert message in str(error)
    assert str(error).startswith(f"runbooks/broken.sh:{line}: ")


def test_unclosed_block_names_its_opening_line() -> None:
    text = "echo 1\n# /// runbook\n# timeout = 5\necho not a comment\n# ///\n"
    with pytest.raises(RunbookError, match=r"^x\.sh:2: .*not closed") as caught:
        parse_metadata_block(text, "x.sh")
    assert caught.value.line == 2


def test_a_second_block_is_refused() -> None:
    text = block("timeout = 5") + "# /// runbook\n# timeout = 6\n# ///\n"
    with pytest.raises(RunbookError, match=r"^x\.sh:6: a second") as caught:
        parse_metadata_block(text, "x.sh")
    assert caught.value.line == 6


def test_other_pep723_blocks_are_ignored() -> None:
    text = '# /// script\n# dependencies = ["requests"]\n# ///\n' + block("timeout = 5")
    assert parse_metadata_block(text, "x.py").timeout == 5


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_catalog_lists_every_language_skips_others_and_reports_broken_files(
    tmp_path: Path,
) -> None:
    sh = write(tmp_path, "backup.sh", block('description = "shell"', "timeout = 5"))
    write(tmp_path, "facts.py", block('description = "python"'))
    write(tmp_path, "Patch-Windows.ps1", block('description = "powershell"') + "param()\n")
    write(tmp_path, "README.md", "# not a runbook\n")
    write(tmp_path, ".hidden.sh", "echo hidden\n")
    write(tmp_path, "broken.sh", block("[parameters.n]", 'type = "integr"'))
    (tmp_path / "sub.sh").mkdir()

    scan = RunbookCatalog(tmp_path).scan()

    assert {(r.name, r.language) for r in scan.runbooks} == {
        ("backup", "shell"),
        ("facts", "python"),
        ("Patch-Windows", "powershell"),
    }
    assert [p.name for p in scan.problems] == ["broken"]
    assert "broken.sh:3: parameter 'n': unknown type 'integr'" in str(scan.problems[0].error)
    backup = next(r for r in scan.runbooks if r.name == "backup")
    assert backup.hash == hashlib.sha256(sh.read_bytes()).hexdigest()
    assert backup.metadata.description == "shell" and backup.metadata.timeout == 5


def test_catalog_get_suggests_close_names_and_raises_the_files_own_error(tmp_path: Path) -> None:
    write(tmp_path, "restart-service.sh", "echo\n")
    write(tmp_path, "broken.py", block("timeout = 'soon'"))
    catalog = RunbookCatalog(tmp_path)
    assert catalog.get("restart-service").path.name == "restart-service.sh"
    with pytest.raises(UsageError, match="did you mean restart-service"):
        catalog.get("restart-servce")
    with pytest.raises(RunbookError, match=r"broken\.py:3: timeout must be a positive"):
        catalog.get("broken")


def test_two_files_with_one_name_are_reported(tmp_path: Path) -> None:
    write(tmp_path, "facts.py", "print(1)\n")
    write(tmp_path, "facts.sh", "echo 1\n")
    scan = RunbookCatalog(tmp_path).scan()
    assert [r.path.name for r in scan.runbooks] == ["facts.py"]
    assert "already used by facts.py" in str(scan.problems[0].error)


def test_a_missing_folder_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    scan = RunbookCatalog(tmp_path / "nope").scan()
    assert scan.runbooks == [] and "does not exist" in str(scan.problems[0].error)


def test_shipped_examples_all_parse() -> None:
    scan = RunbookCatalog(REPO_RUNBOOKS).scan()
    assert scan.problems == []
    by_name = {r.name: r for r in scan.runbooks}
    assert {"disk-usage", "restart-service", "collect-logs", "system-facts"} <= set(by_name)
    for runbook in by_name.values():
        assert runbook.metadata.description, runbook.name
        assert runbook.metadata.parameters, runbook.name
    assert by_name["restart-service"].metadata.parameters["service"].required
    assert by_name["collect-logs"].metadata.parameters["files"].type == "list"


def test_catalog_sees_an_edited_runbook_at_once(tmp_path: Path) -> None:
    """Scans reuse parsed files, but an edit (new size or mtime) is picked up."""
    book = tmp_path / "hello.sh"
    book.write_text('# /// runbook\n# description = "first"\n# ///\necho hi\n')
    catalog = RunbookCatalog(tmp_path)
    assert catalog.get("hello").metadata.description == "first"
    assert catalog.get("hello") is catalog.get("hello")  # not parsed again
    book.write_text('# /// runbook\n# description = "second, longer"\n# ///\necho hi\n')
    assert catalog.get("hello").metadata.description == "second, longer"


def test_catalog_lookups_see_files_replaced_added_and_removed(tmp_path: Path) -> None:
    """`get` skips the folder scan while nothing changed; any change is seen at once."""
    book = tmp_path / "hello.sh"
    book.write_text('# /// runbook\n# description = "first"\n# ///\necho hi\n')
    catalog = RunbookCatalog(tmp_path)
    assert catalog.get("hello").metadata.description == "first"
    # Same size, replaced by rename (as editors and deploy tools do).
    fresh = tmp_path / ".hello.sh.new"
    fresh.write_text('# /// runbook\n# description = "again"\n# ///\necho hi\n')
    fresh.rename(book)
    assert catalog.get("hello").metadata.description == "again"
    (tmp_path / "other.sh").write_text('# /// runbook\n# description = "other"\n# ///\ntrue\n')
    assert catalog.get("other").metadata.description == "other"
    book.unlink()
    with pytest.raises(UsageError, match="no runbook named 'hello'"):
        catalog.get("hello")
