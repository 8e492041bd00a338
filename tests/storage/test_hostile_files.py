"""Hostile files: YAML alias bombs and deep nesting in ``project.yaml``, archive bombs as
``.knxproj`` exports. Each is refused as an input error, quickly, before it is built."""

from __future__ import annotations

import io
import json
import resource
import struct
import subprocess
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml.error import ReusedAnchorWarning
from tests.support.ets import SAMPLES
from tests.support.processes import CLI, cli_env

from domogate.core import ets as ets_rules
from domogate.errors import ImportFailed, ProjectInvalid
from domogate.storage import projectfile
from domogate.storage.ets import check_archive, read_export

HEADER = "format: 1\nname: hostile\n"

BILLION_LAUGHS = HEADER + "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip([None, *"abcdefgh"], "abcdefghi", strict=True)
)


def write_project(tmp_path: Path, text: str) -> Path:
    directory = tmp_path / "home"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "project.yaml").write_text(text, encoding="utf-8")
    return directory


def refused(directory: Path) -> dict[str, Any]:
    started = time.perf_counter()
    with pytest.raises(ProjectInvalid) as info:
        projectfile.load_project(directory)
    assert time.perf_counter() - started < 1.0
    problems = info.value.details["problems"]
    assert isinstance(problems, list) and len(problems) == 1
    problem: dict[str, Any] = problems[0]
    assert problem["file"] == str(directory / "project.yaml")
    return problem


# --- YAML ------------------------------------------------------------------------------


def test_billion_laughs_is_refused_at_the_alias_that_exceeds_the_budget(tmp_path: Path) -> None:
    problem = refused(write_project(tmp_path, BILLION_LAUGHS))
    assert problem["line"] == 8  # f: the first list that adds more than 100,000 nodes
    assert "aliases (*name) expand the file beyond 100000 values" in problem["message"]
    assert "write the values out" in problem["message"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("x: " + "[" * 50_000 + "]" * 50_000 + "\n", id="flow-sequences"),
        pytest.param("x: " + "{a: " * 50_000 + "1" + "}" * 50_000 + "\n", id="flow-mappings"),
        pytest.param("x:\n" + "- " * 50_000 + "1\n", id="block-sequences"),
        pytest.param(
            "x:\n" + "".join(" " * i + "k:\n" for i in range(1, 500)), id="block-mappings"
        ),
    ],
)
def test_deep_nesting_is_refused_without_recursion_error(tmp_path: Path, body: str) -> None:
    problem = refused(write_project(tmp_path, HEADER + body))
    assert problem["line"] is not None and problem["line"] >= 3
    assert "nested more than 64 levels deep" in problem["message"]
    assert "flatten" in problem["message"]


def test_nesting_up_to_the_limit_is_read(tmp_path: Path) -> None:
    # The root mapping is one level: 63 lists inside it make 64.
    ok = write_project(tmp_path, HEADER + "x: " + "[" * 63 + "]" * 63 + "\n")
    document = projectfile.load_document(ok)
    assert "x" in document.data
    deep = write_project(tmp_path, HEADER + "x: " + "[" * 64 + "]" * 64 + "\n")
    with pytest.raises(ProjectInvalid, match="nested more than 64 levels"):
        projectfile.load_document(deep)


def test_an_alias_cannot_nest_the_document_deeper_than_the_limit(tmp_path: Path) -> None:
    text = HEADER + "a: &a " + "[" * 40 + "]" * 40 + "\nb: " + "[" * 40 + "*a" + "]" * 40 + "\n"
    problem = refused(write_project(tmp_path, text))
    assert "alias *a nests the document more than 64 levels deep" in problem["message"]
    assert problem["line"] == 4


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    problem = refused(write_project(tmp_path, HEADER + "x: &a [1, *a]\n"))
    assert "recursive" in problem["message"] and problem["line"] == 3
    with pytest.warns(ReusedAnchorWarning):  # ruamel's warning for a redefined anchor
        again = refused(write_project(tmp_path, HEADER + "x: &a 1\ny: &a [*a]\n"))
    assert "recursive" in again["message"]


def test_too_many_aliases_are_refused(tmp_path: Path) -> None:
    text = HEADER + "a: &a 1\nb: [" + ", ".join(["*a"] * 1001) + "]\n"
    problem = refused(write_project(tmp_path, text))
    assert "more than 1000 aliases" in problem["message"]


def test_ordinary_anchors_and_aliases_still_work(tmp_path: Path) -> None:
    text = HEADER + (
        "groups:\n  - name: family\n  - name: guests\n"
        "pages:\n  - id: ground\n    title: Ground\n"
        "objects:\n"
        "  - id: hall\n    name: Hall\n    type: switch\n    page: ground\n"
        "    bindings: {command: {address: 1/1/1, dpt: '1.001'}}\n"
        "    restrictions: &family {visible_to: [family]}\n"
        "  - id: safe\n    name: Safe\n    type: switch\n    page: ground\n"
        "    bindings: {command: {address: 1/1/2, dpt: '1.001'}}\n"
        "    restrictions: *family\n"
    )
    project = projectfile.load_project(write_project(tmp_path, text))
    assert [o.id for o in project.objects] == ["hall", "safe"]


def test_a_huge_project_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    directory = write_project(tmp_path, HEADER)
    with (directory / "project.yaml").open("ab") as f:
        f.truncate(projectfile.MAX_FILE_BYTES + 1)
    problem = refused(directory)
    assert "more than the 8 MiB a project file may hold" in problem["message"]


def _limit_memory() -> None:  # in the child: a regression fails instead of eating GBs
    resource.setrlimit(resource.RLIMIT_AS, (1024**3, 1024**3))


def cli(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.perf_counter()
    proc = subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=20,
        check=False,
        preexec_fn=_limit_memory,
    )
    return proc, time.perf_counter() - started


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(BILLION_LAUGHS, id="billion-laughs"),
        pytest.param(HEADER + "x: " + "[" * 50_000 + "]" * 50_000 + "\n", id="deep"),
    ],
)
def test_cli_validate_refuses_the_bomb_within_a_second(tmp_path: Path, body: str) -> None:
    """The real `domogate project validate` in a subprocess (1 GiB of address space)."""
    good = write_project(tmp_path / "good", HEADER)
    baseline, startup = cli("project", "validate", str(good))  # the interpreter's start
    assert baseline.returncode == 0, baseline.stderr
    bomb = write_project(tmp_path, body)
    proc, elapsed = cli("project", "validate", str(bomb), "--json")
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    error = json.loads(proc.stdout or proc.stderr)["error"]
    assert error["code"] == "project_invalid"
    assert error["details"]["problems"][0]["file"] == str(bomb / "project.yaml")
    assert elapsed < startup + 1.0, (elapsed, startup)


# --- ETS archives ----------------------------------------------------------------------

MASTER = b'<?xml version="1.0" encoding="utf-8"?>\n<KNX xmlns="http://knx.org/xml/project/21">'


def knxproj(
    path: Path, members: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED
) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def zeros_member(archive: zipfile.ZipFile, name: str, size: int) -> None:
    with archive.open(name, "w", force_zip64=size > 2**31) as out:
        chunk = b"\0" * (1 << 20)
        for _ in range(size // len(chunk)):
            out.write(chunk)


def import_refused(path: Path, match: str) -> ImportFailed:
    started = time.perf_counter()
    with pytest.raises(ImportFailed, match=match) as info:
        read_export(path)
    assert time.perf_counter() - started < 1.0
    assert info.value.code == "import_failed"
    assert info.value.details["file"] == str(path)
    return info.value


def test_a_highly_compressed_member_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.knxproj"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("P-0001.signature", b"x")
        zeros_member(archive, "knx_master.xml", 64 * 1024 * 1024)
    assert path.stat().st_size < 1024 * 1024
    error = import_refused(path, r"'knx_master.xml' is compressed more than 100 to 1")
    assert error.details["reason"] == "archive_refused"
    assert "nothing was imported" in error.message


def test_too_many_members_are_refused_from_the_end_record(tmp_path: Path) -> None:
    path = tmp_path / "many.knxproj"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for i in range(ets_rules.MAX_ARCHIVE_MEMBERS + 1):
            archive.writestr(f"f{i}", b"")
    import_refused(path, r"it holds 20001 files, more than 20000")


def test_too_many_members_in_the_directory_are_refused(tmp_path: Path) -> None:
    members = [ets_rules.ArchiveMember(f"f{i}", 0, 0) for i in range(20_001)]
    assert "more than 20000 files" in str(ets_rules.archive_problem(members))
    assert ets_rules.archive_problem(members[:20_000]) is None


def test_too_much_in_total_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ets_rules, "MAX_ARCHIVE_BYTES", 8 * 1024 * 1024)
    path = tmp_path / "big.knxproj"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("P-0001.signature", b"x")
        for i in range(9):  # 1 MiB each: exempt from the ratio, too much together
            archive.writestr(f"M-{i}.xml", b"\0" * (1024 * 1024))
    import_refused(path, r"it unpacks to more than 8 MiB")


def test_the_limits_in_numbers() -> None:
    one = ets_rules.ArchiveMember
    gib = 1024**3
    assert ets_rules.archive_problem([one("a.xml", 20 * 2**20, 2**20)]) is None  # 20:1, XML
    assert "compressed more than 100 to 1" in str(
        ets_rules.archive_problem([one("a.xml", 200 * 2**20, 2**20)])
    )
    assert ets_rules.archive_problem([one("tiny", 2**20, 1)]) is None  # 1 MiB cannot hurt
    assert "unpacks to more than 1 GiB" in str(
        ets_rules.archive_problem([one("a", gib // 2, gib // 4), one("b", gib // 2 + 1, gib // 4)])
    )
    assert "more than 1 GiB" in str(ets_rules.archive_problem([one("a", 2, 2)], total_so_far=gib))


def test_a_bomb_inside_the_project_archive_is_refused(tmp_path: Path) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        zeros_member(archive, "0.xml", 64 * 1024 * 1024)
    path = knxproj(
        tmp_path / "nested.knxproj",
        {"P-0001.signature": b"x", "knx_master.xml": MASTER, "P-0001.zip": inner.getvalue()},
        compression=zipfile.ZIP_STORED,
    )
    import_refused(path, r"'0.xml' is compressed more than 100 to 1")


def test_a_member_holding_more_than_its_directory_declares_is_never_unpacked(
    tmp_path: Path,
) -> None:
    """zipfile yields at most the declared size and then fails the CRC check: the limits
    checked on the directory hold while reading."""
    path = tmp_path / "liar.knxproj"
    payload = MASTER + b"\n" + b"<a/>" * (4 * 1024 * 1024)  # 16 MiB
    knxproj(path, {"P-0001.signature": b"x", "knx_master.xml": payload})
    data = bytearray(path.read_bytes())
    declared = 4096
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.find(signature)
        while at >= 0:
            name_at = at + (30 if signature == b"PK\x03\x04" else 46)
            if data[name_at : name_at + 14] == b"knx_master.xml":
                struct.pack_into("<L", data, at + offset, declared)
            at = data.find(signature, at + 4)
    path.write_bytes(bytes(data))
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo("knx_master.xml").file_size == declared
        with (
            archive.open("knx_master.xml") as member,
            pytest.raises(zipfile.BadZipFile, match="CRC"),
        ):
            member.read()  # stops at 4 KiB of the 16 MiB
    check_archive(path)  # 4 KiB declared: within the limits
    import_refused(path, r"liar.knxproj")


def test_an_xml_entity_bomb_is_an_import_error(tmp_path: Path) -> None:
    """expat (2.4 and later) refuses the amplification; the import says the file is bad."""
    entities = '<!ENTITY e0 "lol">' + "".join(
        f'<!ENTITY e{i} "{f"&e{i - 1};" * 10}">' for i in range(1, 10)
    )
    master = (
        b'<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE KNX ['
        + entities.encode()
        + b']><KNX xmlns="http://knx.org/xml/project/21">&e9;</KNX>\n'
    )
    path = knxproj(
        tmp_path / "xml.knxproj",
        {
            "P-0001.signature": b"x",
            "knx_master.xml": master,
            "P-0001/project.xml": MASTER + b"</KNX>",
            "P-0001/0.xml": MASTER + b"</KNX>",
        },
    )
    error = import_refused(path, r"xml.knxproj")
    assert "amplification" in error.message or "ParseError" in error.message, error.message


def test_real_exports_pass_the_checks() -> None:
    samples = sorted(SAMPLES.glob("*.knxproj"))
    if not samples:
        pytest.skip(f"no ETS samples in {SAMPLES}")
    for sample in samples:
        check_archive(sample)
