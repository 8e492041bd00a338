"""What a home server accepts in a cloud's welcome (``cloud/link.py``'s
``parse_welcome``): the house's cloud URL must be exactly ``https://<name>.<zone>[:port]``
— the server orders a certificate for that host and its page fails over to it."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from domogate.cloud.link import LinkFailed, parse_welcome

NAME = "k3x9qv2mpl4t8n7a"


def welcome(**changes: Any) -> dict[str, Any]:
    message = {
        "type": "welcome",
        "name": NAME,
        "url": f"https://{NAME}.cloud.test:7443",
        "relay": "127.0.0.1:7443",
        "pool_key": base64.urlsafe_b64encode(bytes(32)).decode().rstrip("="),
        "pool_size": 4,
    }
    message.update(changes)
    return message


def test_a_welcome_naming_the_house_is_taken() -> None:
    parsed = parse_welcome(welcome(), NAME)
    assert parsed.url == f"https://{NAME}.cloud.test:7443"


@pytest.mark.parametrize(
    "url",
    [
        "https://*.cloud.test",
        f"https://{NAME}.x.com; script-src *",
        "https://another.cloud.test",
        f"https://{NAME}.cloud.test/evil",
        f"http://{NAME}.cloud.test",
    ],
)
def test_a_welcome_naming_another_url_is_refused(url: str) -> None:
    with pytest.raises(LinkFailed) as refused:
        parse_welcome(welcome(url=url), NAME)
    assert refused.value.code == "cloud_protocol"
