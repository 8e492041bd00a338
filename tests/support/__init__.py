"""Helpers shared by test folders (and nothing else): import them from ``tests.support.*``.

``conftest.py`` files hold only fixtures; no test module imports a ``conftest`` or another
test module (``tests/test_layout.py`` checks it).
"""
