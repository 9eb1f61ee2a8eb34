"""FastAPI served by uvicorn: every unhandled error is reported, with its request.

uvicorn logs an endpoint's exception on ``uvicorn.error``, a logger that does not
propagate to the root, so a logging handler alone never sees it. The ASGI middleware
reports it instead, with the URL, the headers (``Authorization`` and ``Cookie``
scrubbed), the route as the context (``GET /orders/{order_id}``) and the request's own
log records; a websocket that fails is reported the same way.

    cd examples
    ROLLBAR_ACCESS_TOKEN=<post_server_item token> uvicorn fastapi_app:app
    curl 'http://127.0.0.1:8000/orders/7?expand=lines'

Set ROLLBAR_ENDPOINT to report elsewhere, e.g. to ``rollbar-notifier serve``.
"""

import logging

from fastapi import FastAPI, WebSocket

import rollbar_notifier
from rollbar_notifier.integrations.asgi import RollbarMiddleware

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
log = logging.getLogger("shop.orders")

rollbar_notifier.init(environment="example")
api = FastAPI()


@api.get("/orders/{order_id}")
async def order(order_id: int) -> dict:
    log.info("loading order %s", order_id)
    log.warning("order %s has no customer", order_id)
    raise LookupError(f"order {order_id}: customer missing")


@api.websocket("/live/{room}")
async def live(websocket: WebSocket, room: str) -> None:
    await websocket.accept()
    log.info("watching room %s", room)
    raise RuntimeError(f"room {room} is closed")


# Outermost, so the 500 answer FastAPI makes of the error (and uvicorn's log line for
# it) belong to the request too. ``api.add_middleware(RollbarMiddleware)`` also works.
app = RollbarMiddleware(api)
