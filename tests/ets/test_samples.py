"""Importing the real ETS sample exports into real project files."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from xknxproject.xknxproj import XKNXProj

from domogate.core import ets
from domogate.core.objects import KINDS
from domogate.core.project import Project
from domogate.errors import Conflict, ImportFailed, ProjectInvalid
from domogate.storage import projectfile
from domogate.storage.ets import PASSWORD_REQUIRED, read_export
from tests.support.ets import FUNCTIONS, TWO_LEVEL, XKNX, XKNX_PASSWORD, sample, text_of


@pytest.fixture(scope="session")
def xknx_reference() -> Any:
    """What xknxproject itself reports for the sample, independently of storage.ets."""
    return XKNXProj(sample(XKNX), password=XKNX_PASSWORD).parse()


def do_import(directory: Path, parsed: dict[str, Any]) -> tuple[Project, ets.ImportPlan, bool]:
    return projectfile.apply_import(directory, lambda p: ets.import_plan(p, parsed))


def test_xknx_sample_matches_what_xknxproject_reports(
    project_dir: Path, xknx: dict[str, Any], xknx_reference: Any
) -> None:
    project, plan, written = do_import(project_dir, xknx)
    assert written
    assert projectfile.load_project(project_dir) == project  # the file holds what was planned

    bound = {b.address: (o, key, b.dpt) for o in project.objects for key, b in o.bindings.items()}
    skipped = {s.address: s.reason for s in plan.skipped}
    reference = xknx_reference["group_addresses"]
    assert reference, "the sample has group addresses"
    for address, ga in reference.items():
        dpt = ga["dpt"]
        if dpt is None:
            assert skipped[address] == "no datapoint type"
            assert address not in bound
            continue
        expected = f"{dpt['main']}" + (f".{dpt['sub']:03d}" if dpt["sub"] is not None else "")
        obj, key, got = bound[address]
        assert got == expected, address
        assert obj.name == ga["name"]
        kind = KINDS[obj.type.value]
        assert key in kind.binding_keys()
    # every group address is either bound or reported
    assert set(bound) | set(skipped) == set(reference)
    assert set(bound).isdisjoint(skipped)
    # pages: one per main group that holds objects, named after it
    ranges = xknx_reference["group_ranges"]
    titles = {p.id: p.title for p in project.pages}
    for obj in project.objects:
        main = next(iter(obj.bindings.values())).address.split("/")[0]
        assert titles[obj.page].startswith(ranges[main]["name"])


def test_importing_twice_changes_nothing(project_dir: Path, xknx: dict[str, Any]) -> None:
    do_import(project_dir, xknx)
    first = (project_dir / "project.yaml").read_bytes()
    mtime = (project_dir / "project.yaml").stat().st_mtime_ns
    _, plan, written = do_import(project_dir, xknx)
    assert not written and not plan.changed
    assert plan.counts()["created"] == 0 and plan.counts()["unchanged"] > 0
    assert (project_dir / "project.yaml").read_bytes() == first
    assert (project_dir / "project.yaml").stat().st_mtime_ns == mtime


def test_hand_edits_survive_and_new_addresses_are_added(
    project_dir: Path, xknx: dict[str, Any]
) -> None:
    do_import(project_dir, xknx)
    projectfile.add_group(project_dir, "family")
    projectfile.set_key(project_dir, "objects.temperature_2-0-1.name", "Outside temperature")
    projectfile.set_key(project_dir, "objects.temperature_2-0-1.page", "datasecuretest_7")
    projectfile.set_key(project_dir, "objects.temperature_2-0-1.restrictions.visible_to", "family")
    path = project_dir / "project.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "  - id: temperature_2-0-1\n",
            "  # measured on the north wall\n  - id: temperature_2-0-1\n",
        ),
        encoding="utf-8",
    )
    projectfile.remove_item(project_dir, "objects", "windalarm_2-0-6")
    before = text_of(project_dir)

    xknx["group_addresses"]["2/0/7"] = {
        "name": "Regen",
        "address": "2/0/7",
        "dpt": {"main": 1, "sub": 5},
        "description": "",
        "comment": "",
    }
    project, plan, written = do_import(project_dir, xknx)
    assert written
    assert [c.id for c in plan.objects] == ["windalarm_2-0-6", "regen_2-0-7"]
    temperature = project.object("temperature_2-0-1")
    assert temperature is not None
    assert (temperature.name, temperature.page) == ("Outside temperature", "datasecuretest_7")
    assert temperature.restrictions.visible_to == ["family"]
    after = text_of(project_dir)
    assert "  # measured on the north wall\n  - id: temperature_2-0-1\n" in after
    # what was there is still there, line for line; the new objects come at the end
    assert after.startswith(before.rstrip("\n"))
    assert project.object("regen_2-0-7") is not None


def test_functions_sample_gives_lights_on_room_pages(
    project_dir: Path, functions_parsed: dict[str, Any]
) -> None:
    project, plan, _ = do_import(project_dir, functions_parsed)
    functions = functions_parsed["functions"]
    assert functions, "the sample has ETS 6 functions"
    for function in functions.values():
        expected_type = ets.FUNCTION_TYPES[function["function_type"]]
        objects = [
            o
            for o in project.objects
            if o.id.endswith("_" + function["identifier"].replace("-", "").lower())
        ]
        assert len(objects) == 1, function["identifier"]
        obj = objects[0]
        assert obj.type.value == expected_type
        assert obj.name == function["name"]
        assert {b.address for b in obj.bindings.values()} == set(function["group_addresses"])
    light = project.objects[0]
    assert light.type.value == "switch"
    assert set(light.bindings) == {"command", "state"}
    page = project.page(light.page)
    assert page is not None and page.title == "Livingroom"
    assert plan.skipped == []
    projectfile.load_project(project_dir)  # validates


def test_two_level_sample_without_datapoint_types_is_all_reported(
    project_dir: Path, two_level_parsed: dict[str, Any]
) -> None:
    before = (project_dir / "project.yaml").read_bytes()
    _, plan, written = do_import(project_dir, two_level_parsed)
    assert not written
    assert [str(s) for s in plan.skipped] == [
        "0/1 'Foo': no datapoint type",
        "1/1 'Bar': no datapoint type",
    ]
    assert (project_dir / "project.yaml").read_bytes() == before


# --- errors ------------------------------------------------------------------------------


def test_wrong_or_missing_password_is_a_clear_error() -> None:
    with pytest.raises(ImportFailed) as wrong:
        read_export(sample(XKNX), password="not-the-password")
    assert wrong.value.code == "import_failed"
    assert "wrong password" in wrong.value.message
    assert "not-the-password" not in str(wrong.value.to_dict())
    with pytest.raises(ImportFailed) as missing:
        read_export(sample(XKNX))
    assert missing.value.details["reason"] == PASSWORD_REQUIRED
    assert "--password-stdin" in missing.value.message


def test_missing_or_damaged_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ImportFailed, match="not found"):
        read_export(tmp_path / "nope.knxproj")
    with pytest.raises(ImportFailed, match="not a file"):
        read_export(tmp_path)
    junk = tmp_path / "junk.knxproj"
    junk.write_bytes(b"this is not a zip archive\n" * 10)
    with pytest.raises(ImportFailed, match="export the project again"):
        read_export(junk)
    truncated = tmp_path / "truncated.knxproj"
    data = sample(FUNCTIONS).read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImportFailed, match="export the project again"):
        read_export(truncated)
    other_zip = tmp_path / "other.knxproj"
    shutil.make_archive(str(tmp_path / "other"), "zip", root_dir=tmp_path, base_dir="junk.knxproj")
    (tmp_path / "other.zip").rename(other_zip)
    with pytest.raises(ImportFailed, match="could not be read as an ETS project"):
        read_export(other_zip)


def test_an_unknown_language_is_a_warning_not_an_error() -> None:
    export = read_export(sample(TWO_LEVEL), language="xx-XX")
    assert export.warnings == ["No matching language code found for xx-XX"]


def test_an_invalid_project_is_refused_and_left_byte_identical(
    project_dir: Path, xknx: dict[str, Any]
) -> None:
    path = project_dir / "project.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "users: []", "users:\n  - name: x\n    group: nope"
        ),
        encoding="utf-8",
    )
    before = path.read_bytes()
    with pytest.raises(ProjectInvalid):
        do_import(project_dir, xknx)
    assert path.read_bytes() == before


def test_a_plan_that_would_break_the_project_writes_nothing(project_dir: Path) -> None:
    before = (project_dir / "project.yaml").read_bytes()
    bad = ets.ImportPlan(
        objects=[
            ets.Candidate(
                "x",
                "X",
                "dimmer",
                ets.PlannedPage("p", "P"),
                (ets.PlannedBinding("brightness", "1/0/1", "9.001"),),
                "test",
            )
        ],
        pages=[ets.PlannedPage("p", "P")],
    )
    with pytest.raises(ProjectInvalid) as refused:
        projectfile.apply_import(project_dir, lambda _p: bad)
    assert "DPT 5.x" in str(refused.value.details["problems"])
    assert (project_dir / "project.yaml").read_bytes() == before


def test_names_that_look_like_yaml_values_stay_text(project_dir: Path) -> None:
    names = ["null", "yes", "12", "1.5", "- x", "a: b", "#tag", "*star", "'quoted'", '"dq"', "~"]
    parsed = {
        "group_addresses": {
            f"1/0/{i}": {"name": name, "address": f"1/0/{i}", "dpt": {"main": 9, "sub": 1}}
            for i, name in enumerate(names, start=1)
        },
        "group_ranges": {"1": {"name": "yes", "group_ranges": {}}},
        "functions": {},
        "locations": {},
    }
    do_import(project_dir, parsed)
    project = projectfile.load_project(project_dir)
    assert [o.name for o in project.objects] == names
    assert [p.title for p in project.pages] == ["yes"]
    _, plan, written = do_import(project_dir, parsed)
    assert not written and len(plan.unchanged) == len(names)


def test_a_project_changed_during_the_import_is_not_overwritten(
    project_dir: Path, xknx: dict[str, Any]
) -> None:
    target = projectfile.begin_import(project_dir)
    plan = ets.import_plan(target.project, xknx)
    projectfile.add_group(project_dir, "family")  # someone edits while the export is parsed
    edited = (project_dir / "project.yaml").read_bytes()
    with pytest.raises(Conflict, match="run the import again"):
        projectfile.finish_import(target, plan)
    assert (project_dir / "project.yaml").read_bytes() == edited
