"""A project with objects for end-to-end tests (the configurator has no `object add`:
integrators write objects by hand or import them from ETS, so the tests edit the YAML)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.support.processes import new_project, run

OBJECTS: list[dict[str, Any]] = [
    {
        "id": "light",
        "name": "Living light",
        "type": "switch",
        "page": "ground",
        "bindings": {
            "command": {"address": "1/1/1", "dpt": "1.001"},
            "state": {"address": "1/1/2", "dpt": "1.001"},
        },
    },
    {
        "id": "dimmer",
        "name": "Kitchen dimmer",
        "type": "dimmer",
        "page": "ground",
        "bindings": {
            "command": {"address": "1/2/1", "dpt": "1.001"},
            "brightness": {"address": "1/2/3", "dpt": "5.001"},
            "brightness_state": {"address": "1/2/4", "dpt": "5.001"},
        },
        "restrictions": {"operable_by": ["family"]},
    },
    {
        "id": "thermostat",
        "name": "Bedroom",
        "type": "thermostat",
        "page": "first",
        "bindings": {
            "temperature": {"address": "3/1/1", "dpt": "9.001"},
            "target": {"address": "3/1/2", "dpt": "9.001"},
        },
        "restrictions": {"visible_to": ["family"]},
    },
]


def project_with_objects(tmp_path: Path, objects: list[dict[str, Any]] | None = None) -> Path:
    """`new_project` (alice admin in family) plus bob in guests, two pages and objects."""
    directory = new_project(tmp_path)
    run(
        "project", "user", "add", str(directory), "bob", "--group", "guests",
        "--password-stdin", stdin="bob-password\n",
    )  # fmt: skip
    yaml = YAML()
    path = directory / "project.yaml"
    data = yaml.load(path.read_text(encoding="utf-8"))
    data["pages"] = [{"id": "ground", "title": "Ground floor"}, {"id": "first", "title": "First"}]
    data["objects"] = objects if objects is not None else OBJECTS
    with path.open("w", encoding="utf-8") as f:
        yaml.dump(data, f)
    run("project", "validate", str(directory))
    return directory
