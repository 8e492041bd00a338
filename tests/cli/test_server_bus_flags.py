"""`domogate server --bus knx …`: the KNX settings are checked before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.processes import run

from domogate.cli.server_cmd import knx_settings
from domogate.errors import InvalidInput


def test_gateway_host_and_port_are_read() -> None:
    s = knx_settings("tunneling", "192.168.1.20:3700", "127.0.0.1", "1.1.250", None)
    assert (s.gateway_host, s.gateway_port, s.local_ip) == ("192.168.1.20", 3700, "127.0.0.1")
    assert s.individual_address == "1.1.250" and s.keyring_password is None
    assert knx_settings("tunneling", "knx.local", None, None, None).gateway_port == 3671


@pytest.mark.parametrize(
    ("connection", "gateway", "message"),
    [
        ("tunneling", None, "needs --knx-gateway"),
        ("tunneling_tcp_secure", None, "needs --knx-gateway"),
        ("tunneling", "10.0.0.1:0", "bad port"),
        ("tunneling", "10.0.0.1:http", "bad port"),
        ("carrier-pigeon", "10.0.0.1", "must be one of"),
    ],
)
def test_bad_knx_settings_are_refused_with_what_to_do(
    connection: str, gateway: str | None, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        knx_settings(connection, gateway, None, None, None)


def test_a_keyring_needs_a_file_and_its_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyring = tmp_path / "house.knxkeys"
    with pytest.raises(InvalidInput, match="no such file"):
        knx_settings("tunneling_tcp", "10.0.0.1", None, None, keyring)
    keyring.write_text("<Keyring/>")
    monkeypatch.delenv("DOMOGATE_KNX_KEYRING_PASSWORD", raising=False)
    with pytest.raises(InvalidInput, match="DOMOGATE_KNX_KEYRING_PASSWORD"):
        knx_settings("tunneling_tcp", "10.0.0.1", None, None, keyring)
    monkeypatch.setenv("DOMOGATE_KNX_KEYRING_PASSWORD", "secret")
    assert knx_settings("tunneling_tcp", "10.0.0.1", None, None, keyring).keyring_password == (
        "secret"
    )


def test_the_server_refuses_to_start_without_a_gateway(tmp_path: Path) -> None:
    proc = run("server", "--bus", "knx", "--data", str(tmp_path / "d"), check=False)
    assert proc.returncode == 1
    assert "error: invalid_input: --bus knx with --knx-connection tunneling" in proc.stderr
    assert not (tmp_path / "d").exists()  # refused before the data folder is made
