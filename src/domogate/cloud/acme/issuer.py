"""Asking an ACME directory for a certificate for the cloud name, with the TLS-ALPN-01
challenge (RFC 8737): the ``acme`` package (certbot's; JWS, nonces, polling), synchronous
(``requests``), so the keeper runs :func:`obtain` in a thread.

The challenge is answered by this server itself: :func:`obtain` hands the challenge
certificate to a :class:`ChallengeBoard` before telling the directory to validate; the
directory dials ``NAME.ZONE:443`` (the relay), the relay routes the ClientHello by its SNI
to this server, and the acceptor picks the board's certificate for a hello that offers
``acme-tls/1`` for that name (``cloud/acme/choice.py``).
"""

from __future__ import annotations

import datetime
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from acme import challenges, client, crypto_util, errors, messages
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier
from josepy.errors import Error as JoseError
from josepy.jwa import ES256
from josepy.jwk import JWK, JWKEC

ACME_TLS_ALPN = "acme-tls/1"
ID_PE_ACME_IDENTIFIER = ObjectIdentifier("1.3.6.1.5.5.7.1.31")  # RFC 8737 §3
TLS_ALPN_01 = "tls-alpn-01"
NETWORK_TIMEOUT_S = 20
VALIDATION_DEADLINE_S = 60.0


class TLSALPN01Response(challenges.KeyAuthorizationChallengeResponse):
    """The answer to a TLS-ALPN-01 challenge (an empty object on the wire)."""

    typ = TLS_ALPN_01


class TLSALPN01(challenges.KeyAuthorizationChallenge):
    """The TLS-ALPN-01 challenge (newer ``acme`` releases no longer ship it)."""

    response_cls = TLSALPN01Response
    typ = TLS_ALPN_01

    def validation(self, account_key: JWK, **kwargs: Any) -> Any:
        return self.key_authorization(account_key)


if TLS_ALPN_01 not in challenges.Challenge.TYPES:
    challenges.Challenge.register(TLSALPN01)
if TLS_ALPN_01 not in challenges.ChallengeResponse.TYPES:
    challenges.ChallengeResponse.register(TLSALPN01Response)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def challenge_certificate(host: str, key_authorization: str) -> tuple[bytes, bytes]:
    """The self-signed certificate of RFC 8737 §3 for ``host`` (PEM cert, PEM key): its
    only name is ``host``, and its critical acmeIdentifier extension holds the SHA-256 of
    the key authorization."""
    key = ec.generate_private_key(ec.SECP256R1())
    digest = hashlib.sha256(key_authorization.encode("ascii")).digest()
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ACME challenge")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(
            x509.UnrecognizedExtension(ID_PE_ACME_IDENTIFIER, b"\x04\x20" + digest),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)


class ChallengeBoard:
    """The challenge certificates to present while a validation is pending, by host name;
    written from the issuing thread, read on the event loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[bytes, bytes]] = {}
        self.on_change: Callable[[], None] | None = None

    def post(self, host: str, cert_pem: bytes, key_pem: bytes) -> None:
        with self._lock:
            self._pending[host.lower()] = (cert_pem, key_pem)
        if self.on_change is not None:
            self.on_change()

    def remove(self, host: str, cert_pem: bytes | None = None) -> None:
        """Forget ``host``'s challenge; with ``cert_pem``, only if it is still that one
        (an order that ends never takes a later order's challenge away)."""
        with self._lock:
            current = self._pending.get(host.lower())
            if current is None or (cert_pem is not None and current[0] != cert_pem):
                return
            del self._pending[host.lower()]
        if self.on_change is not None:
            self.on_change()

    def get(self, host: str) -> tuple[bytes, bytes] | None:
        with self._lock:
            return self._pending.get(host.lower())


@dataclass(frozen=True)
class Issued:
    chain_pem: bytes  # leaf first
    key_pem: bytes


class AcmeFailed(Exception):
    """Obtaining the certificate failed; the message says where and why (no secrets)."""


def obtain(
    *,
    directory: str,
    host: str,
    account_key: ec.EllipticCurvePrivateKey,
    board: ChallengeBoard,
    ca_bundle: Path | None = None,
    deadline_s: float = VALIDATION_DEADLINE_S,
) -> Issued:
    """A new certificate for ``host`` from the ACME directory at ``directory`` (blocking:
    run it in a thread). ``ca_bundle``: a PEM file of extra CAs trusted for the
    directory's own HTTPS (``domogate server --acme-ca-bundle``); otherwise the system's."""
    jwk = JWKEC(key=account_key)
    # requests takes a CA bundle's path where the acme package types a bool.
    verify = cast(bool, str(ca_bundle)) if ca_bundle is not None else True
    net = client.ClientNetwork(
        jwk, alg=ES256, verify_ssl=verify, user_agent="domogate", timeout=NETWORK_TIMEOUT_S
    )
    try:
        acme = client.ClientV2(client.ClientV2.get_directory(directory, net), net)
        registration = messages.NewRegistration.from_data(terms_of_service_agreed=True)
        try:
            acme.new_account(registration)
        except errors.ConflictError as exists:  # this key has an account there already
            net.account = messages.RegistrationResource(
                uri=exists.location, body=messages.Registration()
            )
        key = ec.generate_private_key(ec.SECP256R1())
        key_pem = _pem_key(key)
        order = acme.new_order(crypto_util.make_csr(key_pem, [host]))
        posted = False
        try:
            for authz in order.authorizations:
                if authz.body.status == messages.STATUS_VALID:
                    continue
                challenge = _tls_alpn_challenge(authz)
                chall = cast(TLSALPN01, challenge.chall)
                cert_pem, cert_key = challenge_certificate(host, chall.key_authorization(jwk))
                board.post(host, cert_pem, cert_key)
                posted = True
                acme.answer_challenge(challenge, chall.response(jwk))
            deadline = datetime.datetime.now() + datetime.timedelta(seconds=deadline_s)
            order = acme.poll_and_finalize(order, deadline)
        finally:
            if posted:
                board.remove(host, cert_pem)
    except AcmeFailed:
        raise
    except errors.ValidationError as exc:
        raise AcmeFailed(f"the directory could not validate {host}: {_problems(exc)}") from exc
    except (errors.Error, messages.Error, JoseError) as exc:
        raise AcmeFailed(f"{type(exc).__name__}: {exc}") from exc
    except OSError as exc:  # requests' errors are OSErrors (ConnectionError, SSLError)
        raise AcmeFailed(f"cannot reach the ACME directory: {exc}") from exc
    if not order.fullchain_pem:
        raise AcmeFailed("the directory finalised the order without a certificate")
    return Issued(order.fullchain_pem.encode("ascii"), key_pem)


def _tls_alpn_challenge(authz: messages.AuthorizationResource) -> messages.ChallengeBody:
    for challenge in authz.body.challenges:
        if isinstance(challenge.chall, challenges.KeyAuthorizationChallenge) and (
            challenge.chall.typ == TLS_ALPN_01
        ):
            return challenge
    offered = ", ".join(str(c.chall.typ) for c in authz.body.challenges) or "none"
    raise AcmeFailed(f"the directory offers no {TLS_ALPN_01} challenge (offered: {offered})")


def _problems(exc: errors.ValidationError) -> str:
    found = []
    for authzr in exc.failed_authzrs:
        for challenge in authzr.body.challenges:
            if challenge.error is not None:
                found.append(str(challenge.error))
    return "; ".join(found) or "no detail given"
