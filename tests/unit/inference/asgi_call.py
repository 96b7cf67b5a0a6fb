"""Calling the ASGI app in-process, as uvicorn calls it: one request, its body as receive messages."""

import asyncio
import json
from collections.abc import Sequence
from typing import Any


def asgi_headers(**headers: str) -> list[tuple[bytes, bytes]]:
    """WSGI-style names (``CONTENT_TYPE``, ``HTTP_ACCEPT``) as the lower-case ASGI header list."""
    found = []
    for name, value in headers.items():
        key = name[5:] if name.startswith("HTTP_") else name
        found.append((key.lower().replace("_", "-").encode(), value.encode()))
    return found


async def _call(app: Any, scope: dict[str, Any], messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    waiting = list(messages)

    async def receive() -> dict[str, Any]:
        if waiting:
            message = waiting.pop(0)
            if message["type"] == "stall":
                await asyncio.sleep(3600)
            return message
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def _part(chunk: bytes, more: bool) -> dict[str, Any]:
    return {"type": "http.request", "body": chunk, "more_body": more}


def call(
    app: Any, method: str, path: str, body: bytes = b"", chunks: Sequence[bytes] | None = None, **headers: str
) -> tuple[int, dict[str, str], Any]:
    """(status, headers with their usual capitals, parsed JSON body or None); ``chunks`` sends the body in parts.

    A chunk ``b"<stall>"`` stands for a client that stops sending, ``b"<gone>"`` for one that disconnects.
    """
    if chunks is None:
        chunks = [body]
        headers.setdefault("CONTENT_LENGTH", str(len(body)) if body else "")
    headers = {name: value for name, value in headers.items() if value != ""}
    special: dict[bytes, dict[str, Any]] = {b"<stall>": {"type": "stall"}, b"<gone>": {"type": "http.disconnect"}}
    messages = [special.get(chunk) or _part(chunk, index < len(chunks) - 1) for index, chunk in enumerate(chunks)]
    scope = {"type": "http", "method": method, "path": path, "headers": asgi_headers(**headers)}
    sent = asyncio.run(_call(app, scope, messages))
    if not sent:
        return 0, {}, None
    start, content = sent[0], b"".join(message.get("body", b"") for message in sent[1:])
    answer_headers = {name.decode().title(): value.decode() for name, value in start["headers"]}
    return start["status"], answer_headers, json.loads(content) if content else None
