"""A network namespace of the test's own, with a LAN address (``unshare -n``, as root).

:class:`NetNamespace` starts a holder process (``sleep``) in a new network namespace whose
loopback also carries ``10.77.0.2/24`` and a default route through it: the kernel then
picks 10.77.0.2 as the source of any outbound datagram, as on a machine on a LAN (this
kernel has no ``dummy`` interfaces). :meth:`NetNamespace.argv` runs a command inside with
``nsenter`` (no fork: the PID is the command's). The holder is stopped by its PID.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence

import pytest

from tests.support.processes import CLI, cli_env

LAN_ADDRESS = "10.77.0.2"
_SETUP = (
    "ip link set lo up"
    f" && ip addr add {LAN_ADDRESS}/24 dev lo"
    " && ip route add default via 10.77.0.1 dev lo"
    " && echo ready && exec sleep 3600"
)


class NetNamespace:
    def __init__(self) -> None:
        self.holder: subprocess.Popen[str] | None = None

    def start(self) -> NetNamespace:
        missing = [tool for tool in ("unshare", "nsenter", "ip") if shutil.which(tool) is None]
        if missing:
            pytest.skip(f"needs {', '.join(missing)} (util-linux, iproute2) for a namespace")
        if os.geteuid() != 0:
            pytest.skip("a network namespace of the test's own needs root (unshare -n)")
        self.holder = subprocess.Popen(
            ["unshare", "-n", "sh", "-c", _SETUP],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.holder.stdout is not None
        line = self.holder.stdout.readline()  # "ready", or EOF when the setup failed
        if line.strip() != "ready":
            error = self.holder.stderr.read() if self.holder.stderr else ""
            self.stop()
            pytest.skip(f"cannot make a network namespace here: {error.strip() or line!r}")
        return self

    def argv(self, *command: str) -> list[str]:
        assert self.holder is not None
        return ["nsenter", "-t", str(self.holder.pid), "-n", "--", *command]

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """``domogate ARGS`` inside the namespace (not checked: the caller looks)."""
        return subprocess.run(
            self.argv(*CLI, *args),
            input=stdin,
            capture_output=True,
            text=True,
            env=cli_env(),
            timeout=60,
            check=False,
        )

    def popen(self, args: Sequence[str], log: str) -> subprocess.Popen[bytes]:
        """``domogate ARGS`` inside the namespace, output to the file ``log``."""
        with open(log, "ab") as out:
            return subprocess.Popen(
                self.argv(*CLI, *args), stdout=out, stderr=subprocess.STDOUT, env=cli_env()
            )

    def stop(self) -> None:
        if self.holder is not None and self.holder.poll() is None:
            self.holder.kill()
            self.holder.wait(5)
        if self.holder is not None:
            for pipe in (self.holder.stdout, self.holder.stderr):
                if pipe is not None:
                    pipe.close()
        self.holder = None
