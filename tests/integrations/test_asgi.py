"""The ASGI middleware around a Starlette application, called in this process through
httpx: requests as concurrent asyncio tasks, 5xx answers made by the framework, bodies."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

from rollbar_notifier.devserver import DevServer
from rollbar_notifier.integrations.asgi import RollbarMiddleware
from rollbar_notifier.notifier import Notifier

from .served import WAIT, exception_class, stored, telemetry

httpx = pytest.importorskip("httpx")
starlette = pytest.importorskip("starlette")
from starlette.applications import Starlette  # noqa: E402
from starlette.authentication import (  # noqa: E402
    AuthCredentials,
    AuthenticationBackend,
    BaseUser,
)
from starlette.exceptions import HTTPException  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402
from starlette.middleware.authentication import AuthenticationMiddleware  # noqa: E402
from starlette.requests import HTTPConnection, Request  # noqa: E402
from starlette.responses import JSONResponse, Response  # noqa: E402
from starlette.routing import Mount, Route  # noqa: E402

log = logging.getLogger("asgi_app")
log.setLevel(logging.INFO)


class Customer(BaseUser):  # type: ignore[misc]
    def __init__(self, identity: str) -> None:
        self._identity = identity

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def identity(self) -> str:
        return self._identity

    @property
    def display_name(self) -> str:
        return "ada"


class HeaderAuth(AuthenticationBackend):  # type: ignore[misc]
    async def authenticate(self, conn: HTTPConnection) -> Optional[Tuple[Any, BaseUser]]:
        user = conn.headers.get("x-user")
        return (AuthCredentials(["customer"]), Customer(user)) if user else None


def make_app(both_started: Optional[asyncio.Event] = None) -> Starlette:
    started: List[str] = []

    async def checkout(request: Request) -> Response:
        name = request.path_params["name"]
        log.info("%s: started", name)
        started.append(name)
        if both_started is not None:
            if len(started) == 2:
                both_started.set()
            await asyncio.wait_for(both_started.wait(), WAIT)
        log.info("%s: failing", name)
        raise RuntimeError(f"{name} failed")

    async def declined(request: Request) -> Response:
        await request.json()
        raise ValueError("card declined")

    async def unavailable(request: Request) -> Response:
        raise HTTPException(status_code=503, detail="maintenance")

    async def value_error(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=502)

    shop = Starlette(routes=[Route("/checkout/{name}", checkout),
                             Route("/pay", declined, methods=["POST"]),
                             Route("/unavailable", unavailable)],
                     exception_handlers={ValueError: value_error})
    return Starlette(routes=[Mount("/shop", shop)],
                     middleware=[Middleware(AuthenticationMiddleware, backend=HeaderAuth())])


async def fetch(app: Any, *requests: Tuple[str, str, Dict[str, Any]]) -> List[httpx.Response]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
        return list(await asyncio.gather(*(client.request(method, url, **options)
                                           for method, url, options in requests)))


def test_concurrent_asyncio_requests_never_share_person_request_or_telemetry(
        notifier: Notifier, devserver: DevServer) -> None:
    async def run() -> List[httpx.Response]:
        app = RollbarMiddleware(make_app(asyncio.Event()), notifier)
        return await fetch(app, *(("GET", f"/shop/checkout/{name}", {"headers": {"X-User": user}})
                                  for name, user in (("alpha", "1"), ("beta", "2"))))

    assert [answer.status_code for answer in asyncio.run(run())] == [500, 500]
    assert notifier.flush(WAIT)
    by_name = {d["request"]["params"]["name"]: d for d in stored(devserver, 2)}
    for name, other, user in (("alpha", "beta", "1"), ("beta", "alpha", "2")):
        data = by_name[name]
        assert data["request"]["url"] == f"http://shop.test/shop/checkout/{name}"
        assert data["request"]["route"] == "/shop/checkout/{name}"
        assert (data["framework"], data["context"]) == ("starlette",
                                                        "GET /shop/checkout/{name}")
        assert data["person"] == {"id": user}
        messages = telemetry(data)
        assert messages[-2:] == [f"{name}: started", f"{name}: failing"]
        assert not [m for m in messages if m.startswith(other)]


def test_a_5xx_answer_made_by_the_framework_is_reported(notifier: Notifier,
                                                        devserver: DevServer) -> None:
    answers = asyncio.run(fetch(RollbarMiddleware(make_app(), notifier),
                                ("GET", "/shop/unavailable", {}),
                                ("POST", "/shop/pay", {"json": {"cvv": "123"}})))
    assert [answer.status_code for answer in answers] == [503, 502]
    assert notifier.flush(WAIT)
    messages = {d["body"]["message"]["body"]: d for d in stored(devserver, 2)}
    assert set(messages) == {"GET /shop/unavailable answered 503",
                             "POST /shop/pay answered 502"}
    data = messages["POST /shop/pay answered 502"]
    assert (data["level"], data["context"]) == ("error", "POST /shop/pay")
    assert "body" not in data["request"], "no body without include_request_body"


def test_a_received_json_body_is_sent_with_include_request_body(
        notifier_on: Callable[..., Notifier], devserver: DevServer) -> None:
    notifier = notifier_on(include_request_body=True)
    app = RollbarMiddleware(make_app(), notifier)
    (answer,) = asyncio.run(fetch(app, ("POST", "/shop/pay", {"json": {"cvv": "123"}})))
    assert answer.status_code == 502
    assert notifier.flush(WAIT)
    (data,) = stored(devserver, 1)
    assert json.loads(data["request"]["body"]) == {"cvv": "********"}


def test_an_exception_escaping_a_bare_asgi_app_is_reported(notifier: Notifier,
                                                           devserver: DevServer) -> None:
    async def bare(scope: Dict[str, Any], receive: Any, send: Any) -> None:
        raise KeyError("handler")

    (answer,) = asyncio.run(fetch(RollbarMiddleware(bare, notifier), ("GET", "/x?y=1", {})))
    assert answer.status_code == 500
    assert notifier.flush(WAIT)
    (data,) = stored(devserver, 1)
    assert (data["framework"], data["context"]) == ("asgi", "GET /x")
    assert exception_class(data) == "KeyError"
    assert data["request"]["url"] == "http://shop.test/x?y=1"
