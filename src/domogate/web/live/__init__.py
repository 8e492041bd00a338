"""The live channel ``/api/ws``: authentication, fan-out of events, revocation.

It is served as a raw ASGI endpoint, in front of the FastAPI app (see :class:`LiveFirst`),
because an idle connected client must cost little server memory and no CPU (DESIGN §8): no
framework objects per connection, no task per idle connection, and nothing polled. Each
connection has a bounded send queue; a task drains it only while it holds messages. A slow
client never holds up the others, and one that cannot keep up is closed (4429) and told
why. Whether a connection may stay open is decided by the services
(:class:`~domogate.services.auth.AuthService`), which tell the connection when it may not.

- ``transport.py`` — WebSocket operations on raw ASGI, the outermost ASGI layer
- ``connection.py`` — one connection's bounded queue; it hears from the services
- ``protocol.py`` — messages in and out
- ``hub.py`` — admission (caps), the receive loop, fan-out of events
"""

from domogate.web.live.connection import Connection
from domogate.web.live.hub import LiveHub
from domogate.web.live.transport import (
    LIVE_PATH,
    WS_MAX_MESSAGE,
    Disconnected,
    LiveFirst,
    RawSocket,
)

__all__ = [
    "LIVE_PATH",
    "WS_MAX_MESSAGE",
    "Connection",
    "Disconnected",
    "LiveFirst",
    "LiveHub",
    "RawSocket",
]
