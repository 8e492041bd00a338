"""One simulated actuator or sensor: the base the kinds build on."""

from __future__ import annotations

from collections.abc import Callable

from domogate.bus.simulation.building import ACTUATOR_DELAY_S, Building
from domogate.core.objects import Attribute, ResolvedObject
from domogate.core.values import JsonValue


class Device:
    """One simulated actuator or sensor."""

    def __init__(self, building: Building, obj: ResolvedObject) -> None:
        self.b = building
        self.attrs = obj.attributes

    def handlers(self) -> dict[str, Callable[[JsonValue], None]]:
        """Command address → what a write there does."""
        return {}

    def values(self) -> list[tuple[Attribute, JsonValue]]:
        """Every stateful attribute with its current value (what a read would return)."""
        return []

    def tick(self) -> None:
        """A climate period passed."""

    def cancel(self) -> None:
        """Stop any motion (reconfigure, stop)."""

    def _report(self, name: str, value: JsonValue, delay: float = ACTUATOR_DELAY_S) -> None:
        attribute = self.attrs.get(name)
        if attribute is None or attribute.state is None:
            return
        address, dpt = attribute.state, attribute.dpt
        self.b.later(delay, lambda: self.b.report(address, dpt, value))

    def _on(
        self, name: str, handler: Callable[[JsonValue], None]
    ) -> dict[str, Callable[..., None]]:
        attribute = self.attrs.get(name)
        if attribute is None or attribute.write is None:
            return {}
        return {attribute.write: handler}

    def _value(self, name: str, value: JsonValue) -> list[tuple[Attribute, JsonValue]]:
        attribute = self.attrs.get(name)
        return [] if attribute is None else [(attribute, value)]
