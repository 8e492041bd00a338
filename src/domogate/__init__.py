"""domogate: home and building automation supervision."""

__version__ = "0.1.0"
