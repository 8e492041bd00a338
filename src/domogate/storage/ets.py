"""Reading an ETS project export (``.knxproj``) with xknxproject.

Every failure becomes :class:`~domogate.errors.ImportFailed` saying what to do: a missing
or wrong password, a file that is not an ETS export or is damaged. xknxproject's warnings
(e.g. an unknown ``--language``) are collected and returned instead of being logged.
"""

from __future__ import annotations

import logging
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from xknxproject.exceptions import InvalidPasswordException, XknxProjectException
from xknxproject.xknxproj import XKNXProj

from domogate.core.ets import (
    MAX_ARCHIVE_FILE_BYTES,
    MAX_ARCHIVE_MEMBERS,
    ArchiveMember,
    archive_problem,
    archive_total,
)
from domogate.errors import ImportFailed

_LOGGER_NAME = "xknxproject"
PASSWORD_REQUIRED = "password_required"  # noqa: S105 (an error reason, not a secret)
"""``details['reason']`` of the error raised when a protected export is read without one."""


@dataclass
class EtsExport:
    """A parsed export: xknxproject's dict, and the warnings it gave while reading."""

    path: Path
    data: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.data.get("info", {}).get("name") or self.path.stem)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage().strip())


# --- archive bombs ---------------------------------------------------------------------
#
# Checked from the archives' directories before anything is unpacked: the export's size on
# disk, its member count (from the end record, before zipfile reads the directory), the
# members' declared sizes and ratios; then the same for the project archive inside a
# password-protected export (``P-....zip``, the one nested archive xknxproject opens).
# While reading, zipfile never yields more bytes of a member than its directory entry
# declares (a member that holds more fails its CRC check), so the checked sizes hold.

_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record
_EOCD_SIGNATURE = b"PK\x05\x06"
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_ZIP64_EOCD_SIGNATURE = b"PK\x06\x06"


class _Refused(Exception):
    """Why an archive is refused (the message says what to do)."""


def _member_count(fp: IO[bytes], size: int) -> int | None:
    """Members declared by the end record of the ZIP archive ``fp`` (``size`` bytes long),
    read without the central directory; None when there is no end record (zipfile then
    says that the file is not a ZIP archive)."""
    tail_length = min(size, _EOCD.size + 65535)  # the record, and a comment of up to 64 KiB
    fp.seek(size - tail_length)
    tail = fp.read(tail_length)
    at = tail.rfind(_EOCD_SIGNATURE)
    if at < 0 or at + _EOCD.size > len(tail):
        return None
    fields = _EOCD.unpack_from(tail, at)
    entries = int(fields[4])
    if entries != 0xFFFF and fields[5] != 0xFFFFFFFF and fields[6] != 0xFFFFFFFF:
        return entries
    # ZIP64: the locator precedes the end record and points at the ZIP64 end record.
    locator_at = at - _ZIP64_LOCATOR.size
    if locator_at < 0:
        raise _Refused("its ZIP64 end record is missing (a damaged archive)")
    locator = _ZIP64_LOCATOR.unpack_from(tail, locator_at)
    if locator[0] != _ZIP64_LOCATOR_SIGNATURE or not 0 <= locator[2] <= size - _ZIP64_EOCD.size:
        raise _Refused("its ZIP64 end record is missing (a damaged archive)")
    fp.seek(locator[2])
    record = fp.read(_ZIP64_EOCD.size)
    if len(record) != _ZIP64_EOCD.size or record[:4] != _ZIP64_EOCD_SIGNATURE:
        raise _Refused("its ZIP64 end record is damaged")
    return int(_ZIP64_EOCD.unpack(record)[7])


def _members(archive: zipfile.ZipFile) -> list[ArchiveMember]:
    return [ArchiveMember(i.filename, i.file_size, i.compress_size) for i in archive.infolist()]


def _check_archive(fp: IO[bytes], size: int, total_so_far: int) -> zipfile.ZipFile | None:
    """The archive ``fp`` opened once its end record and directory are within the limits
    (None when it is not a ZIP archive at all: xknxproject reports that)."""
    count = _member_count(fp, size)
    if count is None:
        return None
    if count > MAX_ARCHIVE_MEMBERS:
        raise _Refused(
            f"it holds {count} files, more than {MAX_ARCHIVE_MEMBERS}; an ETS export holds "
            "far fewer (is it an ETS project export?)"
        )
    fp.seek(0)
    archive = zipfile.ZipFile(fp)
    problem = archive_problem(_members(archive), total_so_far=total_so_far)
    if problem is not None:
        archive.close()
        raise _Refused(problem)
    return archive


def _project_archive(archive: zipfile.ZipFile) -> zipfile.ZipInfo | None:
    """The nested project archive xknxproject opens: ``P-xxxx.zip`` next to
    ``P-xxxx.signature`` (password-protected exports)."""
    for info in archive.infolist():
        if info.filename.startswith("P-") and info.filename.endswith(".signature"):
            try:
                return archive.getinfo(info.filename.removesuffix(".signature") + ".zip")
            except KeyError:
                return None
    return None


def check_archive(path: Path) -> None:
    """Refuse an archive bomb before xknxproject unpacks anything (see above)."""
    size = path.stat().st_size
    if size > MAX_ARCHIVE_FILE_BYTES:
        raise _Refused(
            f"it is {size} bytes, more than the {MAX_ARCHIVE_FILE_BYTES // (1024 * 1024)} MiB "
            "an ETS export may have here"
        )
    with path.open("rb") as fp:
        archive = _check_archive(fp, size, 0)
        if archive is None:
            return
        with archive:
            inner = _project_archive(archive)
            if inner is None:
                return
            total = archive_total(_members(archive))
            with archive.open(inner) as nested:
                try:
                    project = _check_archive(nested, inner.file_size, total)
                except zipfile.BadZipFile:
                    return  # xknxproject says what is wrong with it
                if project is not None:
                    project.close()


def read_export(
    path: Path, *, password: str | None = None, language: str | None = None
) -> EtsExport:
    """Parse ``path`` (``.knxproj``); raise :class:`ImportFailed` when it cannot be read."""
    path = Path(path)
    if not path.exists():
        raise ImportFailed(f"{path} not found; give the path of the .knxproj file ETS exported")
    if not path.is_file():
        raise ImportFailed(f"{path} is not a file; give the path of the .knxproj file ETS exported")
    try:
        check_archive(path)
    except _Refused as exc:
        raise ImportFailed(
            f"{path} is refused: {exc}; nothing was imported: export the project again from ETS",
            file=str(path),
            reason="archive_refused",
        ) from None
    except zipfile.BadZipFile:
        pass  # reported below, as xknxproject meets it
    except OSError as exc:
        raise ImportFailed(f"cannot read {path}: {exc.strerror or exc}", file=str(path)) from None
    logger = logging.getLogger(_LOGGER_NAME)
    collector = _Collect()
    propagate = logger.propagate
    logger.addHandler(collector)
    logger.propagate = False
    try:
        data = XKNXProj(path, password=password or None, language=language).parse()
    except InvalidPasswordException as exc:
        if password:
            raise ImportFailed(
                f"wrong password for {path}: give the password the project was exported "
                "with in ETS (--password-stdin reads it from stdin's first line)",
                file=str(path),
                reason="wrong_password",
            ) from None
        raise ImportFailed(
            f"{path} is password protected: pass --password-stdin and write the password "
            "on stdin's first line",
            file=str(path),
            reason=PASSWORD_REQUIRED,
        ) from exc
    except zipfile.BadZipFile:
        raise ImportFailed(
            f"{path} is not an ETS project export (.knxproj is a ZIP archive) or it is "
            "damaged; export the project again from ETS",
            file=str(path),
        ) from None
    except XknxProjectException as exc:
        raise ImportFailed(
            f"{path} could not be read as an ETS project ({exc or type(exc).__name__}); "
            "export the project again from ETS (ETS 4, 5 or 6)",
            file=str(path),
        ) from None
    except OSError as exc:
        raise ImportFailed(f"cannot read {path}: {exc.strerror or exc}", file=str(path)) from None
    except Exception as exc:  # a damaged archive makes the XML parser fail in many ways
        raise ImportFailed(
            f"{path} is damaged or not an ETS project export "
            f"({type(exc).__name__}: {exc}); export the project again from ETS",
            file=str(path),
        ) from None
    finally:
        logger.removeHandler(collector)
        logger.propagate = propagate
    return EtsExport(path, dict(data), collector.messages)
