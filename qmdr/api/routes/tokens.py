"""Agent tokens, admin only: ``POST /tokens`` (the token is in this answer and nowhere else, ever),
``GET /tokens`` (names and vaults, never a token) and ``DELETE /tokens/{name}``.

No route here depends on ``current_access``, so ``require_token`` keeps every
agent token out (403): only ``QMDR_API_TOKEN`` manages tokens.
"""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Request, Response, status

from qmdr.access.tokens import create_token, revoke_token
from qmdr.api.deps import Authorized, ServiceDep, token_store_of
from qmdr.api.schemas import TokenCreate, TokenCreated, TokenList, TokenModel

router = APIRouter(prefix="/tokens", tags=["tokens"], dependencies=[Authorized])


@router.post("", response_model=TokenCreated, status_code=status.HTTP_201_CREATED)
async def add_token(body: TokenCreate, request: Request, response: Response, service: ServiceDep) -> TokenCreated:
    """Make an agent token reaching ``vaults`` (each "r" or "rw"; each must exist, else 404); 409 when the
    name is taken. The answer holds the token: keep it, it cannot be shown again."""
    store = token_store_of(request)
    info, token = await anyio.to_thread.run_sync(
        lambda: create_token(store, body.name, body.vaults, known_vault=service.memory.known)
    )
    response.headers["Cache-Control"] = "no-store"  # a secret: never kept by a cache on the way
    return TokenCreated(token=token, **info.to_dict())


@router.get("", response_model=TokenList)
async def list_tokens(request: Request) -> TokenList:
    """Every agent token: name, vaults and creation time (the tokens themselves are not stored)."""
    infos = await anyio.to_thread.run_sync(token_store_of(request).list)
    return TokenList(tokens=[TokenModel(**info.to_dict()) for info in infos])


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_token(name: str, request: Request) -> Response:
    """Revoke a token (404 if no token has that name); its next request is refused."""
    await anyio.to_thread.run_sync(revoke_token, token_store_of(request), name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
