"""What tools return, one module per toolset: compact Structs (structuredContent and
``outputSchema``) that also render as short text."""
