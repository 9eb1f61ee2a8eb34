"""Flask: ``init_app(app)`` reports what Flask turns into a 500 answer.

    from rollbar_notifier.integrations.flask import init_app
    rollbar_notifier.init(access_token="...")
    init_app(app)

Flask catches a view's exception, sends ``got_request_exception`` and answers 500: the
exception never reaches the server. ``init_app`` reports from that signal, with the URL
rule (``/orders/<int:order_id>``) as the context, and wraps ``app.wsgi_app`` in the
WSGI middleware so every report made during a request (``logger.exception`` included)
carries the request, its route and view arguments, and Flask-Login's ``current_user``
as the person when Flask-Login is in use.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Dict, Optional

from ..notifier import Notifier, resolve_notifier
from ..scope import set_context
from . import report, require
from .person import person
from .request import from_wsgi
from .wsgi import Environ, RecordingInput
from .wsgi import RollbarMiddleware as WSGIMiddleware

_flask = require("flask", "flask", "flask")
log = logging.getLogger(__name__)

FRAMEWORK = "flask"
EXTENSION = "rollbar_notifier"


def init_app(app: Any, notifier: Optional[Notifier] = None) -> None:
    """Report ``app``'s unhandled exceptions to ``notifier`` (default: ``init()``'s, looked
    up at each request). Calling it again for the same app does nothing."""
    if EXTENSION in app.extensions:
        return
    app.extensions[EXTENSION] = notifier
    app.wsgi_app = FlaskMiddleware(app.wsgi_app, notifier)

    def on_exception(sender: Any, exception: BaseException, **extra: Any) -> None:
        report(resolve_notifier(notifier), exception, context=url_rule())

    def on_start(sender: Any, **extra: Any) -> None:
        rule = url_rule()
        if rule:
            set_context(rule)

    _flask.got_request_exception.connect(on_exception, app, weak=False)
    _flask.request_started.connect(on_start, app, weak=False)


def url_rule() -> Optional[str]:
    if not _flask.has_request_context():
        return None
    rule = _flask.request.url_rule
    return None if rule is None else str(rule.rule)


class FlaskMiddleware(WSGIMiddleware):
    """The WSGI middleware, reading what Flask knows of the request while it is handled."""

    framework = FRAMEWORK

    def request_data(self, notifier: Notifier, environ: Environ,
                     recorder: Optional[RecordingInput]) -> Dict[str, Any]:
        if not _flask.has_request_context():
            return super().request_data(notifier, environ, recorder)
        request = _flask.request
        length = environ.get("CONTENT_LENGTH")
        if recorder is not None and length:
            try:  # what the view did not read, read through the recorder (and kept for Flask)
                request.get_data(cache=True)
            except Exception:  # too large for the app, or the client left: no body, the rest
                log.debug("rollbar_notifier: reading the request body failed", exc_info=True)
        return from_wsgi(environ, notifier.config,
                         body=recorder.body(length) if recorder else None,
                         route=url_rule(), params=request.view_args)

    def person_data(self, notifier: Notifier) -> Optional[Dict[str, Any]]:
        """Flask-Login's ``current_user``, when the application uses Flask-Login."""
        flask_login = sys.modules.get("flask_login")
        if flask_login is None or not _flask.has_request_context() \
                or not hasattr(_flask.current_app, "login_manager"):
            return None
        user = flask_login.current_user
        if not getattr(user, "is_authenticated", False):
            return None
        return person(notifier.config, user.get_id(), username=getattr(user, "username", None),
                      email=getattr(user, "email", None))
