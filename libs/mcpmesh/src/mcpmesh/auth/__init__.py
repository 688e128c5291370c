"""Who is calling: the principal an access token names, and the errors that refuse a call.

The types here sit below ``server/`` (a :class:`~mcpmesh.server.context.Context` carries a
:class:`Principal`) and import nothing of the protocol, so every layer may use them.
"""

from mcpmesh.auth.principal import AuthError, Principal

__all__ = ["AuthError", "Principal"]
