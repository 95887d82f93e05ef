"""A Debian root filesystem for the base image, made by ``debootstrap`` from the machine's
own apt mirror (read from its apt sources at run time), then trimmed.

No registry is involved: the packages come from the same Debian mirror the host installs
from. The recipe (suite, variant, packages, what is trimmed) is a frozen value, so the
image built from it can be tagged by its hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

SUITE = "bookworm"
# One image serves Redis, Prometheus, the API and the workers. python3-venv: the project
# is installed into a venv (Debian's python3 is externally managed, PEP 668).
PACKAGES = ("python3", "python3-venv", "redis-server", "prometheus")
# Removed before import: no use in a container and ~350 MB. moment-timezone's data/ is
# the raw time-zone history (all releases, 200 MB); Prometheus's classic UI loads the
# bundled moment-timezone-with-data.js, which stays. resolv.conf and hostname are the
# host's, copied by debootstrap; docker mounts its own at run time.
TRIM = (
    "var/cache/apt/archives/*.deb",
    "var/lib/apt/lists/*",
    "usr/share/doc/*",
    "usr/share/man/*",
    "usr/share/javascript/moment-timezone/data",
    "etc/resolv.conf",
    "etc/hostname",
)
DEBOOTSTRAP_TIMEOUT_SECONDS = 900.0
APT = Path("/etc/apt")


class DebianError(RuntimeError):
    """No mirror found, or debootstrap failed (the message says why and where the log is)."""


class PrerequisiteError(DebianError):
    """What a build needs is not here: root, a tool, the right Python (tests skip on it)."""


@dataclass(frozen=True, slots=True)
class BaseRecipe:
    """Everything the base image is made from; its ``content_hash`` is the image's tag."""

    mirror: str
    suite: str = SUITE
    variant: str = "minbase"
    packages: tuple[str, ...] = PACKAGES
    trim: tuple[str, ...] = TRIM
    arch: str = ""

    @property
    def content_hash(self) -> str:
        data = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(data).hexdigest()


def host_arch() -> str:
    """Debian's name of this machine's architecture (debootstrap builds for it)."""
    try:
        out = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True)
    except FileNotFoundError:
        out = None
    if out is None or out.returncode != 0:
        raise PrerequisiteError("dpkg --print-architecture failed: is this a Debian machine?")
    return out.stdout.strip()


def recipe(mirror: str | None = None, apt_dir: Path = APT) -> BaseRecipe:
    """The base recipe for this machine: its mirror (unless given) and architecture."""
    return BaseRecipe(mirror=mirror or debian_mirror(SUITE, apt_dir), arch=host_arch())


# ---- the machine's apt mirror -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AptSource:
    types: tuple[str, ...]
    uris: tuple[str, ...]
    suites: tuple[str, ...]
    components: tuple[str, ...]


def _one_line_sources(text: str) -> Iterator[AptSource]:
    """``deb [opts] URI SUITE COMPONENT...`` lines (sources.list, *.list)."""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0]
        if "[" in line:  # deb [arch=amd64 signed-by=...] URI ...
            head, _, rest = line.partition("[")
            line = head + rest.partition("]")[2]
        parts = line.split()
        if len(parts) >= 3:
            yield AptSource((parts[0],), (parts[1],), (parts[2],), tuple(parts[3:]))


def _deb822_sources(text: str) -> Iterator[AptSource]:
    """Stanzas of ``Types: / URIs: / Suites: / Components:`` (*.sources)."""
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = ""
        for raw in stanza.splitlines():
            if raw.startswith("#"):
                continue
            if raw[:1].isspace() and key:  # a continuation line
                fields[key] += " " + raw.strip()
            elif ":" in raw:
                key, _, value = raw.partition(":")
                key = key.strip().lower()
                fields[key] = value.strip()
        if fields.get("enabled", "yes").lower() == "no":
            continue
        yield AptSource(
            *(tuple(fields.get(k, "").split()) for k in ("types", "uris", "suites", "components"))
        )


def apt_sources(apt_dir: Path = APT) -> list[AptSource]:
    """The sources apt reads, in its order: sources.list, then sources.list.d/*.list and
    *.sources (other names there, e.g. ``*.disabled``, apt ignores and so do we)."""
    out = []
    main = apt_dir / "sources.list"
    if main.is_file():
        out += list(_one_line_sources(main.read_text()))
    parts = apt_dir / "sources.list.d"
    for path in sorted(parts.iterdir()) if parts.is_dir() else []:
        if path.suffix == ".list":
            out += list(_one_line_sources(path.read_text()))
        elif path.suffix == ".sources":
            out += list(_deb822_sources(path.read_text()))
    return out


def debian_mirror(suite: str = SUITE, apt_dir: Path = APT) -> str:
    """The URI of the first ``deb`` source that serves ``suite`` with ``main``."""
    for src in apt_sources(apt_dir):
        if "deb" in src.types and suite in src.suites and "main" in src.components and src.uris:
            return src.uris[0].rstrip("/")
    raise PrerequisiteError(
        f"no apt source in {apt_dir} serves Debian {suite} main; give a mirror explicitly"
        " (lab images build --mirror URL)"
    )


# ---- debootstrap ------------------------------------------------------------------------


def debootstrap(spec: BaseRecipe, rootfs: Path, log_path: Path) -> None:
    """Make ``rootfs`` from the recipe, then trim it. Needs root and debootstrap."""
    if os.geteuid() != 0:
        raise PrerequisiteError("debootstrap needs root (it builds the base image)")
    binary = shutil.which("debootstrap")
    if binary is None:
        raise PrerequisiteError("debootstrap not found (Debian package debootstrap)")
    cmd = [
        binary,
        f"--variant={spec.variant}",
        f"--arch={spec.arch}",
        f"--include={','.join(spec.packages)}",
        spec.suite,
        str(rootfs),
        spec.mirror,
    ]
    with open(log_path, "wb") as log:
        try:
            done = subprocess.run(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=DEBOOTSTRAP_TIMEOUT_SECONDS,
            )
        except subprocess.TimeoutExpired:
            raise DebianError(
                f"debootstrap took over {DEBOOTSTRAP_TIMEOUT_SECONDS} s; see {log_path}"
            ) from None
    if done.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
        raise DebianError(f"debootstrap exited with {done.returncode}; {log_path}:\n{tail}")
    trim(rootfs, spec.trim)


def trim(rootfs: Path, patterns: tuple[str, ...]) -> None:
    for pattern in patterns:
        for path in rootfs.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
