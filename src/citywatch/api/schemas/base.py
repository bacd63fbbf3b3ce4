"""The shared pieces of the API's models: the base classes, pages, errors and the audit actor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from fastapi import HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from citywatch.api.security import Principal
from citywatch.audit.chain import Actor

T = TypeVar("T")

API = "/api/v1"
MAX_PAGE = 500
Name = Field(min_length=1, max_length=200)
Reason = Field(min_length=1, max_length=1000, description="Why (recorded in the audit log)")


class Out(BaseModel):
    """A response model (read-only view of a row)."""

    model_config = ConfigDict(frozen=True)


class In(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class Page(Out, Generic[T]):
    """One page of a list."""

    items: list[T]
    limit: int = Field(description="Page size asked for")
    next_before_id: int | None = Field(
        default=None, description="Cursor lists: pass as before_id for the next (older) page"
    )
    offset: int | None = Field(default=None, description="Offset lists: where this page starts")
    total: int | None = Field(default=None, description="Offset lists: items in all pages")


def offset_page(items: Sequence[T], *, offset: int, limit: int) -> Page[T]:
    """A page cut from a complete (already ordered) list."""
    return Page[T](
        items=list(items[offset : offset + limit]), limit=limit, offset=offset, total=len(items)
    )


class Error(Out):
    """Every error response: ``detail`` says what was wrong (never a secret)."""

    detail: Any


def unprocessable(loc: Sequence[str | int], problems: Sequence[str], kind: str) -> HTTPException:
    """A 422 shaped like FastAPI's validation errors: one entry per problem, at ``loc``."""
    detail = [{"loc": list(loc), "msg": p, "type": kind} for p in problems]
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=detail)


#: Error responses every protected route may answer (declared for the OpenAPI schema).
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Error, "description": "Refused by a service rule"},
    401: {"model": Error, "description": "No or unknown credential"},
    403: {"model": Error, "description": "The role lacks the permission, or CSRF failed"},
    404: {"model": Error, "description": "Not found"},
    413: {"model": Error, "description": "Request body too large"},
}


def actor_of(principal: Principal | None) -> Actor:
    """The audit actor of a protected route's principal (``requires`` never gives None there)."""
    if principal is None:  # pragma: no cover - requires() refuses before the route runs
        raise RuntimeError("a protected route ran without a principal")
    return principal.actor()
