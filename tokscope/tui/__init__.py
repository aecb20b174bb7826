"""The terminal UI: the Textual app and screens, the tab registry, and the Textual-free
loading and view computation the CLI starts before Textual is imported.

Importing this package imports nothing of Textual: ``app``, ``screens``, ``commands`` and
``messages`` do, ``tabs``, ``view`` and ``loading`` do not.
"""
