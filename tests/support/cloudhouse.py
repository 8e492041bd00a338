"""The demo house linked to a real cloud, for browser tests of the cloud path.

``CloudHouse.start(tmp_path)`` runs a real ``domogate cloud serve`` (zone ``home.test``)
and a real ``domogate server`` with the demo house deployed, its cloud enabled and
pinned; a :class:`Forwarder` on 127.0.0.2 stands for the house's Wi-Fi (the local path:
``cut()`` it to leave the house). The project's ``server.address``/``server.port`` name
that forwarder, so the server knows the page's local origin.

``chromium_args(house)`` are the flags a test browser needs: every ``*.home.test`` name
resolves to the relay on 127.0.0.1, and only this server's own key is accepted without a
CA (a person who accepted the self-signed certificate once; ``spki`` is its SHA-256).
"""

from __future__ import annotations

import base64
import copy
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.support.browser import House, house_project
from tests.support.cloudproc import CloudProcess
from tests.support.deploy_auth import deploy_headers
from tests.support.forwarder import Forwarder
from tests.support.pebble import Pebble
from tests.support.processes import ServerProcess, free_port, run_json
from tests.support.until import wait_for

ZONE = "home.test"
CLOUD_PASSWORD = "cloud-pass-7c2e-never-logged"
LOCAL_HOST = "127.0.0.2"  # the house's Wi-Fi: a forwarder in front of the server


@dataclass
class CloudHouse:
    cloud: CloudProcess
    house: House
    local: Forwarder
    name: str
    cloud_url: str = ""
    pebble: Pebble | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def server(self) -> ServerProcess:
        return self.house.server

    @property
    def local_url(self) -> str:
        """The local origin a page is loaded from (through the Wi-Fi forwarder)."""
        return f"https://{LOCAL_HOST}:{self.local.port}"

    @property
    def host(self) -> str:
        """The installation's cloud name, ``<name>.home.test``."""
        return f"{self.name}.{ZONE}"

    def info(self) -> dict[str, Any]:
        with self.server.http() as c:
            body: dict[str, Any] = c.get("/api/info").json()
            return body

    def redeploy(self, **system: Any) -> int:
        return self.house.redeploy(**system)

    def stop(self) -> None:
        self.local.stop()
        self.server.stop()
        self.cloud.stop()
        if self.pebble is not None:
            self.pebble.stop()

    def wait_certificate(self, timeout: float = 40) -> None:
        """Until the server says it holds the ACME certificate for its cloud name."""
        line = f"cloud certificate for {self.host} issued"
        wait_for(lambda: line in self.server.log(), "the ACME certificate", timeout)

    @classmethod
    def start(
        cls,
        tmp_path: Path,
        *,
        policy: str = "local_and_cloud",
        cloud_args: list[str] | None = None,
        server_args: list[str] | None = None,
        system: dict[str, Any] | None = None,
        acme: bool = False,
        publisher_key: str | None = None,
    ) -> CloudHouse:
        """``acme``: a real pebble as the cloud's ACME directory (its TLS-ALPN-01
        validations sent to the relay's port); the server trusts pebble's HTTPS for it.
        ``publisher_key``: pinned by the first deploy (published versions need one)."""
        cloud_args, server_args = list(cloud_args or []), list(server_args or [])
        cloud_port = free_port()
        pebble = None
        if acme:
            (tmp_path / "pebble").mkdir()
            pebble = Pebble(tmp_path / "pebble", tls_port=cloud_port).start()
            cloud_args += ["--acme-directory", pebble.directory]
            server_args += ["--acme-ca-bundle", str(pebble.ca_path)]
        cloud = CloudProcess(
            tmp_path / "cloud", cloud_port, tmp_path / "cloud.log",
            extra_args=["--zone", ZONE, *cloud_args],
        )  # fmt: skip
        server = ServerProcess(tmp_path / "data", free_port(), tmp_path / "server.log")
        server.extra_args = server_args
        local = Forwarder(("127.0.0.1", server.port), host=LOCAL_HOST).start()
        try:
            cloud.start()
            server.start()
            fingerprint = run_json("cloud", "info", "--data", str(cloud.data))["fingerprint"]
            data = house_project()
            data["server"] = {**data.get("server", {}), "address": LOCAL_HOST, "port": local.port}
            data["system"]["cloud"] = {
                "enabled": True,
                "address": f"127.0.0.1:{cloud.port}",
                "fingerprint": fingerprint,
                "password": CLOUD_PASSWORD,
                "connection_policy": policy,
            }
            data["system"].update(system or {})
            with server.http() as c:
                r = c.post(
                    "/api/deploy",
                    json={
                        "project": copy.deepcopy(data),
                        **({"publisher_key": publisher_key} if publisher_key else {}),
                    },
                    headers=deploy_headers(setup_code=server.setup_code()),
                )
            assert r.status_code == 200, r.text
            house = House(server, data)
            name = run_json("server", "cloud-name", "--json", "--data", str(server.data))["name"]
            ch = cls(cloud, house, local, name, pebble=pebble)
            ch.cloud_url = wait_for(lambda: ch.info()["paths"]["cloud"], "the cloud link", 15)
            return ch
        except BaseException:
            local.stop()
            server.stop()
            cloud.stop()
            if pebble is not None:
                pebble.stop()
            raise


def spki_of(cert_pem: bytes) -> str:
    """base64 SHA-256 of a certificate's public key, as Chromium's
    ``--ignore-certificate-errors-spki-list`` takes it."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    der = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def chromium_args(ch: CloudHouse, *, accept_own_certificate: bool = True) -> list[str]:
    """Flags for a test chromium: ``*.home.test`` → the relay on 127.0.0.1, and (unless
    told not to) this server's self-signed key accepted, as after a person's one "accept"."""
    args = [
        "--no-sandbox",
        f"--host-resolver-rules=MAP *.{ZONE} 127.0.0.1",
        "--disable-background-networking",
        "--disable-quic",
    ]
    if accept_own_certificate:
        args.append(f"--ignore-certificate-errors-spki-list={spki_of(ch.server.cert_pem)}")
    return args
