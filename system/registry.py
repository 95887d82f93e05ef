"""Handler registry: which task types a worker can run, and how.

Workers run only handlers registered here by name (never code named by a payload). A
handler takes one argument, the payload, and returns a JSON-compatible value. When its
first parameter is annotated with a pydantic model, the payload is validated into that
model first, so bad payloads fail before any work starts (and the API can refuse them).

    @task()                                   # name "resize", mode inferred
    async def resize(p: ResizePayload) -> dict[str, int]: ...

    @task("matmul", mode="process")           # CPU-bound: runs in a child process
    def matmul(p: MatmulPayload) -> float: ...

    @task("charge", breaker=True)             # a circuit breaker guards its dependency
    async def charge(p: ChargePayload) -> str: ...
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import sys
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, overload

import orjson
from pydantic import BaseModel, ValidationError

from system.core.errors import HandlerImportError as HandlerImportError
from system.core.errors import InvalidPayload as InvalidPayload
from system.core.errors import UnknownTaskType as UnknownTaskType

Mode = Literal["async", "thread", "process"]
MODES: tuple[Mode, ...] = ("async", "thread", "process")
# Set on each registered function so a process-pool child, which finds the handler by
# module and qualname, also finds its payload model without a registry lookup.
PAYLOAD_MODEL_ATTR = "__taskq_payload_model__"

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


@dataclass(frozen=True)
class HandlerSpec:
    name: str
    func: Callable[..., Any]
    mode: Mode
    payload_model: type[BaseModel] | None
    description: str
    # A circuit breaker guards it (``system.worker.breakers``): for handlers that call a
    # dependency which can fail as a whole, so a failing dependency is not hammered.
    breaker: bool = False


def parse_payload(task_type: str, model: type[BaseModel], payload: Any) -> BaseModel:
    """Validate ``payload`` (a JSON value) into ``model`` or raise InvalidPayload."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise InvalidPayload.from_validation_error(task_type, exc) from None


class Registry(Mapping[str, HandlerSpec]):
    """Task type name -> HandlerSpec."""

    def __init__(self) -> None:
        self._specs: dict[str, HandlerSpec] = {}

    def __getitem__(self, name: str) -> HandlerSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownTaskType(name, self._specs) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    # Overridden because Mapping.get goes through __getitem__, which builds an
    # UnknownTaskType for a miss; the worker calls get() once per task.
    @overload
    def get(self, name: str, /) -> HandlerSpec | None: ...
    @overload
    def get(self, name: str, /, default: HandlerSpec | T) -> HandlerSpec | T: ...
    def get(self, name: str, /, default: Any = None) -> Any:
        return self._specs.get(name, default)

    def names(self) -> list[str]:
        return sorted(self._specs)

    def register(
        self,
        func: Callable[..., Any],
        name: str | None = None,
        *,
        mode: Mode | None = None,
        payload_model: type[BaseModel] | None = None,
        breaker: bool = False,
    ) -> HandlerSpec:
        """Register ``func``; mode and payload model are inferred when not given.

        Registering the same function again under its name is a no-op (a module imported
        twice); a different function under a taken name raises ValueError.
        """
        name = name or func.__name__
        is_coroutine = inspect.iscoroutinefunction(func)
        mode = mode or ("async" if is_coroutine else "thread")
        if mode not in MODES:
            raise ValueError(f"handler {name!r}: mode must be one of {MODES}, not {mode!r}")
        if (mode == "async") != is_coroutine:
            need = "an 'async def'" if mode == "async" else "a plain (non-async)"
            raise ValueError(f"handler {name!r}: mode {mode!r} needs {need} function")
        _check_one_argument(name, func)
        qualname = getattr(func, "__qualname__", "<unknown>")
        if mode == "process" and "<" in qualname:
            raise ValueError(
                f"handler {name!r}: process handlers must be module-level functions "
                f"(the child process imports them by name), not {qualname!r}"
            )
        if payload_model is None:
            payload_model = infer_payload_model(func)
        elif not (isinstance(payload_model, type) and issubclass(payload_model, BaseModel)):
            raise ValueError(f"handler {name!r}: payload_model must be a pydantic BaseModel")
        existing = self._specs.get(name)
        if existing is not None and existing.func is not func:
            raise ValueError(
                f"task type {name!r} is already registered by "
                f"{existing.func.__module__}.{existing.func.__qualname__}"
            )
        spec = HandlerSpec(name, func, mode, payload_model, _description(func), breaker)
        self._specs[name] = spec
        with contextlib.suppress(AttributeError, TypeError):  # e.g. a builtin function
            setattr(func, PAYLOAD_MODEL_ATTR, payload_model)
        return spec

    def validate_payload(self, name: str, payload: Any) -> None:
        """Raise UnknownTaskType or InvalidPayload; return when the payload would run.

        Strict, as JSON: a submit must match the published schema ("1" is not a number).
        The worker, which parses what was stored, is lenient (``parse_payload``)."""
        model = self[name].payload_model
        if model is None:
            return
        try:
            text = orjson.dumps(_integral_floats_as_ints(payload))
        except TypeError:
            return  # not JSON at all: submission refuses it and says why
        try:
            model.model_validate_json(text, strict=True)
        except ValidationError as exc:
            raise InvalidPayload.from_validation_error(name, exc) from None

    def payload_schema(self, name: str) -> dict[str, Any]:
        """JSON schema of the payload model; ``{}`` (anything) when there is none."""
        model = self[name].payload_model
        return model.model_json_schema() if model is not None else {}


def _integral_floats_as_ints(value: Any) -> Any:
    """JSON Schema counts 3.0 as an integer; pydantic's strict mode would not."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, list):
        return [_integral_floats_as_ints(v) for v in value]
    if isinstance(value, dict):
        return {k: _integral_floats_as_ints(v) for k, v in value.items()}
    return value


REGISTRY = Registry()


@overload
def task(name: F, /) -> F: ...
@overload
def task(
    name: str | None = None,
    *,
    mode: Mode | None = None,
    payload_model: type[BaseModel] | None = None,
    registry: Registry | None = None,
    breaker: bool = False,
) -> Callable[[F], F]: ...
def task(
    name: Any = None,
    *,
    mode: Mode | None = None,
    payload_model: type[BaseModel] | None = None,
    registry: Registry | None = None,
    breaker: bool = False,
) -> Any:
    """Register the decorated function as a handler (``@task`` or ``@task("name", ...)``).

    The function is returned unchanged, so it stays callable and importable by name.
    """
    if callable(name):
        REGISTRY.register(name)
        return name

    def decorate(func: F) -> F:
        # Not ``registry or REGISTRY``: an empty Registry is falsy, like any empty mapping.
        target = REGISTRY if registry is None else registry
        target.register(func, name, mode=mode, payload_model=payload_model, breaker=breaker)
        return func

    return decorate


def import_modules(names: Iterable[str]) -> None:
    """Import user handler modules so their ``@task`` decorators run.

    The current directory is appended to sys.path first (as Celery and RQ do), because
    console scripts such as ``taskq`` do not put it there; process-pool children inherit
    this sys.path.
    """
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    for name in names:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            missing = exc.name or ""
            if missing and (name == missing or name.startswith(missing + ".")):
                raise HandlerImportError(
                    f"cannot import handler module {name!r}: no module named {missing!r} "
                    "(is its directory the current one or on PYTHONPATH?)",
                    name=name,
                ) from exc
            raise HandlerImportError(
                f"handler module {name!r} failed to import: {exc}", name=name
            ) from exc


def _check_one_argument(name: str, func: Callable[..., Any]) -> None:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):  # no signature available (some builtins): trust it
        return
    try:
        signature.bind(None)
    except TypeError:
        raise ValueError(
            f"handler {name!r} must accept exactly one positional argument, the payload"
        ) from None


def infer_payload_model(func: Callable[..., Any]) -> type[BaseModel] | None:
    """The first parameter's annotation when it is a pydantic model, else None."""
    try:
        first = next(iter(inspect.signature(func).parameters.values()), None)
        hints = typing.get_type_hints(func)
    except Exception:  # unresolvable forward references, no signature: no model
        return None
    hint = hints.get(first.name) if first is not None else None
    return hint if isinstance(hint, type) and issubclass(hint, BaseModel) else None


def _description(func: Callable[..., Any]) -> str:
    doc = inspect.getdoc(func) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""
