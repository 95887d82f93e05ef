"""``python -m lab.faults.toxiproxy --port 8474``: serve the Toxiproxy-compatible API on
loopback."""

from __future__ import annotations

import argparse
import asyncio

import uvicorn

from lab.faults.toxiproxy.server import ProxyCollection, create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.faults.toxiproxy", description=__doc__)
    parser.add_argument("--port", type=int, default=8474, help="API port on 127.0.0.1")
    parser.add_argument("--seed", default="0", help="seed of the toxicity rolls")
    parser.add_argument("--log-level", default="info", help="uvicorn's log level")
    args = parser.parse_args(argv)
    collection = ProxyCollection(args.seed)
    config = uvicorn.Config(
        create_app(collection), host="127.0.0.1", port=args.port, log_level=args.log_level
    )

    async def serve() -> None:
        try:
            await uvicorn.Server(config).serve()
        finally:
            await collection.close()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
