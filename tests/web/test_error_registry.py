"""The error registry against its contracts: docs/api.md's error table, the web client's
messages (static/js/messages.js), the WebSocket close codes and the CLI's exit status."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from domogate import errors as e
from domogate.web import errors as web_errors
from tests.support.live import Live

ROOT = Path(__file__).resolve().parents[2]
API_MD = ROOT / "docs" / "api.md"
MESSAGES_JS = ROOT / "src" / "domogate" / "web" / "static" / "js" / "messages.js"

SENT = {code: cls for code, cls in e.ERRORS_BY_CODE.items() if cls.sent_by_server}


def _all_subclasses(cls: type[e.DomogateError]) -> list[type[e.DomogateError]]:
    found: list[type[e.DomogateError]] = []
    for sub in cls.__subclasses__():
        found += [sub, *_all_subclasses(sub)]
    return found


def _api_table() -> dict[str, int | None]:
    """``code → HTTP status`` (None for "—") from the table under ``| code | HTTP |``."""
    lines = API_MD.read_text("utf-8").splitlines()
    start = lines.index("| code | HTTP | meaning |")
    table: dict[str, int | None] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        codes_cell, status_cell = (cell.strip() for cell in line.strip("|").split("|")[:2])
        status = None if status_cell == "—" else int(status_cell)
        for code in re.findall(r"`([a-z_]+)`", codes_cell):
            assert code not in table, f"{code} twice in docs/api.md's table"
            table[code] = status
    return table


def _codes_with_a_message() -> set[str]:
    """The codes messages.js words itself: its sets of codes and its ``code === "…"``."""
    source = MESSAGES_JS.read_text("utf-8")
    codes = set(re.findall(r'code === "([a-z_]+)"', source))
    for body in re.findall(r"new Set\(\[(.*?)\]\)", source, flags=re.DOTALL):
        codes |= set(re.findall(r'"([a-z_]+)"', body))
    return codes


def test_every_error_class_is_registered_under_its_own_code_or_abstract() -> None:
    for cls in [e.DomogateError, *_all_subclasses(e.DomogateError)]:
        if cls.__module__ != e.__name__:
            continue
        if cls.abstract:
            assert cls.code not in e.ERRORS_BY_CODE or e.ERRORS_BY_CODE[cls.code] is not cls
        else:
            assert "code" in cls.__dict__, cls
            assert e.ERRORS_BY_CODE[cls.code] is cls
    assert len(set(e.ERRORS_BY_CODE.values())) == len(e.ERRORS_BY_CODE)


def test_no_two_classes_share_a_code() -> None:
    assert e.ERRORS_BY_CODE["unauthenticated"] is e.Unauthenticated
    assert e.AuthError.abstract and e.AuthError not in e.ERRORS_BY_CODE.values()
    with pytest.raises(TypeError, match="abstract"):
        e.AuthError()
    with pytest.raises(TypeError, match="already"):

        class Again(e.DomogateError):
            code = "otp_invalid"

    assert e.ERRORS_BY_CODE["otp_invalid"] is e.OtpInvalid
    with pytest.raises(TypeError, match=r"read|support"):
        e.ERRORS_BY_CODE["x"] = e.DomogateError  # type: ignore[index]


def test_a_subclass_without_a_code_of_its_own_inherits_and_does_not_register() -> None:
    class Narrower(e.OtpExpired):
        pass

    assert Narrower().code == "otp_expired"
    assert e.ERRORS_BY_CODE["otp_expired"] is e.OtpExpired
    assert web_errors.status_for(Narrower()) == 401


def test_the_codes_clients_see_are_kept() -> None:
    # docs/api.md and messages.js are contracts: these codes and class names stay.
    expected = {
        "internal_error": e.DomogateError,
        "invalid_input": e.InvalidInput,
        "project_invalid": e.ProjectInvalid,
        "key_invalid": e.ConfigKeyInvalid,
        "payload_too_large": e.PayloadTooLarge,
        "address_in_use": e.AddressInUse,
        "not_found": e.NotFound,
        "conflict": e.Conflict,
        "value_invalid": e.ValueInvalid,
        "command_stale": e.CommandStale,
        "publisher_key_missing": e.PublisherKeyMissing,
        "version_invalid": e.VersionInvalid,
        "version_wrong_installation": e.VersionWrongInstallation,
        "version_digest_mismatch": e.VersionDigestMismatch,
        "version_not_newer": e.VersionNotNewer,
        "import_failed": e.ImportFailed,
        "bus_unavailable": e.BusUnavailable,
        "unauthenticated": e.Unauthenticated,
        "invalid_credentials": e.InvalidCredentials,
        "otp_invalid": e.OtpInvalid,
        "otp_expired": e.OtpExpired,
        "otp_used": e.OtpUsed,
        "otp_disabled": e.OtpDisabled,
        "automatic_authentication_disabled": e.AutomaticAuthenticationDisabled,
        "signature_invalid": e.SignatureInvalid,
        "challenge_invalid": e.ChallengeInvalid,
        "revoked": e.Revoked,
        "account_expired": e.AccountExpired,
        "setup_code_invalid": e.SetupCodeInvalid,
        "path_not_allowed": e.PathNotAllowed,
        "auth_timeout": e.AuthTimeout,
        "forbidden": e.Forbidden,
        "rate_limited": e.RateLimited,
        "method_not_allowed": e.MethodNotAllowed,
        "origin_refused": e.OriginRefused,
        "cloud_claim_required": e.CloudClaimRequired,
        "cloud_taken": e.CloudTaken,
        "cloud_name_mismatch": e.CloudNameMismatch,
        "cloud_not_invited": e.CloudNotInvited,
        "cloud_password_invalid": e.CloudPasswordInvalid,
        "update_unavailable": e.UpdateUnavailable,
        "too_slow": e.TooSlow,
        "too_many_connections": e.TooManyConnections,
        "client_error": e.ClientError,
        "server_unreachable": e.ServerUnreachable,
        "certificate_mismatch": e.CertificateMismatch,
        "not_enrolled": e.NotEnrolled,
    }
    assert dict(e.ERRORS_BY_CODE) == expected


def test_docs_api_table_matches_the_registry() -> None:
    table = _api_table()
    for code, status in table.items():
        assert code in e.ERRORS_BY_CODE, f"docs/api.md lists {code}, no error has it"
        cls = e.ERRORS_BY_CODE[code]
        assert cls.http_status == status, (code, cls.http_status, status)
        assert cls.sent_by_server, code
    missing = sorted(set(SENT) - set(table))
    assert not missing, f"codes the server sends, missing from docs/api.md's table: {missing}"


def test_every_code_the_server_sends_has_a_message_in_the_web_client() -> None:
    missing = sorted(set(SENT) - _codes_with_a_message())
    assert not missing, f"codes without an entry in static/js/messages.js: {missing}"


def test_http_statuses_come_from_the_registry() -> None:
    assert web_errors.status_for(e.DomogateError()) == 500
    assert web_errors.status_for(e.RateLimited(3)) == 429
    assert web_errors.status_for(e.Unauthenticated()) == 401
    assert web_errors.status_for(e.Revoked()) == 403
    assert web_errors.status_for(e.TooSlow()) == 500  # never an HTTP answer
    assert web_errors.status_for(e.error_from_dict({"code": "from_the_future"})) == 500
    for code, cls in e.ERRORS_BY_CODE.items():
        assert web_errors.HTTP_STATUS.get(code) == cls.http_status


def test_websocket_close_codes_come_from_the_registry() -> None:
    assert {code: cls.ws_close for code, cls in e.ERRORS_BY_CODE.items()} == web_errors.WS_CLOSE
    assert {
        code: web_errors.WS_CLOSE[code]
        for code in (
            "invalid_input",
            "unauthenticated",
            "revoked",
            "account_expired",
            "forbidden",
            "auth_timeout",
            "too_slow",
            "too_many_connections",
        )
    } == {
        "invalid_input": 4400,
        "unauthenticated": 4401,
        "revoked": 4403,
        "account_expired": 4403,
        "forbidden": 4403,
        "auth_timeout": 4408,
        "too_slow": 4429,
        "too_many_connections": 1013,
    }
    # Every other refusal closes with 4401, as the live channel always did.
    assert web_errors.WS_CLOSE["otp_invalid"] == 4401
    assert web_errors.WS_CLOSE["rate_limited"] == 4401
    close_line = API_MD.read_text("utf-8").split("Close codes:", 1)[1].split("\n\n", 1)[0]
    for number in (4400, 4401, 4403, 4408, 4429):
        assert str(number) in close_line


def test_every_error_exits_the_cli_with_its_registered_status() -> None:
    assert {cls.exit_code for cls in e.ERRORS_BY_CODE.values()} == {1}


def test_errors_cross_the_wire_as_themselves() -> None:
    for code, cls in e.ERRORS_BY_CODE.items():
        sent = e.RateLimited(7) if cls is e.RateLimited else cls()
        back = e.error_from_dict(sent.to_dict())
        assert type(back) is cls and back.code == code and back.message == sent.message


async def test_wrong_method_is_method_not_allowed(live: Live) -> None:
    r = await live.http.get("/api/auth/password")
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "method_not_allowed"
