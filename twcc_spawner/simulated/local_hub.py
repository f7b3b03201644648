"""Run configurable-http-proxy and JupyterHub as child processes on this machine.

Used by ``make demo`` and the end-to-end tests. Each child runs in its own
session, so stopping it ends its whole process group and a terminal's Ctrl-C
reaches only the parent, which stops the children in order.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from .hub_settings import (
    HubSettings,
    hub_environment,
    proxy_command,
    proxy_environment,
    write_hub_config,
)

PROXY = "configurable-http-proxy"


class ProcessExited(RuntimeError):
    """A child process ended while it should have been serving."""


class ChildProcess:
    """A command in its own session; :meth:`stop` ends its whole process group.

    With ``log`` its output goes to that file, otherwise to our stdout.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        log: Path | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log = log
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the command."""
        output: IO[bytes] | None = None
        if self.log is not None:
            self.log.parent.mkdir(parents=True, exist_ok=True)
            output = self.log.open("ab")
        try:
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT if output else None,
                start_new_session=True,
            )
        finally:
            if output is not None:
                output.close()

    @property
    def running(self) -> bool:
        """Whether the process was started and has not exited."""
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 80) -> str:
        """The end of the log file (empty when the output is not logged)."""
        if self.log is None or not self.log.exists():
            return ""
        return "".join(self.log.read_text(errors="replace").splitlines(True)[-lines:])

    def check_running(self) -> None:
        """Raise :class:`ProcessExited` (with the log's end) if the process has exited."""
        if self.process is not None and not self.running:
            tail = self.log_tail()
            raise ProcessExited(
                f"{self.name} exited with code {self.process.returncode}"
                + (f"; end of {self.log}:\n{tail}" if tail else "")
            )

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM the process group, SIGKILL it after ``timeout``; the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.process.wait()
        self._signal_group(signal.SIGKILL)  # leftovers of the group
        return self.process.returncode

    def _signal_group(self, sig: signal.Signals) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)


def wait_for_http(
    url: str, process: ChildProcess, timeout: float = 60.0, status: int = 200
) -> None:
    """Poll ``url`` until it answers ``status``; fail early if ``process`` exits."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        process.check_running()
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                answered = response.status
        except urllib.error.HTTPError as e:
            answered = e.code
        except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
            answered, last = None, str(e)
        if answered == status:
            return
        if answered is not None:
            last = f"HTTP {answered}"
        if time.monotonic() > deadline:
            raise TimeoutError(f"{process.name}: {url} not ready after {timeout:g} s ({last})")
        time.sleep(0.1)


def find_proxy() -> str:
    """The configurable-http-proxy executable on PATH, or a clear error."""
    found = shutil.which(PROXY) or shutil.which(PROXY, path="node_modules/.bin")
    if found is None:
        raise FileNotFoundError(
            f"{PROXY} not found on PATH or in ./node_modules/.bin; run `npm install` "
            "(make demo and make test do)."
        )
    return found


class LocalHub:
    """The proxy and the hub of :class:`HubSettings`, on an emulator that already runs.

    With ``log_dir`` the children's output goes to ``proxy.log`` and ``hub.log`` there,
    otherwise to our stdout.
    """

    def __init__(self, settings: HubSettings, log_dir: Path | None = None) -> None:
        self.settings = settings
        self.log_dir = log_dir
        self.proxy: ChildProcess | None = None
        self.hub: ChildProcess | None = None

    def _log(self, name: str) -> Path | None:
        return self.log_dir / f"{name}.log" if self.log_dir else None

    def start(self, timeout: float = 60.0) -> None:
        """Start the proxy, then the hub; return once the hub answers through the proxy."""
        self.start_proxy(timeout)
        self.start_hub(timeout)

    def start_proxy(self, timeout: float = 60.0) -> None:
        """Start configurable-http-proxy and wait for its REST API."""
        settings = self.settings
        self.proxy = ChildProcess(
            PROXY,
            proxy_command(settings, find_proxy()),
            proxy_environment(settings),
            self._log("proxy"),
        )
        self.proxy.start()
        wait_for_http(f"{settings.proxy_api_url}/api/routes", self.proxy, timeout, status=403)

    def start_hub(self, timeout: float = 60.0) -> None:
        """Write the configuration, start JupyterHub and wait until it answers."""
        settings = self.settings
        config = write_hub_config(settings)
        self.hub = ChildProcess(
            "jupyterhub",
            [sys.executable, "-m", "jupyterhub", "-f", str(config.resolve())],
            hub_environment(settings),
            self._log("hub"),
            cwd=settings.state_dir,
        )
        self.hub.start()
        wait_for_http(f"http://127.0.0.1:{settings.hub_port}/hub/api/", self.hub, timeout)
        wait_for_http(f"{settings.url}/hub/api/", self.hub, timeout)  # its route is in

    def check_running(self) -> None:
        """Raise :class:`ProcessExited` if the proxy or the hub has exited."""
        for child in (self.proxy, self.hub):
            if child is not None:
                child.check_running()

    def stop_hub(self) -> int | None:
        """Stop the hub only (SIGTERM: it stops the servers if ``cleanup_servers``)."""
        return self.hub.stop() if self.hub else None

    def stop(self) -> None:
        """Stop the hub, then the proxy."""
        self.stop_hub()
        if self.proxy is not None:
            self.proxy.stop()
