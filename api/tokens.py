"""Bearer tokens and loopback detection, free of the app context (and so of storage):
shared by ``serve`` (api/auth.py) and the replica (api/replica/auth.py)."""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import Request

from loadsense.errors import Unauthorized


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _matches(token: str, allowed: tuple[str, ...]) -> bool:
    # Compare against every token, without short-circuit, in constant time each.
    found = False
    for candidate in allowed:
        found |= hmac.compare_digest(token.encode(), candidate.encode())
    return found


def check_bearer(request: Request, allowed: tuple[str, ...]) -> None:
    """Raise :class:`Unauthorized` unless the request carries one of ``allowed``."""
    token = _bearer(request)
    if token is None:
        raise Unauthorized("missing bearer token (Authorization: Bearer <token>)")
    if not _matches(token, allowed):
        raise Unauthorized("invalid bearer token")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
