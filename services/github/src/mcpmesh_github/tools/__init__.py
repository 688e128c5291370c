"""The tools, one module per toolset. Each tool: checked repository → narrow credential →
request → sanitize and label → a compact result Struct that also renders as short text.

Docstrings are the tool descriptions the model reads: kept short (context bloat is a
known complaint about GitHub's own server). Importing this package fills the catalogue.
"""

from mcpmesh_github.tools import actions, context, issues, pulls, repos, search

__all__ = ["actions", "context", "issues", "pulls", "repos", "search"]
