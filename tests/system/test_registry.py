"""The handler registry: registration and inference, lookups, payload validation, imports."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

import system.registry as registry_module
from system.core.errors import TaskqError
from system.registry import (
    HandlerImportError,
    HandlerSpec,
    InvalidPayload,
    Registry,
    UnknownTaskType,
    import_modules,
    task,
)


class Point(BaseModel):
    x: int = Field(ge=0)
    y: int = 0


def test_mode_model_and_description_are_inferred() -> None:
    reg = Registry()

    @task(registry=reg)
    async def locate(p: Point) -> int:
        """Locate a point.

        More text that is not part of the description.
        """
        return p.x

    @task("blocking", registry=reg)
    def blocking(payload: Any) -> Any:
        return payload

    assert reg["locate"] == HandlerSpec("locate", locate, "async", Point, "Locate a point.")
    spec = reg["blocking"]
    assert (spec.mode, spec.payload_model, spec.description) == ("thread", None, "")
    assert reg.names() == ["blocking", "locate"]
    assert len(reg) == 2 and "locate" in reg and set(reg) == {"blocking", "locate"}


def test_explicit_mode_and_model_win() -> None:
    spec = Registry().register(_crunch, "crunch", mode="process", payload_model=Point)
    assert (spec.mode, spec.payload_model) == ("process", Point)


def test_bare_decorator_uses_the_default_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = Registry()
    monkeypatch.setattr(registry_module, "REGISTRY", fresh)

    @task
    async def bare(payload: Any) -> Any:
        return payload

    assert fresh["bare"].func is bare


def test_duplicate_names_are_refused_but_reregistering_is_idempotent() -> None:
    reg = Registry()

    async def one(payload: Any) -> None: ...
    async def two(payload: Any) -> None: ...

    reg.register(one, "same")
    reg.register(one, "same")  # the same module imported twice
    with pytest.raises(ValueError, match=r"'same' is already registered by .*one"):
        reg.register(two, "same")


def test_bad_handlers_are_refused_at_registration() -> None:
    reg = Registry()

    async def coro(payload: Any) -> None: ...
    def plain(payload: Any) -> None: ...
    def two_args(a: Any, b: Any) -> None: ...

    with pytest.raises(ValueError, match="needs a plain"):
        reg.register(coro, mode="thread")
    with pytest.raises(ValueError, match="needs an 'async def'"):
        reg.register(plain, mode="async")
    with pytest.raises(ValueError, match="exactly one positional argument"):
        reg.register(two_args)
    with pytest.raises(ValueError, match="module-level"):
        reg.register(plain, mode="process")  # a local function cannot be imported by name
    with pytest.raises(ValueError, match="mode must be one of"):
        reg.register(plain, mode="fiber")  # type: ignore[arg-type]
    assert len(reg) == 0


def test_unknown_task_type_is_a_key_error_listing_known_names() -> None:
    reg = Registry()
    reg.register(_module_level_handler, "known_one")
    assert reg.get("nope") is None
    assert reg.get("known_one") is reg["known_one"]
    with pytest.raises(UnknownTaskType) as info:
        reg["nope"]
    assert isinstance(info.value, KeyError) and isinstance(info.value, TaskqError)
    assert str(info.value) == "unknown task type 'nope': no handler registered (known: known_one)"
    with pytest.raises(KeyError):
        reg.validate_payload("nope", {})


def test_validate_payload_names_the_field() -> None:
    reg = Registry()

    async def locate(p: Point) -> None: ...

    reg.register(locate)
    reg.validate_payload("locate", {"x": 1})
    with pytest.raises(InvalidPayload) as info:
        reg.validate_payload("locate", {"x": -1, "y": "a"})
    err = info.value
    assert isinstance(err, ValueError) and err.task_type == "locate"
    assert [e["loc"] for e in err.errors] == [["x"], ["y"]]
    assert "x: Input should be greater than or equal to 0" in str(err)
    assert "y: Input should be a valid integer" in str(err)
    with pytest.raises(InvalidPayload, match="payload: Input should be an object"):
        reg.validate_payload("locate", [1, 2])


def test_payload_schema() -> None:
    reg = Registry()

    async def locate(p: Point) -> None: ...
    async def anything(payload: Any) -> None: ...

    reg.register(locate)
    reg.register(anything)
    schema = reg.payload_schema("locate")
    assert schema["required"] == ["x"] and schema["properties"]["x"]["minimum"] == 0
    assert reg.payload_schema("anything") == {}


def test_import_modules_runs_the_decorators(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "taskq_user_mod.py").write_text(
        textwrap.dedent(
            """
            from system.registry import Registry, task
            R = Registry()

            @task("user_task", registry=R)
            async def user_task(payload):
                return payload
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "taskq_user_mod", raising=False)
    import_modules(["taskq_user_mod"])
    assert sys.modules["taskq_user_mod"].R.names() == ["user_task"]
    monkeypatch.delitem(sys.modules, "taskq_user_mod")


def test_import_modules_explains_a_missing_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(HandlerImportError, match="no module named 'no_such_mod_x'"):
        import_modules(["no_such_mod_x.handlers"])
    # A module that exists but imports something missing: both names are given.
    (tmp_path / "taskq_broken_mod.py").write_text("import no_such_dependency_y\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(HandlerImportError, match=r"'taskq_broken_mod' failed.*no_such_dep"):
        import_modules(["taskq_broken_mod"])
    monkeypatch.delitem(sys.modules, "taskq_broken_mod", raising=False)


async def _module_level_handler(payload: Any) -> Any:
    return payload


def _crunch(payload: dict[str, Any]) -> int:
    return 0
