"""A local Rollbar-compatible server: see what a notifier sends before using production."""

from .server import DevServer

__all__ = ["DevServer"]
