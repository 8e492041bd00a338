"""Fuzzing the whole REST API (schemathesis over ``/api/openapi.json``) against a real
``domogate server`` process over HTTPS: as an admin, as a guest, with the maintenance
token, and deploys with the service password. No answer may be a 5xx, and the server log
may hold no traceback.

Bounded for CI: a fixed number of examples per operation and generation mode (positive:
what the schema allows; negative: what it forbids), derandomized (the same cases on every
run), no example database, no shrinking (each 5xx is reported with its request instead).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from domogate.core import devicekeys
from tests.support.deploy_auth import deploy_headers
from tests.support.processes import ServerProcess, deploy_first, free_port, new_project, run

pytestmark = [
    pytest.mark.timeout(300),
    # hypothesis and schemathesis warn about strategies they find slow or odd to draw
    # from; they are not failures of the server under test.
    pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning"),
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

EXAMPLES = 15  # per operation and generation mode
SERVICE_PASSWORD = "service-secret"  # new_project's
SKIPPED = {
    # They end the session the fuzzer uses; covered by tests/web/test_api.py.
    ("POST", "/api/auth/logout"),
    ("DELETE", "/api/maintenance/session"),
}


@dataclass
class House:
    server: ServerProcess
    tokens: dict[str, str] = field(default_factory=dict)  # who -> Authorization header

    def session(self) -> requests.Session:
        s = requests.Session()
        s.verify = str(self.server.data / "tls" / "cert.pem")
        return s


def sign_in(http: httpx.Client, username: str, password: str) -> str:
    key = devicekeys.generate_private_key()
    r = http.post(
        "/api/auth/password",
        json={
            "username": username,
            "password": password,
            "device": {"name": "fuzz", "public_key": devicekeys.public_key_of(key)},
        },
    )
    assert r.status_code == 200, r.text
    return f"Bearer {r.json()['session']['token']}"


@pytest.fixture(scope="module")
def house(tmp_path_factory: pytest.TempPathFactory) -> Iterator[House]:
    tmp = tmp_path_factory.mktemp("fuzz")
    project = new_project(tmp)
    run(
        "project", "user", "add", str(project), "gus", "--group", "guests",
        "--password-stdin", stdin="gus-password\n",
    )  # fmt: skip
    server = ServerProcess(tmp / "data", free_port(), tmp / "server.log")
    server.start()
    try:
        deploy_first(project, server)
        house = House(server)
        with server.http() as http:
            house.tokens["admin"] = sign_in(http, "alice", "alice-password")
            house.tokens["guest"] = sign_in(http, "gus", "gus-password")
            r = http.post("/api/maintenance/session", json={"password": SERVICE_PASSWORD})
            assert r.status_code == 200, r.text
            house.tokens["maintenance"] = f"Bearer {r.json()['token']}"
        house.tokens["deploy"] = deploy_headers(password=SERVICE_PASSWORD)["Authorization"]
        yield house
    finally:
        server.stop()


def fuzz_operation(
    operation: Any,
    mode: GenerationMode,
    call: Callable[[Any], requests.Response | Any],
    failures: list[str],
) -> None:
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def test(case: Any) -> None:
        response = call(case)
        if response.status_code >= 500:
            failures.append(
                f"{response.status_code} {operation.method.upper()} {operation.path} "
                f"({mode.value}): {case.as_curl_command()}\n  -> {response.text[:500]}"
            )

    try:
        test()
    except Unsatisfiable:
        # Nothing to get wrong (an operation without parameters or body, in negative mode).
        assert mode is GenerationMode.NEGATIVE, operation.path


# Hypothesis draws numbers near the bounds a schema states; a bound the schema forgot is
# found by sending the extremes themselves (an OTP valid for 1e30 seconds overflowed).
EXTREMES: dict[str, list[Any]] = {
    "number": [1e30, -1e30, 1e308, -1e308, 2**63, -(2**63), 10**400, 0, -1, 0.5],
    "date-time": [
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59",
    ],
}


def _kind(schema: dict[str, Any]) -> str | None:
    options = schema.get("anyOf", [schema])
    for option in options:
        if option.get("type") in ("integer", "number"):
            return "number"
        if option.get("format") == "date-time":
            return "date-time"
    return None


def hostile_fields(document: dict[str, Any], method: str, path: str) -> list[tuple[str, str, str]]:
    """``(where, name, kind)`` of the numeric and date-time fields of an operation's query
    and JSON body, read from the raw OpenAPI document."""
    operation = document["paths"][path][method.lower()]
    found: list[tuple[str, str, str]] = []
    for parameter in operation.get("parameters", []):
        kind = _kind(parameter.get("schema", {}))
        if parameter["in"] == "query" and kind:
            found.append(("query", parameter["name"], kind))
    content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    schema = content.get("schema", {})
    ref = schema.get("$ref") or next(
        (o["$ref"] for o in schema.get("anyOf", []) if "$ref" in o), None
    )
    if ref is not None:
        schema = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    for name, prop in schema.get("properties", {}).items():
        kind = _kind(prop)
        if kind:
            found.append(("body", name, kind))
    return found


def fuzz_extremes(
    operation: Any,
    fields: list[tuple[str, str, str]],
    call: Callable[[Any], Any],
    failures: list[str],
) -> None:
    """A few valid cases, each with one field set to each extreme of its kind."""

    @settings(
        max_examples=2,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
    def test(case: Any) -> None:
        original = case.body
        body = original if isinstance(original, dict) else {}
        query = dict(case.query or {})
        for where, name, kind in fields:
            for value in EXTREMES[kind]:
                if where == "body":
                    case.body = {**body, name: value}
                else:
                    case.query = {**query, name: value}
                response = call(case)
                if response.status_code >= 500:
                    failures.append(
                        f"{response.status_code} {operation.method.upper()} {operation.path} "
                        f"({where} {name}={value!r}): {case.as_curl_command()}\n"
                        f"  -> {response.text[:500]}"
                    )
            case.body, case.query = original, query

    test()


@pytest.mark.parametrize("who", ["admin", "guest", "maintenance"])
def test_no_request_makes_a_5xx_or_a_traceback(house: House, who: str) -> None:
    started = time.monotonic()
    base = house.server.url
    session = house.session()
    schema = schemathesis.openapi.from_url(f"{base}/api/openapi.json", verify=session.verify)
    document = session.get(f"{base}/api/openapi.json", verify=session.verify).json()
    failures: list[str] = []
    operations = extremes = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        key = (operation.method.upper(), operation.path)
        if key in SKIPPED:
            continue
        # The deploy route takes Basic credentials: the service password, so that the
        # fuzzed projects reach validation (none of them is a valid project).
        token = house.tokens["deploy" if operation.path == "/api/deploy" else who]
        if operation.path == "/api/deploy" and who != "admin":
            continue  # once is enough

        def call(case: Any, token: str = token) -> Any:
            return case.call(
                base_url=base,
                session=session,
                headers={"Authorization": token},
                timeout=15,
                verify=session.verify,
            )

        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz_operation(operation, mode, call, failures)
        fields = hostile_fields(document, operation.method, operation.path)
        if fields:
            fuzz_extremes(operation, fields, call, failures)
            extremes += 1
        operations += 1
    assert operations >= 15, operations  # the whole API was there to fuzz
    assert extremes >= 4, extremes  # clients, otp, audit, audit.jsonl
    assert not failures, "\n".join(failures)
    log = house.server.log()
    assert "Traceback" not in log, log[-5000:]
    assert time.monotonic() - started < 120


def test_the_server_still_answers(house: House) -> None:
    with house.server.http() as http:
        r = http.get("/api/me", headers={"Authorization": house.tokens["admin"]})
        assert r.status_code == 200, r.text
    assert "Traceback" not in house.server.log()
