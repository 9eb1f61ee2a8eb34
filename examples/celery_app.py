"""Celery: failing tasks are reported from the worker, whatever it does to logging.

A worker removes the root logger's handlers when it starts; ``connect(app)`` reports
from Celery's signals instead. A failed task's item has the task name as its context,
its arguments by parameter name (``card_number`` scrubbed, though passed by position),
the task id and retry count, and the log records of that run; a retry shows in the
telemetry of what the worker reports next.

The broker is a folder (``CELERY_DATA_DIR``), so this runs without Redis or RabbitMQ:

    cd examples
    ROLLBAR_ACCESS_TOKEN=<post_server_item token> celery -A celery_app worker -c 1
    python celery_app.py          # in another terminal: queues the tasks
"""

import logging
import os
import tempfile

from celery import Celery
from celery.signals import after_setup_logger

import rollbar_notifier
from rollbar_notifier.integrations.celery import connect

FOLDER = os.environ.get("CELERY_DATA_DIR", os.path.join(tempfile.gettempdir(), "celery-shop"))
os.makedirs(FOLDER, exist_ok=True)

log = logging.getLogger("shop.tasks")

rollbar_notifier.init(environment="example")
app = Celery("shop")
app.conf.update(
    broker_url=os.environ.get("CELERY_BROKER_URL", "filesystem://"),
    broker_transport_options={"data_folder_in": FOLDER, "data_folder_out": FOLDER,
                              "polling_interval": 0.1},
    task_ignore_result=True,
    worker_hijack_root_logger=True,
)
connect(app)


@after_setup_logger.connect
def report_error_records(logger: logging.Logger, **kwargs: object) -> None:
    """Optional: ``log.error()`` in tasks becomes an item too (a failure is still one)."""
    logger.addHandler(rollbar_notifier.RollbarHandler())


@app.task(name="shop.charge")
def charge(order_id: int, card_number: str) -> None:
    log.warning("charging order %s", order_id)
    raise ValueError(f"card declined for order {order_id}")


@app.task(name="shop.sync_stock", bind=True, max_retries=1)
def sync_stock(self, sku: str) -> None:
    log.warning("syncing %s, attempt %s", sku, self.request.retries + 1)
    try:
        raise ConnectionError("warehouse unreachable")
    except ConnectionError as exc:
        raise self.retry(exc=exc, countdown=0) from exc


if __name__ == "__main__":
    charge.delay(7, "4111 1111 1111 1111")
    sync_stock.delay("SKU-42")
    print("queued shop.charge and shop.sync_stock")
