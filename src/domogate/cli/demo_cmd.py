"""`domogate demo`: a running server on embedded defaults, ready to try.

SQLite in a data folder (temporary unless ``--data``), simulated bus, a demo project with
OTP onboarding on, an administrator with a fresh password, and a fresh OTP with its QR.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any

import segno
import typer

from domogate.cli.app import ReportingCommand

DEMO_ADMIN = "admin"


def demo_project(admin_password_hash: str) -> dict[str, Any]:
    return {
        "format": 1,
        "name": "Demo house",
        "server": {"address": "127.0.0.1", "port": 7550},
        "system": {
            "use_otp_authentication": True,
            "automatic_authentication": True,
            "automatic_connection": True,
        },
        "groups": [
            {"name": "family", "description": "People who live here"},
            {"name": "guests", "description": "Visitors: lights only"},
        ],
        "users": [
            {"name": DEMO_ADMIN, "group": "family", "admin": True, "password": admin_password_hash}
        ],
        "pages": [
            {"id": "ground", "title": "Ground floor", "icon": "sofa"},
            {"id": "first", "title": "First floor", "icon": "bed"},
            {"id": "garden", "title": "Garden", "icon": "tree"},
        ],
        "objects": [
            _object(
                "living-light",
                "Living room light",
                "switch",
                "ground",
                command=("1/1/1", "1.001"),
                state=("1/1/2", "1.001"),
            ),
            _object(
                "kitchen-dimmer",
                "Kitchen",
                "dimmer",
                "ground",
                command=("1/2/1", "1.001"),
                state=("1/2/2", "1.001"),
                brightness=("1/2/3", "5.001"),
                brightness_state=("1/2/4", "5.001"),
            ),
            _object(
                "living-shutter",
                "Living room shutter",
                "shutter",
                "ground",
                command=("2/1/1", "1.008"),
                stop=("2/1/2", "1.017"),
                position=("2/1/3", "5.001"),
                position_state=("2/1/4", "5.001"),
                visible_to=["family"],
            ),
            _object(
                "evening-scene",
                "Evening",
                "scene",
                "ground",
                command=("1/0/1", "17.001"),
                visible_to=["family"],
            ),
            _object(
                "bedroom-thermostat",
                "Bedroom",
                "thermostat",
                "first",
                temperature=("3/1/1", "9.001"),
                target=("3/1/2", "9.001"),
                target_state=("3/1/3", "9.001"),
                mode=("3/1/4", "20.102"),
                mode_state=("3/1/5", "20.102"),
                visible_to=["family"],
            ),
            _object(
                "bedroom-light",
                "Bedroom light",
                "switch",
                "first",
                command=("1/3/1", "1.001"),
                state=("1/3/2", "1.001"),
            ),
            _object(
                "garden-temperature",
                "Outside temperature",
                "sensor",
                "garden",
                state=("4/1/1", "9.001"),
            ),
            _object(
                "garden-lights",
                "Garden lights",
                "switch",
                "garden",
                command=("1/4/1", "1.001"),
                state=("1/4/2", "1.001"),
                operable_by=["family"],
            ),
        ],
    }


def _object(
    object_id: str,
    name: str,
    object_type: str,
    page: str,
    *,
    visible_to: list[str] | None = None,
    operable_by: list[str] | None = None,
    **bindings: tuple[str, str],
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": object_id,
        "name": name,
        "type": object_type,
        "page": page,
        "bindings": {key: {"address": a, "dpt": d} for key, (a, d) in bindings.items()},
    }
    restrictions = {
        k: v for k, v in (("visible_to", visible_to), ("operable_by", operable_by)) if v
    }
    if restrictions:
        data["restrictions"] = restrictions
    return data


def register(app: typer.Typer) -> None:
    @app.command("demo", cls=ReportingCommand)
    def demo(
        port: int = typer.Option(7550, "--port", min=1, max=65535, help="TCP port."),
        host: str = typer.Option(
            "127.0.0.1",
            "--host",
            help="Address to listen on; 0.0.0.0 (every address) to open the join link or "
            "scan the QR code on a phone on the same network.",
        ),
        advertise: str | None = typer.Option(
            None,
            "--advertise",
            metavar="ADDRESS",
            help="Address the join link and QR code carry (default with --host 0.0.0.0: "
            "this machine's LAN address).",
            show_default=False,
        ),
        data: Path | None = typer.Option(
            None, "--data", help="Keep the demo's data in this folder (default: temporary)."
        ),
        insecure_http: bool = typer.Option(
            False, "--insecure-http", help="Plain HTTP instead of HTTPS (development only)."
        ),
    ) -> None:
        """Run a demo server: demo project, an admin login and a fresh OTP with its QR code.

        Then, in another terminal: `domogate connect JOIN_LINK --name YOU` and
        `domogate clients list` with the admin's config.

        On a phone on the same network: `domogate demo --host 0.0.0.0`, then scan the QR code.
        """
        from domogate.cli.env import argon2_parameters_from_env
        from domogate.core.lanaddress import check_advertise
        from domogate.settings import ServerSettings

        temp = None
        if data is None:
            temp = tempfile.mkdtemp(prefix="domogate-demo-")
            data = Path(temp) / "data"
        settings = ServerSettings(
            data_dir=data,
            host=host,
            port=port,
            insecure_http=insecure_http,
            argon2=argon2_parameters_from_env(),
            advertise=None if advertise is None else check_advertise(advertise),
        )

        def _terminate(signum: int, frame: object) -> None:
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, _terminate)  # clean up on SIGTERM too
        try:
            asyncio.run(_run_demo(settings))
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            if temp is not None:
                shutil.rmtree(temp, ignore_errors=True)


async def _run_demo(settings: Any) -> None:

    from domogate.server import (
        advertised_lines,
        banner,
        bind_socket,
        connection_limits,
        guarded_server,
        open_services,
        prepare_data,
        uvicorn_config,
        with_lan_addresses,
    )
    from domogate.services.context import Caller, RequestContext
    from domogate.services.sessions import Session
    from domogate.web.app import create_app

    settings = with_lan_addresses(settings)
    data, first = prepare_data(settings)
    sock = bind_socket(settings.host, settings.port)
    services = await open_services(settings, data)
    try:
        await services.start()
        ctx = RequestContext(source="demo")
        password = secrets.token_urlsafe(9)
        password_hash = await services.hash_password(password)
        project = demo_project(password_hash)
        if services.project.version is None:
            await services.deploy.deploy(ctx, project, setup_code=data.setup_code())
        else:
            # Reused --data folder: refresh the admin's password for this run.
            await services.deploy.set_password(DEMO_ADMIN, password_hash)
        admin = await services.deploy.find_user(DEMO_ADMIN)
        assert admin is not None
        now = services.clock.now()
        caller = Caller(Session("demo", admin.id, "demo", ctx.path, "demo", now, now), admin, ctx)
        url = services.local_url()
        issued = await services.clients.add_client(caller, base_url=url)
        print(banner(settings, data, first))
        print(advertised_lines(services, data))
        print(
            "\n"
            f"Demo project 'Demo house' deployed (version {services.project.version}).\n"
            f"Open {url}/ in a browser (the certificate is self-signed: check its "
            "fingerprint above), or use the command line. The bus is simulated: lights "
            "answer, shutters take their time, rooms warm up.\n\n"
            f"Administrator:  username {DEMO_ADMIN}   password {password}\n"
            f"  domogate connect {url} --username {DEMO_ADMIN} --password-stdin "
            f"--fingerprint {services.fingerprint or ''} --config ./demo-admin\n"
            "  domogate state --config ./demo-admin; "
            "domogate set living-light on --config ./demo-admin\n\n"
            f"A new client slot is waiting (group family): scan the QR code or open the link.\n"
            f"  one-time password: {issued.otp}   (valid until {issued.otp_expires_at:%H:%M} UTC)\n"
            f"  join link: {issued.join_link}\n"
            f"  domogate connect '{issued.join_link}' --name YOUR_NAME --config ./demo-guest\n"
        )
        segno.make(issued.join_link, error="m").terminal(compact=True)
        print("Press Ctrl-C to stop.", flush=True)
        app = create_app(settings, services)
        config = uvicorn_config(app, settings, data, "warning")
        await guarded_server(config, connection_limits(settings)).serve(sockets=[sock])
    finally:
        await services.close()
        sock.close()
