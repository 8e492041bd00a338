"""Shutter travel arithmetic (kept apart, as xknx keeps ``travelcalculator.py``): how long
a step takes and where the next step ends."""

from __future__ import annotations

SHUTTER_TRAVEL_S = 20.0  # fully open to fully closed
SHUTTER_STEP = 5  # percent between two position reports while moving


def step_time(travel_s: float = SHUTTER_TRAVEL_S, step: float = SHUTTER_STEP) -> float:
    """Simulated seconds one step of ``step`` percent takes on a full travel of ``travel_s``."""
    return travel_s * step / 100


def next_position(position: float, target: float, step: float = SHUTTER_STEP) -> float:
    """The position after one step from ``position`` towards ``target``."""
    delta = target - position
    if abs(delta) <= step:
        return target
    return position + (step if delta > 0 else -step)
