"""``kubectl exec``, ``attach`` and ``cp`` against the emulator, over the WebSocket protocol."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import re
import struct
import sys
import termios
from asyncio.subprocess import Process
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from twcc_spawner.simulated.emulator import Emulator
from twcc_spawner.simulated.emulator.exec_api import local_argv

from .conftest import GPU_TOLERATION, Kubectl, eventually, pod_manifest
from .test_references import create

# Records where it runs, then waits: the container's own view to compare an exec with.
WHERE = 'pwd > "$0"; exec sleep 60'


def _pod(emu: Emulator, name: str) -> dict[str, Any]:
    return emu.store.find("pods", "default", name) or {}


def work_pod(name: str, command: list[str], **container: Any) -> dict[str, Any]:
    """A pod whose container works in an emptyDir mounted at ``/data``, with ``VAR`` set."""
    manifest = pod_manifest(name, command, tolerations=[GPU_TOLERATION])
    manifest["spec"]["containers"][0].update(
        workingDir="/data",
        env=[{"name": "VAR", "value": "from-the-spec"}],
        volumeMounts=[{"name": "data", "mountPath": "/data"}],
        **container,
    )
    manifest["spec"]["volumes"] = [{"name": "data", "emptyDir": {}}]
    return manifest


async def running(emu: Emulator, kubectl: Kubectl, manifest: dict[str, Any]) -> str:
    """Create ``manifest`` and wait until its container runs; its name."""
    await create(kubectl, manifest)
    name = manifest["metadata"]["name"]
    try:
        await emu.store.wait_for(lambda: _phase(emu, name) == "Running")
    except TimeoutError:
        raise AssertionError(f"{name} is not running: {_pod(emu, name).get('status')}") from None
    return name


def _phase(emu: Emulator, name: str) -> str:
    return _pod(emu, name).get("status", {}).get("phase", "")


async def test_exec_runs_in_the_containers_directory_and_environment(
    emu: Emulator, kubectl: Kubectl
) -> None:
    name = await running(emu, kubectl, work_pod("shell", ["sh", "-c", WHERE, "/data/where"]))
    container_pwd = (await kubectl("exec", name, "--", "cat", "/data/where")).stdout
    shown = await kubectl("exec", name, "--", "sh", "-c", 'pwd; echo "$VAR"; echo "$HOSTNAME"')
    assert shown.stdout == f"{container_pwd}from-the-spec\nshell\n"
    assert shown.stderr == ""


async def test_exit_code_stdin_and_stderr(emu: Emulator, kubectl: Kubectl) -> None:
    name = await running(emu, kubectl, work_pod("shell", ["sleep", "60"]))
    failed = await kubectl(
        "exec", name, "--", "sh", "-c", "echo out; echo err >&2; exit 3", check=False
    )
    assert failed.returncode == 3
    assert failed.stdout == "out\n"
    assert failed.stderr == "err\ncommand terminated with exit code 3\n"
    fed = await kubectl("exec", "-i", name, "--", "sh", "-c", "cat; echo done", stdin="a\nb\n")
    assert fed.stdout == "a\nb\ndone\n"


async def test_exec_with_a_terminal_gets_a_terminal_of_the_clients_size(
    emu: Emulator, kubectl: Kubectl
) -> None:
    name = await running(emu, kubectl, work_pod("shell", ["sleep", "60"]))
    master, slave = os.openpty()  # kubectl's own terminal, 33 rows of 101 columns
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
    client = await asyncio.create_subprocess_exec(
        *kubectl.argv("exec", "-it", name, "--", "sh", "-c", "tty; stty size"),
        stdin=slave,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    try:
        async with asyncio.timeout(20):
            shown = await asyncio.to_thread(_read_to_the_end, master)
            await client.wait()
    finally:
        os.close(master)
    assert client.returncode == 0
    lines = shown.decode().splitlines()
    assert lines[0].startswith("/dev/pts/") and lines[1] == "33 101", lines


def _read_to_the_end(fd: int) -> bytes:
    """All a terminal's other end gets until its last user closes it."""
    chunks = []
    with contextlib.suppress(OSError):  # EIO: no process has the terminal open any more
        while chunk := os.read(fd, 4096):
            chunks.append(chunk)
    return b"".join(chunks)


async def test_exec_is_refused_as_the_kubelet_refuses_it(emu: Emulator, kubectl: Kubectl) -> None:
    waiting = pod_manifest("waiting", tolerations=[GPU_TOLERATION])
    waiting["spec"]["containers"][0]["volumeMounts"] = [{"name": "c", "mountPath": "/c"}]
    waiting["spec"]["volumes"] = [{"name": "c", "configMap": {"name": "missing"}}]
    await create(kubectl, waiting)
    await emu.store.wait_for(
        lambda: (
            _pod(emu, "waiting").get("status", {}).get("podIP") is None
            and _pod(emu, "waiting").get("status", {}).get("startTime")
        )
    )
    refused = await kubectl("exec", "waiting", "--", "true", check=False)
    assert refused.returncode == 1
    assert refused.stderr == (
        "error: Internal error occurred: unable to upgrade connection: container not found "
        '("notebook")\n'
    )
    done = await running(emu, kubectl, work_pod("done", ["true"]))
    await emu.store.wait_for(lambda: _pod(emu, done)["status"]["phase"] == "Succeeded")
    completed = await kubectl("exec", done, "--", "true", check=False)
    assert "cannot exec into a container in a completed pod; current phase is Succeeded" in (
        completed.stderr
    )
    name = await running(emu, kubectl, work_pod("shell", ["sleep", "60"]))
    wrong = await kubectl("exec", name, "-c", "nope", "--", "true", check=False)
    assert wrong.returncode == 1
    assert "container nope is not valid for pod shell" in wrong.stderr
    missing = await kubectl("exec", name, "--", "no-such-command", check=False)
    assert missing.returncode == 1
    assert 'exec: "no-such-command": executable file not found in $PATH' in missing.stderr
    await create(kubectl, pod_manifest("unscheduled"))  # no node tolerates it
    unbound = await kubectl("exec", "unscheduled", "--", "true", check=False)
    assert unbound.returncode == 1
    assert "pod unscheduled does not have a host assigned" in unbound.stderr


async def exec_in_background(kubectl: Kubectl, name: str, pid_file: str) -> tuple[Process, int]:
    """``kubectl exec`` of a long sleep, running; its process and the sleep's pid."""
    script = 'echo $$ > "$0"; exec sleep 600'  # "$0": a path in an argument is made local
    process = await asyncio.create_subprocess_exec(
        *kubectl.argv("exec", name, "--", "sh", "-c", script, pid_file),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    shown = await eventually_output(kubectl, name, pid_file)
    return process, int(shown)


async def eventually_output(kubectl: Kubectl, name: str, path: str) -> str:
    """The content of ``path`` in the container, once it is there."""
    async with asyncio.timeout(10):
        while not (shown := (await kubectl("exec", name, "--", "cat", path, check=False)).stdout):
            pass
    return shown


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_an_exec_ends_with_its_client_or_its_container(
    emu: Emulator, kubectl: Kubectl
) -> None:
    name = await running(emu, kubectl, work_pod("shell", ["sleep", "60"]))
    client, pid = await exec_in_background(kubectl, name, "/data/first")
    client.kill()  # the client goes away: its command is killed
    await client.wait()
    await eventually(lambda: _gone(pid))
    client, pid = await exec_in_background(kubectl, name, "/data/second")
    await kubectl("delete", "pod", name, "--wait=false")
    async with asyncio.timeout(10):
        _, err = await client.communicate()
    assert client.returncode == 137
    assert err.decode() == "command terminated with exit code 137\n"
    assert _gone(pid)


async def test_attach_streams_the_running_containers_output(
    emu: Emulator, kubectl: Kubectl
) -> None:
    script = 'while [ ! -e "$0" ]; do echo tick; sleep 0.05; done; echo bye'
    name = await running(emu, kubectl, work_pod("ticker", ["sh", "-c", script, "/data/stop"]))
    attach = await asyncio.create_subprocess_exec(
        *kubectl.argv("attach", name),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert attach.stdout is not None
    async with asyncio.timeout(10):
        assert await attach.stdout.readline() == b"tick\n"
    await kubectl("exec", name, "--", "touch", "/data/stop")
    async with asyncio.timeout(10):
        rest, _ = await attach.communicate()
    assert attach.returncode == 0
    assert rest.decode().splitlines()[-1] == "bye"


async def test_cp_round_trips_a_tree_byte_for_byte(
    emu: Emulator, kubectl: Kubectl, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    (tree / "sub" / "deeper").mkdir(parents=True)
    (tree / "a.txt").write_text("alpha\n")
    (tree / "sub" / "b.bin").write_bytes(bytes(range(256)) * 64)
    (tree / "sub" / "deeper" / "empty").write_bytes(b"")
    name = await running(emu, kubectl, work_pod("shell", ["sleep", "60"]))
    await kubectl("cp", str(tree), f"{name}:/data/tree")
    listed = await kubectl("exec", name, "--", "sh", "-c", "cd tree && find . -type f | sort")
    assert listed.stdout == "./a.txt\n./sub/b.bin\n./sub/deeper/empty\n"
    back = tmp_path / "back"
    await kubectl("cp", f"{name}:/data/tree", str(back))
    for original in (p for p in tree.rglob("*") if p.is_file()):
        assert (back / original.relative_to(tree)).read_bytes() == original.read_bytes()
    assert sorted(p.relative_to(back) for p in back.rglob("*")) == sorted(
        p.relative_to(tree) for p in tree.rglob("*")
    )


async def test_cp_reaches_a_users_home_volume_as_a_spawned_server_mounts_it(
    emu: Emulator, kubectl: Kubectl, tmp_path: Path
) -> None:
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "claim-ada"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    await create(kubectl, claim)
    manifest = pod_manifest("jupyter-ada", ["sleep", "60"], tolerations=[GPU_TOLERATION])
    manifest["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "home", "mountPath": "/home/jovyan"}
    ]
    manifest["spec"]["volumes"] = [
        {"name": "home", "persistentVolumeClaim": {"claimName": "claim-ada"}}
    ]
    name = await running(emu, kubectl, manifest)
    notebook = tmp_path / "analysis.ipynb"
    notebook.write_bytes(b'{"cells": []}\n' * 1000)
    await kubectl("cp", str(notebook), f"{name}:/home/jovyan/analysis.ipynb")
    on_the_volume = emu.workdir / "pvcs" / "default" / "claim-ada" / "analysis.ipynb"
    assert on_the_volume.read_bytes() == notebook.read_bytes()
    back = tmp_path / "back.ipynb"
    await kubectl("cp", f"{name}:/home/jovyan/analysis.ipynb", str(back))
    assert back.read_bytes() == notebook.read_bytes()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["ls", "/work/x"], ["ls", "/local/w/x"]),
        (
            ["tar", "cf", "-", "/work/a.b"],
            ["tar", "cf", "-", "/local/w/a.b", r"--transform=s,^local/w/a\.b,work/a.b,"],
        ),
        (
            ["tar", "-xmf", "-", "-C", "/work"],
            ["tar", "-xmf", "-", "-C", "/local/w", "--transform=s,^local/w,work,"],
        ),
        (["tar", "cf", "-", "/etc/hosts"], ["tar", "cf", "-", "/etc/hosts"]),
    ],
)
def test_container_paths_in_an_exec_are_made_local(argv: list[str], expected: list[str]) -> None:
    assert local_argv(argv, {"/work": "/local/w"}) == expected


async def web_pod(emu: Emulator, kubectl: Kubectl) -> str:
    """A running pod serving its working directory over HTTP on port 8000, with page.txt."""
    server = [sys.executable, "-m", "http.server", "8000", "--bind", "0.0.0.0"]
    probe = {"httpGet": {"path": "/", "port": 8000}}
    name = await running(emu, kubectl, work_pod("web", server, readinessProbe=probe))
    await emu.store.wait_for(lambda: _status(emu, name).get("ready"))
    await kubectl("exec", name, "--", "sh", "-c", "echo hello > page.txt")
    return name


async def port_forward(kubectl: Kubectl, name: str, port: int) -> tuple[Process, str]:
    """``kubectl port-forward NAME :PORT`` running, once it listens; its local URL."""
    forward = await asyncio.create_subprocess_exec(
        *kubectl.argv("port-forward", name, f":{port}"),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert forward.stdout is not None
    async with asyncio.timeout(10):
        line = (await forward.stdout.readline()).decode()
    match = re.fullmatch(rf"Forwarding from 127\.0\.0\.1:(\d+) -> {port}\n", line)
    if not match:
        forward.kill()
        _, err = await forward.communicate()
        raise AssertionError(f"kubectl port-forward printed {line!r}, then {err.decode()!r}")
    return forward, f"http://127.0.0.1:{match[1]}"


async def test_port_forward_reaches_the_pods_port(emu: Emulator, kubectl: Kubectl) -> None:
    name = await web_pod(emu, kubectl)
    forward, local = await port_forward(kubectl, name, 8000)
    try:
        url = f"{local}/page.txt"
        async with aiohttp.ClientSession() as session:
            for _ in range(2):  # two connections: two pairs of streams
                async with session.get(url, headers={"Connection": "close"}) as response:
                    assert response.status == 200
                    assert await response.text() == "hello\n"
    finally:
        forward.terminate()
        await forward.wait()


async def test_port_forward_to_a_closed_port_fails_as_the_kubelet_reports_it(
    emu: Emulator, kubectl: Kubectl
) -> None:
    name = await web_pod(emu, kubectl)
    forward, local = await port_forward(kubectl, name, 9)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError):
            await session.get(local)
    async with asyncio.timeout(10):
        _, err = await forward.communicate()
    ip, uid = _pod(emu, name)["status"]["podIP"], _pod(emu, name)["metadata"]["uid"]
    assert (
        f"error forwarding port 9 to pod web, uid {uid}: dial tcp4 {ip}:9: connect: "
        'connection refused" localPort='
    ) in err.decode()
    assert err.decode().endswith("error: lost connection to pod\n")


def _status(emu: Emulator, name: str) -> dict[str, Any]:
    return (_pod(emu, name).get("status", {}).get("containerStatuses") or [{}])[0]


async def test_an_exec_readiness_probe_runs_in_the_container_with_its_environment(
    emu: Emulator, kubectl: Kubectl
) -> None:
    probe = {"exec": {"command": ["/bin/sh", "-c", 'test -e "$MARK"']}, "periodSeconds": 1}
    manifest = work_pod("gated", ["sleep", "60"], readinessProbe=probe)
    manifest["spec"]["containers"][0]["env"].append({"name": "MARK", "value": "/data/ready"})
    name = await running(emu, kubectl, manifest)
    status = json.loads((await kubectl("get", "pod", name, "-o", "json")).stdout)["status"]
    assert status["containerStatuses"][0]["ready"] is False
    await kubectl("exec", name, "--", "touch", "/data/ready")  # the file the probe looks for
    await kubectl("wait", "--for=condition=Ready", f"pod/{name}", "--timeout=10s")
