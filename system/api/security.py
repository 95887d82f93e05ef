"""API keys: ``Authorization: Bearer <key>``, keys from ``TASKQ_API_KEYS`` (format and
scopes: ``system.api.grants``).

Only SHA-256 digests of the keys are kept in memory, and a presented key is compared with
each of them in constant time, so neither the comparison's timing nor a memory dump gives
a key away. A client address that keeps presenting wrong keys is slowed down
(``FailureThrottle``).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import time
from collections import OrderedDict
from collections.abc import Iterable

from fastapi.responses import JSONResponse

from system.api.grants import Grant, parse_entry
from system.api.problems import problem


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class ApiKeys:
    def __init__(self, entries: Iterable[str]) -> None:
        parsed = [parse_entry(e) for e in entries]
        self._grants = [(digest(key), grant) for key, grant in parsed]

    @property
    def enabled(self) -> bool:
        return bool(self._grants)

    def grant_of(self, presented: str) -> Grant | None:
        d = digest(presented)
        found = None
        for stored, grant in self._grants:  # no early exit: every digest is compared
            if hmac.compare_digest(d, stored):
                found = grant
        return found

    def check(self, authorization: str) -> Grant | JSONResponse:
        """The grant of the key the Authorization header carries, else the 401 to answer."""
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() == "bearer" and presented:
            grant = self.grant_of(presented.strip())
            if grant is not None:
                return grant
        return problem(
            401,
            "Unauthorized",
            "missing or wrong API key: send 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": 'Bearer realm="taskq"'},
        )


class FailureThrottle:
    """At most ``limit`` wrong keys per client address in ``window_seconds``; past it,
    the address is answered 429 until the window ends, without its key being looked at
    (guessing keys becomes ``limit`` tries a window). Addresses kept: at most
    ``max_clients``, the least recently failed dropped first."""

    def __init__(self, limit: int = 10, window_seconds: float = 60, max_clients: int = 10_000):
        self.limit = limit
        self.window_seconds = window_seconds
        self.max_clients = max_clients
        self._failures: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def retry_after(self, client: str) -> int | None:
        """Seconds until ``client`` may try again, or None when it may now."""
        start, count = self._failures.get(client, (0.0, 0))
        left = start + self.window_seconds - time.monotonic()
        if count < self.limit or left <= 0:
            return None
        return max(1, round(left))

    def failed(self, client: str) -> None:
        now = time.monotonic()
        start, count = self._failures.pop(client, (now, 0))
        if now - start > self.window_seconds:
            start, count = now, 0
        self._failures[client] = (start, count + 1)
        while len(self._failures) > self.max_clients:
            self._failures.popitem(last=False)

    def refusal(self, client: str) -> JSONResponse | None:
        wait = self.retry_after(client)
        if wait is None:
            return None
        return problem(
            429,
            "Too many failed attempts",
            f"{self.limit} requests with a wrong API key from this address "
            f"within {self.window_seconds:g} s; retry after {wait} s",
            headers={"Retry-After": str(wait)},
        )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
