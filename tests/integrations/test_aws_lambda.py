"""The Lambda example in a subprocess that ends right after its handler returns, as a
frozen Lambda would: only what ``@wrap`` flushed can arrive."""

from __future__ import annotations

import subprocess

from rollbar_notifier.devserver import DevServer

from .served import EXAMPLES, WAIT, environ, python, stored


def test_items_of_a_handler_that_returned_and_of_one_that_raised(devserver: DevServer) -> None:
    done = subprocess.run(python(str(EXAMPLES / "lambda_handler.py")), env=environ(devserver),
                          capture_output=True, text=True, timeout=6 * WAIT, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["{'statusCode': 200, 'body': 'order 7 accepted'}",
                                        "invocation failed: KeyError 'order_id'"]
    message, failure = stored(devserver, 2)
    assert message["body"]["message"]["body"] == "order 7 has no lines"
    assert (message["context"], message["framework"]) == ("orders-intake", "aws_lambda")
    assert failure["body"]["trace"]["exception"]["class"] == "KeyError"
    assert (failure["context"], failure["framework"]) == ("orders-intake", "aws_lambda")
    invocation = failure["custom"]["aws_lambda"]
    assert invocation["function_name"] == "orders-intake"
    assert invocation["aws_request_id"] != message["custom"]["aws_lambda"]["aws_request_id"]
    assert invocation["event"] == {"lines": [1]}
