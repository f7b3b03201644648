"""Running code in a kernel of a Jupyter server, through its REST API and WebSocket."""

from __future__ import annotations

import json
import uuid

import pytest
from aiohttp import ClientSession, WSMsgType


async def run_in_kernel(session: ClientSession, base: str, code: str) -> str:
    """Start a kernel through the REST API, run ``code``, return its stdout."""
    async with session.post(f"{base}api/kernels", json={}) as response:
        assert response.status == 201, await response.text()
        kernel = await response.json()
    msg_id = uuid.uuid4().hex
    request = {
        "header": {
            "msg_id": msg_id,
            "msg_type": "execute_request",
            "username": "alice",
            "session": uuid.uuid4().hex,
            "date": "",
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "content": {"code": code, "silent": False, "store_history": False},
        "channel": "shell",
        "buffers": [],
    }
    output = []
    ws_url = f"{base.replace('http', 'ws', 1)}api/kernels/{kernel['id']}/channels"
    async with session.ws_connect(ws_url) as ws:
        await ws.send_json(request)
        async for message in ws:
            assert message.type == WSMsgType.TEXT
            reply = json.loads(message.data)
            if reply["parent_header"].get("msg_id") != msg_id:
                continue
            if reply["msg_type"] == "stream":
                output.append(reply["content"]["text"])
            elif reply["msg_type"] == "error":
                pytest.fail("\n".join(reply["content"]["traceback"]))
            elif reply["msg_type"] == "status" and reply["content"]["execution_state"] == "idle":
                break
    return "".join(output)
