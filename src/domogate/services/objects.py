"""Operate the building: object states, commands and who may see or operate what.

The service owns the current state of every object of the deployed project (fed by the
bus: telegrams on an attribute's state or command address), checks each command against
the caller's group and the object's datapoint types, writes it to the bus, and publishes
:class:`ObjectStateChanged` for adapters to fan out to the clients allowed to see it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from domogate.core.export import NOT_OPERABLE_TYPES, can_operate, can_see
from domogate.core.objects import AddressIndex, Write, command
from domogate.core.project import Project, ProjectObject
from domogate.core.throttle import BucketSpec, TokenBucket
from domogate.core.values import JsonValue
from domogate.errors import Forbidden, NotFound, RateLimited
from domogate.services.context import Caller
from domogate.services.events import (
    BusStatusChanged,
    Event,
    EventHub,
    ObjectStateChanged,
    ProjectChanged,
)
from domogate.services.ports import Bus, BusStatus, Clock
from domogate.services.project_state import ProjectState

log = logging.getLogger(__name__)

State = dict[str, JsonValue]


class ObjectsService:
    """Implements :class:`~domogate.services.bus.BusListener` for the bus it drives."""

    def __init__(
        self,
        *,
        bus: Bus,
        project: ProjectState,
        events: EventHub,
        clock: Clock,
        throttle: BucketSpec,
    ) -> None:
        self._bus = bus
        self._clock = clock
        self._throttle = throttle
        self._buckets: dict[str, TokenBucket] = {}  # user id -> commands left
        self._project = project
        self._events = events
        self._index = AddressIndex()
        self._states: dict[str, State] = {}
        self._visible: dict[str, frozenset[str] | None] = {}  # object -> groups (None: all)
        self._status = bus.status
        self._configuring: asyncio.Task[None] | None = None
        self._started = False
        events.subscribe(self._on_event)

    # --- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._reindex()
        await self._bus.start(self)
        await self._bus.configure(self._objects())

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        if self._configuring is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._configuring, 5)
        await self._bus.stop()

    def _objects(self) -> list[ProjectObject]:
        project = self._project.project
        return list(project.objects) if project else []

    def _reindex(self) -> None:
        """Rebuild the address index for the deployed project, keeping known states of
        attributes that still exist with the same type."""
        project = self._project.project
        index = AddressIndex.of(project.objects if project else [])
        states: dict[str, State] = {}
        for object_id, resolved in index.objects.items():
            old = self._states.get(object_id, {})
            previous = self._index.objects.get(object_id)
            state = resolved.initial_state()
            if previous is not None and previous.type == resolved.type:
                for name in state:
                    # A value stays only while its addresses and datapoint type do: anything
                    # else means another device or another unit; the bus will tell.
                    if previous.attributes.get(name) == resolved.attributes[name]:
                        state[name] = old.get(name)
            states[object_id] = state
        self._index = index
        self._states = states
        self._visible = _visibility(project)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, ProjectChanged):
            self._reindex()  # synchronously: listeners after us see the new states
            previous = self._configuring

            async def configure() -> None:
                if previous is not None:
                    with contextlib.suppress(Exception):
                        await previous
                try:
                    await self._bus.configure(self._objects())
                except Exception:
                    log.exception("could not configure the bus for the new project")

            self._configuring = asyncio.get_running_loop().create_task(configure())

    # --- BusListener ----------------------------------------------------------------------

    def on_value(self, address: str, value: JsonValue) -> None:
        changed: list[str] = []
        for attribute in self._index.by_address.get(address, ()):
            state = self._states.get(attribute.object_id)
            if state is None:
                continue
            if state.get(attribute.name) != value:
                state[attribute.name] = value
                if attribute.object_id not in changed:
                    changed.append(attribute.object_id)
        for object_id in changed:
            self._events.publish(
                ObjectStateChanged(
                    object_id, dict(self._states[object_id]), self._visible.get(object_id)
                )
            )

    def on_status(self, status: BusStatus) -> None:
        if status == self._status:
            return
        self._status = status
        self._events.publish(BusStatusChanged(status))

    # --- queries --------------------------------------------------------------------------

    @property
    def bus_status(self) -> BusStatus:
        return self._status

    def state(self, object_id: str) -> State | None:
        state = self._states.get(object_id)
        return dict(state) if state is not None else None

    def states_for(self, group: str) -> dict[str, State]:
        """Current states of every object ``group`` may see."""
        return {
            object_id: dict(state)
            for object_id, state in self._states.items()
            if _sees(self._visible.get(object_id), group)
        }

    # --- commands -------------------------------------------------------------------------

    async def command(self, caller: Caller, object_id: str, attribute: str, value: object) -> Write:
        """Check and send one command. Raises ``not_found`` (no such object for this group,
        or no such attribute), ``forbidden`` (may see but not operate, or read only),
        ``value_invalid`` and ``bus_unavailable``."""
        project = self._project.project
        group = caller.user.group
        obj = project.object(object_id) if project else None
        if obj is None or not can_see(obj, group):
            raise NotFound(f"No object {object_id!r}.")
        if obj.type in NOT_OPERABLE_TYPES:
            raise Forbidden(
                f"{obj.name!r} is a {obj.type.value}: it shows a value, takes no command."
            )
        if not can_operate(obj, group):
            raise Forbidden(f"Your group may see {obj.name!r} but not operate it.")
        resolved = self._index.objects.get(object_id)
        if resolved is None:
            raise NotFound(f"No object {object_id!r}.")
        write = command(resolved, attribute, value)
        self._take_token(caller.user.id)
        await self._bus.write(write.address, write.dpt, write.value)
        # Like a KNX device on the same group address, take the written value at once; the
        # actuator's state feedback (if bound) confirms or corrects it.
        self.on_value(write.address, write.value)
        return write

    def _take_token(self, user_id: str) -> None:
        now = self._clock.monotonic()
        bucket = self._buckets.get(user_id)
        if bucket is None:
            if len(self._buckets) > 10_000:  # forget users that have been quiet
                self._buckets = {k: b for k, b in self._buckets.items() if not b.is_full(now)}
            bucket = self._buckets[user_id] = TokenBucket.full(self._throttle, now)
        if not bucket.take(now):
            raise RateLimited(bucket.retry_after(now), "Too many commands; slow down.")


def _sees(groups: frozenset[str] | None, group: str) -> bool:
    return groups is None or group in groups


def _visibility(project: Project | None) -> dict[str, frozenset[str] | None]:
    if project is None:
        return {}
    return {
        obj.id: (
            frozenset(obj.restrictions.visible_to)
            if obj.restrictions.visible_to is not None
            else None
        )
        for obj in project.objects
    }
