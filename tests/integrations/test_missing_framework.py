"""No framework is a dependency: an integration whose framework is missing says what to
install, and the others import without any."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
for name in ("django", "flask", "celery", "fastapi", "starlette", "uvicorn"):
    sys.modules[name] = None  # as if not installed
import rollbar_notifier.integrations.wsgi, rollbar_notifier.integrations.asgi
import rollbar_notifier.integrations.aws_lambda
for integration in ("django", "flask", "celery"):
    try:
        __import__(f"rollbar_notifier.integrations.{integration}")
    except ImportError as exc:
        print(exc)
"""


def test_a_missing_framework_is_named_with_what_to_install() -> None:
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"rollbar_notifier.integrations.{name} needs {name}, which is not installed: "
        f"pip install {name}" for name in ("django", "flask", "celery")]
