"""The access a request carries: everything (the admin token, or no auth configured) or an agent token's vaults.

Routes ask it one question each: may this caller read (or write) vault X, and
which of the vaults it asked for may it read. A vault outside a token's scope
is refused with ``Forbidden`` (403 naming the vault) whether or not it exists,
so a scoped token learns nothing about vaults it cannot reach; "all vaults"
means all the vaults the token can read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from qmdr.access.tokens import Right, TokenInfo
from qmdr.errors import Forbidden


@dataclass(frozen=True, slots=True)
class Access:
    """``Access.admin()`` may do anything; ``Access.scoped(info)`` only what its token's vaults allow."""

    token_name: str | None = None  # None: the admin (or an API without QMDR_API_TOKEN)
    vaults: Mapping[str, Right] = field(default_factory=dict)

    @classmethod
    def admin(cls) -> Access:
        return cls()

    @classmethod
    def scoped(cls, info: TokenInfo) -> Access:
        return cls(token_name=info.name, vaults=dict(info.vaults))

    @property
    def is_admin(self) -> bool:
        return self.token_name is None

    def can_read(self, vault: str) -> bool:
        return self.is_admin or vault in self.vaults

    def can_write(self, vault: str) -> bool:
        return self.is_admin or self.vaults.get(vault) == "rw"

    def require_read(self, vault: str) -> None:
        if not self.can_read(vault):
            raise Forbidden(f"the token {self.token_name!r} cannot read the vault {vault!r}", vault=vault)

    def require_write(self, vault: str) -> None:
        if not self.can_write(vault):
            how = "can only read" if self.can_read(vault) else "cannot read or write"
            raise Forbidden(f"the token {self.token_name!r} {how} the vault {vault!r}; writing needs rw", vault=vault)

    def require_admin(self, what: str = "this route") -> None:
        if not self.is_admin:
            raise Forbidden(
                f"{what} needs the admin token (QMDR_API_TOKEN); the token {self.token_name!r} reaches only its vaults"
            )

    def readable(self, known: Iterable[str]) -> list[str]:
        """Of ``known`` vault names, those this caller may read (all of them for the admin)."""
        return [name for name in known if self.can_read(name)]

    def search_scope(self, requested: Sequence[str] | None, known: Iterable[str]) -> list[str] | None:
        """The vaults a search or context request may cover. ``requested`` None/[]/["all"] (every vault) stays
        as it is for the admin and becomes the token's readable vaults otherwise; named vaults must all be
        readable (else ``Forbidden`` naming the first that is not)."""
        everything = not requested or list(requested) == ["all"]
        if self.is_admin:
            return None if requested is None else list(requested)
        if everything:
            names = self.readable(known)
            if not names:
                raise Forbidden(f"the token {self.token_name!r} can read none of this server's vaults")
            return names
        for name in requested or []:
            self.require_read(name)
        return list(requested or [])
