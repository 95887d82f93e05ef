"""The yardstick for the HTTP benchmark: a FastAPI endpoint that parses a JSON body into
a model and answers, with no Redis behind it, served with the same uvicorn settings."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class Body(BaseModel):
    task_type: str
    payload: Any = None


@app.post("/noop", status_code=202)
async def noop(body: Body) -> dict[str, str]:
    return {"id": "x", "status": "queued"}
