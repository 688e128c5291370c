"""Everything the service holds for its whole life, made in one place: one :class:`State`.

Tools never reach module globals: each call gets a :class:`~mcpmesh_github.api.GitHub`
built from this state and the call's context (see ``service.bind``). With a library
lifespan, the service's lifespan is ``State.of(settings)``, yielded, then ``close()``.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcpmesh_github.auth import CredentialBroker
from mcpmesh_github.client import GitHubClient
from mcpmesh_github.safety import Lockdown, RepoAllowlist
from mcpmesh_github.settings import GitHubSettings


@dataclass(frozen=True)
class State:
    settings: GitHubSettings
    #: One aiohttp session (connection reuse) with the ETag cache, for every call.
    client: GitHubClient
    #: Mints and caches App installation tokens narrowed per call, or reads the PAT.
    broker: CredentialBroker
    allowlist: RepoAllowlist
    #: Cached repository visibility and authors' push access.
    lockdown: Lockdown

    @classmethod
    def of(cls, settings: GitHubSettings) -> State:
        """Build the state; no I/O (the HTTP session opens on the first request)."""
        client = GitHubClient(settings)
        return cls(
            settings=settings,
            client=client,
            broker=CredentialBroker(settings, client),
            allowlist=RepoAllowlist(settings.allowed_repos),
            lockdown=Lockdown(settings.lockdown, settings.trusted_bots),
        )

    async def close(self) -> None:
        await self.client.close()
