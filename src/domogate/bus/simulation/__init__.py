"""The simulated building behind :class:`~domogate.bus.simulated.SimulatedBus`: what the
devices may do (``building``), the device base (``device``), one module per kind of object
(``switch``, ``dimmer``, ``shutter``, ``thermostat``, ``sensor``) and the shutters' travel
arithmetic (``travel``)."""
