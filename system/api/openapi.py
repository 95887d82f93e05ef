"""The OpenAPI document, with each task type's payload schema in the submission model.

A submission's payload schema depends on its ``task_type``. Pydantic cannot say that of a
registry filled at run time, so the document is amended once: the submission schema gets
a ``oneOf`` with one branch per registered type (``task_type`` const + its payload
schema). Clients and fuzzers then see exactly what the API accepts; the route still
validates against the registry itself.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from system.registry import Registry

SUBMISSION_SCHEMA = "TaskSubmission"
REF_TEMPLATE = "#/components/schemas/{model}"
# The payload of a handler without a model: any JSON value whose integers fit 64 bits
# (what the queue stores exactly; a larger one is refused at submit).
JSON_VALUE = "JsonValue"
JSON_VALUE_SCHEMA: dict[str, Any] = {
    "description": "Any JSON value; integers must fit in 64 bits.",
    # Written without a type per branch (an anyOf of every JSON type): a tool that breaks
    # one branch's type to make an invalid example would only land in another branch.
    "not": {"type": "integer", "anyOf": [{"minimum": 2**64}, {"maximum": -(2**63) - 1}]},
    "items": {"$ref": REF_TEMPLATE.format(model=JSON_VALUE)},
    "additionalProperties": {"$ref": REF_TEMPLATE.format(model=JSON_VALUE)},
}


def payload_branches(registry: Registry, components: dict[str, Any]) -> list[dict[str, Any]]:
    """One schema per task type; nested payload models are added to ``components``."""
    branches = []
    for name in registry.names():
        model = registry[name].payload_model
        branch: dict[str, Any] = {"properties": {"task_type": {"const": name}}}
        if model is not None:  # None fails a model, so a typed payload is required
            schema = model.model_json_schema(ref_template=REF_TEMPLATE)
            components.update(schema.pop("$defs", {}))
            branch["properties"]["payload"] = schema
            branch["required"] = ["payload"]
        else:
            components[JSON_VALUE] = JSON_VALUE_SCHEMA
            branch["properties"]["payload"] = {"$ref": REF_TEMPLATE.format(model=JSON_VALUE)}
        branches.append(branch)
    return branches


def install(app: FastAPI, registry: Registry) -> None:
    """Serve the amended document (built on first request, then cached like FastAPI's)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            components = doc["components"]["schemas"]
            components[SUBMISSION_SCHEMA]["oneOf"] = payload_branches(registry, components)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
