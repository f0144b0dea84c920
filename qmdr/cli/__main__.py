"""``python -m qmdr.cli.main``: the same app as the ``qmdr`` script."""

from qmdr.cli.main import main

main()
