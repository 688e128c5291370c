"""The operator's commands (``mcpmesh status``, ``tools``, ``secrets list|delete``), each
in its own module with the function that adds it to the parser: ``cli.py`` only calls
those, so new commands merge without touching each other."""
