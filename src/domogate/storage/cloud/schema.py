"""The cloud's tables (SQLAlchemy declarative), compared against its migrations.

``versions`` has no foreign key to ``installations`` on purpose: releasing an installation
(which deletes an open claim's row) keeps the versions published for that name."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from domogate.storage.sql.schema import UtcDateTime


class CloudBase(DeclarativeBase):
    pass


class InstallationRow(CloudBase):
    __tablename__ = "installations"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    password_hash: Mapped[str | None] = mapped_column(Text, nullable=True)
    public_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    invited: Mapped[bool] = mapped_column(Boolean, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_linked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_source: Mapped[str | None] = mapped_column(String(64), nullable=True)


class CloudAuditRow(CloudBase):
    __tablename__ = "cloud_audit"
    __table_args__ = (Index("ix_cloud_audit_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    event: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str | None] = mapped_column(String(63), nullable=True)
    source: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)


class VersionRow(CloudBase):
    """One published version of an installation (``docs/cloud-publish.md``)."""

    __tablename__ = "versions"
    __table_args__ = (UniqueConstraint("installation", "version", name="uq_versions_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    installation: Mapped[str] = mapped_column(String(63), nullable=False)
    version: Mapped[int] = mapped_column(BigInteger, nullable=False)
    digest: Mapped[str] = mapped_column(String(80), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    published_at: Mapped[str] = mapped_column(String(64), nullable=False)
    publisher_key_fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    manifest: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    signature: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    stored_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
