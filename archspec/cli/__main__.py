"""``python -m archspec.cli``: the same as the ``archspec`` command."""

from archspec.cli import main

main()
