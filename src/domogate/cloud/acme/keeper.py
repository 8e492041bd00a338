"""The home server's ACME certificate for its cloud name: :class:`AcmeKeeper` implements
the services' :class:`~domogate.services.ports.CertificateKeeper` port, and its
:meth:`AcmeKeeper.choose` is the web server's ``relayed_tls`` (which certificate a
connection through the relay gets, from its ClientHello):

- ALPN offers ``acme-tls/1``, SNI is the cloud name, a validation is pending: the
  challenge certificate, negotiating ``acme-tls/1``, then closed (no HTTP);
- SNI is the cloud name, the client does not offer :data:`PINNED_ALPN` (domogate's own
  clients do), a certificate is held: the ACME certificate and its chain (ALPN
  ``http/1.1``: uvicorn speaks HTTP/1.1 only);
- anything else: None, the server's own (self-signed, pinned) certificate.

Planning (when to ask, backoff after failures) is ``core/acmeplan.py``; the ACME exchange
``issuer.py`` (in a worker thread: the ``acme`` package is synchronous); the files
``store.py``. A failure is logged (where and why, no key) and retried; whatever is held,
or the self-signed certificate, keeps being served meanwhile.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import random as _random
import ssl
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from domogate.cloud.acme.issuer import (
    ACME_TLS_ALPN,
    AcmeFailed,
    ChallengeBoard,
    Issued,
    obtain,
)
from domogate.cloud.acme.store import AcmeStore, HeldCertificate
from domogate.core.acmeplan import AcmePolicy, next_attempt, usable
from domogate.core.clienthello import PINNED_ALPN, Hello
from domogate.services.ports import (
    CERT_FAILED,
    CERT_OBTAINING,
    CERT_VALID,
    CertificateReport,
    CloudCertificate,
)
from domogate.web.connections.acceptor import TlsChoice

log = logging.getLogger("domogate.cloud.acme")

MAX_SLEEP_S = 3600.0  # plans are made again at least this often (clock jumps, suspend)

Obtain = Callable[..., Issued]


def server_context(cert_path: Path, key_path: Path, alpn: list[str]) -> ssl.SSLContext:
    """A TLS server context with the certificate (chain) and key at those paths."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert_path), str(key_path))
    context.set_alpn_protocols(alpn)
    return context


def _context_from_pem(
    folder: Path, cert_pem: bytes, key_pem: bytes, alpn: list[str]
) -> ssl.SSLContext:
    """``ssl`` loads certificates only from files: a private temporary pair in ``folder``,
    removed at once."""
    with tempfile.TemporaryDirectory(dir=folder, prefix=".challenge-") as tmp:
        cert_path, key_path = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
        for path, data in ((cert_path, cert_pem), (key_path, key_pem)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        return server_context(cert_path, key_path, alpn)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AcmeKeeper:
    """See the module's docstring. ``folder`` is ``DATA/acme``; ``ca_bundle`` extra CAs
    for the directory's own HTTPS (``domogate server --acme-ca-bundle``)."""

    def __init__(
        self,
        folder: Path,
        *,
        ca_bundle: Path | None = None,
        policy: AcmePolicy | None = None,
        clock: Callable[[], datetime] = _utcnow,
        random: Callable[[], float] | None = None,
        issue: Obtain = obtain,
        announce: Callable[[str], None] | None = None,
    ) -> None:
        self.store = AcmeStore(folder)
        self.ca_bundle = ca_bundle
        self.policy = policy or AcmePolicy()
        self._clock = clock
        self._random = random or _random.SystemRandom().random
        self._issue = issue
        self._announce = announce
        self.board = ChallengeBoard()
        self._task: asyncio.Task[None] | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._host: str | None = None
        self._held: HeldCertificate | None = None
        self._context: ssl.SSLContext | None = None
        self._challenge: tuple[bytes, ssl.SSLContext] | None = None

    # --- the port -------------------------------------------------------------------------

    def keep(self, host: str, directory: str, report: CertificateReport) -> None:
        self._cancel()
        self._host = host.lower()
        self._task = asyncio.get_running_loop().create_task(
            self._run(self._host, directory, report)
        )

    async def stop(self) -> None:
        task = self._cancel()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _cancel(self) -> asyncio.Task[None] | None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
        # The one worker thread stays: an order already running in it cannot be stopped,
        # and the next order queues behind it instead of running beside it.
        self._host = None
        self._held = None
        self._context = None
        return task

    # --- the web server's choice ----------------------------------------------------------

    def choose(self, hello: Hello) -> TlsChoice | None:
        host = self._host
        name = (hello.server_name or "").lower()
        if host is None or name != host:
            return None
        if ACME_TLS_ALPN in hello.alpn:
            context = self._challenge_context(host)
            return TlsChoice(context, handshake_only=True) if context is not None else None
        if PINNED_ALPN in hello.alpn or self._context is None:
            return None
        return TlsChoice(self._context)

    def _challenge_context(self, host: str) -> ssl.SSLContext | None:
        pending = self.board.get(host)
        if pending is None:
            return None
        cert_pem, key_pem = pending
        cached = self._challenge
        if cached is not None and cached[0] == cert_pem:
            return cached[1]
        context = _context_from_pem(self.store.folder, cert_pem, key_pem, [ACME_TLS_ALPN])
        self._challenge = (cert_pem, context)
        return context

    # --- the loop -------------------------------------------------------------------------

    async def _run(self, host: str, directory: str, report: CertificateReport) -> None:
        held = self.store.certificate(host, directory)
        if held is not None and usable(held.lifetime, host, self._clock()):
            self._serve(held)
            self._tell(
                f"cloud certificate for {host} kept from an earlier start: serial "
                f"{held.serial:x}, valid until {held.lifetime.not_after.isoformat()}"
            )
        failures = 0
        last_failure: datetime | None = None
        message: str | None = None
        while True:
            now = self._clock()
            current = self._held.lifetime if self._held is not None else None
            at = next_attempt(
                now=now,
                host=host,
                held=current,
                failures=failures,
                last_failure=last_failure,
                policy=self.policy,
                random=self._random,
            )
            report(self._state(host, message, failures))
            wait = (at - now).total_seconds()
            if wait > 0:
                await asyncio.sleep(min(wait, MAX_SLEEP_S))
                continue
            try:
                issued = await self._obtain(host, directory)
            except AcmeFailed as exc:
                failures += 1
                last_failure = self._clock()
                message = str(exc)
                serving = (
                    f"keeping the current certificate (valid until "
                    f"{self._held.lifetime.not_after.isoformat()})"
                    if self._held is not None
                    else "serving the self-signed certificate meanwhile"
                )
                log.warning(
                    "ACME: no certificate for %s from %s (attempt %d): %s; %s",
                    host,
                    directory,
                    failures,
                    message,
                    serving,
                )
                continue
            self.store.save_certificate(host, directory, issued.chain_pem, issued.key_pem)
            fresh = self.store.certificate(host, directory)
            if fresh is None:  # pragma: no cover - the files were just written
                raise RuntimeError("the new ACME certificate could not be read back")
            self._serve(fresh)
            failures, last_failure, message = 0, None, None
            self._tell(
                f"cloud certificate for {host} issued by {fresh.issuer} ({directory}): serial "
                f"{fresh.serial:x}, valid until {fresh.lifetime.not_after.isoformat()}"
            )

    async def _obtain(self, host: str, directory: str) -> Issued:
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="domogate-acme"
            )
        loop = asyncio.get_running_loop()
        key = self.store.account_key()

        def run() -> Issued:
            return self._issue(
                directory=directory,
                host=host,
                account_key=key,
                board=self.board,
                ca_bundle=self.ca_bundle,
            )

        try:
            return await loop.run_in_executor(self._executor, run)
        except AcmeFailed:
            raise
        except Exception as exc:  # an unexpected answer: logged and retried like others
            raise AcmeFailed(f"{type(exc).__name__}: {exc}") from exc

    def _tell(self, line: str) -> None:
        log.info("%s", line)
        if self._announce is not None:
            self._announce(line)

    def _serve(self, held: HeldCertificate) -> None:
        self._context = server_context(self.store.cert_path, self.store.key_path, ["http/1.1"])
        self._held = held

    def _state(self, host: str, message: str | None, failures: int) -> CloudCertificate:
        held = self._held
        if held is not None:
            return CloudCertificate(
                CERT_VALID,
                host=host,
                issuer=held.issuer,
                not_after=held.lifetime.not_after,
                message=message,
            )
        if failures:
            return CloudCertificate(CERT_FAILED, host=host, message=message)
        return CloudCertificate(CERT_OBTAINING, host=host)
