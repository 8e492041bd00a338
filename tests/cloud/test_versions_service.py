"""The cloud's versions use case (services/cloud/versions.py over core/cloudversions.py) on
a real SQLite file, real Argon2id (cheap parameters) and a fake clock: the password like a
claim's (throttled, audited, refunded), names that cannot be probed, the cloud-side checks,
the reports."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domogate.core.cloudclaims import Installation
from domogate.core.cloudversions import (
    MAX_REPORT_MESSAGE,
    VersionInfo,
    parse_get_version,
    parse_version_result,
)
from domogate.core.publishing import MAX_CONTENT_BYTES, key_fingerprint
from domogate.core.throttle import BucketSpec
from domogate.errors import (
    CloudPasswordInvalid,
    DomogateError,
    InvalidInput,
    PayloadTooLarge,
    RateLimited,
    VersionDigestMismatch,
    VersionInvalid,
    VersionNotNewer,
    VersionWrongInstallation,
)
from domogate.security.passwords import Passwords
from domogate.services.cloud.audit import CloudAudit
from domogate.services.cloud.versions import CloudVersions, PublishLimits, Upload
from domogate.services.hashing import PasswordWorker
from domogate.settings import Argon2Parameters
from domogate.storage.cloud import SqlCloudStore, open_cloud_store
from tests.support.fakes import FakeClock
from tests.support.published import Signed, signed_version

RIGHT = "family-secret"
SECRETS = ("family-secret", "operator-secret", "guess-1", "guess-2")


@dataclass
class CountingPasswords:
    """Real Argon2id, counting what each verification was checked against."""

    inner: Passwords
    targets: list[str | None] = field(default_factory=list)

    def hash(self, password: str) -> str:
        return self.inner.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        self.targets.append(password_hash)
        return self.inner.verify(password_hash, password)


@dataclass
class Cloud:
    store: SqlCloudStore
    clock: FakeClock
    audit: CloudAudit
    passwords: CountingPasswords
    versions: CloudVersions
    told: list[VersionInfo]

    async def publish(self, signed: Signed, name: str = "home1") -> object:
        publisher = await self.versions.authenticate(name, RIGHT, "192.0.2.1")
        upload = Upload(signed.manifest, signed.signature, signed.content)
        return await self.versions.publish(publisher, upload)

    async def audit_text(self) -> str:
        await self.audit.flush()
        return json.dumps([[e.event, e.name, e.source, e.detail]
                           for e in await self.store.list_cloud_audit()])  # fmt: skip


@pytest.fixture
async def cloud(tmp_path: Path) -> AsyncIterator[Cloud]:
    store = await open_cloud_store(f"sqlite+aiosqlite:///{tmp_path / 'cloud.db'}")
    clock = FakeClock()
    audit = CloudAudit(store, clock)
    passwords = CountingPasswords(Passwords(Argon2Parameters.cheap_for_tests()))
    worker = PasswordWorker(passwords, workers=1)
    limits = PublishLimits(per_source=BucketSpec(10, 10 / 60), per_name=BucketSpec(3, 3 / 60))
    versions = CloudVersions(store, worker, clock, audit, limits=limits)
    told: list[VersionInfo] = []
    versions.subscribe(told.append)
    now = clock.now()
    family = passwords.hash("family-secret")
    operator = passwords.hash("operator-secret")
    await store.add_installation(Installation("home1", family, "k" * 43, False, now, now))
    await store.add_installation(Installation("home2", operator, None, True, now))  # unclaimed
    yield Cloud(store, clock, audit, passwords, versions, told)
    await audit.close()
    worker.close()
    await store.close()


KEY = Ed25519PrivateKey.generate()


def modified(signed: Signed) -> Signed:
    return Signed(signed.manifest, signed.signature, b'{"format":1,"note":"changed"}')


async def test_publish_stores_lists_tells_and_audits(cloud: Cloud) -> None:
    published = await cloud.publish(signed_version("home1", 1, KEY))
    assert published.version == 1 and published.installation == "home1"  # type: ignore[attr-defined]
    await cloud.publish(signed_version("home1", 2, KEY, project={"format": 1, "x": "y"}))
    publisher = await cloud.versions.authenticate("HOME1", "family-secret", "192.0.2.1")
    listed = await cloud.versions.list(publisher)
    assert [v.version for v in listed] == [2, 1]
    assert listed[0].publisher_key_fingerprint == key_fingerprint(KEY.public_key())
    assert listed[0].published_at == "2027-01-10T09:00:00Z"
    assert [i.version for i in cloud.told] == [1, 2]
    text = await cloud.audit_text()
    assert '"publish", "home1", "192.0.2.1"' in text
    assert not any(s in text for s in SECRETS)


async def test_unknown_unclaimed_and_wrong_password_look_the_same(cloud: Cloud) -> None:
    refusals = []
    for name, password in (
        ("home1", "guess-1"),  # a claimed name, a wrong password
        ("nosuchhome", "family-secret"),  # a name the cloud does not know
        ("home2", "operator-secret"),  # invited, not claimed: its operator password
    ):
        cloud.passwords.targets.clear()
        with pytest.raises(CloudPasswordInvalid) as caught:
            await cloud.versions.authenticate(name, password, f"198.51.100.{len(refusals)}")
        assert len(cloud.passwords.targets) == 1  # one Argon2id verification each
        refusals.append((caught.value.code, caught.value.message, caught.value.http_status))
    assert len(set(refusals)) == 1, refusals
    text = await cloud.audit_text()
    assert text.count("versions_password_invalid") == 3
    assert not any(s in text for s in SECRETS)


async def test_wrong_passwords_are_throttled_per_name_and_the_right_one_refunds(
    cloud: Cloud,
) -> None:
    for i in range(2):
        with pytest.raises(CloudPasswordInvalid):
            await cloud.versions.authenticate("home1", f"guess-{i}", f"203.0.113.{i}")
    for _ in range(5):  # the right password gives its attempt back each time
        await cloud.versions.authenticate("home1", "family-secret", "203.0.113.9")
    with pytest.raises(CloudPasswordInvalid):
        await cloud.versions.authenticate("home1", "guess-2", "203.0.113.3")
    cloud.passwords.targets.clear()
    with pytest.raises(RateLimited) as throttled:  # 3 per name: spent
        await cloud.versions.authenticate("home1", "family-secret", "203.0.113.4")
    assert throttled.value.retry_after >= 1
    assert cloud.passwords.targets == []  # refused before any Argon2 work
    cloud.clock.advance(20)  # one attempt back (3 a minute)
    await cloud.versions.authenticate("home1", "family-secret", "203.0.113.4")
    text = await cloud.audit_text()
    assert "versions_throttled" in text and not any(s in text for s in SECRETS)


async def test_wrong_passwords_are_throttled_per_source_and_aggregated(cloud: Cloud) -> None:
    for i in range(10):
        with pytest.raises(CloudPasswordInvalid):
            await cloud.versions.authenticate(f"probe{i}", "guess-1", "2001:db8::1")
    with pytest.raises(RateLimited):  # another address of the same /64, another name
        await cloud.versions.authenticate("probe99", "guess-1", "2001:db8::2")
    await cloud.versions.authenticate("home1", "family-secret", "192.0.2.7")  # others: fine
    for _ in range(4):
        with pytest.raises(RateLimited):
            await cloud.versions.authenticate("probe99", "guess-1", "2001:db8::3")
    await cloud.audit.flush()
    throttled = [e for e in await cloud.store.list_cloud_audit() if e.event == "versions_throttled"]
    assert len(throttled) == 2  # the first at once, the other four as one row
    assert sorted(e.detail.get("repeated", 0) for e in throttled) == [0, 4]


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: signed_version("home2", 1, KEY), VersionWrongInstallation),
        (lambda: Signed(b"{}", b"s" * 64, b"{}"), VersionInvalid),
        (lambda: Signed(signed_version("home1", 1, KEY).manifest, b"short", b"{}"), VersionInvalid),
        (lambda: modified(signed_version("home1", 1, KEY)), VersionDigestMismatch),
    ],
    ids=["another installation", "malformed manifest", "short signature", "modified content"],
)
async def test_the_cloud_side_checks(
    cloud: Cloud, make: object, error: type[DomogateError]
) -> None:
    with pytest.raises(error):
        await cloud.publish(make())  # type: ignore[operator]
    publisher = await cloud.versions.authenticate("home1", "family-secret", "192.0.2.1")
    assert await cloud.versions.list(publisher) == [] and cloud.told == []
    assert f'"code": "{error.code}"' in await cloud.audit_text()


async def test_versions_only_go_up(cloud: Cloud) -> None:
    await cloud.publish(signed_version("home1", 5, KEY))
    for version in (5, 4, 1):
        with pytest.raises(VersionNotNewer) as caught:
            await cloud.publish(signed_version("home1", version, KEY))
        assert caught.value.http_status == 409 and "5" in caught.value.message
    await cloud.publish(signed_version("home1", 6, KEY))
    assert [i.version for i in cloud.told] == [5, 6]


async def test_content_above_64_mib_is_refused(cloud: Cloud) -> None:
    big = signed_version("home1", 1, KEY, content=b" " * (MAX_CONTENT_BYTES + 1))
    with pytest.raises(PayloadTooLarge):
        await cloud.publish(big)


async def test_reports_are_recorded_and_audited(cloud: Cloud) -> None:
    await cloud.publish(signed_version("home1", 1, KEY))
    result = parse_version_result(
        {"type": "version_result", "version": 1, "applied": False, "code": "project_invalid",
         "message": "objects.lamp:\u202e unknown\x00 kind " + "x" * 2000},
    )  # fmt: skip
    assert result.message is not None and len(result.message) == MAX_REPORT_MESSAGE
    assert "\u202e" not in result.message and "\x00" not in result.message
    assert await cloud.versions.report("home1", result, source="192.0.2.1")
    (latest,) = [await cloud.versions.latest("home1")]
    assert latest is not None and latest.report is not None
    assert latest.report.code == "project_invalid" and not latest.report.applied
    unknown = parse_version_result({"version": 7, "applied": True, "code": None, "message": None})
    assert not await cloud.versions.report("home1", unknown, source="192.0.2.1")
    assert not await cloud.versions.report("home2", result, source="192.0.2.1")
    text = await cloud.audit_text()
    assert '"version_result", "home1"' in text and "version_result_unknown" in text


@pytest.mark.parametrize(
    "message",
    [
        {"version": 0, "applied": True, "code": None, "message": None},
        {"version": True, "applied": True, "code": None, "message": None},
        {"version": "1", "applied": True, "code": None, "message": None},
        {"version": 1, "applied": "yes", "code": None, "message": None},
        {"version": 1, "applied": False, "code": "Not A Code", "message": None},
        {"version": 1, "applied": False, "code": "x" * 65, "message": None},
        {"version": 1, "applied": False, "code": None, "message": 12},
    ],
)
def test_malformed_reports_are_refused(message: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        parse_version_result(message)


def test_get_version_needs_a_positive_number() -> None:
    assert parse_get_version({"type": "get_version", "version": 3}) == 3
    for bad in (0, -1, 1.5, None, "3", False, 2**63):
        with pytest.raises(InvalidInput):
            parse_get_version({"type": "get_version", "version": bad})


async def test_a_stranger_spending_the_names_allowance_does_not_lock_out_its_publisher(
    cloud: Cloud,
) -> None:
    """The integrator published from 198.51.100.7; a stranger spends the name's allowance
    with wrong passwords from elsewhere: the integrator's source still gets in (it does
    not draw on the name's allowance for 30 days), other new sources are throttled."""
    await cloud.versions.authenticate("home1", "family-secret", "198.51.100.7")
    for i in range(3):
        with pytest.raises(CloudPasswordInvalid):
            await cloud.versions.authenticate("home1", f"guess-{i}", f"203.0.113.{i}")
    with pytest.raises(RateLimited):
        await cloud.versions.authenticate("home1", "guess-3", "203.0.113.50")
    for _ in range(4):
        await cloud.versions.authenticate("home1", "family-secret", "198.51.100.7")
