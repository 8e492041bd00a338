"""The CLI's config folder and certificate pinning, against a real local TLS server.

No domogate server here: the TLS peer is a tiny thread that records every byte it
decrypts and answers one canned HTTP response, so that the tests can prove that a wrong
pin stops the client before any request byte reaches the server.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import socket
import ssl
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from domogate.cli import client_cmd
from domogate.client import config as config_mod
from domogate.client.api import ServerApi, error_from_response, websocket_url
from domogate.client.config import ClientConfig, Identity, ServerEntry, resolve_config_dir
from domogate.client.enrolment import pin_server
from domogate.client.live import LiveConnection
from domogate.client.pinning import (
    check_pin,
    colon_form,
    fetch_certificate,
    fingerprint,
    normalise_fingerprint,
    pinned_ssl_context,
)
from domogate.core import devicekeys
from domogate.errors import (
    CertificateMismatch,
    ClientError,
    DomogateError,
    InvalidInput,
    NotEnrolled,
    OtpExpired,
    RateLimited,
    ServerUnreachable,
)

# --- certificates ---------------------------------------------------------------------------


def _self_signed_fallback() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "domogate")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def make_cert() -> tuple[bytes, bytes]:
    """A self-signed ECDSA P-256 server certificate like the server's (cert, key) PEM."""
    try:
        from domogate.security.tls import generate_self_signed
    except ImportError:  # pragma: no cover - while the server side is not there
        return _self_signed_fallback()
    try:
        return generate_self_signed(["127.0.0.1", "localhost"], now=dt.datetime.now(dt.UTC))
    except TypeError:  # pragma: no cover - signature changed
        return _self_signed_fallback()


@pytest.fixture(scope="module")
def server_cert() -> tuple[bytes, bytes]:
    return make_cert()


@pytest.fixture(scope="module")
def other_cert() -> tuple[bytes, bytes]:
    return make_cert()


# --- a recording TLS peer -------------------------------------------------------------------

INFO_BODY = {"server_id": "srv-1", "name": "Maison", "version": None, "api": 1}


class RecordingTlsServer:
    """Accepts TLS on 127.0.0.1; records decrypted bytes; answers one HTTP response."""

    def __init__(self, cert_pem: bytes, key_pem: bytes, tmp: Path) -> None:
        (tmp / "srv-cert.pem").write_bytes(cert_pem)
        (tmp / "srv-key.pem").write_bytes(key_pem)
        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ctx.load_cert_chain(tmp / "srv-cert.pem", tmp / "srv-key.pem")
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self.received = bytearray()
        self.tcp_connections = 0
        self.handshakes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.tcp_connections += 1
            with raw:
                raw.settimeout(3)
                try:
                    with self._ctx.wrap_socket(raw, server_side=True) as tls:
                        self.handshakes += 1
                        self._answer(tls)
                except (ssl.SSLError, OSError):
                    continue

    def _answer(self, tls: ssl.SSLSocket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = tls.recv(65536)
            if not chunk:
                break
            data += chunk
            self.received += chunk
        if not data.startswith(b"GET "):
            return
        body = json.dumps(INFO_BODY).encode()
        tls.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )


@pytest.fixture
def tls_server(server_cert: tuple[bytes, bytes], tmp_path: Path) -> Iterator[RecordingTlsServer]:
    server = RecordingTlsServer(*server_cert, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- config folder --------------------------------------------------------------------------


def _config(directory: Path, cert_pem: bytes | None) -> ClientConfig:
    return ClientConfig(
        directory=directory,
        server=ServerEntry(
            url="https://127.0.0.1:7550",
            server_id="srv-1",
            name="Maison",
            fingerprint=None if cert_pem is None else fingerprint(cert_pem),
        ),
        device=Identity(id="dev-1", name="alice@box (cli)"),
        user=Identity(id="usr-1", name="alice"),
        private_key=devicekeys.generate_private_key(),
        server_cert_pem=cert_pem,
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_config_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOMOGATE_CONFIG", str(tmp_path / "from-env"))
    assert resolve_config_dir(tmp_path / "explicit") == tmp_path / "explicit"
    assert resolve_config_dir(None) == tmp_path / "from-env"
    monkeypatch.delenv("DOMOGATE_CONFIG")
    default = resolve_config_dir(None)
    assert default.name == "domogate"


def test_save_and_load_round_trip_with_private_modes(
    tmp_path: Path, server_cert: tuple[bytes, bytes]
) -> None:
    folder = tmp_path / "nested" / "cfg"
    cfg = _config(folder, server_cert[0])
    old_umask = os.umask(0)  # the modes must not depend on the umask
    try:
        cfg.save()
    finally:
        os.umask(old_umask)
    assert _mode(folder) == 0o700
    for name in (".lock", "config.json", "device-key-dev-1.pem", "server-cert-dev-1.pem"):
        assert _mode(folder / name) == 0o600, name
    assert sorted(p.name for p in folder.iterdir()) == [
        ".lock",
        "config.json",
        "device-key-dev-1.pem",
        "server-cert-dev-1.pem",
    ]
    data = json.loads((folder / "config.json").read_text())
    assert data == {
        "server": {
            "url": "https://127.0.0.1:7550",
            "server_id": "srv-1",
            "name": "Maison",
            "fingerprint": fingerprint(server_cert[0]),
            "insecure_http": False,
            "cloud": None,
            "connection_policy": "local",
            "automatic_connection": True,
        },
        "device": {"id": "dev-1", "name": "alice@box (cli)"},
        "user": {"id": "usr-1", "name": "alice"},
        "files": {"device_key": "device-key-dev-1.pem", "server_cert": "server-cert-dev-1.pem"},
        "settings": {"back_to_local_probe_s": 10.0},
    }
    assert (folder / "device-key-dev-1.pem").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")

    loaded = ClientConfig.load(folder)
    assert loaded.server == cfg.server
    assert loaded.device == cfg.device
    assert loaded.user == cfg.user
    assert loaded.server_cert_pem == server_cert[0]
    assert devicekeys.public_key_of(loaded.private_key) == devicekeys.public_key_of(cfg.private_key)


def test_existing_folder_is_tightened_to_0700(tmp_path: Path) -> None:
    folder = tmp_path / "cfg"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)  # noqa: S103 - the point of the test
    _config(folder, None).save()
    assert _mode(folder) == 0o700


def test_plain_http_config_has_no_certificate(
    tmp_path: Path, server_cert: tuple[bytes, bytes]
) -> None:
    _config(tmp_path, server_cert[0]).save()
    cfg = _config(tmp_path, None)
    cfg.save()  # a stale pinned certificate is removed
    assert not (tmp_path / "server-cert-dev-1.pem").exists()
    loaded = ClientConfig.load(tmp_path)
    assert loaded.server.fingerprint is None
    assert loaded.server_cert_pem is None


def test_save_is_atomic_when_the_rename_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server_cert: tuple[bytes, bytes]
) -> None:
    first = _config(tmp_path, server_cert[0])
    first.save()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        _config(tmp_path, server_cert[0]).save()
    monkeypatch.undo()
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == before  # old files intact, no temporary file left behind
    assert ClientConfig.load(tmp_path).device == first.device


def test_files_are_private_from_their_first_byte(
    tmp_path: Path, server_cert: tuple[bytes, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not only at the end: every byte of the config folder is written to a 0600 file."""
    from domogate import files as files_mod

    modes: list[int] = []

    class WatchedOs:
        def __getattr__(self, name: str) -> Any:
            return getattr(os, name)

        @staticmethod
        def write(fd: int, data: Any) -> int:
            modes.append(stat.S_IMODE(os.fstat(fd).st_mode))
            return os.write(fd, data)

    monkeypatch.setattr(files_mod, "os", WatchedOs())
    old_umask = os.umask(0o022)  # a usual umask: a file opened 0644 would show
    try:
        _config(tmp_path / "cfg", server_cert[0]).save()
    finally:
        os.umask(old_umask)
    assert len(modes) >= 3  # config.json, the device key, the server certificate
    assert set(modes) == {0o600}, [oct(m) for m in modes]


def test_write_private_file_replaces_content(tmp_path: Path) -> None:
    target = tmp_path / "f"
    config_mod.write_private_file(target, b"one")
    config_mod.write_private_file(target, b"two")
    assert target.read_bytes() == b"two"
    assert _mode(target) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_load_without_enrolment_is_not_enrolled(tmp_path: Path) -> None:
    with pytest.raises(NotEnrolled) as info:
        ClientConfig.load(tmp_path / "nothing-here")
    assert "domogate connect" in info.value.message
    assert info.value.code == "not_enrolled"


def test_load_without_key_is_not_enrolled(tmp_path: Path) -> None:
    _config(tmp_path, None).save()
    (tmp_path / "device-key-dev-1.pem").unlink()
    with pytest.raises(NotEnrolled):
        ClientConfig.load(tmp_path)


def test_damaged_config_is_a_clear_error(tmp_path: Path) -> None:
    _config(tmp_path, None).save()
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ClientError, match="damaged"):
        ClientConfig.load(tmp_path)


def test_certificate_not_matching_the_stored_pin_is_refused(
    tmp_path: Path, server_cert: tuple[bytes, bytes], other_cert: tuple[bytes, bytes]
) -> None:
    _config(tmp_path, server_cert[0]).save()
    (tmp_path / "server-cert-dev-1.pem").write_bytes(other_cert[0])
    with pytest.raises(ClientError, match="does not match"):
        ClientConfig.load(tmp_path)


# --- fingerprints ---------------------------------------------------------------------------


def test_fingerprint_is_sha256_of_der(server_cert: tuple[bytes, bytes]) -> None:
    import hashlib

    der = ssl.PEM_cert_to_DER_cert(server_cert[0].decode())
    assert fingerprint(server_cert[0]) == hashlib.sha256(der).hexdigest()


def test_fingerprints_typed_in_any_form() -> None:
    fp = "ab" * 32
    assert normalise_fingerprint(fp) == fp
    assert normalise_fingerprint(colon_form(fp)) == fp
    assert colon_form(fp) == ":".join(["AB"] * 32)
    assert normalise_fingerprint("  SHA256:" + ("AB " * 32)) == fp
    with pytest.raises(InvalidInput):
        normalise_fingerprint("ab" * 31)
    with pytest.raises(InvalidInput):
        normalise_fingerprint("zz" * 32)


def test_check_pin(server_cert: tuple[bytes, bytes], other_cert: tuple[bytes, bytes]) -> None:
    pem = server_cert[0]
    assert check_pin(pem, colon_form(fingerprint(pem))) == fingerprint(pem)
    with pytest.raises(CertificateMismatch) as info:
        check_pin(pem, fingerprint(other_cert[0]))
    assert info.value.details["actual"] == fingerprint(pem)


# --- pinning against a real TLS server ------------------------------------------------------


def test_fetch_certificate_reads_the_certificate_and_sends_no_request(
    tls_server: RecordingTlsServer, server_cert: tuple[bytes, bytes]
) -> None:
    pem = fetch_certificate("127.0.0.1", tls_server.port, 5)
    assert fingerprint(pem) == fingerprint(server_cert[0])
    tls_server.stop()
    assert tls_server.handshakes == 1
    assert bytes(tls_server.received) == b""


def test_fetch_certificate_unreachable() -> None:
    port = _closed_port()
    with pytest.raises(ServerUnreachable, match=f"127.0.0.1:{port}"):
        fetch_certificate("127.0.0.1", port, 2)


async def test_right_pin_connects(
    tls_server: RecordingTlsServer, server_cert: tuple[bytes, bytes]
) -> None:
    async with ServerApi(tls_server.url, cert_pem=server_cert[0]) as api:
        info = await api.info()
    assert info == INFO_BODY
    assert bytes(tls_server.received).startswith(b"GET /api/info HTTP/1.1\r\n")


async def test_wrong_pin_fails_before_any_request_byte(
    tls_server: RecordingTlsServer, other_cert: tuple[bytes, bytes]
) -> None:
    async with ServerApi(tls_server.url, cert_pem=other_cert[0]) as api:
        with pytest.raises(CertificateMismatch):
            await api.info()
    tls_server.stop()
    assert tls_server.tcp_connections >= 1  # it did try to connect …
    assert bytes(tls_server.received) == b""  # … and sent nothing


async def test_wrong_pin_on_the_live_channel(
    tls_server: RecordingTlsServer, other_cert: tuple[bytes, bytes]
) -> None:
    conn = LiveConnection(
        websocket_url(tls_server.url),
        "secret-token",
        ssl_context=pinned_ssl_context(other_cert[0]),
    )
    with pytest.raises(CertificateMismatch):
        await conn.connect()
    await conn.close()
    tls_server.stop()
    assert tls_server.tcp_connections >= 1
    assert bytes(tls_server.received) == b""


async def test_pin_server_checks_the_fetched_certificate(
    tls_server: RecordingTlsServer,
    server_cert: tuple[bytes, bytes],
    other_cert: tuple[bytes, bytes],
) -> None:
    pem, fp = await pin_server(tls_server.url, pin=colon_form(fingerprint(server_cert[0])))
    assert pem is not None and fp == fingerprint(server_cert[0])
    with pytest.raises(CertificateMismatch):
        await pin_server(tls_server.url, pin=fingerprint(other_cert[0]))
    with pytest.raises(InvalidInput, match="--fingerprint") as info:
        await pin_server(tls_server.url, pin=None, confirm=None)
    # Never the presented fingerprint (TOFU): where to read the real one instead.
    actual = fingerprint(server_cert[0])
    assert "fingerprint" not in info.value.details
    assert actual not in info.value.message
    assert colon_form(actual) not in info.value.message
    assert "domogate server info --data DIR" in info.value.message
    seen: list[str] = []

    def refuse(url: str, fp_colons: str) -> bool:
        seen.append(fp_colons)
        return False

    with pytest.raises(ClientError, match="not confirmed"):
        await pin_server(tls_server.url, pin=None, confirm=refuse)
    assert seen == [colon_form(fingerprint(server_cert[0]))]
    tls_server.stop()
    assert bytes(tls_server.received) == b""


async def test_pin_server_plain_http_has_nothing_to_pin() -> None:
    assert await pin_server("http://127.0.0.1:1", pin=None) == (None, None)
    with pytest.raises(InvalidInput, match="plain HTTP"):
        await pin_server("http://127.0.0.1:1", pin="ab" * 32)


async def test_unreachable_server_names_the_url() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    async with ServerApi(url, cert_pem=None, timeout=2) as api:
        with pytest.raises(ServerUnreachable, match=url):
            await api.info()


def test_connect_with_a_wrong_fingerprint_writes_no_config(
    tls_server: RecordingTlsServer, other_cert: tuple[bytes, bytes], tmp_path: Path
) -> None:
    import typer

    app = typer.Typer()
    client_cmd.register(app)
    folder = tmp_path / "cfg"
    link = f"{tls_server.url}/join#v=1&s=srv-1&fp={fingerprint(other_cert[0])}&otp=ACDEF-GHJKL"
    result = CliRunner().invoke(
        app, ["connect", link, "--name", "Alice", "--config", str(folder), "--json"]
    )
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["error"]["code"] == "certificate_mismatch"
    assert not folder.exists()
    tls_server.stop()
    assert bytes(tls_server.received) == b""


# --- error mapping of HTTP answers ----------------------------------------------------------


def _response(status: int, **kwargs: object) -> httpx.Response:
    request = httpx.Request("POST", "https://127.0.0.1:7550/api/auth/otp")
    return httpx.Response(status, request=request, **kwargs)  # type: ignore[arg-type]


def test_server_errors_become_domogate_errors() -> None:
    err = error_from_response(
        _response(401, json={"error": {"code": "otp_expired", "message": "Expired."}})
    )
    assert isinstance(err, OtpExpired) and err.message == "Expired."

    limited = error_from_response(
        _response(
            429,
            headers={"Retry-After": "7"},
            json={"error": {"code": "rate_limited", "message": "Slow down."}},
        )
    )
    assert isinstance(limited, RateLimited) and limited.retry_after == 7

    other = error_from_response(_response(502, text="<html>Bad gateway</html>"))
    assert type(other) is DomogateError
    assert other.details["status"] == 502
    assert "502" in other.message


async def test_error_answers_are_raised_by_the_api() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == "Bearer tok"
        assert request.url.raw_path == b"/api/clients/a%2Fb/otp"
        return httpx.Response(403, json={"error": {"code": "forbidden", "message": "Admins only."}})

    async with ServerApi(
        "https://127.0.0.1:7550/",
        cert_pem=None,
        token="tok",
        transport=httpx.MockTransport(handler),
    ) as api:
        with pytest.raises(DomogateError) as info:
            await api.issue_otp("a/b")
    assert info.value.code == "forbidden"


def test_websocket_urls() -> None:
    assert websocket_url("https://h:7550/") == "wss://h:7550/api/ws"
    assert websocket_url("http://h:7550") == "ws://h:7550/api/ws"
    with pytest.raises(InvalidInput):
        websocket_url("ftp://h")


def test_an_https_server_without_a_pin_is_refused_never_the_system_cas() -> None:
    """Defence in depth: no enrolment (or any call) trusts the system's CA store."""
    with pytest.raises(InvalidInput, match="No pinned certificate"):
        ServerApi("https://127.0.0.1:7550", cert_pem=None)
