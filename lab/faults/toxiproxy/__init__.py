"""The lab's own Toxiproxy-compatible proxy (the real server cannot be installed here).

``toxics`` (toxic models and their effect on a stream), ``proxy`` (asyncio TCP proxy with a
toxic chain per direction), ``server`` (Toxiproxy's HTTP API), ``runner`` (serve it from a
background thread or a child process), ``client`` (what the lab's events call; it speaks
to a real Toxiproxy too). ``python -m lab.faults.toxiproxy --port N`` serves it on its own.
"""

from lab.faults.toxiproxy.client import ToxiproxyClient, ToxiproxyError
from lab.faults.toxiproxy.runner import ToxiproxyProcess, ToxiproxyServer

__all__ = ["ToxiproxyClient", "ToxiproxyError", "ToxiproxyProcess", "ToxiproxyServer"]
