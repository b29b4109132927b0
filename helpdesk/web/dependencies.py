"""What route handlers take from the request: the running helpdesk."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Request

if TYPE_CHECKING:
    from helpdesk.runtime import Runtime


def runtime_of(request: Request) -> Runtime:
    """The composition root the app was created with (`create_app`)."""
    runtime: Runtime = request.app.state.runtime
    return runtime
