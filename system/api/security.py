"""API keys: ``Authorization: Bearer <key>``, keys from ``TASKQ_API_KEYS``.

Only SHA-256 digests of the keys are kept in memory, and a presented key is compared with
each of them in constant time, so neither the comparison's timing nor a memory dump gives
a key away.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable

from fastapi.responses import JSONResponse

from system.api.problems import problem


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class ApiKeys:
    def __init__(self, keys: Iterable[str]) -> None:
        self._digests = [digest(k) for k in keys]

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def allows(self, presented: str) -> bool:
        d = digest(presented)
        # No early exit: every stored digest is compared.
        return any([hmac.compare_digest(d, stored) for stored in self._digests])

    def check(self, authorization: str) -> JSONResponse | None:
        """None when the Authorization header passes, else the 401 problem to answer."""
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() == "bearer" and presented and self.allows(presented.strip()):
            return None
        return problem(
            401,
            "Unauthorized",
            "missing or wrong API key: send 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": 'Bearer realm="taskq"'},
        )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
