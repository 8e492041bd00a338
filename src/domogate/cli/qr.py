"""QR codes of join links: on the terminal, as PNG or SVG files (mode 0600: they carry
the OTP).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import segno

from domogate.errors import ClientError, InvalidInput
from domogate.files import write_atomic


def make_qr(link: str) -> Any:
    """The QR code of a join link (error correction M; never a Micro QR)."""
    return segno.make(link, error="m", micro=False)


def check_writable(*paths: Path | None) -> None:
    """Refuse output files that cannot be written, before asking the server for anything."""
    for path in paths:
        if path is None:
            continue
        folder = path.parent if str(path.parent) else Path(".")
        if path.is_dir():
            raise InvalidInput(f"{path} is a folder; give a file name for the QR code.")
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise InvalidInput(f"Cannot write the QR code to {path}: no writable folder {folder}.")


def write_qr_files(link: str, *, png: Path | None = None, svg: Path | None = None) -> None:
    """Write the join link's QR code as PNG (scale 8, border 4) and/or SVG."""
    qr = make_qr(link)
    for path, kind in ((png, "png"), (svg, "svg")):
        if path is None:
            continue
        buffer = io.BytesIO()
        qr.save(buffer, kind=kind, scale=8, border=4)
        try:
            # The QR code carries the OTP: readable by its owner only, from the first byte
            # (a new file replaces an existing one or a symbolic link, never written through).
            write_atomic(path, buffer.getvalue(), 0o600)
        except OSError as exc:
            reason = exc.strerror or exc
            raise ClientError(f"Cannot write the QR code to {path}: {reason}.") from exc
