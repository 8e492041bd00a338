"""`domogate project …` and the project file adapter, on real files."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from domogate.cli import project_cmd
from domogate.cli.env import argon2_parameters_from_env
from domogate.cli.main import app
from domogate.core.project import Project
from domogate.errors import ConfigKeyInvalid, Conflict, InvalidInput, ProjectInvalid
from domogate.security.passwords import Argon2Parameters, Passwords
from domogate.storage import projectfile

runner = CliRunner()


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOMOGATE_ARGON2_PROFILE", "test")


def run(*args: str, input: str | None = None, ok: bool = True) -> Any:
    result = runner.invoke(app, ["project", *args], input=input)
    if ok:
        assert result.exit_code == 0, (result.stdout, result.stderr)
    else:
        assert result.exit_code == 1, (result.stdout, result.stderr)
    return result


def run_json(*args: str, input: str | None = None, ok: bool = True) -> Any:
    return json.loads(run(*args, "--json", input=input, ok=ok).stdout)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    directory = tmp_path / "home"
    run("new", str(directory), "--name", "Home")
    return directory


def text_of(directory: Path) -> str:
    return (directory / "project.yaml").read_text(encoding="utf-8")


def write(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "project.yaml"
    path.write_text(text, encoding="utf-8")
    return path


HAND_WRITTEN = """\
# Villa Rossi, by the integrator
name: Villa   # shown to clients
system:
  use_otp_authentication: true  # keep
  cloud:
    enabled: false
groups:
  - name: family
    description: Parents and children

  # guests come and go
  - name: guests
users:
  - name: alice
    group: family
pages:
  - id: ground
    title: Ground floor
objects:
  - id: light
    name: Light
    type: switch
    page: ground
    bindings:
      command: {address: 1/1/1, dpt: "1.001"}
"""


# --- env ---------------------------------------------------------------------------


def test_argon2_profile_from_env() -> None:
    assert argon2_parameters_from_env({}) == Argon2Parameters()
    assert argon2_parameters_from_env({"DOMOGATE_ARGON2_PROFILE": "default"}) == Argon2Parameters()
    assert argon2_parameters_from_env({"DOMOGATE_ARGON2_PROFILE": "test"}) == (
        Argon2Parameters.cheap_for_tests()
    )
    with pytest.raises(InvalidInput, match="DOMOGATE_ARGON2_PROFILE"):
        argon2_parameters_from_env({"DOMOGATE_ARGON2_PROFILE": "fast"})


# --- new ---------------------------------------------------------------------------


def test_new_writes_defaults_with_a_header(home: Path) -> None:
    text = text_of(home)
    assert text.startswith("# domogate project file")
    data = run_json("show", str(home))
    assert data == {
        "format": 1,
        "name": "Home",
        "server": {"address": "127.0.0.1", "port": 7550, "external_address": None},
        "system": {
            "password": None,
            "vnc_password": None,
            "use_otp_authentication": True,
            "automatic_authentication": True,
            "automatic_connection": True,
            "automatic_server_update": False,
            "cloud": {
                "enabled": False,
                "password": None,
                "connection_policy": "local",
                "address": None,
                "fingerprint": None,
            },
        },
        "groups": [{"name": "users", "description": ""}],
        "users": [],
        "pages": [],
        "objects": [],
    }
    assert stat.S_IMODE(os.stat(home / "project.yaml").st_mode) == 0o600


def test_new_with_options_and_json(tmp_path: Path) -> None:
    out = run_json(
        "new",
        str(tmp_path / "p"),
        "--name",
        "Office",
        "--address",
        "10.0.0.5",
        "--port",
        "8443",
        "--no-otp",
    )
    assert out["path"].endswith("project.yaml")
    assert out["project"]["server"] == {
        "address": "10.0.0.5",
        "port": 8443,
        "external_address": None,
    }
    assert out["project"]["system"]["use_otp_authentication"] is False


def test_new_refuses_existing_project_unless_forced(home: Path) -> None:
    before = text_of(home)
    result = run("new", str(home), "--name", "Other", ok=False)
    assert "error: conflict:" in result.stderr and "--force" in result.stderr
    assert text_of(home) == before
    run("new", str(home), "--name", "Other", "--force")
    assert run_json("show", str(home))["name"] == "Other"


def test_new_without_name_needs_a_terminal(tmp_path: Path) -> None:
    out = run_json("new", str(tmp_path / "p"), ok=False)
    assert out["error"]["code"] == "invalid_input"
    assert "--name" in out["error"]["message"]
    assert not (tmp_path / "p" / "project.yaml").exists()


def test_new_invalid_values_are_reported(tmp_path: Path) -> None:
    out = run_json("new", str(tmp_path / "p"), "--name", "X", "--port", "0", ok=False)
    assert out["error"]["code"] == "project_invalid"
    assert out["error"]["details"]["problems"][0]["path"] == "server.port"
    assert not (tmp_path / "p" / "project.yaml").exists()


def test_new_wizard_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(project_cmd, "_stdin_is_tty", lambda: True)
    directory = tmp_path / "wiz"
    answers = "Chalet\npanel.local\n7600\nn\nservice-pw-1\nservice-pw-1\n"
    result = run("new", str(directory), input=answers)
    assert "service-pw-1" not in result.stdout
    data = run_json("show", str(directory))
    assert data["name"] == "Chalet"
    assert data["server"]["address"] == "panel.local" and data["server"]["port"] == 7600
    assert data["system"]["use_otp_authentication"] is False
    assert data["system"]["password"] == "***"
    text = text_of(directory)
    assert "service-pw-1" not in text
    stored = Project.model_validate(
        projectfile.to_plain(projectfile.load_document(directory).data)
    ).system.password
    assert stored is not None and stored.startswith("$argon2id$")
    assert Passwords(Argon2Parameters.cheap_for_tests()).verify(stored, "service-pw-1")


# --- password ----------------------------------------------------------------------


def test_service_password_is_hashed_and_never_stored_in_clear(home: Path) -> None:
    result = run("password", str(home), "--stdin", input="Tr0ub4dor&3 with spaces\nignored\n")
    assert "Tr0ub4dor" not in result.stdout + result.stderr
    text = text_of(home)
    assert "Tr0ub4dor" not in text
    project = projectfile.load_project(home)
    assert project.system.password is not None
    assert project.system.password.startswith("$argon2id$")
    assert "m=64,t=1,p=1" in project.system.password, "the test profile's cheap parameters"
    passwords = Passwords(Argon2Parameters.cheap_for_tests())
    assert passwords.verify(project.system.password, "Tr0ub4dor&3 with spaces")
    assert run_json("show", str(home))["system"]["password"] == "***"
    assert "Tr0ub4dor" not in run("show", str(home)).stdout


def test_empty_service_password_is_refused(home: Path) -> None:
    before = text_of(home)
    out = run_json("password", str(home), "--stdin", input="\n", ok=False)
    assert out["error"]["code"] == "invalid_input"
    assert "empty" in out["error"]["message"]
    assert text_of(home) == before


def test_password_without_stdin_off_a_terminal_is_refused(home: Path) -> None:
    result = run("password", str(home), ok=False)
    assert "--stdin" in result.stderr


def test_password_prompt_on_a_terminal(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(project_cmd, "_stdin_is_tty", lambda: True)
    run("password", str(home), input="pw-typed\npw-typed\n")
    stored = projectfile.load_project(home).system.password
    assert Passwords(Argon2Parameters.cheap_for_tests()).verify(stored, "pw-typed")


def test_set_refuses_a_clear_service_password(home: Path) -> None:
    before = text_of(home)
    out = run_json("set", str(home), "system.password", "hunter2", ok=False)
    assert out["error"]["code"] == "invalid_input"
    assert "domogate project password" in out["error"]["message"]
    assert "hunter2" not in json.dumps(out)
    assert text_of(home) == before


def test_set_accepts_an_argon2id_hash(home: Path) -> None:
    digest = Passwords(Argon2Parameters.cheap_for_tests()).hash("pw")
    assert run_json("set", str(home), "system.password", digest) == {
        "key": "system.password",
        "value": "***",
    }
    assert projectfile.load_project(home).system.password == digest
    run("set", str(home), "system.password", "null")
    assert projectfile.load_project(home).system.password is None


# --- set / show ----------------------------------------------------------------------


def enable_cloud(directory: Path) -> Project:
    """``system.cloud.enabled: true``, with the address and password it requires."""
    projectfile.set_key(directory, "system.cloud.address", "cloud.example.org:7443")
    projectfile.set_key(directory, "system.cloud.password", "cloud-S3cret")
    return projectfile.set_key(directory, "system.cloud.enabled", "true")


@pytest.mark.parametrize(
    ("key", "raw", "expected"),
    [
        ("system.use_otp_authentication", "false", False),
        ("system.automatic_authentication", "false", False),
        ("system.automatic_connection", "no", False),
        ("system.automatic_server_update", "true", True),
        ("system.cloud.enabled", "yes", True),
        ("system.cloud.connection_policy", "local_and_cloud", "local_and_cloud"),
        ("system.cloud.connection_policy", "cloud", "cloud"),
        ("server.port", "8443", 8443),
        ("server.address", "192.168.1.20", "192.168.1.20"),
        ("server.external_address", "home.example.org:8443", "home.example.org:8443"),
        ("name", "Villa Rossi", "Villa Rossi"),
        ("groups.users.description", "Everyone", "Everyone"),
    ],
)
def test_every_option_is_settable_and_shown(home: Path, key: str, raw: str, expected: Any) -> None:
    if key == "system.cloud.enabled":  # an enabled cloud needs its address and password
        run("set", str(home), "system.cloud.address", "cloud.example.org")
        run("set", str(home), "system.cloud.password", "cloud-S3cret")
    out = run_json("set", str(home), key, raw)
    assert out == {"key": key, "value": expected}
    data = run_json("show", str(home))
    node: Any = data
    for part in key.split("."):
        if isinstance(node, list):
            node = next(item for item in node if item["name"] == part)
        else:
            node = node[part]
    assert node == expected
    run("validate", str(home))


@pytest.mark.parametrize(
    ("key", "raw"),
    [("system.vnc_password", "vnc-S3cret"), ("system.cloud.password", "cloud-S3cret")],
)
def test_plain_secrets_are_settable_but_masked(home: Path, key: str, raw: str) -> None:
    result = run("set", str(home), key, raw)
    assert raw not in result.stdout and "***" in result.stdout
    assert run_json("set", str(home), key, raw) == {"key": key, "value": "***"}
    shown = run_json("show", str(home))
    assert raw not in json.dumps(shown)
    section = shown["system"] if key == "system.vnc_password" else shown["system"]["cloud"]
    assert section[key.rsplit(".", 1)[1]] == "***"
    assert raw not in run("show", str(home)).stdout
    run("set", str(home), key, "null")
    project = projectfile.load_project(home)
    assert project.system.vnc_password is None and project.system.cloud.password is None


def test_set_invalid_value_leaves_the_file_byte_identical(home: Path) -> None:
    path = home / "project.yaml"
    before = path.read_bytes()
    for key, raw in [
        ("system.cloud.connection_policy", "sometimes"),
        ("server.port", "99999"),
        ("server.port", "many"),
        ("system.use_otp_authentication", "perhaps"),
        ("name", ""),
    ]:
        out = run_json("set", str(home), key, raw, ok=False)
        assert out["error"]["code"] == "project_invalid", out
        problem = out["error"]["details"]["problems"][0]
        assert problem["path"] == key
        assert isinstance(problem["line"], int)
        assert path.read_bytes() == before
    assert sorted(p.name for p in home.iterdir()) == ["project.yaml"], "no temporary file left"


def test_set_problem_message_lists_allowed_values(home: Path) -> None:
    result = run("set", str(home), "system.cloud.connection_policy", "lan", ok=False)
    assert "error: project_invalid:" in result.stderr
    assert "system.cloud.connection_policy" in result.stderr
    assert "'local', 'cloud' or 'local_and_cloud'" in result.stderr


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("system.colour", "valid keys under 'system'"),
        ("systen.password", "valid keys at the top level"),
        ("system", "is a section"),
        ("system.cloud.enabled.x", "is a value"),
        ("groups", "is a list"),
        ("groups.nobody.description", "no item of groups"),
        ("a..b", "malformed key"),
        ("", "malformed key"),
    ],
)
def test_bad_dotted_keys(home: Path, key: str, fragment: str) -> None:
    before = text_of(home)
    out = run_json("set", str(home), key, "1", ok=False)
    assert out["error"]["code"] == "key_invalid"
    assert fragment in out["error"]["message"]
    assert text_of(home) == before


def test_unknown_key_lists_the_valid_keys(home: Path) -> None:
    with pytest.raises(ConfigKeyInvalid) as info:
        projectfile.set_key(home, "system.cloud.policy", "cloud")
    message = info.value.message
    assert "'system.cloud.policy'" in message
    for key in ("system.cloud.enabled", "system.cloud.password", "system.cloud.connection_policy"):
        assert key in message


def test_set_items_by_name_and_id(tmp_path: Path) -> None:
    directory = tmp_path / "villa"
    write(directory, HAND_WRITTEN)
    run("set", str(directory), "objects.light.restrictions.visible_to", "family")
    run("set", str(directory), "objects.light.bindings.state.address", "1/1/2")
    run("set", str(directory), "objects.light.bindings.command.dpt", "1.001")
    run("set", str(directory), "pages.ground.icon", "house")
    run("set", str(directory), "users.ALICE.admin", "true")
    project = projectfile.load_project(directory)
    obj = project.objects[0]
    assert obj.restrictions.visible_to == ["family"]
    assert obj.bindings["state"].address == "1/1/2"
    assert obj.bindings["command"].dpt == "1.001"
    assert project.pages[0].icon == "house"
    assert project.users[0].admin is True
    # operable_by outside visible_to is refused and nothing is written
    before = text_of(directory)
    out = run_json(
        "set", str(directory), "objects.light.restrictions.operable_by", "guests", ok=False
    )
    assert out["error"]["details"]["problems"][0]["path"] == "objects[0].restrictions.operable_by"
    assert text_of(directory) == before


def test_round_trip_keeps_comments_and_order(tmp_path: Path) -> None:
    directory = tmp_path / "villa"
    write(directory, HAND_WRITTEN)
    run("set", str(directory), "system.cloud.connection_policy", "local_and_cloud")
    run("group", "add", str(directory), "staff")
    run("user", "add", str(directory), "bob", "--group", "guests")
    run("set", str(directory), "server.port", "8443")
    text = text_of(directory)
    for comment in (
        "# Villa Rossi, by the integrator",
        "# shown to clients",
        "# keep",
        "# guests come and go",
    ):
        assert comment in text
    assert text.index("name: Villa") < text.index("server:") < text.index("system:")
    assert text.index("system:") < text.index("groups:") < text.index("users:")
    assert "connection_policy: local_and_cloud" in text
    assert 'dpt: "1.001"' in text, "quotes kept"
    assert text.index("# guests come and go") < text.index("- name: guests")
    project = projectfile.load_project(directory)
    assert project.group_names() == ["family", "guests", "staff"]
    assert [u.name for u in project.users] == ["alice", "bob"]
    assert project.server.port == 8443


def test_appended_items_stay_before_the_next_section_comment(tmp_path: Path) -> None:
    directory = tmp_path / "p"
    write(
        directory,
        "name: X\n"
        "system:\n"
        "  use_otp_authentication: true   # eol\n"
        "\n"
        "# Groups section\n"
        "groups:\n"
        "  - name: a   # first\n"
        "\n"
        "# Users section\n"
        "users: [] # none yet\n"
        "\n"
        "# The end\n",
    )
    enable_cloud(directory)
    projectfile.add_group(directory, "b")
    projectfile.add_user(directory, "bob", "b")
    text = text_of(directory)
    assert "use_otp_authentication: true   # eol" in text
    assert text.index("enabled: true") < text.index("# Groups section") < text.index("groups:")
    assert text.index("- name: b") < text.index("# Users section") < text.index("users:")
    assert "# none yet" in text and "- name: a   # first" in text
    assert text.index("- name: bob") < text.index("# The end")
    assert projectfile.load_project(directory).group_names() == ["a", "b"]


def test_show_human_summary(home: Path) -> None:
    run("group", "add", str(home), "family", "--description", "Parents")
    run("user", "add", str(home), "alice", "--group", "family", "--admin")
    out = run("show", str(home)).stdout
    assert "project: Home" in out
    assert "server: 127.0.0.1:7550" in out
    assert "use OTP authentication: yes" in out
    assert "connection policy local" in out
    assert "family: Parents" in out
    assert "alice (group family, admin)" in out


# --- group / user ----------------------------------------------------------------------


def test_group_add(home: Path) -> None:
    assert run_json("group", "add", str(home), "family", "--description", "Us") == {
        "group": {"name": "family", "description": "Us"}
    }
    assert projectfile.load_project(home).group_names() == ["users", "family"]
    out = run_json("group", "add", str(home), "family", ok=False)
    assert out["error"]["code"] == "conflict"
    out = run_json("group", "add", str(home), "bad name", ok=False)
    assert out["error"]["code"] == "project_invalid"
    assert out["error"]["details"]["problems"][0]["path"] == "groups[2].name"


def test_user_add_defaults_to_first_group(home: Path) -> None:
    out = run_json("user", "add", str(home), "alice")
    assert out == {"user": {"name": "alice", "group": "users", "admin": False, "password": None}}


def test_user_add_with_password_and_admin(home: Path) -> None:
    run("group", "add", str(home), "family")
    out = run_json(
        "user",
        "add",
        str(home),
        "Alice",
        "--group",
        "family",
        "--admin",
        "--password-stdin",
        input="alice-pw-9\n",
    )
    assert out["user"] == {"name": "Alice", "group": "family", "admin": True, "password": "***"}
    assert "alice-pw-9" not in text_of(home)
    user = projectfile.load_project(home).user("alice")
    assert user is not None and user.password is not None
    assert Passwords(Argon2Parameters.cheap_for_tests()).verify(user.password, "alice-pw-9")
    out = run_json("user", "add", str(home), "ALICE", ok=False)
    assert out["error"]["code"] == "conflict"


def test_user_add_unknown_group_names_known_groups(home: Path) -> None:
    before = text_of(home)
    out = run_json("user", "add", str(home), "bob", "--group", "staff", ok=False)
    assert out["error"]["code"] == "invalid_input"
    assert "unknown group 'staff'" in out["error"]["message"]
    assert "users" in out["error"]["message"]
    assert text_of(home) == before


def test_user_password(home: Path) -> None:
    run("user", "add", str(home), "alice")
    run("user", "password", str(home), "alice", "--stdin", input="new-pw\n")
    user = projectfile.load_project(home).user("alice")
    assert user is not None and user.password is not None
    assert Passwords(Argon2Parameters.cheap_for_tests()).verify(user.password, "new-pw")
    out = run_json("user", "password", str(home), "nobody", "--stdin", input="x\n", ok=False)
    assert "unknown user" in out["error"]["message"]
    out = run_json("set", str(home), "users.alice.password", "plain", ok=False)
    assert out["error"]["code"] == "invalid_input"


# --- validate and file errors ----------------------------------------------------------


def test_validate_ok(home: Path) -> None:
    result = run("validate", str(home))
    assert result.stdout.strip() == "ok: Home is valid (1 group, 0 users, 0 pages, 0 objects)"
    assert run_json("validate", str(home)) == {
        "ok": True,
        "name": "Home",
        "groups": 1,
        "users": 0,
        "pages": 0,
        "objects": 0,
    }


def test_malformed_yaml_reports_the_line(tmp_path: Path) -> None:
    write(tmp_path / "p", "name: Home\nsystem:\n  cloud: [enabled\n  other: 1\n")
    out = run_json("validate", str(tmp_path / "p"), ok=False)
    problem = out["error"]["details"]["problems"][0]
    assert out["error"]["code"] == "project_invalid"
    assert problem["file"].endswith("project.yaml")
    assert problem["line"] == 4
    assert "not valid YAML" in problem["message"]
    assert "line 4, column 8" in problem["message"]
    assert "started at line 3" in problem["message"]


def test_duplicate_key_reports_its_line_not_its_values(tmp_path: Path) -> None:
    write(tmp_path / "p", "name: Home\nsystem:\n  vnc_password: one\n  vnc_password: two\n")
    problem = run_json("validate", str(tmp_path / "p"), ok=False)["error"]["details"]["problems"][0]
    assert problem["line"] == 4
    assert "duplicate key" in problem["message"]
    assert "one" not in problem["message"] and "two" not in problem["message"]


def test_empty_sections_can_be_filled(tmp_path: Path) -> None:
    write(tmp_path / "p", "name: Home\nserver:\nsystem: null\nusers:\n")
    enable_cloud(tmp_path / "p")
    projectfile.set_key(tmp_path / "p", "server.port", "7551")
    project = projectfile.add_user(tmp_path / "p", "alice")
    assert project.system.cloud.enabled and project.server.port == 7551
    assert [u.name for u in project.users] == ["alice"]
    text = text_of(tmp_path / "p")
    assert text.index("server:") < text.index("system:") < text.index("users:")


def test_unknown_key_reports_path_and_line(tmp_path: Path) -> None:
    write(tmp_path / "p", "name: Home\nsystem:\n  use_otp_authentication: true\n  colour: blue\n")
    result = run("validate", str(tmp_path / "p"), ok=False)
    assert "error: project_invalid: 1 problem(s) in" in result.stderr
    assert "project.yaml:4: system.colour: unknown key 'colour'" in result.stderr


def test_wrong_type_reports_path_and_line(tmp_path: Path) -> None:
    write(tmp_path / "p", "name: Home\nserver:\n  address: 10.0.0.1\n  port: lots\n")
    problem = run_json("validate", str(tmp_path / "p"), ok=False)["error"]["details"]["problems"][0]
    assert problem["path"] == "server.port"
    assert problem["line"] == 4
    assert "whole number" in problem["message"]


def test_unknown_group_of_a_user_reports_path_and_line(tmp_path: Path) -> None:
    write(tmp_path / "p", HAND_WRITTEN.replace("    group: family", "    group: staff"))
    problem = run_json("validate", str(tmp_path / "p"), ok=False)["error"]["details"]["problems"][0]
    assert problem["path"] == "users[0].group"
    lines = HAND_WRITTEN.splitlines()
    assert problem["line"] == lines.index("    group: family") + 1
    assert problem["message"] == "unknown group 'staff'; known groups: family, guests"


def test_missing_key_points_at_its_parent(tmp_path: Path) -> None:
    write(tmp_path / "p", "name: Home\nusers:\n  - name: alice\n    admin: true\n")
    problem = run_json("validate", str(tmp_path / "p"), ok=False)["error"]["details"]["problems"][0]
    assert problem["path"] == "users[0].group"
    assert problem["line"] == 3
    assert "missing" in problem["message"]


def test_top_level_not_a_mapping(tmp_path: Path) -> None:
    write(tmp_path / "p", "- just\n- a list\n")
    problem = run_json("validate", str(tmp_path / "p"), ok=False)["error"]["details"]["problems"][0]
    assert problem["path"] == "(top level)"
    assert problem["line"] == 1
    assert "mapping" in problem["message"]
    out = run_json("set", str(tmp_path / "p"), "name", "x", ok=False)
    assert out["error"]["code"] == "project_invalid"


def test_empty_file(tmp_path: Path) -> None:
    write(tmp_path / "p", "")
    problem = run_json("validate", str(tmp_path / "p"), ok=False)["error"]["details"]["problems"][0]
    assert "mapping" in problem["message"]


def test_missing_folder_or_file(tmp_path: Path) -> None:
    out = run_json("show", str(tmp_path / "none"), ok=False)
    assert out["error"]["code"] == "invalid_input"
    assert "domogate project new" in out["error"]["message"]
    (tmp_path / "empty").mkdir()
    result = run("validate", str(tmp_path / "empty"), ok=False)
    assert "project.yaml not found" in result.stderr
    assert "domogate project new" in result.stderr


# --- file adapter, directly ------------------------------------------------------------


def test_adapter_functions(tmp_path: Path) -> None:
    directory = tmp_path / "p"
    projectfile.write_new_project(directory, Project(name="Home"))
    with pytest.raises(Conflict):
        projectfile.write_new_project(directory, Project(name="Home"))
    project = projectfile.add_group(directory, "family", "Us")
    assert project.group_names() == ["users", "family"]
    with pytest.raises(InvalidInput, match="known groups: users, family"):
        projectfile.add_user(directory, "bob", "staff")
    project = projectfile.add_user(directory, "bob", None, True, None)
    assert project.users[0].group == "users" and project.users[0].admin
    with pytest.raises(InvalidInput):
        projectfile.set_service_password(directory, "plain")
    digest = Passwords(Argon2Parameters.cheap_for_tests()).hash("x")
    assert projectfile.set_service_password(directory, digest).system.password == digest
    assert projectfile.get_key(project, "users.bob.admin") is True
    with pytest.raises(ProjectInvalid):
        projectfile.set_key(directory, "users.bob.group", "nobody")


def test_groups_absent_from_the_file_keep_the_default(tmp_path: Path) -> None:
    write(tmp_path / "p", "name: Minimal\n")
    project = projectfile.add_group(tmp_path / "p", "family")
    assert project.group_names() == ["users", "family"]
    project = projectfile.add_user(tmp_path / "p", "alice")
    assert project.users[0].group == "users"
    assert enable_cloud(tmp_path / "p").system.cloud.enabled


def test_existing_file_mode_is_kept(home: Path) -> None:
    path = home / "project.yaml"
    path.chmod(0o640)
    run("set", str(home), "name", "Renamed")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_documented_example_is_valid(tmp_path: Path) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "project.md").read_text("utf-8")
    example = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    write(tmp_path / "doc", example)
    result = run("validate", str(tmp_path / "doc"))
    assert "ok: Villa Rossi is valid (2 groups, 1 user, 2 pages, 4 objects)" in result.stdout


def test_remove_user_and_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOMOGATE_ARGON2_PROFILE", "test")
    home = tmp_path / "home"
    runner = CliRunner()
    assert runner.invoke(app, ["project", "new", str(home), "--name", "Home"]).exit_code == 0
    assert runner.invoke(app, ["project", "group", "add", str(home), "guests"]).exit_code == 0
    assert (
        runner.invoke(
            app, ["project", "user", "add", str(home), "bob", "--group", "guests"]
        ).exit_code
        == 0
    )
    before = (home / "project.yaml").read_bytes()
    r = runner.invoke(app, ["project", "group", "remove", str(home), "guests"])
    assert r.exit_code == 1 and "users[0].group" in r.stderr
    assert (home / "project.yaml").read_bytes() == before
    r = runner.invoke(app, ["project", "user", "remove", str(home), "nobody"])
    assert r.exit_code == 1 and "known: bob" in r.stderr
    assert runner.invoke(app, ["project", "user", "remove", str(home), "BOB"]).exit_code == 0
    assert runner.invoke(app, ["project", "group", "remove", str(home), "guests"]).exit_code == 0
    shown = json.loads(runner.invoke(app, ["project", "show", str(home), "--json"]).stdout)
    assert shown["users"] == [] and [g["name"] for g in shown["groups"]] == ["users"]
