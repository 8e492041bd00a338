"""ETS import, the data tables: ETS 6 function types, the roles of a function's group
addresses and their bindings and datapoint types (a data table)."""

from __future__ import annotations

from collections.abc import Mapping

# ETS 6 function types (knx_master.xml FunctionType ids; stable across languages).
FUNCTION_TYPES: Mapping[str, str] = {
    "FT-1": "switch",  # switchable light
    "FT-2": "dimmer",  # dimmable light (deprecated form)
    "FT-6": "dimmer",  # dimmable light
    "FT-3": "shutter",  # sun protection (deprecated form)
    "FT-7": "shutter",  # sun protection
    "FT-4": "thermostat",  # heating radiator (deprecated)
    "FT-5": "thermostat",  # heating floor (deprecated)
    "FT-8": "thermostat",  # heating (switching variable)
    "FT-9": "thermostat",  # heating (continuous variable)
}

# Group address roles of a function (knx_master.xml DatapointRole names) → binding key.
ROLE_BINDINGS: Mapping[str, Mapping[str, str]] = {
    "switch": {"SwitchOnOff": "command", "InfoOnOff": "state"},
    "dimmer": {
        "SwitchOnOff": "command",
        "InfoOnOff": "state",
        "DimmingValue": "brightness",
        "InfoDimmingValue": "brightness_state",
    },
    "shutter": {
        "MoveUpDown": "command",
        "StopStepUpDown": "stop",
        "CurrentAbsolutePositionBlindsPercentage": "position",
        "CurrentAbsolutePositionSlatPercentage": "slats",
    },
    "thermostat": {"TempRoom": "temperature", "TempRoomSetpoint": "target", "HVACMode": "mode"},
}

# The datapoint type ETS defines for a role, used when the group address has none.
ROLE_DPTS: Mapping[str, str] = {
    "SwitchOnOff": "1.001",
    "InfoOnOff": "1.001",
    "DimmingValue": "5.001",
    "InfoDimmingValue": "5.001",
    "MoveUpDown": "1.008",
    "StopStepUpDown": "1.007",
    "CurrentAbsolutePositionBlindsPercentage": "5.001",
    "CurrentAbsolutePositionSlatPercentage": "5.001",
    "TempRoom": "9.001",
    "TempRoomSetpoint": "9.001",
    "HVACMode": "20.102",
}

UNSUPPORTED_ROLES: Mapping[str, str] = {
    "DimmingControl": "relative dimming (DPT 3.007) has no domogate attribute",
}

# DPT 1.x subtypes that are inputs (alarms, contacts, presence): shown, not switched.
SENSOR_BOOLEANS = frozenset({5, 6, 11, 18, 19})
