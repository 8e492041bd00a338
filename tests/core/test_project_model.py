"""The project model and its validation (pure: no files)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from domogate.core.project import (
    Binding,
    CloudOptions,
    ConnectionPolicy,
    Group,
    ObjectType,
    Project,
    ProjectUser,
    Restrictions,
    ServerAddresses,
    SystemOptions,
    format_path,
    project_to_data,
)
from domogate.errors import ProjectInvalid
from domogate.storage.projectfile import validate_project_data  # with the Argon2 hash check

HASH = "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"


def full_data() -> dict[str, Any]:
    return {
        "format": 1,
        "name": "Villa",
        "server": {"address": "villa.local", "port": 8443, "external_address": "home.example.org"},
        "system": {
            "password": HASH,
            "vnc_password": "vnc-secret",
            "use_otp_authentication": False,
            "automatic_authentication": False,
            "automatic_connection": False,
            "automatic_server_update": True,
            "cloud": {
                "enabled": True,
                "password": "cloud-secret",
                "connection_policy": "cloud",
                "address": "cloud.example.org",
            },
        },
        "groups": [{"name": "family"}, {"name": "guests", "description": "Visitors"}],
        "users": [
            {"name": "Alice", "group": "family", "admin": True, "password": HASH},
            {"name": "bob", "group": "guests"},
        ],
        "pages": [{"id": "ground", "title": "Ground floor", "icon": "home"}],
        "objects": [
            {
                "id": "kitchen-light",
                "name": "Kitchen light",
                "type": "switch",
                "page": "ground",
                "bindings": {
                    "command": {"address": "1/2/3", "dpt": "1.001"},
                    "state": {"address": "1/2/4"},
                },
            },
            {
                "id": "safe",
                "name": "Safe",
                "type": "switch",
                "page": "ground",
                "bindings": {"command": {"address": "2/100"}},
                "restrictions": {"visible_to": ["family"], "operable_by": ["family"]},
            },
        ],
    }


def problems_of(data: object, **kwargs: Any) -> list[dict[str, Any]]:
    with pytest.raises(ProjectInvalid) as info:
        validate_project_data(data, **kwargs)
    problems = info.value.details["problems"]
    assert isinstance(problems, list)
    assert (
        info.value.message == f"{len(problems)} problem(s) in {kwargs.get('file', 'project.yaml')}"
    )
    return problems


def only_problem(data: object, **kwargs: Any) -> dict[str, Any]:
    problems = problems_of(data, **kwargs)
    assert len(problems) == 1, problems
    return problems[0]


# --- defaults -----------------------------------------------------------------------


def test_defaults() -> None:
    project = Project(name="Home")
    assert project.format == 1
    assert project.server == ServerAddresses(address="127.0.0.1", port=7550, external_address=None)
    assert project.system == SystemOptions(
        password=None,
        vnc_password=None,
        use_otp_authentication=True,
        automatic_authentication=True,
        automatic_connection=True,
        automatic_server_update=False,
        cloud=CloudOptions(enabled=False, password=None, connection_policy=ConnectionPolicy.LOCAL),
    )
    assert project.groups == [Group(name="users", description="")]
    assert project.users == [] and project.pages == [] and project.objects == []
    assert project.group_names() == ["users"]
    assert project.default_group() == "users"


def test_minimal_data_is_enough() -> None:
    assert validate_project_data({"name": "Home"}) == Project(name="Home")


def test_models_are_frozen() -> None:
    project = Project(name="Home")
    with pytest.raises(ValidationError):
        project.name = "Other"  # type: ignore[misc]


def test_full_project_and_helpers() -> None:
    project = validate_project_data(full_data())
    assert project.system.cloud.connection_policy is ConnectionPolicy.CLOUD
    assert project.system.cloud.address == "cloud.example.org"
    assert project.objects[0].type is ObjectType.SWITCH
    assert project.objects[0].bindings["command"] == Binding(address="1/2/3", dpt="1.001")
    assert project.group_names() == ["family", "guests"]
    assert project.default_group() == "family"
    user = project.user("ALICE")
    assert user is not None and user.name == "Alice" and user.admin
    assert project.user("carol") is None


def test_round_trip_through_data() -> None:
    project = validate_project_data(full_data())
    data = project_to_data(project)
    assert validate_project_data(data) == project
    assert project_to_data(validate_project_data(data)) == data
    assert data["system"]["cloud"]["connection_policy"] == "cloud"
    assert data["objects"][1]["restrictions"] == {
        "visible_to": ["family"],
        "operable_by": ["family"],
    }


@pytest.mark.parametrize(
    ("address", "ok"),
    [
        ("0/0/1", True),
        ("31/7/255", True),
        ("32/0/0", False),
        ("1/8/0", False),
        ("1/0/256", False),
        ("31/2047", True),
        ("1/2048", False),
        ("65535", True),
        ("65536", False),
        ("1/2/3/4", False),
        ("a/b/c", False),
        ("", False),
        ("-1", False),
    ],
)
def test_knx_addresses(address: str, ok: bool) -> None:
    if ok:
        assert Binding(address=address).address == address
    else:
        with pytest.raises(ValidationError, match="KNX group address"):
            Binding(address=address)


def test_numbers_from_yaml_become_addresses_and_dpts() -> None:
    assert Binding.model_validate({"address": 1234, "dpt": 9.001}) == Binding(
        address="1234", dpt="9.001"
    )
    assert Binding.model_validate({"address": "1/1/1", "dpt": 5}).dpt == "5"
    with pytest.raises(ValidationError, match="datapoint type"):
        Binding(address="1/1/1", dpt="1.1a")


# --- structural problems ------------------------------------------------------------


def test_unknown_key_names_allowed_keys() -> None:
    data = full_data()
    data["system"]["colour"] = "blue"
    problem = only_problem(data)
    assert problem["path"] == "system.colour"
    assert "unknown key 'colour'" in problem["message"]
    assert "use_otp_authentication" in problem["message"]
    assert problem["file"] == "project.yaml"
    assert problem["line"] is None


def test_wrong_type_and_enum_values() -> None:
    data = full_data()
    data["system"]["use_otp_authentication"] = "maybe"
    data["system"]["cloud"]["connection_policy"] = "lan"
    data["server"]["port"] = 70000
    problems = {p["path"]: p["message"] for p in problems_of(data)}
    assert "true or false" in problems["system.use_otp_authentication"]
    assert "'local', 'cloud' or 'local_and_cloud'" in problems["system.cloud.connection_policy"]
    assert "'lan'" in problems["system.cloud.connection_policy"]
    assert "between 1 and 65535" in problems["server.port"]


def test_list_paths_use_indexes() -> None:
    data = full_data()
    data["users"][1]["admin"] = "sometimes"
    data["objects"][1]["bindings"]["command"]["address"] = "99/9/9"
    paths = [p["path"] for p in problems_of(data)]
    assert sorted(paths) == ["objects[1].bindings.command.address", "users[1].admin"]


def test_missing_name() -> None:
    problem = only_problem({"groups": [{"name": "x"}]})
    assert problem["path"] == "name"
    assert "required key 'name' is missing" in problem["message"]


def test_top_level_must_be_mapping() -> None:
    problem = only_problem(["name", "x"])
    assert problem["path"] == "(top level)"
    assert "mapping" in problem["message"]


def test_unsupported_format() -> None:
    problem = only_problem({"name": "x", "format": 2})
    assert problem["path"] == "format"
    assert "format 1" in problem["message"]


def test_at_least_one_group() -> None:
    problem = only_problem({"name": "x", "groups": []})
    assert problem == {
        "file": "project.yaml",
        "path": "groups",
        "line": None,
        "message": "at least one group is required",
    }


@pytest.mark.parametrize(
    ("model", "kwargs"),
    [
        (Group, {"name": "has space"}),
        (Group, {"name": "x" * 65}),
        (ProjectUser, {"name": "bad\nname", "group": "users"}),
        (ProjectUser, {"name": "", "group": "users"}),
        (ProjectUser, {"name": "x" * 65, "group": "users"}),
        (Project, {"name": "x" * 101}),
        (Project, {"name": "   "}),
    ],
)
def test_bad_names(model: type[Any], kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        model(**kwargs)


def test_plain_password_is_refused_and_never_echoed() -> None:
    data = full_data()
    data["system"]["password"] = "hunter2-plain"
    data["users"][0]["password"] = "alice-plain"
    problems = problems_of(data)
    assert {p["path"] for p in problems} == {"system.password", "users[0].password"}
    for problem in problems:
        assert "Argon2id" in problem["message"]
        assert "plain" not in str(problem)


def test_operable_by_must_be_subset_of_visible_to() -> None:
    with pytest.raises(ValidationError, match="subset of visible_to"):
        Restrictions(visible_to=["family"], operable_by=["guests"])
    assert Restrictions(operable_by=["guests"]).visible_to is None
    data = full_data()
    data["objects"][1]["restrictions"] = {"visible_to": ["family"], "operable_by": ["guests"]}
    problem = only_problem(data)
    assert problem["path"] == "objects[1].restrictions.operable_by"


# --- cross references ---------------------------------------------------------------


def test_unknown_group_of_a_user_has_exact_path() -> None:
    data = full_data()
    data["users"][1]["group"] = "staff"
    problem = only_problem(data)
    assert problem["path"] == "users[1].group"
    assert "unknown group 'staff'" in problem["message"]
    assert "family, guests" in problem["message"]


def test_lines_function_receives_the_loc() -> None:
    data = full_data()
    data["users"][0]["group"] = "staff"
    seen: list[tuple[str | int, ...]] = []

    def lines(loc: tuple[str | int, ...]) -> int | None:
        seen.append(loc)
        return 42

    problem = only_problem(data, file="villa/project.yaml", lines=lines)
    assert seen == [("users", 0, "group")]
    assert problem == {
        "file": "villa/project.yaml",
        "path": "users[0].group",
        "line": 42,
        "message": "unknown group 'staff'; known groups: family, guests",
    }


def test_all_reference_problems_are_reported() -> None:
    data = full_data()
    data["groups"].append({"name": "family"})
    data["users"].append({"name": "ALICE", "group": "family"})
    data["pages"].append({"id": "ground", "title": "Again"})
    data["objects"][0]["page"] = "cellar"
    data["objects"][1]["id"] = "kitchen-light"
    data["objects"][1]["restrictions"] = {"visible_to": ["family", "ghosts"]}
    paths = sorted(p["path"] for p in problems_of(data))
    assert paths == [
        "groups[2].name",
        "objects[0].page",
        "objects[1].id",
        "objects[1].restrictions.visible_to[1]",
        "pages[1].id",
        "users[2].name",
    ]


def test_direct_construction_also_checks_references() -> None:
    with pytest.raises(ValidationError, match=r"users\[0\]\.group: unknown group"):
        Project.model_validate({"name": "x", "users": [{"name": "a", "group": "nope"}]})


def test_format_path() -> None:
    assert format_path(("users", 2, "group")) == "users[2].group"
    assert format_path(("objects", 0, "bindings", "Cmd", "[key]")) == "objects[0].bindings.Cmd"
    assert format_path(()) == "(top level)"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("server", "port"), True),
        (("server", "port"), "7550"),
        (("system", "use_otp_authentication"), 1),
        (("system", "use_otp_authentication"), "yes"),
        (("system", "cloud", "enabled"), "true"),
        (("format",), "1"),
    ],
)
def test_booleans_and_numbers_are_not_coerced(path: tuple[str, ...], value: object) -> None:
    data: dict[str, Any] = {"name": "Home"}
    node = data
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    problem = only_problem(data)
    assert problem["path"] == ".".join(path)


def test_user_admin_flag_must_be_a_boolean() -> None:
    data = {"name": "Home", "users": [{"name": "a", "group": "users", "admin": "no"}]}
    assert only_problem(data)["path"] == "users[0].admin"


@pytest.mark.parametrize("bad", ["$argon2id$garbage", "$argon2id$v=19$m=1,t=1,p=1$AAAA$BBBB"])
def test_malformed_password_hashes_are_refused(bad: str) -> None:
    data = {"name": "Home", "system": {"password": bad}}
    problem = only_problem(data)
    assert problem["path"] == "system.password"
    assert bad not in problem["message"]


def test_an_enabled_cloud_needs_its_address_and_password() -> None:
    with pytest.raises(ProjectInvalid) as caught:
        validate_project_data({"name": "x", "system": {"cloud": {"enabled": True}}}, file="p")
    paths = [p["path"] for p in caught.value.details["problems"]]
    assert paths == ["system.cloud.address", "system.cloud.password"]


@pytest.mark.parametrize("address", ["cloud.example.org", "127.0.0.1:7443", "[::1]:7443"])
def test_cloud_addresses(address: str) -> None:
    data = {"name": "x", "system": {"cloud": {"address": address}}}
    assert validate_project_data(data, file="p").system.cloud.address == address


@pytest.mark.parametrize("address", ["http://cloud", "cloud:99999", "a b", ":7443"])
def test_bad_cloud_addresses(address: str) -> None:
    with pytest.raises(ProjectInvalid) as caught:
        validate_project_data({"name": "x", "system": {"cloud": {"address": address}}}, file="p")
    assert "HOST:PORT" in str(caught.value.details)


def test_cloud_fingerprints_are_stored_lower_case_without_colons() -> None:
    data = {"name": "x", "system": {"cloud": {"fingerprint": ":".join(["AB"] * 32)}}}
    assert validate_project_data(data, file="p").system.cloud.fingerprint == "ab" * 32
    with pytest.raises(ProjectInvalid) as caught:
        validate_project_data({"name": "x", "system": {"cloud": {"fingerprint": "ab"}}}, file="p")
    assert "64 hexadecimal" in str(caught.value.details)


def test_the_cloud_password_is_not_in_a_repr() -> None:
    assert "s3cret" not in repr(CloudOptions(password="s3cret"))
