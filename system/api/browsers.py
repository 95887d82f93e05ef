"""Requests a browser makes on behalf of another site are refused.

Without API keys the API trusts whoever reaches loopback, and a browser on this machine
is reached by every web page it opens: a page can post a form to ``127.0.0.1`` (it
cannot read the answer, but the pause has happened), or point its own name at
``127.0.0.1`` (DNS rebinding) and then read and act as a same-origin page. So:

- ``Host`` must be an IP address, ``localhost``, or a name in ``api.allowed_hosts``: a
  rebinding page's requests carry its own name (421 otherwise);
- a state-changing request (POST, PUT, PATCH, DELETE) whose ``Origin`` is not the API's
  own, or which the browser marks as cross-site (``Sec-Fetch-Site``), is refused (403);
- a state-changing request with a body or a ``Content-Type`` must be JSON (415): an HTML
  form cannot send JSON, and a page script that sends JSON must first ask (CORS
  preflight), which this API never grants.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from system.api.problems import problem

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def host_name(host: str) -> str:
    """The name or address of a ``Host`` value, without its port or brackets."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class BrowserGuard:
    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str]) -> None:
        self.app = app
        self.allowed_hosts = frozenset(h.lower() for h in allowed_hosts) | {"localhost"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refused = self._refusal(scope) if scope["type"] == "http" else None
        if refused is not None:
            await refused(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _host_allowed(self, host: str) -> bool:
        name = host_name(host).lower()
        return "*" in self.allowed_hosts or name in self.allowed_hosts or _is_ip(name)

    def _refusal(self, scope: Scope) -> Response | None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if host and not self._host_allowed(host):
            return problem(
                421,
                "Misdirected request",
                f"Host {host_name(host)!r} is not a name this API serves: use its address, "
                "or add the name to TASKQ_API__ALLOWED_HOSTS",
            )
        if scope["method"] not in STATE_CHANGING:
            return None
        origin = headers.get("origin")
        if origin is not None and urlsplit(origin).netloc.lower() != host.lower():
            return problem(
                403,
                "Cross-origin request refused",
                f"a {scope['method']} from the page of another site ({origin}) is refused",
            )
        if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return problem(
                403,
                "Cross-origin request refused",
                f"the browser marks this {scope['method']} as "
                f"{headers['sec-fetch-site']}: only the API's own pages may change state",
            )
        content_type = headers.get("content-type")
        has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
        if (content_type is not None or has_body) and not is_json(content_type or ""):
            return problem(
                415,
                "Unsupported media type",
                f"a {scope['method']} body must be JSON (Content-Type: application/json), "
                f"not {content_type or 'untyped'}",
            )
        return None
