"""The lab's images, built with no registry: a Debian base and the project on top of it.

- **base** (``taskq-base:<hash>``): ``debootstrap`` of Debian bookworm from the machine's
  own apt mirror with python3, python3-venv, redis-server and prometheus, trimmed, then
  imported (``docker import``). One image serves Redis, Prometheus, the API and workers.
- **project** (``taskq:<hash>``): the base plus a venv in ``/opt/taskq`` holding the
  production system (the project wheel and its dependencies, not the lab extra). The
  wheels are built on the host (``pip wheel``) and installed in the image with
  ``--no-index``, in a build whose network is ``none``: nothing downloads at image build
  time. A two-stage build, so the wheels do not stay in a layer.

Both are cached by content: an image's tag is a hash of what it is made from (base: the
debootstrap recipe and mirror; project: the project's source files, the recipe and the
base image id). A build whose tag exists does nothing. Dependencies are resolved when the
wheelhouse is built, so a new release within pyproject's ranges changes no hash: rebuild
with ``rebuild=True`` (``lab images build --rebuild``) to pick it up.

Users with a registry may instead build the project's ``Dockerfile`` and name that image:
``image_for_run(client, "taskq:local")`` uses a given image as is.

Everything after debootstrap goes through the Docker SDK, which honours ``DOCKER_HOST``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import docker
import docker.errors
import docker.models.images

from lab.backends.docker.debian import BaseRecipe, PrerequisiteError, debootstrap, recipe
from lab.backends.docker.engine import mounts_under

BASE_REPOSITORY = "taskq-base"
PROJECT_REPOSITORY = "taskq"
KIND_LABEL = "org.taskq.image"  # base | project
HASH_LABEL = "org.taskq.content-hash"
STAGE_LABEL = "org.taskq.build-stage"  # the throw-away install stage, pruned after a build
TAG_CHARS = 12
# Debian bookworm's python3 (3.11.2): the host's pip builds wheels for its own version.
IMAGE_PYTHON = (3, 11)
# redis-py needs async-timeout below Python 3.11.3; the host's pip, on a newer 3.11,
# drops that marker's dependency, so it is named here.
EXTRA_WHEELS = ("async-timeout",)
SOURCE_FILES = ("pyproject.toml", "README.md")  # with system/ and lab/: what the wheel holds
SOURCE_DIRS = ("system", "lab")
REPO = Path(__file__).resolve().parents[3]
WHEELHOUSE_TIMEOUT_SECONDS = 900.0

Kind = Literal["base", "project", "given"]


class ImageError(RuntimeError):
    """An image could not be built or found (the message says why)."""


@dataclass(frozen=True, slots=True)
class Step:
    name: str  # debootstrap, import, wheelhouse, build
    seconds: float


@dataclass(frozen=True, slots=True)
class BuiltImage:
    """An image ready in the engine, and what it took to get it."""

    tag: str
    id: str
    kind: Kind
    cached: bool  # True: found by its tag, nothing was built
    size_bytes: int
    seconds: float  # the whole call
    steps: tuple[Step, ...] = ()


def _found(client: docker.DockerClient, tag: str) -> docker.models.images.Image | None:
    try:
        return client.images.get(tag)
    except docker.errors.ImageNotFound:
        return None


def _result(
    image: docker.models.images.Image, tag: str, kind: Kind, cached: bool, started: float,
    steps: tuple[Step, ...] = (),
) -> BuiltImage:  # fmt: skip
    return BuiltImage(
        tag=tag,
        id=str(image.id),
        kind=kind,
        cached=cached,
        size_bytes=int(image.attrs.get("Size", 0)),
        seconds=time.monotonic() - started,
        steps=steps,
    )


@contextlib.contextmanager
def _timed(steps: list[Step], name: str) -> Iterator[None]:
    started = time.monotonic()
    yield
    steps.append(Step(name, time.monotonic() - started))


@contextlib.contextmanager
def _scratch(workdir: Path | None, prefix: str) -> Iterator[Path]:
    """A temporary directory, removed afterwards; never across a mount point (debootstrap
    mounts /proc and may bind /dev inside the root fs: a failed run can leave them)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=workdir or "/var/tmp"))
    try:
        yield path
    finally:
        for mount in sorted(mounts_under(path), reverse=True):
            subprocess.run(["umount", "--lazy", mount], capture_output=True)
        if mounts_under(path):
            print(f"warning: {path} still has mounts; left in place", file=sys.stderr)
        else:
            shutil.rmtree(path, ignore_errors=True)


# ---- base -------------------------------------------------------------------------------


def base_tag(spec: BaseRecipe) -> str:
    return f"{BASE_REPOSITORY}:{spec.content_hash[:TAG_CHARS]}"


def ensure_base_image(
    client: docker.DockerClient, *, mirror: str | None = None, rebuild: bool = False,
    workdir: Path | None = None,
) -> BuiltImage:  # fmt: skip
    """The base image, built by debootstrap + import unless its tag exists. Building
    needs root, debootstrap and the Debian mirror; finding it needs only the engine."""
    started = time.monotonic()
    spec = recipe(mirror)
    tag = base_tag(spec)
    if not rebuild and (image := _found(client, tag)) is not None:
        return _result(image, tag, "base", True, started)
    steps: list[Step] = []
    with _scratch(workdir, "taskq-rootfs-") as scratch:
        rootfs = scratch / "rootfs"
        with _timed(steps, "debootstrap"):
            debootstrap(spec, rootfs, scratch / "debootstrap.log")
        with _timed(steps, "import"):
            _import(client, rootfs, tag, spec.content_hash, scratch / "tar.log")
    image = client.images.get(tag)
    return _result(image, tag, "base", False, started, tuple(steps))


def _import(client: docker.DockerClient, rootfs: Path, tag: str, content_hash: str,
            log_path: Path) -> None:  # fmt: skip
    """``tar -C rootfs -c . | docker import``, streamed (no tar file on disk)."""
    repository, _, version = tag.partition(":")
    changes = [
        "ENV LANG=C.UTF-8",
        f"LABEL {KIND_LABEL}=base {HASH_LABEL}={content_hash}",
        'CMD ["/bin/bash"]',
    ]
    with open(log_path, "wb") as log:
        tar = subprocess.Popen(
            ["tar", "-C", str(rootfs), "--numeric-owner", "--exclude=./dev/*", "-cf", "-", "."],
            stdout=subprocess.PIPE,
            stderr=log,
        )
        out = tar.stdout
        assert out is not None

        def chunks() -> Iterator[bytes]:
            while chunk := out.read(1 << 20):
                yield chunk

        try:
            client.api.import_image_from_stream(
                chunks(), repository=repository, tag=version, changes=changes
            )
        finally:
            out.close()
            code = tar.wait()
    if code != 0:
        raise ImageError(f"tar exited with {code}: {log_path.read_text(errors='replace')}")


# ---- project ----------------------------------------------------------------------------


def source_hash(root: Path = REPO) -> str:
    """A hash of the files the project wheel is made of (paths and contents)."""
    if not (root / "pyproject.toml").is_file():
        raise ImageError(f"{root} is not the project's checkout (no pyproject.toml)")
    files = [root / name for name in SOURCE_FILES]
    for folder in SOURCE_DIRS:
        files += [
            p
            for p in (root / folder).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
        ]
    digest = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.relative_to(root).as_posix()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def dockerfile(base: str) -> str:
    """The project image's recipe (legacy builder: no BuildKit needed)."""
    wheels = " ".join(("taskq", *EXTRA_WHEELS))
    return f"""\
FROM {base} AS install
LABEL {STAGE_LABEL}=install
COPY wheels /tmp/wheels
RUN python3 -m venv /opt/taskq \\
 && PIP_DISABLE_PIP_VERSION_CHECK=1 /opt/taskq/bin/pip install --no-cache-dir \\
    --no-index --find-links /tmp/wheels {wheels}

FROM {base}
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin taskq
COPY --from=install /opt/taskq /opt/taskq
ENV PATH=/opt/taskq/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
USER taskq
WORKDIR /tmp
CMD ["taskq", "--help"]
"""


def project_hash(base_id: str, base: str, root: Path = REPO) -> str:
    data = {"base_id": base_id, "source": source_hash(root), "dockerfile": dockerfile(base)}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def build_wheelhouse(root: Path, wheelhouse: Path, log_path: Path) -> list[Path]:
    """``pip wheel`` the project (no extras) and its dependencies into ``wheelhouse``."""
    if sys.version_info[:2] != IMAGE_PYTHON:
        want = ".".join(map(str, IMAGE_PYTHON))
        raise PrerequisiteError(
            f"the image's Python is {want} (Debian bookworm) and wheels are built by the"
            f" running Python {sys.version_info.major}.{sys.version_info.minor}: build the"
            f" images from a Python {want} environment, or use an image built from the"
            " project's Dockerfile (image: NAME)"
        )
    cmd = [sys.executable, "-m", "pip", "wheel", "--wheel-dir", str(wheelhouse),
           str(root), *EXTRA_WHEELS]  # fmt: skip
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    with open(log_path, "wb") as log:
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                              env=env, timeout=WHEELHOUSE_TIMEOUT_SECONDS)  # fmt: skip
    if done.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
        raise ImageError(f"pip wheel exited with {done.returncode}; {log_path}:\n{tail}")
    return sorted(wheelhouse.glob("*.whl"))


def _context(wheelhouse: Path, recipe_text: str) -> io.BytesIO:
    """The build context as a tar: the Dockerfile and wheels/."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = recipe_text.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        tar.add(wheelhouse, arcname="wheels")
    buffer.seek(0)
    return buffer


def ensure_project_image(
    client: docker.DockerClient, *, root: Path = REPO, base: BuiltImage | None = None,
    mirror: str | None = None, rebuild: bool = False, workdir: Path | None = None,
) -> BuiltImage:  # fmt: skip
    """The project image, built unless its tag exists (the base too, if needed)."""
    started = time.monotonic()
    base = base or ensure_base_image(client, mirror=mirror, workdir=workdir)
    content_hash = project_hash(base.id, base.tag, root)
    tag = f"{PROJECT_REPOSITORY}:{content_hash[:TAG_CHARS]}"
    if not rebuild and (image := _found(client, tag)) is not None:
        return _result(image, tag, "project", True, started)
    steps: list[Step] = []
    with _scratch(workdir, "taskq-wheels-") as scratch:
        with _timed(steps, "wheelhouse"):
            build_wheelhouse(root, scratch / "wheels", scratch / "pip.log")
        with _timed(steps, "build"):
            context = _context(scratch / "wheels", dockerfile(base.tag))
            try:
                image, _ = client.images.build(
                    fileobj=context, custom_context=True, tag=tag, rm=True, forcerm=True,
                    pull=False, network_mode="none",  # nothing downloads at build time
                    labels={KIND_LABEL: "project", HASH_LABEL: content_hash},
                )  # fmt: skip
            except docker.errors.BuildError as exc:
                log = "".join(str(line.get("stream", line)) for line in exc.build_log)
                raise ImageError(f"the project image did not build: {exc.msg}\n{log}") from None
            finally:
                # The install stage is a dangling image once the final stage has copied
                # the venv out of it: ours (by label), so ours to remove.
                client.images.prune(filters={"dangling": True, "label": STAGE_LABEL})
    return _result(image, tag, "project", False, started, tuple(steps))


def image_for_run(client: docker.DockerClient, image: str | None = None) -> BuiltImage:
    """The image a run uses: ``image`` as is when given (it must be in the engine: built
    from the project's Dockerfile, or pulled), else the project image built here."""
    if image is None:
        return ensure_project_image(client)
    started = time.monotonic()
    found = _found(client, image)
    if found is None:
        raise ImageError(
            f"image {image!r} is not in the engine: build it (docker build -t {image} .) or"
            " pull it where a registry is reachable; or name no image and the lab builds"
            " its own (lab images build)"
        )
    return _result(found, image, "given", True, started)


# ---- listing ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImageInfo:
    tags: tuple[str, ...]
    id: str
    kind: str
    size_bytes: int
    created: str


def list_images(client: docker.DockerClient) -> list[ImageInfo]:
    """The images this module built (by label), newest first."""
    found = client.images.list(filters={"label": KIND_LABEL})
    infos = [
        ImageInfo(
            tags=tuple(image.tags),
            id=str(image.id),
            kind=str(image.labels.get(KIND_LABEL, "")),
            size_bytes=int(image.attrs.get("Size", 0)),
            created=str(image.attrs.get("Created", "")),
        )
        for image in found
    ]
    return sorted(infos, key=lambda i: i.created, reverse=True)
