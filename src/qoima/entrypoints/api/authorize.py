"""The role matrix (platform/roles.py), enforced for every API route: one app-wide
dependency that looks up the matched route (`request.scope["route"]`) and refuses,
with a 403 problem+json, a role the matrix does not allow and any route the matrix
has no rule for (deny by default). Web pages enforce the same matrix in
`web/common.py` (their refusals are HTML pages), so they are passed over here."""

from __future__ import annotations

from fastapi import Request

from qoima.entrypoints.api.deps import current_principal, optional_principal
from qoima.platform import roles
from qoima.platform.errors import Forbidden


async def authorize(request: Request) -> None:
    route = request.scope.get("route")
    if getattr(route, "surface", None) == "web":
        return
    method, path = request.method, getattr(route, "path", None)
    if roles.is_public(method, path):
        return
    if roles.rule(method, path) is None:
        raise Forbidden(roles.refusal(None, method, path))
    principal = await current_principal(await optional_principal(request))  # 401 when nobody is signed in
    refused = roles.refusal(principal.role, method, path)
    if refused is not None:
        raise Forbidden(refused)
