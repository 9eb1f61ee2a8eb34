"""An AWS Lambda handler whose items are delivered before Lambda freezes it.

Lambda may freeze the process for good as soon as the handler returns: nothing queued
is sent after that, and ``atexit`` never runs. ``@wrap`` reports an exception escaping
the handler (with the request id, the function name and the event) and flushes what is
queued before returning, within the time the invocation has left.

Deploy with the handler ``lambda_handler.handler``, ``ROLLBAR_ACCESS_TOKEN`` set in the
function's environment. Running this file invokes the handler twice with a stand-in
context, then ends the process at once, as a frozen Lambda would:

    ROLLBAR_ACCESS_TOKEN=<post_server_item token> python examples/lambda_handler.py
"""

import os
import time
import uuid

import rollbar_notifier
from rollbar_notifier.integrations.aws_lambda import wrap

rollbar_notifier.init(environment="example")


@wrap
def handler(event: dict, context: object) -> dict:
    order_id = event["order_id"]
    if not event.get("lines"):
        rollbar_notifier.report_message(f"order {order_id} has no lines", level="warning")
    return {"statusCode": 200, "body": f"order {order_id} accepted"}


class LocalContext:
    """What Lambda passes as ``context``, as far as the wrapper reads it."""

    function_name = "orders-intake"
    function_version = "$LATEST"
    memory_limit_in_mb = 128

    def __init__(self, timeout: float = 3.0) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self._deadline - time.monotonic()) * 1000), 0)


if __name__ == "__main__":
    print(handler({"order_id": 7}, LocalContext()))
    try:
        handler({"lines": [1]}, LocalContext())
    except KeyError as exc:
        print(f"invocation failed: KeyError {exc}")
    os._exit(0)  # no atexit, no logging.shutdown(): only what the wrapper flushed is sent
