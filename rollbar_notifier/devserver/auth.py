"""Tokens and scopes: which token a request carries and whether it may do the call."""

from __future__ import annotations

from typing import Any, Collection, Mapping, Optional

from ..contract import CLIENT_PLATFORMS, CLIENT_SCOPE, SERVER_SCOPE, TOKEN_HEADER
from .messages import ApiError, Request


def request_token(request: Request, fields: Optional[Mapping[str, Any]] = None) -> Optional[str]:
    """The header token, else the deprecated `access_token` parameter (query, then body)."""
    candidates = (
        request.headers.get(TOKEN_HEADER.lower()),
        request.query.get("access_token"),
        (fields or {}).get("access_token"),
    )
    for token in candidates:
        if isinstance(token, str) and token:
            return token
    return None


def authorize(
    tokens: Mapping[str, Collection[str]], token: Optional[str], needed: Collection[str]
) -> str:
    """Raise 403 unless `token` is known and has one of the `needed` scopes.

    The checked token is returned as a `str`, so callers need no None check of their own.
    """
    if token is None:
        raise ApiError(403, "access token required")
    scopes = tokens.get(token)
    if scopes is None:
        raise ApiError(403, "invalid access token")
    if not any(scope in scopes for scope in needed):
        raise ApiError(
            403,
            f"insufficient privileges: {' or '.join(needed)} scope is required "
            f"but the access token only has {', '.join(sorted(scopes))}.",
        )
    return token


def item_scopes(platform: Any) -> Collection[str]:
    """`post_client_item` may only post items whose platform is client-side.

    Runs before validation, so `platform` may be any JSON value (a list is unhashable).
    """
    if isinstance(platform, str) and platform in CLIENT_PLATFORMS:
        return (SERVER_SCOPE, CLIENT_SCOPE)
    return (SERVER_SCOPE,)
