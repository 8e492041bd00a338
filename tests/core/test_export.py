"""Export policy: what a client of a group receives."""

from __future__ import annotations

import json
from typing import Any

import pytest

from domogate.core.export import can_operate, can_see, export_for_group
from domogate.core.project import Project, validate_project_data
from domogate.errors import InvalidInput

SERVICE_HASH = (
    "$argon2id$v=19$m=64,t=1,p=1$2tj2HXurLMDT649vYs8h6w$Cnd0juEK3PAKF2aFuV9+GUq9HOZzFQJqd3DHEVZ2/io"
)
USER_HASH = (
    "$argon2id$v=19$m=64,t=1,p=1$OqlZG/9MMgs19t3gjZdM3g$+3F5XIF0Z+CMdRod3igg0aIApHDpn1uCwTdlX9pkuTs"
)
SECRETS = [SERVICE_HASH, USER_HASH, "vnc-Secret-1", "cloud-Secret-2"]


def _obj(
    obj_id: str, page: str, restrictions: dict[str, Any] | None = None, **kw: Any
) -> dict[str, Any]:
    obj_type = kw.pop("type", "switch")
    bindings = (
        {"state": {"address": "1/1/2", "dpt": "9.001"}}
        if obj_type == "sensor"
        else {"command": {"address": "1/1/1", "dpt": "1.001"}}
    )
    data: dict[str, Any] = {
        "id": obj_id,
        "name": obj_id.replace("-", " ").title(),
        "type": obj_type,
        "page": page,
        "bindings": bindings,
    }
    if restrictions is not None:
        data["restrictions"] = restrictions
    return data


@pytest.fixture
def project() -> Project:
    return validate_project_data(
        {
            "name": "Villa",
            "system": {
                "password": SERVICE_HASH,
                "vnc_password": "vnc-Secret-1",
                "automatic_connection": False,
                "cloud": {
                    "enabled": True,
                    "password": "cloud-Secret-2",
                    "address": "cloud.example.org",
                    "connection_policy": "local_and_cloud",
                },
            },
            "groups": [{"name": "family"}, {"name": "guests"}, {"name": "staff"}],
            "users": [{"name": "alice", "group": "family", "password": USER_HASH}],
            "pages": [
                {"id": "living", "title": "Living room"},
                {"id": "office", "title": "Office"},
                {"id": "garden", "title": "Garden", "icon": "tree"},
            ],
            "objects": [
                _obj("living-light", "living"),
                _obj("living-temp", "living", type="sensor"),
                _obj("tv", "living", {"operable_by": ["family"]}),
                _obj(
                    "office-safe",
                    "office",
                    {"visible_to": ["family", "staff"], "operable_by": ["staff"]},
                ),
                _obj("pool-pump", "garden", {"visible_to": ["family"]}),
                _obj("hidden", "garden", {"visible_to": []}),
            ],
        }
    )


def ids(export: dict[str, Any], key: str) -> list[str]:
    return [item["id"] for item in export[key]]


def test_can_see_and_can_operate(project: Project) -> None:
    by_id = {o.id: o for o in project.objects}
    assert can_see(by_id["living-light"], "guests") and can_operate(by_id["living-light"], "guests")
    assert can_see(by_id["tv"], "guests") and not can_operate(by_id["tv"], "guests")
    assert can_operate(by_id["tv"], "family")
    assert can_see(by_id["office-safe"], "family") and not can_operate(
        by_id["office-safe"], "family"
    )
    assert can_operate(by_id["office-safe"], "staff")
    assert not can_see(by_id["office-safe"], "guests")
    assert not can_operate(by_id["office-safe"], "guests")
    assert not can_see(by_id["hidden"], "family")
    assert can_see(by_id["living-temp"], "guests")
    assert not can_operate(by_id["living-temp"], "family"), "sensors accept no command"


def test_restricted_group_never_sees_forbidden_objects(project: Project) -> None:
    export = export_for_group(project, "guests", version=3)
    assert ids(export, "objects") == ["living-light", "living-temp", "tv"]
    assert ids(export, "pages") == ["living"], "pages without a visible object are left out"
    text = json.dumps(export)
    for forbidden in ("office-safe", "pool-pump", "hidden", "Office", "Garden"):
        assert forbidden not in text
    operable = {o["id"]: o["operable"] for o in export["objects"]}
    assert operable == {"living-light": True, "living-temp": False, "tv": False}


def test_export_for_family_and_staff(project: Project) -> None:
    family = export_for_group(project, "family", version=1)
    assert ids(family, "objects") == [
        "living-light",
        "living-temp",
        "tv",
        "office-safe",
        "pool-pump",
    ]
    assert ids(family, "pages") == ["living", "office", "garden"]
    staff = export_for_group(project, "staff", version=1)
    assert ids(staff, "objects") == ["living-light", "living-temp", "tv", "office-safe"]
    assert {o["id"]: o["operable"] for o in staff["objects"]}["office-safe"] is True


def test_export_shape(project: Project) -> None:
    export = export_for_group(project, "family", version=7)
    assert export["version"] == 7
    assert export["name"] == "Villa"
    assert export["system"] == {
        "use_otp_authentication": True,
        "automatic_authentication": True,
        "automatic_connection": False,
        "cloud": {"enabled": True, "connection_policy": "local_and_cloud"},
    }
    assert export["pages"][2] == {"id": "garden", "title": "Garden", "icon": "tree"}
    assert export["objects"][0] == {
        "id": "living-light",
        "name": "Living Light",
        "type": "switch",
        "page": "living",
        "bindings": {"command": {"address": "1/1/1", "dpt": "1.001"}},
        "operable": True,
        "attributes": {"on": {"dpt": "1.001", "writable": True}},
    }
    assert set(export) == {"version", "name", "system", "pages", "objects"}


@pytest.mark.parametrize("group", ["family", "guests", "staff"])
def test_no_secret_or_policy_detail_in_any_export(project: Project, group: str) -> None:
    text = json.dumps(export_for_group(project, group, version=1))
    for secret in SECRETS:
        assert secret not in text
    for word in (
        "argon2",
        "password",
        "vnc",
        "users",
        "alice",
        "restrictions",
        "visible_to",
        "operable_by",
    ):
        assert word not in text


def test_unknown_group_is_refused(project: Project) -> None:
    with pytest.raises(InvalidInput, match="unknown group 'nobody'"):
        export_for_group(project, "nobody", version=1)
