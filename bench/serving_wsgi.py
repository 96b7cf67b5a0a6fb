"""Our service (``inference.app.Service``) as a WSGI callable, for the benchmark's WSGI servers (bench only).

``python -m inference.serve`` runs the service as ASGI under uvicorn (``inference.asgi``). The
benchmark also serves it under the WSGI servers it replaced, gunicorn (``bench.serving_gunicorn``)
and granian (``bench.serving_granian``), and this adapter does per request what the WSGI app of
those servers did (``git show 3ea8050:inference/app.py``): route on the method and path, read the
body with its ``Content-Length`` (a chunked one up to the bound), refuse it (413) past the bound,
parse and score it, answer JSON; an exception that escapes is a bare JSON 500, as
``inference.serve.json_faults`` answered it under granian.

One simplification, off the benchmark's path: an oversized body is refused at once with
``Connection: close`` instead of being drained first to keep the connection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from inference.app import FAULT, Answer, Service, declared_length, error
from training.feature_schema import PayloadError

WSGIEnviron = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[WSGIEnviron, StartResponse], Iterable[bytes]]

log = logging.getLogger("inference")


def _answer(service: Service, environ: WSGIEnviron) -> Answer:
    routed = service.route(
        environ.get("REQUEST_METHOD", ""),
        environ.get("PATH_INFO", ""),
        content_type=environ.get("CONTENT_TYPE"),
        accept=environ.get("HTTP_ACCEPT"),
    )
    if isinstance(routed, Answer):
        return routed
    try:
        length = declared_length(environ.get("CONTENT_LENGTH"))
    except PayloadError as err:
        return error(err.status, err.message, close=True)
    if length is not None and length > routed.limit:
        return routed.refuse(f"{length} bytes (Content-Length)", close=True)
    stream = environ["wsgi.input"]
    try:
        if length is not None:
            body: bytes = stream.read(length) if length else b""
        elif "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            body = stream.read(routed.limit + 1)
        else:
            body = b""
    except Exception as err:  # a client that breaks the framing is a client error, not a server fault
        return error(400, f"could not read the request body: {type(err).__name__}", close=True)
    if length is not None and len(body) < length:
        return error(400, f"the body ended after {len(body)} of {length} bytes (Content-Length)", close=True)
    if len(body) > routed.limit:  # chunked, and past the bound
        return routed.refuse(f"over {routed.limit} bytes", close=True)
    return routed.finish(body)


def make_wsgi_app(service: Service) -> WSGIApp:
    """``service`` as a WSGI callable."""

    def app(environ: WSGIEnviron, start_response: StartResponse) -> Iterable[bytes]:
        try:
            reply = _answer(service, environ)
        except Exception:
            log.exception("error handling %s %s", environ.get("REQUEST_METHOD"), str(environ.get("PATH_INFO"))[:100])
            reply = FAULT
        start_response(f"{reply.status} {reply.reason}", reply.headers())
        return [reply.body]

    return app


def ours_from_env() -> WSGIApp:
    """The service for the model in ``SM_MODEL_DIR``, as WSGI."""
    import os

    from inference.model import load_model

    return make_wsgi_app(Service(load_model(os.environ["SM_MODEL_DIR"])))
