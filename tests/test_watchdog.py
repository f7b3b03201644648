"""Reading a starting pod's status for failures that end the spawn early."""

from __future__ import annotations

from typing import Any

import pytest

from twcc_spawner.watchdog import container_failure, unschedulable_message


def pod(**status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "jupyter-alice"}, "status": {"phase": "Pending", **status}}


def test_unschedulable_gives_the_schedulers_message() -> None:
    stuck = pod(
        conditions=[
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
            }
        ]
    )
    assert unschedulable_message(stuck) == "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
    scheduled = pod(conditions=[{"type": "PodScheduled", "status": "True"}])
    assert unschedulable_message(scheduled) is None
    assert unschedulable_message(pod()) is None


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (
            {
                "containerStatuses": [
                    {
                        "name": "notebook",
                        "state": {
                            "terminated": {
                                "exitCode": 3,
                                "message": "2 GPUs requested, 1 visible\n",
                            }
                        },
                    }
                ]
            },
            "The main container 'notebook' exited with code 3: 2 GPUs requested, 1 visible",
        ),
        (
            {
                "containerStatuses": [
                    {
                        "name": "notebook",
                        "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
                    }
                ]
            },
            "The main container 'notebook' exited with code 0: Completed",
        ),
        (
            {
                "initContainerStatuses": [
                    {
                        "name": "server-env",
                        "state": {"terminated": {"exitCode": 1, "reason": "Error"}},
                    }
                ]
            },
            "The init container 'server-env' exited with code 1: Error",
        ),
        (
            {
                "containerStatuses": [
                    {
                        "name": "notebook",
                        "state": {
                            "waiting": {
                                "reason": "ImagePullBackOff",
                                "message": "Back-off pulling image",
                            }
                        },
                    }
                ]
            },
            "The main container 'notebook' is stuck: ImagePullBackOff. Back-off pulling image",
        ),
        (
            {
                "phase": "Running",
                "containerStatuses": [
                    {
                        "name": "notebook",
                        "restartCount": 1,
                        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
                        "lastState": {"terminated": {"exitCode": 1, "message": "no GPU\n"}},
                    }
                ],
            },
            "The main container 'notebook' exited with code 1: no GPU",
        ),
        ({"phase": "Failed", "message": "Pod was evicted"}, "Pod was evicted"),
    ],
    ids=["exit-with-message", "exit-zero", "init-failed", "image-pull", "restarted", "pod-failed"],
)
def test_container_failures(status: dict[str, Any], expected: str) -> None:
    assert container_failure(pod(**status)) == expected


@pytest.mark.parametrize(
    "status",
    [
        {},
        {
            "initContainerStatuses": [
                {"name": "server-env", "state": {"terminated": {"exitCode": 0}}}
            ]
        },
        {
            "containerStatuses": [
                {"name": "notebook", "state": {"waiting": {"reason": "ContainerCreating"}}}
            ]
        },
        {
            "containerStatuses": [
                {"name": "notebook", "state": {"waiting": {"reason": "ErrImagePull"}}}
            ]
        },
        {"phase": "Running", "containerStatuses": [{"name": "notebook", "state": {"running": {}}}]},
    ],
    ids=["pending", "init-done", "creating", "first-pull-error", "running"],
)
def test_states_that_may_still_become_ready(status: dict[str, Any]) -> None:
    assert container_failure(pod(**status)) is None
