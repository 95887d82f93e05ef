"""docs/settings.md lists every setting: a field added to ``Settings`` without a line
there fails here, so the reference cannot silently fall behind the code."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from system.config import Settings

DOC = Path(__file__).parents[2] / "docs" / "settings.md"


def _variables(model: type[BaseModel], prefix: str) -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            out += _variables(kind, f"{prefix}{name.upper()}__")
        else:
            out.append(f"{prefix}{name.upper()}")
    return out


def test_every_setting_is_documented() -> None:
    text = DOC.read_text()
    variables = _variables(Settings, "TASKQ_")
    assert len(variables) > 40  # the walk found the nested groups
    missing = [v for v in variables if f"`{v}`" not in text]
    assert not missing, f"docs/settings.md does not list {missing}"
