"""``python -m domogate`` is the ``domogate`` command."""

from domogate.cli.main import main

main()
