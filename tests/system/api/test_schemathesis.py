"""schemathesis over the API's own OpenAPI document, with all checks, against a real
server and Redis. Bounded: 20 examples per operation, fixed seed.

Excluded check: ``positive_data_acceptance``. A submit's payload schema depends on its
task type (``GET /task-types`` publishes each), which the submission model does not
express, so "schema-valid" requests with an unknown type or a mismatched payload are
rightly refused with 422.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from system.redis_server import RedisServer

from .conftest import running_api

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


@pytest.mark.slow
@pytest.mark.skipif(not SCHEMATHESIS.exists(), reason="schemathesis is not installed")
def test_schemathesis_finds_no_failure(redis_server: RedisServer, tmp_path: Path) -> None:
    env = {"TASKQ_API__MAX_WAIT_SECONDS": "1"}  # long polls end quickly under fuzzing
    with running_api(redis_server.url, tmp_path / "api.log", env) as url:
        out = subprocess.run(
            [str(SCHEMATHESIS), "run", f"{url}/openapi.json", "--checks", "all",
             "--exclude-checks", "positive_data_acceptance", "--max-examples", "20",
             "--seed", "1", "--request-timeout", "10", "--no-color"],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    assert "Tested: 18" in out.stdout, out.stdout[-3000:]  # every operation was exercised
