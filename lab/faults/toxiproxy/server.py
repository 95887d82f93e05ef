"""Toxiproxy's HTTP API (2.x) over a collection of proxies, as a Starlette app.

Routes, bodies and status codes follow Toxiproxy's ``api.go``: proxies are created with
201 (one, or a list with ``/populate``), deleted with 204, updated by POST or PATCH;
toxics are created and updated with 200 and deleted with 204; ``/reset`` enables every
proxy and removes every toxic (204); errors are ``{"error": <text>, "status": <code>}``
with 400 (bad body, missing field, invalid toxic type or stream), 404 (proxy / toxic not
found) and 409 (already exists).
The app runs on the same event loop as the proxies, so no state is shared across threads.
"""

from __future__ import annotations

import json
import random
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lab.faults.toxiproxy.proxy import Proxy
from lab.faults.toxiproxy.toxics import ToxicError, toxic_from_json, update_from_json

VERSION = "2.12.0-taskq-lab"  # the Toxiproxy API version this speaks, and who serves it


class ProxyCollection:
    def __init__(self, seed: int | str = 0) -> None:
        self.proxies: dict[str, Proxy] = {}
        self.seed = seed

    def get(self, name: str) -> Proxy:
        if name not in self.proxies:
            raise ToxicError("proxy not found", 404)
        return self.proxies[name]

    async def create(self, body: Any) -> Proxy:
        if not isinstance(body, dict):
            raise ToxicError("bad request body")
        for field in ("name", "upstream"):
            if not body.get(field):
                raise ToxicError(f"missing required field: {field}")
        name = str(body["name"])
        if name in self.proxies:
            raise ToxicError("proxy already exists", 409)
        rng = random.Random(f"{self.seed}-{name}")  # one stream per proxy: order-independent
        proxy = Proxy(name, str(body.get("listen") or "127.0.0.1:0"), str(body["upstream"]), rng)
        if body.get("enabled", True):
            await proxy.start()
        self.proxies[name] = proxy
        return proxy

    async def populate(self, body: Any) -> list[Proxy]:
        """Create each proxy of the list; one that exists with another listen or upstream
        is replaced, an identical one kept (toxics and all)."""
        if not isinstance(body, list):
            raise ToxicError("bad request body: a list of proxies")
        out = []
        for item in body:
            existing = self.proxies.get(item.get("name", "")) if isinstance(item, dict) else None
            if existing is not None and (
                existing.upstream != item.get("upstream")
                or item.get("listen", existing.listen) != existing.listen
            ):
                await self.remove(existing.name)
                existing = None
            out.append(existing or await self.create(item))
        return out

    async def remove(self, name: str) -> None:
        await self.get(name).stop()
        del self.proxies[name]

    async def reset(self) -> None:
        for proxy in self.proxies.values():
            proxy.toxics.clear()
            await proxy.start()

    async def close(self) -> None:
        for proxy in self.proxies.values():
            await proxy.stop()


def _error(exc: ToxicError) -> JSONResponse:
    return JSONResponse({"error": str(exc), "status": exc.status}, exc.status)


async def _body(request: Request) -> Any:
    try:
        return json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise ToxicError(f"bad request body: {exc}") from exc


def create_app(collection: ProxyCollection) -> Starlette:
    async def proxy_index(request: Request) -> Response:
        return JSONResponse({n: p.to_json() for n, p in collection.proxies.items()})

    async def proxy_create(request: Request) -> Response:
        proxy = await collection.create(await _body(request))
        return JSONResponse(proxy.to_json(), 201)

    async def populate(request: Request) -> Response:
        proxies = await collection.populate(await _body(request))
        return JSONResponse({"proxies": [p.to_json() for p in proxies]}, 201)

    async def proxy_show(request: Request) -> Response:
        return JSONResponse(collection.get(request.path_params["proxy"]).to_json())

    async def proxy_update(request: Request) -> Response:
        proxy = collection.get(request.path_params["proxy"])
        body = await _body(request)
        if not isinstance(body, dict):
            raise ToxicError("bad request body")
        await proxy.update(
            str(body.get("listen", proxy.listen)),
            str(body.get("upstream", proxy.upstream)),
            bool(body.get("enabled", proxy.enabled)),
        )
        return JSONResponse(proxy.to_json())

    async def proxy_delete(request: Request) -> Response:
        await collection.remove(request.path_params["proxy"])
        return Response(status_code=204)

    async def toxic_index(request: Request) -> Response:
        proxy = collection.get(request.path_params["proxy"])
        return JSONResponse([t.to_json() for t in proxy.toxics.values()])

    async def toxic_create(request: Request) -> Response:
        proxy = collection.get(request.path_params["proxy"])
        toxic = toxic_from_json(await _body(request))
        proxy.add_toxic(toxic)
        return JSONResponse(toxic.to_json())

    async def toxic_show(request: Request) -> Response:
        proxy = collection.get(request.path_params["proxy"])
        return JSONResponse(proxy.toxic(request.path_params["toxic"]).to_json())

    async def toxic_update(request: Request) -> Response:
        proxy = collection.get(request.path_params["proxy"])
        toxic = proxy.toxic(request.path_params["toxic"])
        update_from_json(toxic, await _body(request))
        return JSONResponse(toxic.to_json())

    async def toxic_delete(request: Request) -> Response:
        proxy = collection.get(request.path_params["proxy"])
        del proxy.toxics[proxy.toxic(request.path_params["toxic"]).name]
        return Response(status_code=204)

    async def reset(request: Request) -> Response:
        await collection.reset()
        return Response(status_code=204)

    async def version(request: Request) -> Response:
        return JSONResponse({"version": VERSION})

    async def toxic_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ToxicError)
        return _error(exc)

    routes = [
        Route("/proxies", proxy_index, methods=["GET"]),
        Route("/proxies", proxy_create, methods=["POST"]),
        Route("/populate", populate, methods=["POST"]),
        Route("/proxies/{proxy}", proxy_show, methods=["GET"]),
        Route("/proxies/{proxy}", proxy_update, methods=["POST", "PATCH"]),
        Route("/proxies/{proxy}", proxy_delete, methods=["DELETE"]),
        Route("/proxies/{proxy}/toxics", toxic_index, methods=["GET"]),
        Route("/proxies/{proxy}/toxics", toxic_create, methods=["POST"]),
        Route("/proxies/{proxy}/toxics/{toxic}", toxic_show, methods=["GET"]),
        Route("/proxies/{proxy}/toxics/{toxic}", toxic_update, methods=["POST", "PATCH"]),
        Route("/proxies/{proxy}/toxics/{toxic}", toxic_delete, methods=["DELETE"]),
        Route("/reset", reset, methods=["POST"]),
        Route("/version", version, methods=["GET"]),
    ]
    return Starlette(routes=routes, exception_handlers={ToxicError: toxic_error})
