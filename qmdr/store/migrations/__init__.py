"""Schema migrations, one module per backend (``postgres``; sqlite keeps its own).

Each module is an ordered list of idempotent steps plus the code that runs the
ones a database has not seen yet, recording ``schema_version`` in ``meta``.
"""
