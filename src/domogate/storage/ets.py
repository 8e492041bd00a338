"""Reading an ETS project export (``.knxproj``) with xknxproject.

Every failure becomes :class:`~domogate.errors.ImportFailed` saying what to do: a missing
or wrong password, a file that is not an ETS export or is damaged. xknxproject's warnings
(e.g. an unknown ``--language``) are collected and returned instead of being logged.
"""

from __future__ import annotations

import logging
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xknxproject.exceptions import InvalidPasswordException, XknxProjectException
from xknxproject.xknxproj import XKNXProj

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


def read_export(
    path: Path, *, password: str | None = None, language: str | None = None
) -> EtsExport:
    """Parse ``path`` (``.knxproj``); raise :class:`ImportFailed` when it cannot be read."""
    path = Path(path)
    if not path.exists():
        raise ImportFailed(f"{path} not found; give the path of the .knxproj file ETS exported")
    if not path.is_file():
        raise ImportFailed(f"{path} is not a file; give the path of the .knxproj file ETS exported")
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
