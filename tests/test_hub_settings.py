"""The demo's hub configuration and the demo's refusals (no hub is started here)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from twcc_spawner.simulated import demo
from twcc_spawner.simulated.hub_settings import (
    ADMIN_SERVICE,
    ANNOUNCEMENT,
    HubSettings,
    hub_config,
    proxy_command,
    write_hub_config,
)


def settings(tmp_path: Path, **overrides: object) -> HubSettings:
    values: dict = {
        "state_dir": tmp_path / "state",
        "profiles_dir": tmp_path / "profiles",
        "password": "password-1",
        "proxy_auth_token": "proxy-token",
        "port": 8123,
        "hub_port": 8124,
        "proxy_api_port": 8125,
    }
    return HubSettings(**{**values, **overrides})


def test_the_hub_is_local_simulated_and_uses_twcc(tmp_path: Path) -> None:
    config = hub_config(settings(tmp_path))
    hub = config["JupyterHub"]
    assert (hub["ip"], hub["port"], hub["hub_ip"]) == ("127.0.0.1", 8123, "127.0.0.1")
    assert hub["spawner_class"] == "twcc" and hub["allow_named_servers"]
    assert hub["template_vars"]["announcement"] == ANNOUNCEMENT
    assert str((tmp_path / "state").resolve()) in hub["db_url"]
    assert config["ConfigurableHTTPProxy"]["should_start"] is False
    assert config["SharedPasswordAuthenticator"]["user_password"] == "password-1"
    assert config["TWCCSpawner"]["profiles_dir"] == str((tmp_path / "profiles").resolve())
    assert "services" not in hub and "load_roles" not in hub


def test_admin_token_and_spawner_settings_are_optional(tmp_path: Path) -> None:
    config = hub_config(
        settings(tmp_path, admin_token="t" * 32, spawner={"unschedulable_timeout": 1.0})
    )
    hub = config["JupyterHub"]
    assert hub["services"] == [{"name": ADMIN_SERVICE, "api_token": "t" * 32}]
    (role,) = hub["load_roles"]
    assert role["services"] == [ADMIN_SERVICE] and "admin:servers" in role["scopes"]
    assert config["TWCCSpawner"]["unschedulable_timeout"] == 1.0


def test_a_hub_can_run_plain_kubespawner_for_comparison(tmp_path: Path) -> None:
    config = hub_config(
        settings(tmp_path, spawner_class="kubespawner.KubeSpawner", spawner={"cpu_limit": 2})
    )
    assert config["JupyterHub"]["spawner_class"] == "kubespawner.KubeSpawner"
    assert "TWCCSpawner" not in config and "profiles_dir" not in config["KubeSpawner"]
    assert config["KubeSpawner"]["cpu_limit"] == 2


def test_config_file_is_private_json(tmp_path: Path) -> None:
    path = write_hub_config(settings(tmp_path))
    assert path.stat().st_mode & 0o077 == 0
    assert json.loads(path.read_text())["JupyterHub"]["port"] == 8123


def test_proxy_listens_on_loopback_only(tmp_path: Path) -> None:
    argv = proxy_command(settings(tmp_path), "chp")
    assert "--ip=127.0.0.1" in argv and "--api-ip=127.0.0.1" in argv
    assert "--port=8123" in argv and "--api-port=8125" in argv


def run_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], port: int
) -> tuple[int, str]:
    """Run the demo's main in-process; it must refuse before starting anything."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TWCC_DEMO_PORT", str(port))
    with pytest.raises(SystemExit) as exit_:
        demo.main([])
    return exit_.value.code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("password", "message"),
    [
        pytest.param("short", "at least 8 characters", id="password"),
        pytest.param("long-enough", "No catalog in profiles/", id="no-catalog"),
    ],
)
def test_demo_refuses_bad_settings_before_starting(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    password: str,
    message: str,
) -> None:
    monkeypatch.setenv("TWCC_DEMO_PASSWORD", password)
    code, err = run_demo(tmp_path, monkeypatch, capsys, demo.free_port())
    assert code == 2 and message in err
    assert not (tmp_path / ".demo").exists()


def test_demo_refuses_a_busy_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        code, err = run_demo(tmp_path, monkeypatch, capsys, s.getsockname()[1])
    assert code == 2 and "is in use" in err


def _time_wait_on(port_holder: socket.socket) -> int:
    """Leave a connection in TIME-WAIT on ``port_holder``'s port, then close the listener:
    the state right after a demo stops (the side that closes first keeps TIME-WAIT)."""
    port = port_holder.getsockname()[1]
    with socket.create_connection(("127.0.0.1", port)) as client:
        accepted, _ = port_holder.accept()
        accepted.close()  # the server side closes first: its end waits in TIME-WAIT
        assert client.recv(1) == b""
    port_holder.close()
    return port


def test_a_port_left_in_time_wait_is_free_and_a_listening_one_is_not() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = _time_wait_on(listener)
    with socket.socket() as plain, pytest.raises(OSError):  # what made the demo refuse
        plain.bind(("127.0.0.1", port))
    assert demo.port_is_free(port)

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        assert demo.port_is_free(busy.getsockname()[1])  # bound, not listening
        busy.listen()
        assert not demo.port_is_free(busy.getsockname()[1])
