"""Configuration files as users write them: the issue's example loads into the expected
resources, and every mistake is refused naming the file, the exact line and the key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from console.errors import ConfigError
from console.state.config import ConfigurationError, info_of, load_all, load_configuration
from console.state.model import DEFAULT_FREQUENCY_S, Mode

FIXTURES = Path(__file__).parent / "fixtures" / "configurations"
HEAD = "targets: all\nresources:\n"  # lines 1-2 of most bad files below


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A configurations folder holding a copy of the fixtures (web.yaml, files/motd)."""
    target = tmp_path / "configurations"
    shutil.copytree(FIXTURES, target)
    return target


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


# ------------------------------------------------------------------ the good file


def test_the_issue_example_loads_into_its_resources(folder):
    web = load_configuration(folder / "web.yaml")
    assert (web.name, web.targets, web.mode) == ("web", "web:&prod", Mode.APPLY_AND_MONITOR)
    assert (web.frequency_s, web.description) == (900, "Baseline for web servers")
    assert [(r.id, r.line) for r in web.resources] == [
        ("file:/etc/motd", 6),
        ("file:/etc/legacy.conf", 11),
        ("directory:/srv/app", 13),
        ("package:htop", 15),
        ("service:ssh", 17),
        ("lineinfile:/etc/ssh/sshd_config", 20),
        ("user:deploy", 23),
        ("group:deploy", 27),
        ("command:/usr/local/bin/ensure-thing", 28),
        ("file:/etc/issue.net", 31),
    ]
    by_id = {r.id: r for r in web.resources}
    assert by_id["file:/etc/motd"].properties == {
        "content": "Managed by opsconsole\n",
        "mode": "0644",
        "owner": "root",
        "group": "root",
    }
    assert by_id["file:/etc/legacy.conf"].properties == {"state": "absent"}
    assert by_id["service:ssh"].properties == {"running": True, "enabled": True}
    assert by_id["lineinfile:/etc/ssh/sshd_config"].properties == {
        "line": "PermitRootLogin prohibit-password",
        "match": "^#?PermitRootLogin",
    }
    assert by_id["user:deploy"].properties == {
        "state": "present",
        "shell": "/bin/bash",
        "groups": ["adm"],
    }
    assert by_id["group:deploy"].properties == {}
    assert by_id["command:/usr/local/bin/ensure-thing"].properties == {
        "check": "/usr/local/bin/ensure-thing --check"
    }
    issue = by_id["file:/etc/issue.net"]
    assert issue.properties == {"content": "Managed by opsconsole\nAuthorised use only.\n"}
    assert issue.requires == ("directory:/srv/app", "service:ssh")
    assert all(r.requires == () for r in web.resources[:-1])


def test_the_example_in_the_docs_loads_like_the_fixture(folder):
    docs = (Path(__file__).parents[2] / "docs" / "state.md").read_text()
    example = docs.split("```yaml\n", 1)[1].split("```", 1)[0]
    documented = load_configuration(write(folder, "documented.yaml", example))
    fixture = load_configuration(folder / "web.yaml")
    assert [(r.id, r.properties, r.requires) for r in documented.resources] == [
        (r.id, r.properties, r.requires) for r in fixture.resources
    ]


def test_defaults_and_the_duration_forms(folder):
    bare = load_configuration(write(folder, "bare.yaml", HEAD + "  - group: g\n"))
    assert (bare.mode, bare.frequency_s, bare.description) == (
        Mode.APPLY_AND_MONITOR,
        DEFAULT_FREQUENCY_S,
        "",
    )
    for text, seconds in [("90s", 90), ("1h", 3600), ("1d", 86400), ("1h30m", 5400), ("120", 120)]:
        path = write(folder, "f.yaml", f"frequency: {text}\n" + HEAD + "  - group: g\n")
        assert load_configuration(path).frequency_s == seconds, text


def test_requires_resolves_ids_and_unambiguous_identities_once_each(folder):
    text = HEAD + (
        "  - package: nginx\n"
        "  - file: /etc/nginx/nginx.conf\n"
        "    content: ''\n"  # an empty file is a valid wish
        "  - service: nginx\n"
        "    running: true\n"
        "    requires: [package:nginx, /etc/nginx/nginx.conf, file:/etc/nginx/nginx.conf]\n"
        "  - command: nginx -s reload\n"
        "    requires: service:nginx\n"
    )
    config = load_configuration(write(folder, "nginx.yaml", text))
    assert config.resources[1].properties == {"content": ""}
    assert config.resources[2].requires == ("package:nginx", "file:/etc/nginx/nginx.conf")
    assert config.resources[3].requires == ("service:nginx",)


# ------------------------------------------------------------ every error, with line

OK = "  - group: g\n"
BAD: dict[str, tuple[str | bytes, int | None, str]] = {
    # the file itself
    "yaml_tab": (HEAD + "\t- group: g\n", 3, "not valid YAML"),
    "yaml_unclosed_flow": ("targets: all\nresources: [\n  {group: g}\n", 4, "not valid YAML"),
    "yaml_duplicate_top_key": (HEAD + OK + "targets: web\n", 4, "duplicate key 'targets'"),
    "not_utf8": (b"targets: all\nresources:\n  - group: \xff\n", 3, "UTF-8"),
    "empty_file": ("# nothing yet\n", 1, "empty"),
    "top_level_list": ("- group: g\n", 1, "mapping"),
    # top-level keys
    "unknown_top_key": ("targets: all\ntarget: web\nresources:\n" + OK, 2, "'target'"),
    "missing_targets": ("description: d\nresources:\n" + OK, 1, "'targets'"),
    "targets_a_list": ("description: d\ntargets: [web]\nresources:\n" + OK, 2, "targets"),
    "targets_bad_pattern": ("\ntargets: 'web:&'\nresources:\n" + OK, 2, "targets"),
    "targets_bad_regex": ("targets: '~web('\nresources:\n" + OK, 1, "targets"),
    "mode_unknown": ("mode: ApplyAlways\n" + HEAD + OK, 1, "mode"),
    "frequency_not_duration": ("\nfrequency: soon\n" + HEAD + OK, 2, "frequency"),
    "frequency_bool": ("frequency: yes\n" + HEAD + OK, 1, "frequency"),
    "frequency_under_a_minute": ("frequency: 30s\n" + HEAD + OK, 1, "frequency"),
    "frequency_seconds_under": ("frequency: 59\n" + HEAD + OK, 1, "frequency"),
    "description_not_text": ("description: [a]\n" + HEAD + OK, 1, "description"),
    "missing_resources": ("description: d\ntargets: all\n", 1, "'resources'"),
    "resources_empty": ("targets: all\nresources: []\n", 2, "resources"),
    "resources_none": ("targets: all\nresources:\n", 2, "resources"),
    "resources_mapping": ("targets: all\nresources:\n  group: g\n", 2, "resources"),
    # the shape of a resource
    "resource_not_mapping": (HEAD + OK + "  - htop\n", 4, "resources[1]"),
    "empty_entry": (HEAD + OK + "  - {}\n", 4, "resources[1]: no resource type key"),
    "no_type_key": (HEAD + OK + "  - pakage: htop\n", 4, "'pakage'"),
    "two_type_keys": (HEAD + "  - file: /a\n    directory: /b\n", 4, "'directory'"),
    "identity_not_text": (HEAD + "  - group: 1000\n", 3, "group"),
    "identity_empty": (HEAD + OK + "  - package:\n", 4, "package"),
    "identity_two_lines": (HEAD + '  - package: "a\\nb"\n', 3, "package"),
    "file_relative_path": (HEAD + "  - file: etc/motd\n", 3, "absolute"),
    "directory_relative_path": (HEAD + "  - directory: srv\n", 3, "absolute"),
    "lineinfile_relative_path": (HEAD + "  - lineinfile: x\n    line: a\n", 3, "absolute"),
    "command_empty": (HEAD + "  - command: ' '\n", 3, "command"),
    # keys and their types
    "unknown_key": (
        HEAD + OK + "  - package: htop\n    stat: present\n",
        5,
        "resources[1] (package: htop): unknown key 'stat' (known: state, version, requires)",
    ),
    "service_has_no_state": (HEAD + "  - service: ssh\n    state: running\n", 4, "'state'"),
    "duplicate_key": (
        HEAD + "  - file: /a\n    mode: '0644'\n    mode: '0600'\n",
        5,
        "duplicate key 'mode'",
    ),
    "text_given_a_number": (HEAD + "  - file: /a\n    owner: 0\n", 4, "owner"),
    "bool_given_text": (HEAD + "  - service: ssh\n    running: 'yes'\n", 4, "running"),
    "mode_unquoted": (HEAD + "  - file: /a\n\n    mode: 0644\n", 5, 'mode: "0644"'),
    "mode_not_octal": (HEAD + "  - directory: /a\n    mode: '0999'\n", 4, "mode"),
    "mode_too_long": (HEAD + "  - directory: /a\n    mode: '00644'\n", 4, "mode"),
    "owner_empty": (HEAD + "  - file: /a\n    owner: ''\n", 4, "owner"),
    "state_not_a_choice": (HEAD + "  - package: htop\n    state: installed\n", 4, "state"),
    "file_state_latest": (HEAD + "  - file: /a\n    state: latest\n", 4, "state"),
    "version_and_state": (
        HEAD + "  - package: htop\n    version: '3.0'\n    state: latest\n",
        5,
        "version and state",
    ),
    "version_a_number": (HEAD + "  - package: htop\n    version: 3.0\n", 4, "version"),
    "content_and_source": (
        HEAD + "  - file: /a\n    source: files/motd\n    content: x\n",
        5,
        "content and source",
    ),
    "absent_with_content": (
        HEAD + "  - file: /a\n    state: absent\n    content: x\n",
        5,
        "content",
    ),
    "absent_user_with_groups": (
        HEAD + "  - user: u\n    groups: [adm]\n    state: absent\n",
        4,
        "groups",
    ),
    "lineinfile_without_line": (
        HEAD + OK + "  - lineinfile: /etc/x\n    match: '^a'\n",
        4,
        "'line'",
    ),
    "lineinfile_bad_regex": (
        HEAD + "  - lineinfile: /etc/x\n    line: a\n    match: '(a'\n",
        5,
        "match",
    ),
    "groups_not_a_list": (HEAD + "  - user: u\n    groups: adm\n", 4, "groups"),
    "groups_not_names": (HEAD + "  - user: u\n    groups: [adm, 4]\n", 4, "groups"),
    "shell_relative": (HEAD + "  - user: u\n    shell: bash\n", 4, "shell"),
    "service_with_nothing_to_do": (HEAD + OK + "  - service: ssh\n", 4, "running"),
    "check_not_text": (HEAD + "  - command: /bin/x\n    check: true\n", 4, "check"),
    # requires and duplicates
    "requires_later": (
        HEAD + "  - package: a\n    requires: package:b\n  - package: b\n",
        4,
        "requires",
    ),
    "requires_unknown_in_list": (
        HEAD + "  - package: a\n  - package: b\n    requires:\n      - a\n      - c\n",
        7,
        "'c'",
    ),
    "requires_ambiguous": (
        HEAD + "  - user: deploy\n  - group: deploy\n  - package: x\n    requires: deploy\n",
        6,
        "ambiguous",
    ),
    "requires_not_names": (HEAD + OK + "  - package: a\n    requires: 3\n", 5, "requires"),
    "requires_itself": (HEAD + "  - package: a\n    requires: a\n", 4, "requires"),
    "duplicate_resource": (
        HEAD + "  - package: htop\n  - group: g\n  - package: htop\n",
        5,
        "package:htop (first on line 3)",
    ),
    # source
    "source_absolute": (HEAD + "  - file: /a\n    source: /etc/passwd\n", 4, "source"),
    "source_escapes": (HEAD + "  - file: /a\n    source: ../secret\n", 4, "source"),
    "source_escapes_midway": (
        HEAD + "  - file: /a\n    source: files/../../secret\n",
        4,
        "source",
    ),
    "source_missing": (HEAD + "  - file: /a\n    source: files/nope\n", 4, "files/nope"),
    "source_not_utf8": (HEAD + "  - file: /a\n    source: files/blob\n", 4, "UTF-8"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_every_mistake_names_the_file_line_and_key(folder, case):
    text, line, key = BAD[case]
    (folder.parent / "secret").write_text("outside\n")
    (folder / "files" / "blob").write_bytes(b"\x89PNG\xff\xfe")
    path = write(folder, f"{case}.yaml", text)
    with pytest.raises(ConfigError) as caught:
        load_configuration(path)
    error, message = caught.value, str(caught.value)
    assert isinstance(error, ConfigurationError) and error.exit_code == 2
    assert message.startswith(f"{path}:{line}: "), message
    assert error.line == line, message
    assert key in message, message


def test_bad_file_names_and_unreadable_files_name_the_file(folder):
    path = write(folder, "web server.yaml", HEAD + OK)
    with pytest.raises(ConfigurationError, match=r"web server\.yaml: configuration name"):
        load_configuration(path)
    with pytest.raises(ConfigurationError, match=r"nope\.yaml: cannot read"):
        load_configuration(folder / "nope.yaml")


# ------------------------------------------------------------------ digest, folder


def test_the_digest_follows_the_file_and_its_sources(folder):
    path = folder / "web.yaml"
    first = load_configuration(path).digest
    assert load_configuration(path).digest == first and len(first) == 64
    (folder / "files" / "motd").write_text("Someone else's motd\n")
    after_source = load_configuration(path).digest
    assert after_source != first
    path.write_text(path.read_text().replace("15m", "30m"))
    assert load_configuration(path).digest not in (first, after_source)


def test_load_all_keeps_the_good_files_when_one_is_broken(folder):
    write(folder, "broken.yaml", HEAD + "  - package: htop\n    stat: present\n")
    write(folder, "db.yml", "targets: db\nmode: ApplyAndAutoCorrect\nresources:\n" + OK)
    write(folder, "web.yml", HEAD + OK)  # the same name as web.yaml
    write(folder, "notes.txt", "not a configuration")
    write(folder, ".web.yaml", "an editor's lock file [")
    configurations, infos = load_all(folder)
    assert [c.name for c in configurations] == ["db", "web"]
    assert [(i.name, Path(i.path).name) for i in infos] == [
        ("broken", "broken.yaml"),
        ("db", "db.yml"),
        ("web", "web.yaml"),
        ("web", "web.yml"),
    ]
    broken, db, web, twin = infos
    assert broken.problem.startswith(f"{folder / 'broken.yaml'}:4: ") and "'stat'" in broken.problem
    assert db == info_of(configurations[0]) and db.mode == "ApplyAndAutoCorrect" and not db.problem
    assert (web.targets, web.resources, web.frequency_s) == ("web:&prod", 10, 900)
    assert "web.yaml has the same name" in twin.problem


def test_load_all_without_a_folder_is_empty(tmp_path):
    assert load_all(None) == ([], [])
    assert load_all(tmp_path / "missing") == ([], [])
