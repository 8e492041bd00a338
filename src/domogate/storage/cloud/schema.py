"""The cloud's tables (SQLAlchemy declarative), compared against its migrations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text
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
