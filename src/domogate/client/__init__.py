"""The Python client of a domogate server: config folder, pinning, HTTP API, live channel."""

from domogate.client.api import ServerApi
from domogate.client.config import ClientConfig, resolve_config_dir
from domogate.client.enrolment import enrol
from domogate.client.live import LiveConnection
from domogate.client.pinning import fetch_certificate, fingerprint, pinned_ssl_context
from domogate.client.session import SignedIn, sign_in

__all__ = [
    "ClientConfig",
    "LiveConnection",
    "ServerApi",
    "SignedIn",
    "enrol",
    "fetch_certificate",
    "fingerprint",
    "pinned_ssl_context",
    "resolve_config_dir",
    "sign_in",
]
