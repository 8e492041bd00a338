"""core/accounts.py: the status word and the label of a client in the Clients table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domogate.core.accounts import (
    ClientStatus,
    Device,
    OtpRecord,
    User,
    UserOrigin,
    client_label,
    client_status,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def user(**kw: object) -> User:
    base: dict[str, object] = {
        "id": "u", "name": None, "group": "family", "admin": False,
        "origin": UserOrigin.ADMIN, "created_at": NOW,
    }  # fmt: skip
    return User(**{**base, **kw})  # type: ignore[arg-type]


def device(revoked: bool = False) -> Device:
    return Device("d", "u", "phone", "k", NOW, revoked_at=NOW if revoked else None)


def otp(expires_in: float = 60) -> OtpRecord:
    return OtpRecord("o", "u", "digest", NOW, NOW + timedelta(seconds=expires_in))


def test_status_words() -> None:
    assert client_status(user(), [], otp(), set(), NOW) is ClientStatus.PENDING
    assert client_status(user(), [], otp(-1), set(), NOW) is ClientStatus.EXPIRED
    assert client_status(user(), [device()], None, {"d"}, NOW) is ClientStatus.ONLINE
    assert client_status(user(), [device()], None, set(), NOW) is ClientStatus.OFFLINE
    assert client_status(user(revoked_at=NOW), [device()], None, {"d"}, NOW) is (
        ClientStatus.REVOKED
    )
    expired = user(account_expires_at=NOW)
    assert client_status(expired, [device()], None, {"d"}, NOW) is ClientStatus.EXPIRED
    assert client_status(user(), [device(revoked=True)], None, set(), NOW) is (ClientStatus.OFFLINE)


def test_the_label_is_the_otp_while_pending_then_the_name() -> None:
    assert client_label(user(), ClientStatus.PENDING, "ACDEFGHJKL") == "ACDEF-GHJKL"
    assert client_label(user(name="Zoé"), ClientStatus.ONLINE, None) == "Zoé"
    assert client_label(user(), ClientStatus.EXPIRED, None) == "(unnamed slot)"
