"""``make demo`` (``python -m twcc_spawner.simulated.demo``): log in, start a server, Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import requests

from twcc_spawner.simulated.hub_settings import ANNOUNCEMENT, free_port

from .conftest import ROOT, eventually

pytestmark = pytest.mark.e2e

PASSWORD = "demo-password-for-tests"


def gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def stop_leaving_nothing(demo: subprocess.Popen[bytes]) -> None:
    """After a failure: stop the demo as Ctrl-C would, then kill whatever is left."""
    if demo.poll() is not None:
        return
    children = psutil.Process(demo.pid).children(recursive=True)
    demo.send_signal(signal.SIGINT)
    try:
        demo.wait(60)
    except subprocess.TimeoutExpired:
        demo.kill()
        demo.wait()
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()


def test_demo_serves_a_simulated_hub_and_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "demo.log"
    env = {**os.environ, "TWCC_DEMO_PORT": str(port), "TWCC_DEMO_PASSWORD": PASSWORD}
    argv = [
        sys.executable,
        "-m",
        "twcc_spawner.simulated.demo",
        "--profiles-dir",
        str(ROOT / "profiles"),
    ]
    with log.open("wb") as output:
        demo = subprocess.Popen(
            argv, cwd=tmp_path, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        url = f"http://127.0.0.1:{port}"
        session = requests.Session()

        def login_page() -> requests.Response | None:
            assert demo.poll() is None, log.read_text()
            try:
                response = session.get(f"{url}/hub/login", timeout=5)
            except requests.ConnectionError:
                return None
            return response if response.status_code == 200 else None

        page = eventually(login_page, 60, "the demo's login page")
        assert ANNOUNCEMENT in page.text
        eventually(lambda: f"{url}/" in log.read_text(), 5, "the URL printed")
        printed = log.read_text()
        assert "SIMULATED" in printed and PASSWORD in printed
        assert (tmp_path / ".demo" / "kubeconfig").exists()

        xsrf = session.cookies["_xsrf"]
        wrong = {"username": "alice", "password": "not-it-at-all", "_xsrf": xsrf}
        assert "Invalid" in session.post(f"{url}/hub/login", data=wrong).text
        login = {"username": "alice", "password": PASSWORD, "_xsrf": xsrf}
        assert session.post(f"{url}/hub/login", data=login).status_code == 200
        assert session.get(f"{url}/hub/api/user").json()["name"] == "alice"

        started = session.post(
            f"{url}/hub/api/users/alice/server",
            json={"user_options": {"release": "21.11", "gpus": 1}},
            headers={"X-XSRFToken": session.cookies["_xsrf"]},
        )
        assert started.status_code in (201, 202), started.text

        def server_ready() -> bool:
            user = session.get(f"{url}/hub/api/users/alice").json()
            return user["servers"].get("", {}).get("ready", False)

        eventually(server_ready, 45, "alice's server ready")
        # the demo's own children: the hub, the proxy and the pod's process (whatever
        # command the pod runs), each with its descendants
        own = [" ".join(p.cmdline()) for p in psutil.Process(demo.pid).children()]
        hub = [c for c in own if "jupyterhub -f" in c]
        proxy = [c for c in own if "configurable-http-proxy" in c]
        assert len(hub) == len(proxy) == 1 and len(own) >= 3, own
        children = psutil.Process(demo.pid).children(recursive=True)

        demo.send_signal(signal.SIGINT)
        assert demo.wait(60) == 0, log.read_text()
        eventually(lambda: all(gone(p) for p in children), 10, "no process left")
    finally:
        stop_leaving_nothing(demo)
