"""core.ets: the pure mapping, on small hand-made xknxproject-like dicts."""

from __future__ import annotations

from typing import Any

import pytest

from domogate.core import ets
from domogate.core.project import Project, project_to_data, validate_project_data


def ga(address: str, name: str, dpt: tuple[int, int | None] | None) -> dict[str, Any]:
    return {
        "name": name,
        "address": address,
        "dpt": None if dpt is None else {"main": dpt[0], "sub": dpt[1]},
        "description": "",
        "comment": "",
    }


def export(
    gas: list[dict[str, Any]],
    *,
    ranges: dict[str, str] | None = None,
    functions: dict[str, Any] | None = None,
    locations: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "group_addresses": {g["address"]: g for g in gas},
        "group_ranges": {
            main: {"name": name, "group_ranges": {}} for main, name in (ranges or {}).items()
        },
        "functions": functions or {},
        "locations": locations or {},
    }


def function(
    identifier: str, name: str, ft: str, space: str, refs: dict[str, str]
) -> dict[str, Any]:
    return {
        "identifier": identifier,
        "name": name,
        "function_type": ft,
        "space_id": space,
        "usage_text": "",
        "group_addresses": {a: {"address": a, "name": "", "role": r} for a, r in refs.items()},
    }


def building(*rooms: tuple[str, str, list[tuple[str, str]]]) -> dict[str, Any]:
    """rooms: (floor name, floor id, [(room name, room id)])."""
    floors = {}
    for floor, floor_id, inner in rooms:
        floors[floor] = {
            "type": "Floor",
            "identifier": floor_id,
            "name": floor,
            "spaces": {
                name: {"type": "Room", "identifier": rid, "name": name, "spaces": {}}
                for name, rid in inner
            },
        }
    return {"House": {"type": "Building", "identifier": "B-1", "name": "House", "spaces": floors}}


def by_id(plan: ets.ImportPlan) -> dict[str, ets.Candidate]:
    return {c.id: c for c in plan.objects}


def bindings(c: ets.Candidate) -> dict[str, tuple[str, str]]:
    return {b.key: (b.address, b.dpt) for b in c.bindings}


def merged_data(project: Project, plan: ets.ImportPlan) -> dict[str, Any]:
    """The project data after the plan, as projectfile.apply_import writes it."""
    data = project_to_data(project)
    data["pages"] += [p.data() for p in plan.pages]
    objects = {o["id"]: o for o in data["objects"]}
    for object_id, binding in plan.bindings:
        objects[object_id]["bindings"][binding.key] = binding.data()
    data["objects"] += [c.data() for c in plan.objects]
    return data


def apply(project: Project, parsed: dict[str, Any]) -> tuple[Project, ets.ImportPlan]:
    plan = ets.import_plan(project, parsed)
    return validate_project_data(merged_data(project, plan)), plan


# --- small helpers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dpt", "text"),
    [
        ({"main": 9, "sub": 1}, "9.001"),
        ({"main": 232, "sub": 600}, "232.600"),
        ({"main": 1, "sub": None}, "1"),
        ({"main": 5}, "5"),
        (None, None),
        ({}, None),
    ],
)
def test_format_dpt(dpt: dict[str, Any] | None, text: str | None) -> None:
    assert ets.format_dpt(dpt) == text


def test_ids_are_valid_slugs_even_from_awkward_names() -> None:
    assert ets.make_id("Küche Decke (Süd)", "1-2-3", "ga") == "kueche-decke-sued_1-2-3"
    assert ets.make_id("Straße", "f1", "function") == "strasse_f1"
    assert ets.make_id("***", "0-0-1", "ga") == "ga_0-0-1"
    long = ets.make_id("x" * 200, "31-7-255", "ga")
    assert len(long) == 64 and long.endswith("_31-7-255")
    for made in (long, ets.make_id("Ünïcödé ☃ name", "1-1-1", "ga")):
        validate_project_data(
            {"name": "p", "pages": [{"id": made, "title": "t"}]}
        )  # the slug rule of core.project accepts it


def test_labels_are_cleaned_and_bounded() -> None:
    assert ets.label("  Licht\tKüche\n", "x") == "Licht Küche"
    assert ets.label("", "Group address 1/2/3") == "Group address 1/2/3"
    assert len(ets.label("y" * 300, "x")) == 100


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("Licht Küche Status", True),
        ("Licht Küche RM", True),
        ("Rückmeldung Licht", True),
        ("light state", True),
        ("Licht Küche", False),
        ("Firmware", False),  # "rm" inside a word is not a status
        ("Statusanzeige", False),
    ],
)
def test_status_names(name: str, status: bool) -> None:
    assert ets.looks_like_status(name) is status


# --- group addresses by datapoint type ---------------------------------------------------


def test_group_addresses_by_datapoint_type() -> None:
    parsed = export(
        [
            ga("1/0/1", "Licht Küche", (1, 1)),
            ga("1/0/2", "Licht Küche Status", (1, 1)),
            ga("1/0/3", "generic", (1, None)),
            ga("2/0/1", "Jalousie", (1, 8)),
            ga("2/0/2", "Fenster Bad", (1, 19)),
            ga("3/0/1", "Szene", (17, 1)),
            ga("3/0/2", "Betriebsart", (20, 102)),
            ga("3/0/3", "Betriebsart Status", (20, 102)),
            ga("4/0/1", "Temperatur", (9, 1)),
            ga("4/0/2", "Helligkeit", (5, 1)),
            ga("4/0/3", "Zähler", (13, None)),
        ],
        ranges={"1": "Licht", "2": "Beschattung", "3": "Heizung", "4": "Messwerte"},
    )
    project, plan = apply(Project(name="p"), parsed)
    got = {c.id: (c.type, bindings(c), c.page.id) for c in plan.objects}
    assert got == {
        "licht-kueche_1-0-1": ("switch", {"command": ("1/0/1", "1.001")}, "licht_1"),
        "licht-kueche-status_1-0-2": ("switch", {"state": ("1/0/2", "1.001")}, "licht_1"),
        "generic_1-0-3": ("switch", {"command": ("1/0/3", "1")}, "licht_1"),
        "jalousie_2-0-1": ("shutter", {"command": ("2/0/1", "1.008")}, "beschattung_2"),
        "fenster-bad_2-0-2": ("sensor", {"state": ("2/0/2", "1.019")}, "beschattung_2"),
        "szene_3-0-1": ("scene", {"command": ("3/0/1", "17.001")}, "heizung_3"),
        "betriebsart_3-0-2": ("thermostat", {"mode": ("3/0/2", "20.102")}, "heizung_3"),
        "betriebsart-status_3-0-3": (
            "thermostat",
            {"mode_state": ("3/0/3", "20.102")},
            "heizung_3",
        ),
        "temperatur_4-0-1": ("sensor", {"state": ("4/0/1", "9.001")}, "messwerte_4"),
        "helligkeit_4-0-2": ("sensor", {"state": ("4/0/2", "5.001")}, "messwerte_4"),
        "zaehler_4-0-3": ("sensor", {"state": ("4/0/3", "13")}, "messwerte_4"),
    }
    assert [(p.id, p.title) for p in plan.pages] == [
        ("licht_1", "Licht"),
        ("beschattung_2", "Beschattung"),
        ("heizung_3", "Heizung"),
        ("messwerte_4", "Messwerte"),
    ]
    assert len(project.objects) == 11
    assert plan.skipped == []


def test_what_cannot_be_mapped_is_skipped_with_the_reason() -> None:
    parsed = export(
        [
            ga("1/2/3", "Foo", None),
            ga("1/2/4", "Text", (16, None)),  # xknx needs DPT 16's subtype
            ga("1/2/5", "Odd", (999, 1)),
            ga("1/2/6", "Fine", (9, 1)),
        ],
        ranges={"1": "Main"},
    )
    _, plan = apply(Project(name="p"), parsed)
    assert [str(s) for s in plan.skipped] == [
        "1/2/3 'Foo': no datapoint type",
        "1/2/4 'Text': datapoint type 16 is not supported",
        "1/2/5 'Odd': datapoint type 999.001 is not supported",
    ]
    assert [c.id for c in plan.objects] == ["fine_1-2-6"]


def test_pages_of_main_groups_with_one_name_and_free_addresses() -> None:
    parsed = export(
        [
            ga("1/0/1", "a", (9, 1)),
            ga("2/0/1", "b", (9, 1)),
            ga("5/1", "c", (9, 1)),
            ga("4097", "d", (9, 1)),
            ga("9/0/1", "e", (9, 1)),
        ],
        ranges={"1": "Neue Hauptgruppe", "2": "Neue Hauptgruppe", "5": "Two level"},
    )
    _, plan = apply(Project(name="p"), parsed)
    pages = {c.name: (c.page.id, c.page.title) for c in plan.objects}
    assert pages == {
        "a": ("neue-hauptgruppe_1", "Neue Hauptgruppe (1)"),
        "b": ("neue-hauptgruppe_2", "Neue Hauptgruppe (2)"),
        "c": ("two-level_5", "Two level"),
        "d": ("imported", "Imported"),
        "e": ("main-group-9", "Main group 9"),
    }
    assert len(plan.pages) == 5


# --- ETS 6 functions -------------------------------------------------------------------------


def functions_export() -> dict[str, Any]:
    gas = [
        ga("1/0/1", "Licht Wohnen", (1, 1)),
        ga("1/0/2", "Licht Wohnen Status", (1, 1)),
        ga("1/1/1", "Dimmer Bad", (1, 1)),
        ga("1/1/2", "Dimmer Bad relativ", (3, 7)),
        ga("1/1/3", "Dimmer Bad Wert", (5, 1)),
        ga("1/1/4", "Dimmer Bad Wert Status", (5, 1)),
        ga("1/1/5", "Dimmer Bad Status", (1, 1)),
        ga("2/0/1", "Jalousie auf/ab", (1, 8)),
        ga("2/0/2", "Jalousie stop", (1, 7)),
        ga("2/0/3", "Jalousie Position", (5, 1)),
        ga("2/0/4", "Jalousie Lamelle", (5, 1)),
        ga("2/0/5", "Windalarm", (1, 5)),
        ga("3/0/1", "Ist-Temperatur", (9, 1)),
        ga("3/0/2", "Soll-Temperatur", (9, 1)),
        ga("3/0/3", "Betriebsart", (20, 102)),
        ga("3/0/4", "Fensterkontakt", (1, 19)),
        ga("4/0/1", "Frei", (1, 1)),
        ga("5/0/1", "Allein", (9, 1)),
    ]
    functions = {
        "F-1": function(
            "F-1", "Licht Wohnen", "FT-1", "R-1", {"1/0/1": "SwitchOnOff", "1/0/2": "InfoOnOff"}
        ),
        "F-2": function(
            "F-2",
            "Licht Bad",
            "FT-6",
            "R-2",
            {
                "1/1/1": "SwitchOnOff",
                "1/1/2": "DimmingControl",
                "1/1/3": "DimmingValue",
                "1/1/4": "InfoDimmingValue",
                "1/1/5": "InfoOnOff",
            },
        ),
        "F-3": function(
            "F-3",
            "Jalousie Wohnen",
            "FT-7",
            "R-1",
            {
                "2/0/1": "MoveUpDown",
                "2/0/2": "StopStepUpDown",
                "2/0/3": "CurrentAbsolutePositionBlindsPercentage",
                "2/0/4": "CurrentAbsolutePositionSlatPercentage",
                "2/0/5": "WindAlarm",
            },
        ),
        "F-4": function(
            "F-4",
            "Heizung Bad",
            "FT-9",
            "R-2",
            {
                "3/0/1": "TempRoom",
                "3/0/2": "TempRoomSetpoint",
                "3/0/3": "HVACMode",
                "3/0/4": "WindowStatus",
            },
        ),
        "F-5": function("F-5", "Eigenes", "FT-0", "R-3", {"4/0/1": ""}),
    }
    locations = building(
        ("Erdgeschoss", "FL-1", [("Wohnen", "R-1"), ("Bad", "R-2")]),
        ("Obergeschoss", "FL-2", [("Bad", "R-3")]),
    )
    return export(
        gas,
        ranges={"1": "Licht", "2": "Jalousien", "3": "Heizung", "4": "Frei", "5": "Rest"},
        functions=functions,
        locations=locations,
    )


def test_functions_become_objects_on_their_room_page() -> None:
    project, plan = apply(Project(name="p"), functions_export())
    objects = by_id(plan)
    assert (objects["licht-wohnen_f1"].type, bindings(objects["licht-wohnen_f1"])) == (
        "switch",
        {"command": ("1/0/1", "1.001"), "state": ("1/0/2", "1.001")},
    )
    assert (objects["licht-bad_f2"].type, bindings(objects["licht-bad_f2"])) == (
        "dimmer",
        {
            "command": ("1/1/1", "1.001"),
            "state": ("1/1/5", "1.001"),
            "brightness": ("1/1/3", "5.001"),
            "brightness_state": ("1/1/4", "5.001"),
        },
    )
    assert (objects["jalousie-wohnen_f3"].type, bindings(objects["jalousie-wohnen_f3"])) == (
        "shutter",
        {
            "command": ("2/0/1", "1.008"),
            "stop": ("2/0/2", "1.007"),
            "position": ("2/0/3", "5.001"),
            "slats": ("2/0/4", "5.001"),
        },
    )
    assert (objects["heizung-bad_f4"].type, bindings(objects["heizung-bad_f4"])) == (
        "thermostat",
        {
            "temperature": ("3/0/1", "9.001"),
            "target": ("3/0/2", "9.001"),
            "mode": ("3/0/3", "20.102"),
        },
    )
    # Two rooms named "Bad": their pages say which floor.
    assert objects["licht-wohnen_f1"].page == ets.PlannedPage("wohnen", "Wohnen")
    assert objects["licht-bad_f2"].page == ets.PlannedPage("erdgeschoss-bad", "Erdgeschoss / Bad")
    # Roles without a place in the object stay objects of their own, in the same room.
    assert (objects["windalarm_2-0-5"].type, objects["windalarm_2-0-5"].page.id) == (
        "sensor",
        "wohnen",
    )
    assert objects["fensterkontakt_3-0-4"].page.id == "erdgeschoss-bad"
    # A custom function: its addresses by datapoint type, in its room.
    assert (objects["frei_4-0-1"].type, objects["frei_4-0-1"].page.id) == (
        "switch",
        "obergeschoss-bad",
    )
    assert objects["allein_5-0-1"].page.id == "rest_5"
    assert [str(s) for s in plan.skipped] == [
        "1/1/2 'Dimmer Bad relativ': relative dimming (DPT 3.007) has no domogate attribute"
    ]
    assert len(project.objects) == 8


def test_a_dimmer_with_only_a_feedback_value_gets_it_as_brightness() -> None:
    parsed = export(
        [ga("1/0/1", "on", (1, 1)), ga("1/0/2", "value", (5, 1))],
        functions={
            "F-1": function(
                "F-1", "Dim", "FT-2", "", {"1/0/1": "SwitchOnOff", "1/0/2": "InfoDimmingValue"}
            )
        },
        ranges={"1": "Licht"},
    )
    _, plan = apply(Project(name="p"), parsed)
    assert bindings(plan.objects[0])["brightness"] == ("1/0/2", "5.001")
    assert plan.objects[0].page.id == "licht_1"  # no room: the first address's main group


def test_a_function_address_with_the_wrong_datapoint_type_is_left_to_the_rules() -> None:
    parsed = export(
        [ga("1/0/1", "on", (1, 1)), ga("1/0/2", "value", (9, 1))],
        functions={
            "F-1": function(
                "F-1", "Dim", "FT-6", "", {"1/0/1": "SwitchOnOff", "1/0/2": "DimmingValue"}
            )
        },
    )
    _, plan = apply(Project(name="p"), parsed)
    objects = by_id(plan)
    assert bindings(objects["dim_f1"]) == {"command": ("1/0/1", "1.001")}
    assert objects["value_1-0-2"].type == "sensor"


def test_a_function_without_usable_roles_is_reported() -> None:
    parsed = export(
        [ga("1/0/1", "rel", (3, 7))],
        functions={"F-1": function("F-1", "Dim", "FT-6", "", {"1/0/1": "DimmingControl"})},
    )
    _, plan = apply(Project(name="p"), parsed)
    assert plan.objects == []
    assert [str(s) for s in plan.skipped] == [
        "1/0/1 'rel': relative dimming (DPT 3.007) has no domogate attribute",
        "'Dim': function F-1: no group address with a usable role",
    ]


def test_a_central_address_shared_by_two_functions_is_bound_by_both() -> None:
    parsed = export(
        [ga("1/0/0", "Alle aus", (1, 1)), ga("1/0/1", "a", (1, 1)), ga("1/0/2", "b", (1, 1))],
        functions={
            "F-1": function("F-1", "A", "FT-1", "", {"1/0/1": "SwitchOnOff", "1/0/0": "InfoOnOff"}),
            "F-2": function("F-2", "B", "FT-1", "", {"1/0/2": "SwitchOnOff", "1/0/0": "InfoOnOff"}),
        },
    )
    project, plan = apply(Project(name="p"), parsed)
    assert [c.id for c in plan.objects] == ["a_f1", "b_f2"]
    # and a re-run finds each function again
    again = ets.import_plan(project, parsed)
    assert not again.changed and again.unchanged == ["a_f1", "b_f2"]


# --- merging ---------------------------------------------------------------------------------


def test_importing_twice_changes_nothing() -> None:
    parsed = functions_export()
    project, first = apply(Project(name="p"), parsed)
    assert first.changed
    second = ets.import_plan(project, parsed)
    assert not second.changed
    assert second.counts() == {
        "created": 0,
        "merged": 0,
        "unchanged": len(first.objects),
        "skipped": len(first.skipped),
        "pages_created": 0,
    }


def edited(project: Project, object_id: str, **changes: Any) -> Project:
    data = project_to_data(project)
    for obj in data["objects"]:
        if obj["id"] == object_id:
            obj.update(changes)
    return validate_project_data(data)


def test_hand_edits_are_kept_and_new_addresses_added() -> None:
    parsed = functions_export()
    project, _ = apply(Project(name="p"), parsed)
    data = project_to_data(project)
    data["groups"].append({"name": "family", "description": ""})
    data["pages"].append({"id": "living", "title": "Living room", "icon": None})
    for obj in data["objects"]:
        if obj["id"] == "licht-wohnen_f1":
            obj["name"] = "Living room light"
            obj["page"] = "living"
            obj["restrictions"] = {"visible_to": ["family"], "operable_by": None}
            del obj["bindings"]["state"]  # the integrator dropped the feedback
        if obj["id"] == "jalousie-wohnen_f3":
            # position is a feedback only in this house: the integrator renamed the key
            obj["bindings"]["position_state"] = obj["bindings"].pop("position")
    project = validate_project_data(data)

    parsed["group_addresses"]["1/0/3"] = ga("1/0/3", "Licht Flur", (1, 1))
    parsed["functions"]["F-1"]["group_addresses"]["1/0/9"] = {
        "address": "1/0/9",
        "name": "",
        "role": "InfoOnOff",
    }
    parsed["group_addresses"]["1/0/9"] = ga("1/0/9", "Licht Wohnen Status neu", (1, 1))
    result, plan = apply(project, parsed)

    light = result.object("licht-wohnen_f1")
    assert light is not None
    assert (light.name, light.page) == ("Living room light", "living")
    assert light.restrictions.visible_to == ["family"]
    # A binding key the object lacks is added back (the function's first InfoOnOff); the
    # function's second InfoOnOff has no key left in the object: an object of its own.
    assert light.bindings["state"].address == "1/0/2"
    blind = result.object("jalousie-wohnen_f3")
    assert blind is not None and "position" not in blind.bindings
    assert blind.bindings["position_state"].address == "2/0/3"
    assert [c.id for c in plan.objects] == ["licht-flur_1-0-3", "licht-wohnen-status-neu_1-0-9"]
    assert plan.merged == ["licht-wohnen_f1"]
    assert [(i, b.key) for i, b in plan.bindings] == [("licht-wohnen_f1", "state")]


def test_an_address_bound_by_a_hand_made_object_is_not_imported_again() -> None:
    project = validate_project_data(
        {
            "name": "p",
            "pages": [{"id": "ground", "title": "Ground"}],
            "objects": [
                {
                    "id": "kitchen",
                    "name": "Kitchen",
                    "type": "switch",
                    "page": "ground",
                    "bindings": {"state": {"address": "1/0/1", "dpt": "1.001"}},
                }
            ],
        }
    )
    parsed = export([ga("1/0/1", "Licht Küche", (1, 1)), ga("1/0/2", "Temp", (9, 1))])
    result, plan = apply(project, parsed)
    assert [str(s) for s in plan.skipped] == [
        "1/0/1 'Licht Küche': already bound by object 'kitchen'"
    ]
    assert [o.id for o in result.objects] == ["kitchen", "temp_1-0-2"]


def test_a_hand_made_object_with_the_same_binding_is_the_same_object() -> None:
    project = validate_project_data(
        {
            "name": "p",
            "pages": [{"id": "ground", "title": "Ground"}],
            "objects": [
                {
                    "id": "living-light",
                    "name": "Living",
                    "type": "switch",
                    "page": "ground",
                    "bindings": {"command": {"address": "1/0/1", "dpt": "1.001"}},
                }
            ],
        }
    )
    result, plan = apply(project, functions_export())
    assert "licht-wohnen_f1" not in by_id(plan)
    assert plan.merged[0] == "living-light"
    light = result.object("living-light")
    assert light is not None and light.bindings["state"].address == "1/0/2"


def test_a_type_changed_by_hand_only_gains_bindings_it_has() -> None:
    project, _ = apply(Project(name="p"), functions_export())
    project = edited(
        project,
        "licht-bad_f2",
        type="switch",
        bindings={"command": {"address": "1/1/1", "dpt": "1.001"}},
    )
    result, plan = apply(project, functions_export())
    light = result.object("licht-bad_f2")
    assert light is not None and set(light.bindings) == {"command", "state"}
    reasons = [str(s) for s in plan.skipped if "switch" in s.reason]
    assert reasons == [
        "1/1/3 'Licht Bad': object 'licht-bad_f2' is a switch, which has no binding 'brightness'",
        "1/1/4 'Licht Bad': object 'licht-bad_f2' is a switch, which has no binding "
        "'brightness_state'",
    ]


def test_an_address_used_with_another_datapoint_type_is_not_bound_twice() -> None:
    project = validate_project_data(
        {
            "name": "p",
            "pages": [{"id": "g", "title": "G"}],
            "objects": [
                {
                    "id": "odd",
                    "name": "Odd",
                    "type": "sensor",
                    "page": "g",
                    "bindings": {"state": {"address": "1/0/2", "dpt": "9.001"}},
                }
            ],
        }
    )
    result, plan = apply(project, functions_export())
    light = result.object("licht-wohnen_f1")
    assert light is not None and set(light.bindings) == {"command"}
    assert "1/0/2 'Licht Wohnen': object 'odd' binds it with another datapoint type" in [
        str(s) for s in plan.skipped
    ]


def test_an_id_taken_by_an_unrelated_object_gets_a_suffix_only_when_needed() -> None:
    # The id matches, so it is the same object: nothing is duplicated even though the
    # integrator rebound it to another address.
    project = validate_project_data(
        {
            "name": "p",
            "pages": [{"id": "g", "title": "G"}],
            "objects": [
                {
                    "id": "temp_1-0-2",
                    "name": "Mine",
                    "type": "sensor",
                    "page": "g",
                    "bindings": {"state": {"address": "7/7/7", "dpt": "9.001"}},
                }
            ],
        }
    )
    parsed = export([ga("1/0/2", "Temp", (9, 1))])
    result, plan = apply(project, parsed)
    assert not plan.changed and plan.unchanged == ["temp_1-0-2"]
    assert len(result.objects) == 1
