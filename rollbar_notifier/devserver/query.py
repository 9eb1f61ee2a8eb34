"""List parameters read from a URL query (`page`, `per_page` and the item filters), the
same for the API and the page, so a filtered page's URL and an API call read alike."""

from __future__ import annotations

import dataclasses
from typing import Mapping, Optional, Tuple

from ..contract import ITEM_STATUSES, LEVELS
from .messages import ApiError
from .store import ItemFilter

MAX_PER_PAGE = 100
"""The most rows one list answer holds, whatever `per_page` asks for."""
MAX_PAGE = 10**9
MAX_SEARCH = 255


@dataclasses.dataclass(frozen=True)
class Paging:
    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def pages(self, total: int) -> int:
        """How many pages `total` rows make; at least one, even when empty."""
        return max(1, -(-total // self.per_page))


def paging(query: Mapping[str, str], default: int, maximum: int = MAX_PER_PAGE) -> Paging:
    """`page` from 1 and `per_page` from 1, capped at `maximum`; 400 when not numbers."""
    page = _positive(query, "page", 1)
    per_page = _positive(query, "per_page", default)
    return Paging(min(page, MAX_PAGE), min(per_page, maximum))


def item_filter(query: Mapping[str, str]) -> ItemFilter:
    """`environment`, `level`, `status`, `framework` and the search text `q`; an empty
    value (as a form submits for "any") means no filter."""
    return ItemFilter(
        environment=_given(query, "environment"),
        level=_choice(query, "level", LEVELS),
        status=_choice(query, "status", ITEM_STATUSES),
        framework=_given(query, "framework"),
        text=(_given(query, "q") or "")[:MAX_SEARCH].strip() or None,
    )


def _given(query: Mapping[str, str], name: str) -> Optional[str]:
    return query.get(name) or None


def _choice(query: Mapping[str, str], name: str, choices: Tuple[str, ...]) -> Optional[str]:
    value = _given(query, name)
    if value is not None and value not in choices:
        raise ApiError(400, f"{name} should be one of {', '.join(choices)}")
    return value


def _positive(query: Mapping[str, str], name: str, default: int) -> int:
    text = _given(query, name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit() and len(text) <= 12) or int(text) < 1:
        raise ApiError(400, f"{name} should be a whole number from 1")
    return int(text)
