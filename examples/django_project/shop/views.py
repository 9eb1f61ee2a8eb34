import logging

from django.http import HttpRequest, HttpResponse

log = logging.getLogger("shop.orders")


def order_detail(request: HttpRequest, order_id: int) -> HttpResponse:
    log.info("loading order %s", order_id)
    raise LookupError(f"order {order_id}: customer missing")
