"""What route handlers take from the request: the running helpdesk.

The one door from HTTP to the composition root, so routes (channels' too) never import it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

if TYPE_CHECKING:
    from helpdesk.runtime import Runtime


def runtime_of(connection: HTTPConnection) -> Runtime:
    """The composition root the app was created with (`create_app`); for a request or a
    websocket."""
    runtime: Runtime = connection.app.state.runtime
    return runtime
