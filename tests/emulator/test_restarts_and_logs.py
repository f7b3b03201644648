"""Restarts with CrashLoopBackOff, and ``kubectl logs`` with its options."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from twcc_spawner.simulated.emulator import Emulator

from .conftest import Kubectl, eventually, pod_manifest
from .test_references import create, events

# Counts its runs in an emptyDir (which outlives restarts) and prints it; fails twice.
COUNTING = (
    'n=$(cat "$0" 2>/dev/null || echo 0); echo "run $n"; echo $((n + 1)) > "$0"; '
    '[ "$n" -ge 2 ] && exec sleep 60; exit 1'
)


def _pod(emu: Emulator, name: str) -> dict[str, Any]:
    return emu.store.find("pods", "default", name) or {}


def _status(emu: Emulator, name: str) -> dict[str, Any]:
    statuses = _pod(emu, name).get("status", {}).get("containerStatuses") or [{}]
    return statuses[0]


def counting_pod(name: str, policy: str, script: str = COUNTING) -> dict[str, Any]:
    manifest = pod_manifest(name, ["sh", "-c", script, "/scratch/n"], gpus=1, restartPolicy=policy)
    manifest["spec"]["containers"][0]["volumeMounts"] = [{"name": "s", "mountPath": "/scratch"}]
    manifest["spec"]["volumes"] = [{"name": "s", "emptyDir": {}}]
    return manifest


@pytest.mark.parametrize("policy", ["Always", "OnFailure"])
async def test_a_failing_container_is_restarted_with_back_off(
    emu: Emulator, kubectl: Kubectl, policy: str
) -> None:
    seen: list[dict[str, Any]] = []  # every status the pod's container went through
    emu.store.subscribe(
        lambda change: (
            seen.extend(change.object["status"].get("containerStatuses") or [])
            if change.plural == "pods"
            else None
        )
    )
    await create(kubectl, counting_pod("crash", policy))
    await emu.store.wait_for(
        lambda: (
            _status(emu, "crash").get("restartCount") == 2
            and "running" in _status(emu, "crash")["state"]
        )
    )
    uid = _pod(emu, "crash")["metadata"]["uid"]
    backing_off = next(s for s in seen if "CrashLoopBackOff" in str(s["state"]))
    assert backing_off["restartCount"] == 1  # the first restart is at once, the second backs off
    assert re.fullmatch(
        rf"back-off 200ms restarting failed container=notebook pod=crash_default\({uid}\)",
        backing_off["state"]["waiting"]["message"],
    )
    status = _status(emu, "crash")
    last = status["lastState"]["terminated"]
    assert (last["exitCode"], last["reason"]) == (1, "Error")
    assert _pod(emu, "crash")["status"]["phase"] == "Running"
    # running is reported once the process is started, before its first line
    await eventually(lambda: emu.kubelet.pod_logs(_pod(emu, "crash"), {}))
    current = await kubectl("logs", "crash")
    previous = await kubectl("logs", "crash", "--previous")
    assert (current.stdout, previous.stdout) == ("run 2\n", "run 1\n")
    message = f"Back-off restarting failed container notebook in pod crash_default({uid})"
    assert ("Warning", "BackOff", message) in await events(kubectl, "crash")


async def test_on_failure_does_not_restart_a_container_that_succeeded(
    emu: Emulator, kubectl: Kubectl
) -> None:
    await create(kubectl, counting_pod("done", "OnFailure", 'echo "$0"'))
    await emu.store.wait_for(lambda: _pod(emu, "done")["status"]["phase"] == "Succeeded")
    assert _status(emu, "done")["restartCount"] == 0
    result = await kubectl("logs", "done", "--previous", check=False)
    assert result.returncode == 1
    assert 'previous terminated container "notebook" in pod "done" not found' in result.stderr


LINES = 'for i in 1 2 3; do echo "line $i"; sleep 0.2; done; printf tail'


async def test_logs_options(emu: Emulator, kubectl: Kubectl) -> None:
    await create(kubectl, pod_manifest("talk", ["sh", "-c", LINES], gpus=1))
    await emu.store.wait_for(lambda: "running" in _status(emu, "talk").get("state", {}))
    followed = await kubectl("logs", "-f", "talk")  # returns when the container ends
    assert followed.stdout == "line 1\nline 2\nline 3\ntail"
    assert (await kubectl("logs", "talk", "--tail=2")).stdout == "line 3\ntail"
    assert (await kubectl("logs", "talk", "--limit-bytes=8")).stdout == "line 1\nl"
    assert (await kubectl("logs", "talk", "-c", "notebook", "--since=1h")).stdout.count("line") == 3
    late = (datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (await kubectl("logs", "talk", f"--since-time={late}")).stdout == ""
    stamped = (await kubectl("logs", "talk", "--timestamps")).stdout.splitlines()
    assert len(stamped) == 4
    for line, text in zip(stamped, ["line 1", "line 2", "line 3", "tail"], strict=True):
        stamp, _, rest = line.partition(" ")
        assert rest == text
        assert datetime.strptime(stamp[:26] + "Z", "%Y-%m-%dT%H:%M:%S.%fZ")


async def test_logs_of_a_waiting_or_unknown_container(emu: Emulator, kubectl: Kubectl) -> None:
    manifest = pod_manifest("p", ["true"], gpus=1)
    manifest["spec"]["containers"][0]["image"] = "registry.invalid/x:1"
    await create(kubectl, manifest)
    await emu.store.wait_for(lambda: "waiting" in _status(emu, "p").get("state", {}))
    result = await kubectl("logs", "p", check=False)
    assert 'container "notebook" in pod "p" is waiting to start' in result.stderr
    result = await kubectl("logs", "p", "-c", "nope", check=False)
    assert "container nope is not valid for pod p" in result.stderr
