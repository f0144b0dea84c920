"""The ``qmdr`` command line: ``main`` holds the app; each other module one command group."""
