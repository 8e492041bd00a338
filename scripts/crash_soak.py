#!/usr/bin/env python3
"""Crash soak: SIGKILL a real `domogate server` while it works, and check that nothing is lost.

The script sets up a project and a real server on 127.0.0.1 (in a temporary work folder),
then, for each kill and with a seeded random generator:

1. launches a mix of concurrent operations, each at a random offset: deploys (the
   `domogate deploy` CLI; sometimes two at once), OTP redemptions (`POST /api/auth/otp`
   with fresh device keys; sometimes several on the same OTP), password enrolments
   (`POST /api/auth/password`), and admins adding clients (`POST /api/clients`);
   some server runs pause inside the deploy transaction ($DOMOGATE_FAULT_DEPLOY_PAUSE) so
   that kills land between the deploy's writes and its commit;
2. SIGKILLs the server at a random moment while operations are in flight: after a random
   delay, once half of them were answered, a few milliseconds after the first answer of a
   burst, or inside a paused deploy transaction;
3. reads the SQLite database directly (read-only, the server being dead) and checks:
   `PRAGMA integrity_check` and `foreign_key_check`; every OTP row is pending with a sealed
   copy that opens to that very OTP, or finished with no sealed copy; a used OTP's user has
   exactly the one device its redemption created (same transaction, same time); each
   admin-added user's devices match its used OTPs; the current project version points at
   a stored version, versions are 1..N without gaps, earlier versions never change, and
   the current version's users are all there with its groups and password hashes (admin
   flags are the project's only when a deploy creates the user); and what the client
   side saw: every enrolment answered 200 is stored (and can sign in later), every
   enrolment answered with an error is absent, every enrolment that got no answer is
   either entirely there or entirely absent; every deploy answered OK is stored under the
   version it was told, and an interrupted one is all there or not at all;
4. restarts the server and checks over HTTP that it reports the stored version and that
   the devices enrolled so far still sign in with their keys (challenge + signature).

At the end every device the client side believes enrolled signs in once more, the server
is stopped cleanly and the database checked a last time. Audit events are written in
20 ms batches: losing the last ones in a crash is documented and not checked here.

`--check DATA_DIR` only runs the database checks on an existing data folder (for
instance a copy you corrupted on purpose) and reports what it finds.

Progress goes to stderr; the report (text, or JSON with --json) to stdout. Exit status:
0 when every check held, 1 on any violation (the report lists each), 2 when the soak could
not run (the server or the CLI failed for reasons unrelated to crashes; the message says
which). The work folder is kept on failure (and with --keep) for inspection.

Run it from the repository's virtual environment:

    .venv/bin/python scripts/crash_soak.py --kills 50 --seed 7
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from ruamel.yaml import YAML

from domogate.core import devicekeys
from domogate.core import otp as otp_rules
from domogate.core.names import name_key
from domogate.errors import DomogateError
from domogate.security.passwords import Argon2Parameters, Passwords
from domogate.security.sealing import Sealer
from domogate.storage.datadir import DataDir

CLI = [sys.executable, "-m", "domogate"]
SERVICE_PASSWORD = "soak-service-secret"  # noqa: S105 - a throwaway test project's password
LOGIN_USERS = {"alice": "alice-password", "bob": "bob-password"}  # project users, stable
ADMIN = "alice"
GROUPS = ("users", "family", "guests")
DYNAMIC_USERS = 6  # project users that deploys add, change and remove (nobody signs in)
OTP_STATES = {"pending", "used", "expired", "replaced", "revoked"}
MAX_POOL = 12  # pending OTPs kept for redemption (the server allows 100)
LAUNCH_SPAN_S = 1.2  # operations start within this long after a cycle begins


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class HarnessError(Exception):
    """The soak could not run (not a crash-safety violation)."""


# --- processes ----------------------------------------------------------------------------


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DOMOGATE_ARGON2_PROFILE"] = "test"  # cheap Argon2 (test profile), as the suite uses
    env.pop("DOMOGATE_CONFIG", None)
    env.pop("DOMOGATE_DATA", None)
    env.pop("DOMOGATE_FAULT_DEPLOY_PAUSE", None)
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*CLI, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise HarnessError(
            f"`domogate {' '.join(args)}` exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
        )
    return proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A `domogate server` process on 127.0.0.1 whose output goes to a log file."""

    def __init__(self, data: Path, port: int, log_path: Path) -> None:
        self.data = data
        self.port = port
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_offset = 0  # where the current run's output starts in the log

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def database(self) -> Path:
        return DataDir(self.data).database_path

    def fingerprint(self) -> str:
        pem = (self.data / "tls" / "cert.pem").read_text()
        return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cadata=(self.data / "tls" / "cert.pem").read_text())
        ctx.check_hostname = False
        return ctx

    def http(self, timeout: float = 10.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=self.ssl_context(), timeout=timeout)

    def start(self, deploy_pause_s: float = 0.0) -> None:
        extra = {"DOMOGATE_FAULT_DEPLOY_PAUSE": f"{deploy_pause_s:.3f}"} if deploy_pause_s else {}
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    *CLI,
                    "server",
                    "--data",
                    str(self.data),
                    "--port",
                    str(self.port),
                    "--log-level",
                    "warning",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=cli_env(**extra),
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HarnessError(
                    f"the server exited {self.proc.returncode} at start:\n{self.log_tail()}"
                )
            if (self.data / "tls" / "cert.pem").exists():
                try:
                    with self.http(timeout=2) as c:
                        if c.get("/api/info").status_code == 200:
                            return
                except (httpx.HTTPError, ssl.SSLError, OSError):
                    pass
            time.sleep(0.05)  # polling a condition, with a deadline
        self.kill()
        raise HarnessError(f"the server did not answer within 60 s:\n{self.log_tail()}")

    def kill(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def run_log(self) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as f:
            f.seek(self.log_offset)
            return f.read().decode(errors="replace")

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


# --- the database checker (no server needed) ---------------------------------------------


@dataclass(frozen=True)
class Violation:
    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass
class Snapshot:
    """The rows the checks need, read in one read-only transaction."""

    integrity: list[str]
    foreign_keys: list[tuple[Any, ...]]
    users: dict[str, dict[str, Any]]
    devices: dict[str, dict[str, Any]]
    otps: list[dict[str, Any]]
    versions: dict[int, dict[str, Any]]  # version -> {"data": ..., "raw": text}
    meta: dict[str, str]

    def devices_of(self, user_id: str) -> list[dict[str, Any]]:
        return [d for d in self.devices.values() if d["user_id"] == user_id]

    def devices_with_key(self, public_key: str) -> list[dict[str, Any]]:
        return [d for d in self.devices.values() if d["public_key"] == public_key]

    def otp_by_digest(self, digest: str) -> list[dict[str, Any]]:
        return [o for o in self.otps if o["digest"] == digest]

    def current_version(self) -> int | None:
        raw = self.meta.get("current_project_version")
        try:
            return int(raw) if raw is not None else None
        except ValueError:
            return None


def read_snapshot(database: Path) -> Snapshot:
    if not database.exists():
        raise HarnessError(f"no database at {database}")
    uri = f"file:{quote(str(database))}?mode=ro"
    con = sqlite3.connect(uri, uri=True, timeout=10)
    con.row_factory = sqlite3.Row
    try:
        con.execute("BEGIN")  # one consistent read of every table
        integrity = [str(r[0]) for r in con.execute("PRAGMA integrity_check")]
        fks = [tuple(r) for r in con.execute("PRAGMA foreign_key_check")]
        users = {r["id"]: dict(r) for r in con.execute("SELECT * FROM users")}
        devices = {r["id"]: dict(r) for r in con.execute("SELECT * FROM devices")}
        otps = [dict(r) for r in con.execute("SELECT * FROM otps ORDER BY created_at, id")]
        versions: dict[int, dict[str, Any]] = {}
        for r in con.execute("SELECT version, data FROM project_versions"):
            raw = r["data"]
            try:
                data = json.loads(raw) if isinstance(raw, str) else None
            except ValueError:
                data = None
            versions[int(r["version"])] = {"data": data, "raw": raw}
        meta = {r["key"]: r["value"] for r in con.execute("SELECT key, value FROM meta")}
        con.execute("ROLLBACK")
    finally:
        con.close()
    return Snapshot(integrity, fks, users, devices, otps, versions, meta)


def check_snapshot(
    snap: Snapshot, seal_key: bytes | None, digest_key: bytes | None
) -> list[Violation]:
    """Invariants that hold for any database the server ever leaves behind."""
    out: list[Violation] = []

    def bad(code: str, message: str) -> None:
        out.append(Violation(code, message))

    if snap.integrity != ["ok"]:
        bad("integrity_check", f"PRAGMA integrity_check: {'; '.join(snap.integrity[:5])}")
    if snap.foreign_keys:
        bad("foreign_key_check", f"dangling references: {snap.foreign_keys[:5]}")

    # --- OTPs
    sealer = Sealer(seal_key) if seal_key is not None else None
    pending_per_user: Counter[str] = Counter()
    used_finish_times: dict[str, list[str]] = {}
    for o in snap.otps:
        oid, state = o["id"], o["state"]
        if state not in OTP_STATES:
            bad("otp_state", f"OTP {oid} has the unknown state {state!r}")
            continue
        if o["user_id"] not in snap.users:
            bad("otp_without_user", f"OTP {oid} belongs to no stored user")
        if state == "pending":
            pending_per_user[o["user_id"]] += 1
            if o["sealed"] is None:
                bad("otp_pending_unsealed", f"pending OTP {oid} has no sealed copy")
            elif sealer is not None and digest_key is not None:
                try:
                    plain = sealer.open(bytes(o["sealed"]))
                except DomogateError as exc:
                    bad("otp_sealed_unreadable", f"pending OTP {oid}: {exc.message}")
                else:
                    if otp_rules.digest(digest_key, otp_rules.normalise(plain)) != o["digest"]:
                        bad("otp_sealed_mismatch", f"pending OTP {oid}: sealed copy is another OTP")
            if o["finished_at"] is not None:
                bad("otp_pending_finished", f"pending OTP {oid} has a finish time")
            continue
        if o["sealed"] is not None:
            bad("otp_finished_sealed", f"{state} OTP {oid} still holds its sealed copy")
        if o["finished_at"] is None:
            bad("otp_finished_without_time", f"{state} OTP {oid} has no finish time")
        if state == "used":
            used_finish_times.setdefault(o["user_id"], []).append(o["finished_at"])
            user = snap.users.get(o["user_id"])
            same_time = [
                d for d in snap.devices_of(o["user_id"]) if d["created_at"] == o["finished_at"]
            ]
            if len(same_time) != 1:
                bad(
                    "otp_used_without_device" if not same_time else "otp_used_many_devices",
                    f"used OTP {oid} of user {o['user_id']}: {len(same_time)} devices created "
                    f"with it (at {o['finished_at']}), expected exactly 1",
                )
            if user is not None and not user["name"]:
                bad("otp_used_unnamed_user", f"used OTP {oid}: its user has no name")
    for user_id, n in pending_per_user.items():
        if n > 1:
            bad("otp_many_pending", f"user {user_id} has {n} pending OTPs (at most 1)")

    # --- users added by an admin get devices only through their OTPs
    for u in snap.users.values():
        if u["origin"] != "admin":
            continue
        times = Counter(used_finish_times.get(u["id"], []))
        devs = Counter(d["created_at"] for d in snap.devices_of(u["id"]))
        if devs != times:
            bad(
                "admin_user_devices_mismatch",
                f"admin-added user {u['id']} ({u['name']!r}) has {sum(devs.values())} devices "
                f"but {sum(times.values())} used OTPs at matching times",
            )
        if not any(o["user_id"] == u["id"] for o in snap.otps):
            bad(
                "client_slot_without_otp",
                f"admin-added user {u['id']} ({u['name']!r}) has no OTP at all: "
                "the slot was added without its OTP",
            )

    # --- project versions
    current = snap.current_version()
    versions = sorted(snap.versions)
    if "current_project_version" in snap.meta and current is None:
        bad("current_version_garbled", f"meta current_project_version = {snap.meta!r}")
    if current is None:
        if versions:
            bad("current_version_missing", f"versions {versions} stored but no current version")
        return out
    if current not in snap.versions:
        bad("current_version_dangling", f"current version {current} has no stored version row")
    if versions != list(range(1, len(versions) + 1)):
        bad("version_gap", f"stored versions are {versions}, not 1..{len(versions)}")
    if versions and versions[-1] != current:
        bad("version_not_latest", f"current version {current}, newest stored {versions[-1]}")
    for v, stored in snap.versions.items():
        if stored["data"] is None:
            bad("version_unreadable", f"version {v}: data is not JSON")
    current_row = snap.versions.get(current)
    data = current_row["data"] if current_row else None
    if isinstance(data, dict):
        by_key: dict[str, dict[str, Any]] = {}
        for u in snap.users.values():
            if u["name"]:
                by_key.setdefault(name_key(u["name"]), u)
        wanted: set[str] = set()
        for pu in data.get("users", []):
            key = name_key(pu["name"])
            wanted.add(key)
            found = by_key.get(key)
            if found is None:
                bad(
                    "deploy_half_applied",
                    f"version {current} defines user {pu['name']!r}, who is not stored",
                )
                continue
            mismatches = [
                f"{col} {found[col]!r} != {want!r}"
                # Not the admin flag: the project sets it when a deploy creates the user;
                # afterwards grants and revocations made on the server stand.
                for col, want in (
                    ("group_name", pu.get("group")),
                    ("password_hash", pu.get("password")),
                    ("origin", "project"),
                )
                if found[col] != want
            ]
            if mismatches:
                bad(
                    "deploy_half_applied",
                    f"user {pu['name']!r} does not match version {current}: "
                    + "; ".join(mismatches),
                )
        for u in snap.users.values():
            if u["origin"] != "project" or (u["name"] and name_key(u["name"]) in wanted):
                continue
            if not snap.devices_of(u["id"]):
                bad(
                    "deploy_half_applied",
                    f"project user {u['name']!r} is not in version {current} and has no device, "
                    "yet was not removed",
                )
    return out


def keys_of(data_dir: Path) -> tuple[bytes | None, bytes | None]:
    """The seal and digest keys of a data folder (None when it has no secret)."""
    data = DataDir(data_dir)
    if not data.secret_path.exists():
        return None, None
    return data.derive_key("otp-seal"), data.derive_key("otp-digest")


def check_data_dir(data_dir: Path) -> tuple[Snapshot, list[Violation]]:
    seal_key, digest_key = keys_of(data_dir)
    snap = read_snapshot(DataDir(data_dir).database_path)
    return snap, check_snapshot(snap, seal_key, digest_key)


# --- what the client side saw ---------------------------------------------------------------


@dataclass
class IssuedOtp:
    otp: str
    digest: str
    user_id: str
    named: bool
    cycle: int
    state: str = "pending"  # as last read from the database


@dataclass
class Answer:
    status: int | None = None  # None: no answer (connection refused, reset, timed out)
    body: dict[str, Any] | None = None
    error: str | None = None
    done_at: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass
class Enrolment:
    kind: str  # "otp" or "password"
    cycle: int
    key: EllipticCurvePrivateKey
    public_key: str
    who: str  # user name (password) or the OTP (otp)
    issued: IssuedOtp | None = None
    answer: Answer = field(default_factory=Answer)
    device_id: str | None = None  # once known to be enrolled
    resolved: str = ""  # "enrolled" or "absent", after the check that follows its cycle


@dataclass
class DeployAttempt:
    cycle: int
    name: str
    folder: Path
    rc: int | None = None
    stdout: str = ""
    stderr: str = ""
    done_at: float = 0.0
    version: int | None = None  # as the CLI reported it
    resolved: str = ""


@dataclass
class SlotAttempt:
    """An admin adding a client while the server may be killed."""

    cycle: int
    name: str
    answer: Answer = field(default_factory=Answer)


@dataclass
class Ledger:
    enrolments: list[Enrolment] = field(default_factory=list)
    deploys: list[DeployAttempt] = field(default_factory=list)
    slots: list[SlotAttempt] = field(default_factory=list)
    issued: list[IssuedOtp] = field(default_factory=list)
    version_digests: dict[int, str] = field(default_factory=dict)
    last_current: int = 0
    best_deployed: int = 0


def check_ledger(
    snap: Snapshot, ledger: Ledger, cycle: int, killed_at: float | None
) -> list[Violation]:
    """What the client side saw against what the database holds; resolves this cycle's
    unanswered operations (all there, or absent)."""
    out: list[Violation] = []

    def bad(code: str, message: str) -> None:
        out.append(Violation(code, message))

    # --- enrolments
    for e in ledger.enrolments:
        found = snap.devices_with_key(e.public_key)
        what = f"{e.kind} enrolment of cycle {e.cycle} ({e.who})"
        if len(found) > 1:
            bad("enrolment_duplicated", f"{what}: {len(found)} devices with its key")
            continue
        dev = found[0] if found else None
        if e.resolved == "enrolled" or e.answer.ok:
            if dev is None:
                bad("enrolment_lost", f"{what} was answered 200 (device {e.device_id}), now gone")
                continue
            if e.device_id is not None and dev["id"] != e.device_id:
                bad("enrolment_changed", f"{what}: device {dev['id']}, answered {e.device_id}")
        elif (e.resolved == "absent" or e.answer.status is not None) and dev is not None:
            bad(
                "enrolment_refused_but_stored",
                f"{what} was answered {e.answer.status or 'nothing'} yet device {dev['id']} exists",
            )
        if e.cycle != cycle or e.resolved:
            continue
        # this cycle's enrolment: resolve it
        if dev is None:
            e.resolved = "absent"
        else:
            e.resolved = "enrolled"
            e.device_id = dev["id"]
        if e.answer.ok and e.answer.body is not None:
            answered_user = e.answer.body["user"]["id"]
            if dev is not None and dev["user_id"] != answered_user:
                bad("enrolment_wrong_user", f"{what}: stored for {dev['user_id']}")
        if e.kind == "otp" and e.issued is not None and dev is not None:
            rows = snap.otp_by_digest(e.issued.digest)
            used = [o for o in rows if o["state"] == "used" and o["user_id"] == dev["user_id"]]
            if not any(o["finished_at"] == dev["created_at"] for o in used):
                bad(
                    "redemption_half_applied",
                    f"{what}: device {dev['id']} exists but its OTP is not used at the time "
                    f"the device was created (OTP rows: "
                    f"{[(o['state'], o['finished_at']) for o in rows]})",
                )

    # --- each OTP we issued: single use, and used only by one of our attempts
    attempts: dict[str, list[Enrolment]] = {}
    for e in ledger.enrolments:
        if e.issued is not None:
            attempts.setdefault(e.issued.digest, []).append(e)
    for issued in ledger.issued:
        rows = snap.otp_by_digest(issued.digest)
        if not rows:
            bad("otp_lost", f"OTP issued in cycle {issued.cycle} for {issued.user_id} is gone")
            continue
        row = max(rows, key=lambda o: o["created_at"])
        issued.state = row["state"]
        mine = attempts.get(issued.digest, [])
        winners = [e for e in mine if e.answer.ok]
        if len(winners) > 1:
            bad(
                "otp_used_twice", f"OTP of cycle {issued.cycle}: {len(winners)} redemptions got 200"
            )
        stored = [e for e in mine if snap.devices_with_key(e.public_key)]
        if row["state"] == "used":
            devs = [
                d for d in snap.devices_of(row["user_id"]) if d["created_at"] == row["finished_at"]
            ]
            if not stored and not any(e.answer.status is None for e in mine):
                bad(
                    "otp_used_by_nobody",
                    f"OTP of cycle {issued.cycle} is used but none of its redemptions enrolled",
                )
            if len(stored) > 1:
                bad("otp_used_twice", f"OTP of cycle {issued.cycle}: {len(stored)} devices stored")
            if devs and mine and stored and devs[0]["public_key"] != stored[0].public_key:
                bad("otp_used_by_other_key", f"OTP of cycle {issued.cycle}: device key mismatch")
        elif stored:
            bad(
                "redemption_half_applied",
                f"OTP of cycle {issued.cycle} is {row['state']} but a device of its redemption "
                "exists",
            )

    # --- clients added while the server was killed
    for s in ledger.slots:
        if s.cycle != cycle:
            continue
        users = [
            u for u in snap.users.values() if u["name"] and name_key(u["name"]) == name_key(s.name)
        ]
        if s.answer.ok:
            if not users:
                bad("client_add_lost", f"client {s.name!r} was added (200) but is not stored")
                continue
        elif s.answer.status is not None and users:
            bad("client_add_refused_but_stored", f"client {s.name!r} answered {s.answer.status}")
        for u in users:
            pending = [o for o in snap.otps if o["user_id"] == u["id"] and o["state"] == "pending"]
            if len(pending) != 1:
                bad(
                    "client_add_half_applied",
                    f"client {s.name!r} (cycle {cycle}) is stored with {len(pending)} pending "
                    f"OTPs (answer: {s.answer.status or 'none'}); adding a client is its slot "
                    "and its OTP together",
                )

    # --- deploys
    current = snap.current_version() or 0
    if current < ledger.last_current:
        bad("version_went_back", f"current version {current}, was {ledger.last_current}")
    for v, row in snap.versions.items():
        digest = hashlib.sha256(str(row["raw"]).encode()).hexdigest()
        seen = ledger.version_digests.setdefault(v, digest)
        if seen != digest:
            bad("version_rewritten", f"the stored data of version {v} changed")
    names: dict[str, list[int]] = {}
    for v, row in snap.versions.items():
        if isinstance(row["data"], dict):
            names.setdefault(str(row["data"].get("name")), []).append(v)
    for d in ledger.deploys:
        where = names.get(d.name, [])
        if len(where) > 1:
            bad("deploy_duplicated", f"deploy {d.name!r} is stored as versions {where}")
        if d.rc == 0:
            if d.version is None or where != [d.version]:
                bad(
                    "deploy_lost",
                    f"deploy {d.name!r} answered version {d.version}; stored as {where}",
                )
        elif d.cycle == cycle and not d.resolved:
            d.resolved = "applied" if where else "absent"
            if where and killed_at is not None and d.done_at < killed_at:
                bad(
                    "deploy_failed_but_stored",
                    f"deploy {d.name!r} failed before the kill (exit {d.rc}) yet is stored "
                    f"as version {where}",
                )
        if d.cycle == cycle and d.rc != 0 and killed_at is not None and d.done_at < killed_at:
            bad(
                "deploy_refused",
                f"deploy {d.name!r} failed while the server was running (exit {d.rc}): "
                f"{(d.stderr or d.stdout).strip()[:400]}",
            )
    ledger.last_current = max(ledger.last_current, current)
    return out


# --- operations --------------------------------------------------------------------------


class Soak:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.rng = random.Random(args.seed)  # noqa: S311 - seeded and replayable, no secret
        self.server = Server(work / "data", free_port(), work / "server.log")
        self.project = work / "project"
        self.config = work / "cli-config"
        self.ledger = Ledger()
        self.violations: list[Violation] = []
        self.stats: Counter[str] = Counter()
        self.admin_key = devicekeys.generate_private_key()
        self.admin_device = ""
        self.server_id = ""
        self.digest_key = b""
        self.hash_pool: list[str] = []
        self.deploy_count = 0
        self.base_project: dict[str, Any] = {}
        self.cycle_log: list[dict[str, Any]] = []
        self.pause = 0.0  # the running server's deploy pause (fault injection)
        self.snapshot: Snapshot | None = None  # the database as the last check read it
        self.sabotaged = False
        self.known: list[Violation] = []  # violations of the codes given with --known
        self.repeats: Counter[tuple[str, str]] = Counter()

    # -- setup

    def setup(self) -> None:
        p = str(self.project)
        run_cli("project", "new", p, "--name", "Soak", "--address", "127.0.0.1", "--otp")
        run_cli("project", "password", p, "--stdin", stdin=SERVICE_PASSWORD + "\n")
        for g in GROUPS[1:]:
            run_cli("project", "group", "add", p, g)
        for i, (user, pw) in enumerate(LOGIN_USERS.items()):
            extra = ["--admin"] if user == ADMIN else []
            run_cli(
                "project",
                "user",
                "add",
                p,
                user,
                "--group",
                GROUPS[1 + i % 2],
                *extra,
                "--password-stdin",
                stdin=pw + "\n",
            )
        yaml = YAML(typ="safe")
        self.base_project = yaml.load((self.project / "project.yaml").read_text())
        hasher = Passwords(Argon2Parameters.cheap_for_tests())
        self.hash_pool = [hasher.hash(f"dynamic-{i}") for i in range(DYNAMIC_USERS)]

        self.server.start()
        code = run_cli("server", "setup-code", "--data", str(self.server.data)).stdout.strip()
        first = self.write_variant()
        proc = subprocess.run(
            [
                *CLI,
                "deploy",
                str(first.folder),
                "--server",
                self.server.url,
                "--setup-code",
                code,
                "--fingerprint",
                self.server.fingerprint(),
                "--config",
                str(self.config),
                "--json",
            ],
            capture_output=True,
            text=True,
            env=cli_env(),
            timeout=120,
            check=False,
        )
        if proc.returncode != 0:
            raise HarnessError(f"the first deploy failed:\n{proc.stdout}{proc.stderr}")
        first.rc, first.version = 0, int(json.loads(proc.stdout)["version"])
        self.ledger.deploys.append(first)
        _, digest_key = keys_of(self.server.data)
        if digest_key is None:
            raise HarnessError("the server wrote no secret into its data folder")
        self.digest_key = digest_key
        admin_public_key = devicekeys.public_key_of(self.admin_key)
        with self.server.http() as c:
            self.server_id = c.get("/api/info").json()["server_id"]
            r = c.post(
                "/api/auth/password",
                json={
                    "username": ADMIN,
                    "password": LOGIN_USERS[ADMIN],
                    "device": {"name": "soak admin", "public_key": admin_public_key},
                },
            )
        if r.status_code != 200:
            raise HarnessError(f"the admin could not sign in: {r.status_code} {r.text}")
        self.admin_device = r.json()["device"]["id"]

    def write_variant(self) -> DeployAttempt:
        """A new project folder: a unique name, and a random set of dynamic users."""
        self.deploy_count += 1
        name = f"Soak {self.args.seed} deploy {self.deploy_count}"
        data = json.loads(json.dumps(self.base_project))
        data["name"] = name
        for i in range(DYNAMIC_USERS):
            if self.rng.random() < 0.6:
                data["users"].append(
                    {
                        "name": f"dyn{i}",
                        "group": self.rng.choice(GROUPS),
                        "admin": self.rng.random() < 0.3,
                        "password": self.rng.choice(self.hash_pool),
                    }
                )
        folder = self.work / "deploys" / f"d{self.deploy_count:04d}"
        folder.mkdir(parents=True)
        with (folder / "project.yaml").open("w") as f:
            YAML(typ="safe").dump(data, f)
        return DeployAttempt(cycle=0, name=name, folder=folder)

    # -- HTTP helpers

    def sign_in(self, device_id: str, key: EllipticCurvePrivateKey) -> httpx.Response:
        """Challenge + signature; waits out `rate_limited` answers (bounded)."""
        deadline = time.monotonic() + 60
        with self.server.http() as c:
            while True:
                r = c.post("/api/auth/challenge", json={"device_id": device_id})
                if r.status_code == 200:
                    ch = r.json()["challenge"]
                    sig = devicekeys.sign(
                        key, devicekeys.challenge_message(self.server_id, device_id, ch)
                    )
                    r = c.post(
                        "/api/auth/device",
                        json={"device_id": device_id, "challenge": ch, "signature": sig},
                    )
                if r.status_code != 429 or time.monotonic() > deadline:
                    return r
                time.sleep(min(float(r.headers.get("retry-after", "1") or 1), 5.0))

    def admin_token(self) -> str:
        r = self.sign_in(self.admin_device, self.admin_key)
        if r.status_code != 200:
            raise HarnessError(f"the admin's device could not sign in: {r.status_code} {r.text}")
        return str(r.json()["session"]["token"])

    def issue(self, token: str, cycle: int) -> None:
        """Admin work before the operations: new clients with OTPs, a new OTP for a user
        who already has a device, or one that replaces a pending OTP."""
        pending = [i for i in self.ledger.issued if i.state == "pending"]
        if len(pending) >= MAX_POOL:
            return
        headers = {"Authorization": f"Bearer {token}"}
        with self.server.http() as c:
            for n in range(self.rng.randint(1, 3)):
                body: dict[str, Any] = {"group": self.rng.choice(GROUPS)}
                if self.rng.random() < 0.4:
                    body["name"] = f"named-{cycle}-{n}"
                if self.rng.random() < 0.15:
                    body["valid_for_s"] = 1  # expires before it is tried
                r = c.post("/api/clients", json=body, headers=headers)
                if r.status_code != 200:
                    raise HarnessError(f"adding a client failed: {r.status_code} {r.text}")
                self.remember(r.json(), named="name" in body, cycle=cycle)
            users = {
                e.issued.user_id
                for e in self.ledger.enrolments
                if e.issued is not None and e.resolved == "enrolled"
            }
            users |= {i.user_id for i in pending} if self.rng.random() < 0.3 else set()
            if users and self.rng.random() < 0.5:
                uid = self.rng.choice(sorted(users))
                r = c.post(f"/api/clients/{uid}/otp", json={}, headers=headers)
                if r.status_code != 200:
                    raise HarnessError(f"issuing an OTP failed: {r.status_code} {r.text}")
                for i in self.ledger.issued:
                    if i.user_id == uid and i.state == "pending":
                        i.state = "replaced"  # checked against the database at the next kill
                self.remember(r.json(), named=True, cycle=cycle)

    def remember(self, answer: dict[str, Any], *, named: bool, cycle: int) -> None:
        otp = str(answer["otp"])
        digest = otp_rules.digest(self.digest_key, otp_rules.normalise(otp))
        self.ledger.issued.append(IssuedOtp(otp, digest, str(answer["client"]["id"]), named, cycle))

    def post(self, path: str, body: dict[str, Any], answer: Answer, token: str = "") -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            with self.server.http(timeout=15) as c:
                r = c.post(path, json=body, headers=headers)
            answer.status = r.status_code
            with contextlib.suppress(ValueError):
                answer.body = r.json()
        except httpx.HTTPError as exc:
            answer.error = f"{type(exc).__name__}: {exc}"
        answer.done_at = time.monotonic()

    def op_redeem(self, e: Enrolment, name: str) -> None:
        assert e.issued is not None
        self.post(
            "/api/auth/otp",
            {
                "otp": e.issued.otp,
                "name": name,
                "device": {"name": "soak phone", "public_key": e.public_key},
            },
            e.answer,
        )
        self.answered(e)

    def op_password(self, e: Enrolment) -> None:
        self.post(
            "/api/auth/password",
            {
                "username": e.who,
                "password": LOGIN_USERS[e.who],
                "device": {"name": "soak laptop", "public_key": e.public_key},
            },
            e.answer,
        )
        self.answered(e)

    @staticmethod
    def answered(e: Enrolment) -> None:
        if e.answer.ok and e.answer.body is not None:
            e.device_id = str(e.answer.body["device"]["id"])

    def op_deploy(self, d: DeployAttempt) -> None:
        proc = subprocess.run(
            [
                *CLI,
                "deploy",
                str(d.folder),
                "--server",
                self.server.url,
                "--password-stdin",
                "--fingerprint",
                self.server.fingerprint(),
                "--config",
                str(self.config),
                "--json",
            ],
            input=SERVICE_PASSWORD + "\n",
            capture_output=True,
            text=True,
            env=cli_env(),
            timeout=120,
            check=False,
        )
        d.done_at = time.monotonic()
        d.rc, d.stdout, d.stderr = proc.returncode, proc.stdout, proc.stderr
        if proc.returncode == 0:
            d.version = int(json.loads(proc.stdout)["version"])

    def op_slot(self, s: SlotAttempt, token: str) -> None:
        self.post("/api/clients", {"name": s.name, "group": "guests"}, s.answer, token)

    # -- one cycle

    def plan(self, cycle: int, token: str) -> list[tuple[str, Callable[[], None]]]:
        """The operations of one cycle, each named by its kind."""
        ops: list[tuple[str, Callable[[], None]]] = []
        live = [i for i in self.ledger.issued if i.state == "pending"]
        self.rng.shuffle(live)
        for n, issued in enumerate(live[: self.rng.randint(1, 3)]):
            tries = 1 if self.rng.random() < 0.7 else self.rng.randint(2, 3)  # racing joiners
            for t in range(tries):
                key = devicekeys.generate_private_key()
                e = Enrolment("otp", cycle, key, devicekeys.public_key_of(key), issued.otp, issued)
                self.ledger.enrolments.append(e)
                ops.append(
                    ("redeem", functools.partial(self.op_redeem, e, f"joiner-{cycle}-{n}-{t}"))
                )
        for _ in range(self.rng.randint(0, 3)):
            key = devicekeys.generate_private_key()
            user = self.rng.choice(sorted(LOGIN_USERS))
            e = Enrolment("password", cycle, key, devicekeys.public_key_of(key), user)
            self.ledger.enrolments.append(e)
            ops.append(("password", functools.partial(self.op_password, e)))
        deploys = 0 if self.rng.random() < 0.3 else (2 if self.rng.random() < 0.2 else 1)
        for _ in range(deploys):
            d = self.write_variant()
            d.cycle = cycle
            self.ledger.deploys.append(d)
            ops.append(("deploy", functools.partial(self.op_deploy, d)))
        if self.rng.random() < 0.4:
            s = SlotAttempt(cycle, f"slot-{cycle}")
            self.ledger.slots.append(s)
            ops.append(("add-client", functools.partial(self.op_slot, s, token)))
        return ops

    def run_cycle(self, cycle: int) -> None:
        token = self.admin_token()
        self.issue(token, cycle)
        ops = self.plan(cycle, token)
        pause = self.pause
        kinds = Counter(k for k, _ in ops)
        has_deploy = kinds["deploy"] > 0
        modes = ["timed", "first-answers", "burst"]
        modes += ["in-deploy"] * 2 if pause and has_deploy else []
        mode = self.rng.choice(modes)
        if mode == "burst":  # all at once, killed a few milliseconds after the first answer
            offsets = [0.0 for _ in ops]
        else:
            offsets = [self.rng.uniform(0, LAUNCH_SPAN_S) for _ in ops]
        if has_deploy:  # the CLI takes ~0.5 s to start: give it a head start
            offsets = [0.0 if k == "deploy" else o for (k, _), o in zip(ops, offsets, strict=True)]
        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=max(1, len(ops))) as pool:
            futures: list[Future[None]] = [
                pool.submit(self.delayed, start + o, fn)
                for (_, fn), o in zip(ops, offsets, strict=True)
            ]
            self.choose_moment(mode, pause, futures, start)
            killed_at = time.monotonic()
            self.server.kill()
            done, not_done = wait(futures, timeout=90)
            if not_done:
                raise HarnessError(
                    f"{len(not_done)} operations did not end within 90 s of the kill"
                )
            for f in done:
                f.result()  # an exception in an operation is a bug of this script
        self.sabotage()
        self.check_after_kill(cycle, killed_at)
        answered = sum(1 for e in self.ledger.enrolments if e.cycle == cycle and e.answer.status)
        unanswered = sum(
            1 for e in self.ledger.enrolments if e.cycle == cycle and not e.answer.status
        )
        cur = self.ledger.last_current
        self.pause = self.rng.choice([0.0, 0.0, 0.2, 0.5])
        self.server.start(deploy_pause_s=self.pause)
        self.check_after_restart(cycle)
        entry = {
            "kill": cycle,
            "ops": dict(kinds),
            "mode": mode,
            "deploy_pause_s": pause,
            "killed_after_s": round(killed_at - start, 3),
            "enrolments_answered": answered,
            "enrolments_unanswered": unanswered,
            "version": cur,
            "violations": len(self.violations),
        }
        self.cycle_log.append(entry)
        ops_text = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "nothing"
        log(
            f"[kill {cycle}/{self.args.kills}] {ops_text}; {mode} kill after "
            f"{killed_at - start:.2f}s (deploy pause {pause:g}s); enrolments answered "
            f"{answered}, unanswered {unanswered}; version {cur}; "
            f"{len(self.violations)} violations so far"
        )

    @staticmethod
    def delayed(at: float, fn: Callable[[], None]) -> None:
        delay = at - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # the operation's random start offset
        fn()

    def choose_moment(
        self, mode: str, pause: float, futures: list[Future[None]], start: float
    ) -> None:
        """Wait for this cycle's kill moment."""
        if mode == "in-deploy":
            deadline = time.monotonic() + 20
            while "deploy: committing" not in self.server.run_log():
                if time.monotonic() > deadline or all(f.done() for f in futures):
                    break
                time.sleep(0.01)  # polling the log for the condition, with a deadline
            time.sleep(self.rng.uniform(0, pause * 0.9))
        elif mode in ("first-answers", "burst"):
            need = 1 if mode == "burst" else max(1, len(futures) // 2)
            deadline = time.monotonic() + 20
            while sum(f.done() for f in futures) < need and time.monotonic() < deadline:
                pending = [f for f in futures if not f.done()]
                wait(
                    pending,
                    timeout=max(0.0, deadline - time.monotonic()),
                    return_when=FIRST_COMPLETED,
                )
            time.sleep(self.rng.uniform(0, 0.01 if mode == "burst" else 0.05))
        else:
            delay = start + self.rng.uniform(0.05, LAUNCH_SPAN_S + 0.6) - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # the random kill moment

    def sabotage(self) -> None:
        """--sabotage lose-device: while the server is dead, delete (once) a device whose
        enrolment was answered 200, to show that the checks notice a lost enrolment."""
        if self.args.sabotage != "lose-device" or self.sabotaged:
            return
        victim = next((e for e in self.ledger.enrolments if e.answer.ok), None)
        if victim is None or victim.answer.body is None:
            return
        con = sqlite3.connect(self.server.database)
        try:
            with con:
                con.execute(
                    "DELETE FROM devices WHERE id = ?", (victim.answer.body["device"]["id"],)
                )
        finally:
            con.close()
        self.sabotaged = True
        log(f"  sabotage: deleted device {victim.answer.body['device']['id']} ({victim.kind})")

    def check_after_kill(self, cycle: int, killed_at: float | None) -> None:
        seal_key, digest_key = keys_of(self.server.data)
        snap = read_snapshot(self.server.database)
        found = check_snapshot(snap, seal_key, digest_key)
        found += check_ledger(snap, self.ledger, cycle, killed_at)
        for v in found:
            self.add(f"after kill {cycle}", v.code, v.message)
        self.stats["db_checks"] += 1
        self.snapshot = snap

    def check_after_restart(self, cycle: int, everyone: bool = False) -> None:
        snap = self.snapshot
        assert snap is not None
        current = snap.current_version()
        with self.server.http() as c:
            info = c.get("/api/info").json()
        if info["version"] != current:
            self.add(
                f"after restart {cycle}",
                "served_version",
                f"serves {info['version']}, stored {current}",
            )
        elif current in snap.versions and isinstance(snap.versions[current]["data"], dict):
            name = snap.versions[current]["data"].get("name")
            if info["name"] != name:
                self.add(
                    f"after restart {cycle}",
                    "served_version",
                    f"serves {info['name']!r}, stored {name!r}",
                )
        enrolled = [e for e in self.ledger.enrolments if e.resolved == "enrolled"]
        fresh = [e for e in enrolled if e.cycle == cycle]
        older = [e for e in enrolled if e.cycle != cycle]
        chosen = enrolled if everyone else fresh + self.rng.sample(older, min(4, len(older)))
        for e in chosen:
            assert e.device_id is not None
            r = self.sign_in(e.device_id, e.key)
            self.stats["device_sign_ins"] += 1
            if r.status_code != 200:
                self.add(
                    f"after restart {cycle}",
                    "device_cannot_sign_in",
                    f"{e.kind} enrolment of cycle {e.cycle} ({e.who}), device {e.device_id}, "
                    f"answered {e.answer.status or 'nothing'}: "
                    f"sign-in {r.status_code} {r.text[:200]}",
                )

    def add(self, when: str, code: str, message: str) -> None:
        """Record a violation once: a state that stays broken is not repeated at every
        later check (they are counted instead)."""
        self.repeats[(code, message)] += 1
        if self.repeats[(code, message)] > 1:
            return
        if code in self.args.known:
            self.known.append(Violation(code, f"{when}: {message}"))
            log(f"  known issue {code}: {message}")
            return
        self.violations.append(Violation(code, f"{when}: {message}"))
        log(f"  VIOLATION {code}: {message}")

    def finish(self) -> None:
        enrolled = sum(e.resolved == "enrolled" for e in self.ledger.enrolments)
        log(f"final: signing in with all {enrolled} enrolled devices, then a clean stop")
        self.check_after_restart(self.args.kills, everyone=True)
        self.server.stop()
        self.sabotage()
        self.check_after_kill(self.args.kills + 1, None)

    def run(self) -> None:
        log(f"crash soak: {self.args.kills} kills, seed {self.args.seed}, work folder {self.work}")
        self.setup()
        log(f"server on {self.server.url}, first deploy done")
        # the server of the setup runs without a deploy pause; each restart draws one
        for cycle in range(1, self.args.kills + 1):
            self.run_cycle(cycle)
            if self.violations and self.args.stop_on_violation:
                break
        self.finish()

    def summary(self) -> dict[str, Any]:
        enrol = Counter(f"{e.kind}_{e.resolved or 'unresolved'}" for e in self.ledger.enrolments)
        answered = Counter(
            f"{e.kind}_answered_{e.answer.status}"
            if e.answer.status
            else f"{e.kind}_unanswered_{e.resolved or 'unresolved'}"
            for e in self.ledger.enrolments
        )
        deploys = Counter(
            "ok" if d.rc == 0 else f"interrupted_{d.resolved or 'unresolved'}"
            for d in self.ledger.deploys
        )
        snap = self.snapshot
        if snap is None:
            return {}
        return {
            "enrolments": dict(sorted(enrol.items())),
            "answers": dict(sorted(answered.items())),
            "deploys": dict(sorted(deploys.items())),
            "clients_added_in_flight": len(self.ledger.slots),
            "otps_issued": len(self.ledger.issued),
            "final_version": snap.current_version(),
            "final_rows": {
                "users": len(snap.users),
                "devices": len(snap.devices),
                "otps": len(snap.otps),
                "versions": len(snap.versions),
            },
            "otp_states": dict(Counter(o["state"] for o in snap.otps)),
            "violations_seen_again_at_later_checks": sum(n - 1 for n in self.repeats.values()),
            **dict(self.stats),
        }


# --- entry point ----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(
        prog="crash_soak.py",
        description=doc.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--kills", type=int, default=50, help="SIGKILLs to deal (default 50)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--workdir", type=Path, help="work folder (must not exist; default: a temporary one)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder even on success")
    parser.add_argument(
        "--stop-on-violation", action="store_true", help="stop at the first cycle with a violation"
    )
    parser.add_argument(
        "--known",
        action="append",
        default=[],
        metavar="CODE",
        help="report violations with this code as known issues: listed, but the run still "
        "succeeds (repeatable)",
    )
    parser.add_argument(
        "--sabotage",
        choices=["lose-device"],
        help="(to test this script) delete one enrolled device from the database after a kill: "
        "the run must then report it",
    )
    parser.add_argument(
        "--check",
        type=Path,
        metavar="DATA_DIR",
        help="only check the database of an existing data folder, then exit",
    )
    args = parser.parse_args(argv)
    if args.kills < 1:
        parser.error("--kills must be at least 1")
    return args


def report(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return
    status = "OK" if result["ok"] else "FAILED"
    print(f"crash soak {status}: {result.get('summary_line', '')}")
    for v in result["violations"]:
        print(f"  VIOLATION {v['code']}: {v['message']}")
    for v in result.get("known_issues", []):
        print(f"  known issue {v['code']}: {v['message']}")
    if result.get("error"):
        print(f"  ERROR: {result['error']}")
    for k, v in sorted(result.get("stats", {}).items()):
        print(f"  {k}: {v}")
    if result.get("workdir"):
        print(f"  work folder: {result['workdir']}")


def main_check(args: argparse.Namespace) -> int:
    try:
        snap, found = check_data_dir(args.check)
    except (HarnessError, sqlite3.Error) as exc:
        report({"ok": False, "violations": [], "error": str(exc)}, args.json)
        return 2
    known = [v for v in found if v.code in args.known]
    found = [v for v in found if v.code not in args.known]
    result = {
        "ok": not found,
        "mode": "check",
        "data_dir": str(args.check),
        "violations": [v.to_dict() for v in found],
        "known_issues": [v.to_dict() for v in known],
        "summary_line": f"{len(found)} violations in {args.check}",
        "stats": {
            "current_version": snap.current_version(),
            "users": len(snap.users),
            "devices": len(snap.devices),
            "otps": len(snap.otps),
        },
    }
    report(result, args.json)
    return 0 if not found else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.check is not None:
        return main_check(args)
    if args.workdir is not None:
        if args.workdir.exists():
            print(f"error: {args.workdir} exists; give a new folder", file=sys.stderr)
            return 2
        args.workdir.mkdir(parents=True)
        work = args.workdir
    else:
        work = Path(tempfile.mkdtemp(prefix="domogate-crash-soak-"))
    soak = Soak(args, work)
    began = time.monotonic()
    error = None
    try:
        soak.run()
    except HarnessError as exc:
        error = str(exc)
    except BaseException:
        soak.server.kill()
        raise
    finally:
        with contextlib.suppress(Exception):
            soak.server.kill()
    elapsed = time.monotonic() - began
    ok = error is None and not soak.violations
    kills = len(soak.cycle_log)
    result: dict[str, Any] = {
        "ok": ok,
        "seed": args.seed,
        "kills": kills,
        "elapsed_s": round(elapsed, 1),
        "violations": [v.to_dict() for v in soak.violations],
        "known_issues": [v.to_dict() for v in soak.known],
        "error": error,
        "summary_line": f"{kills} kills, seed {args.seed}, {elapsed:.1f}s, "
        f"{len(soak.violations)} violations",
        "stats": soak.summary(),
        "cycles": soak.cycle_log,
        "workdir": str(work) if (not ok or args.keep) else None,
    }
    if error is not None:
        result["server_log_tail"] = soak.server.log_tail()
    if ok and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    report(result, args.json)
    if error is not None:
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
