"""Report errors from Python programs to Rollbar or any Rollbar-compatible server.

The names below are imported on first use, so ``rollbar_notifier.devserver`` (and the
``contract`` it shares with the notifier) can be used without loading ``requests``. The
scope functions are the exception: the function ``scope`` has the name of its module,
and importing that module (as the notifier does) would make the package attribute the
module, so they are bound here, after it is imported; it needs no ``requests``.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .scope import scope, set_context, set_extra, set_person

if TYPE_CHECKING:
    from .config import Config
    from .default import close, flush, init, report_deploy, report_exception, report_message
    from .deploy import DeployError
    from .handler import RollbarHandler
    from .hooks import install_asyncio_handler, install_excepthook, uninstall_excepthook
    from .notifier import Notifier, get_notifier

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "Config",
    "DeployError",
    "Notifier",
    "RollbarHandler",
    "__version__",
    "close",
    "flush",
    "get_notifier",
    "init",
    "install_asyncio_handler",
    "install_excepthook",
    "report_deploy",
    "report_exception",
    "report_message",
    "scope",
    "set_context",
    "set_extra",
    "set_person",
    "uninstall_excepthook",
]

_HOMES = {
    "Config": "config",
    "DeployError": "deploy",
    "Notifier": "notifier",
    "RollbarHandler": "handler",
    "close": "default",
    "flush": "default",
    "get_notifier": "notifier",
    "init": "default",
    "install_asyncio_handler": "hooks",
    "install_excepthook": "hooks",
    "report_deploy": "default",
    "report_exception": "default",
    "report_message": "default",
    "uninstall_excepthook": "hooks",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
