"""The bus port, where the bus adapters (``bus/``) import it from.

The port itself lives with the others in :mod:`domogate.services.ports`.
"""

from __future__ import annotations

from domogate.services.ports import Bus, BusListener, BusStatus

__all__ = ["Bus", "BusListener", "BusStatus"]
