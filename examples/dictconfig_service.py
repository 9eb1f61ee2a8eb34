"""A service whose logging comes from ``dictConfig``: no rollbar_notifier code at all.

Every ``logger.error()`` and ``logger.exception()`` becomes a Rollbar item; INFO and
WARNING records ride along as telemetry. Queued items are delivered at exit by
``logging.shutdown()``.

    ROLLBAR_ACCESS_TOKEN=<post_server_item token> python examples/dictconfig_service.py

Set ROLLBAR_ENDPOINT to report elsewhere, e.g. to ``rollbar-notifier serve``.
"""

import logging
import logging.config
import os

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "rollbar": {
            "class": "rollbar_notifier.RollbarHandler",
            "level": "ERROR",
            "access_token": os.environ["ROLLBAR_ACCESS_TOKEN"],
            "environment": "production",
        },
    },
    "root": {"level": "INFO", "handlers": ["console", "rollbar"]},
}

log = logging.getLogger("shop.orders")


def charge(order_id: int, amount: float) -> None:
    if amount <= 0:
        raise ValueError(f"cannot charge {amount}")


def process(order_id: int, amount: float) -> None:
    log.info("processing order %s", order_id)
    try:
        charge(order_id, amount)
    except ValueError:
        # A trace item: the exception with its frames, this message as its description.
        log.exception("charging order %s failed", order_id, extra={"amount": amount})
        return
    if order_id % 2:
        # A message item; all "order %s needs a manual check" group as one item.
        log.error("order %s needs a manual check", order_id, extra={"order_id": order_id})


def main() -> None:
    logging.config.dictConfig(LOGGING)
    for order_id, amount in ((1, 9.5), (2, 0.0), (3, 12.0)):
        process(order_id, amount)


if __name__ == "__main__":
    main()
