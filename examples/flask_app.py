"""Flask: errors that Flask turns into a 500 answer are reported, with their request.

    ROLLBAR_ACCESS_TOKEN=<post_server_item token> flask --app examples/flask_app.py run
    curl 'http://127.0.0.1:5000/orders/7?expand=lines'

The item's context is the URL rule (``/orders/<int:order_id>``); it carries the URL,
the headers (``Authorization`` and ``Cookie`` scrubbed), the view's arguments and the
request's own log records. With Flask-Login, ``current_user`` is the person (its id;
its name and email only with ``capture_username`` / ``capture_email``).
"""

import logging

from flask import Flask

import rollbar_notifier
from rollbar_notifier.integrations.flask import init_app

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
log = logging.getLogger("shop.orders")

rollbar_notifier.init(environment="example")
app = Flask(__name__)
init_app(app)


@app.get("/orders/<int:order_id>")
def order(order_id: int) -> str:
    log.info("loading order %s", order_id)
    raise LookupError(f"order {order_id}: customer missing")
