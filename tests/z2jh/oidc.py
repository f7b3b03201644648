"""A tiny OpenID Connect provider stand-in: it signs in one user, with groups, without a form.

``/authorize`` sends the browser straight back to the redirect URI with a code,
``/token`` trades the code (client id and secret checked) for an access token,
``/userinfo`` answers the token's claims. Enough for GenericOAuthenticator's
authorization-code flow; not a real provider.
"""

from __future__ import annotations

import json
import secrets
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Provider:
    """The stand-in's state: the client it knows and the user it signs in."""

    client_id: str
    client_secret: str
    claims: Mapping[str, Any]
    url: str = ""
    codes: set[str] = field(default_factory=set)
    tokens: set[str] = field(default_factory=set)

    def endpoints(self) -> dict[str, str]:
        return {
            "authorize_url": f"{self.url}/authorize",
            "token_url": f"{self.url}/token",
            "userdata_url": f"{self.url}/userinfo",
        }


def _handler(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _answer(self, status: int, body: Mapping[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            if url.path == "/authorize":
                if query.get("client_id") != provider.client_id:
                    return self._answer(400, {"error": "unauthorized_client"})
                code = secrets.token_urlsafe(16)
                provider.codes.add(code)
                back = {"code": code, "state": query.get("state", "")}
                self.send_response(302)
                self.send_header(
                    "Location", f"{query['redirect_uri']}?{urllib.parse.urlencode(back)}"
                )
                self.end_headers()
                return None
            if url.path == "/userinfo":
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                if token not in provider.tokens:
                    return self._answer(401, {"error": "invalid_token"})
                return self._answer(200, dict(provider.claims))
            return self._answer(404, {"error": "not_found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
            basic = self.headers.get("Authorization", "")
            if basic.startswith("Basic "):
                import base64

                user, _, password = base64.b64decode(basic[6:]).decode().partition(":")
                form.setdefault("client_id", user)
                form.setdefault("client_secret", password)
            if (form.get("client_id"), form.get("client_secret")) != (
                provider.client_id,
                provider.client_secret,
            ):
                return self._answer(401, {"error": "invalid_client"})
            if form.get("code") not in provider.codes:
                return self._answer(400, {"error": "invalid_grant"})
            provider.codes.discard(form["code"])
            token = secrets.token_urlsafe(16)
            provider.tokens.add(token)
            return self._answer(200, {"access_token": token, "token_type": "Bearer"})

    return Handler


@contextmanager
def serving(provider: Provider) -> Iterator[Provider]:
    """Serve ``provider`` on a free port of 127.0.0.1 until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(provider))
    provider.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
