"""Join links opened outside the house, end to end: a real cloud, a real server linked to
it with the policy ``local_and_cloud``, the admin's CLI on the local path through a
:class:`~tests.support.forwarder.Forwarder` (the house's LAN). A user allowed on the cloud
gets a cloud-form link (origin: the cloud URL, ``l=`` the local URL); ``domogate connect``
uses its local path at home, and the relay with the local path cut (the forwarder
stopped: away from home). A local-only user's link stays local.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import zxingcpp
from PIL import Image

from domogate.client.config import ClientConfig
from domogate.core import joinlink
from domogate.storage.projectfile.keys import set_key
from tests.support.cloudproc import CloudProcess
from tests.support.forwarder import Forwarder
from tests.support.linked import enable_cloud, info, wait_linked
from tests.support.processes import ServerProcess, deploy_first, free_port, new_project, run

pytestmark = pytest.mark.slow


class House:
    def __init__(self, server: ServerProcess, lan: Forwarder, admin: Path, tmp: Path) -> None:
        self.server, self.lan, self.admin, self.tmp = server, lan, admin, tmp
        linked = info(server)
        self.cloud_url, self.relay = str(linked["paths"]["cloud"]), str(linked["cloud_relay"])

    @property
    def lan_url(self) -> str:
        return f"https://{self.lan.address}"

    def add(self, *paths: str, qr: Path | None = None) -> str:
        args = ["clients", "add", "--group", "family", "--json", "--config", str(self.admin)]
        for p in paths:
            args += ["--allow", p]
        if qr is not None:
            args += ["--qr-png", str(qr)]
        return str(json.loads(run(*args).stdout)["join_link"])

    def connect(self, link: str, name: str) -> subprocess.CompletedProcess[str]:
        config = self.tmp / name.lower()
        return run("connect", link, "--name", name, "--json", "--config", str(config), check=False)


@pytest.fixture(scope="module")
def house(tmp_path_factory: pytest.TempPathFactory) -> Iterator[House]:
    tmp = tmp_path_factory.mktemp("away")
    cloud = CloudProcess(tmp / "cloud", free_port(), tmp / "cloud.log")
    server = ServerProcess(tmp / "data", free_port(), tmp / "server.log")
    lan: Forwarder | None = None
    try:
        cloud.start()
        server.start()
        project = new_project(tmp)
        enable_cloud(project, cloud)
        set_key(project, "system.cloud.connection_policy", "local_and_cloud")
        deploy_first(project, server)
        wait_linked(server)
        lan = Forwarder(("127.0.0.1", server.port), "127.0.0.2").start()
        admin = tmp / "alice"
        run(
            "connect", f"https://{lan.address}", "--username", "alice", "--password-stdin",
            "--fingerprint", server.fingerprint, "--config", str(admin),
            stdin="alice-password\n",
        )  # fmt: skip
        yield House(server, lan, admin, tmp)
    finally:
        if lan is not None:
            lan.stop()
        server.stop()
        cloud.stop()


def _fragment(link: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(link).fragment))


def _result(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def test_a_cloud_user_joins_at_home_and_away_and_a_local_user_stays_local(house: House) -> None:
    cloud_url, relay = house.cloud_url, house.relay
    png = house.tmp / "carol.png"
    at_home = house.add("local", "cloud", qr=png)
    away = house.add("local", "cloud")
    local_only = house.add("local")

    # The cloud form: its origin is the cloud URL, c= the same, l= the LAN URL the admin
    # used; the QR code holds exactly that link.
    for link in (at_home, away):
        assert link.startswith(cloud_url + "/join#"), link
        fields = _fragment(link)
        assert fields["c"] == cloud_url and fields["r"] == relay
        assert fields["l"] == house.lan_url
        assert joinlink.parse(link).base_url == house.lan_url
    assert [b.text for b in zxingcpp.read_barcodes(Image.open(png))] == [at_home]
    # A local-only user: the local form, nothing of the cloud.
    assert local_only.startswith(house.lan_url + "/join#")
    assert not {"c", "r", "l"} & set(_fragment(local_only))

    # At home, the cloud-form link works on the local path.
    carol = _result(house.connect(at_home, "Carol"))
    assert carol["path"] == "local" and carol["server"]["url"] == house.lan_url
    assert carol["server"]["cloud_url"] == cloud_url

    # Away: the LAN swallows packets (a black hole, as on another network); the same kind
    # of link goes through the relay, pinned to the same certificate, without waiting
    # for the local attempt's timeout (10 s): the cloud starts 250 ms after local
    house.lan.cut()
    started = time.monotonic()
    dave = _result(house.connect(away, "Dave"))
    assert time.monotonic() - started < 7, "waited for the black-holed local path"
    assert dave["path"] == "cloud" and dave["via"] == "cloud"
    saved = ClientConfig.load(house.tmp / "dave").server
    assert saved.url == house.lan_url  # the local path stays recorded, for when home
    assert (saved.cloud_url, saved.cloud_relay) == (cloud_url, relay)
    assert saved.fingerprint == house.server.fingerprint

    # The local-only link has no other way in (the LAN now refuses connections).
    house.lan.stop()
    refused = house.connect(local_only, "Erin")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert json.loads(refused.stdout)["error"]["code"] == "server_unreachable"
