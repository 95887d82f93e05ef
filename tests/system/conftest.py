from __future__ import annotations

from collections.abc import Iterator

import pytest

from system.client import Client
from system.config import QueueSettings


@pytest.fixture
def client(redis_url: str) -> Iterator[Client]:
    with Client(redis_url, QueueSettings(result_ttl_seconds=600)) as c:
        yield c
