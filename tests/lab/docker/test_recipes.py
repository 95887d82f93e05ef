"""What the images are made of, without an engine: the machine's apt mirror, and the
content hashes that tag the images."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from lab.backends.docker.debian import BaseRecipe, PrerequisiteError, apt_sources, debian_mirror
from lab.backends.docker.images import REPO, dockerfile, project_hash, source_hash

DEB822 = """\
Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
"""


def write(apt: Path, name: str, text: str) -> None:
    path = apt / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_mirror_from_deb822_sources(tmp_path: Path) -> None:
    write(tmp_path, "sources.list.d/debian.sources", DEB822)
    assert debian_mirror("bookworm", tmp_path) == "http://mirror.example/debian"
    assert [s.suites for s in apt_sources(tmp_path)] == [
        ("bookworm", "bookworm-updates"),
        ("bookworm-security",),
    ]


def test_mirror_from_one_line_sources_with_options(tmp_path: Path) -> None:
    lines = [
        "# deb http://old.example/debian bookworm main",
        "deb-src http://src.example/debian bookworm main",
        "deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian/ bookworm main contrib",
    ]
    write(tmp_path, "sources.list", "\n".join(lines) + "\n")
    assert debian_mirror("bookworm", tmp_path) == "http://one.example/debian"


def test_sources_apt_ignores_and_disabled_stanzas_are_skipped(tmp_path: Path) -> None:
    write(tmp_path, "sources.list.d/other.list.disabled", "deb http://no.example/d bookworm main\n")
    disabled = DEB822.replace("Types: deb\n", "Types: deb\nEnabled: no\n", 1)
    write(tmp_path, "sources.list.d/a.sources", disabled)
    write(tmp_path, "sources.list.d/b.list", "deb http://yes.example/debian bookworm main\n")
    assert debian_mirror("bookworm", tmp_path) == "http://yes.example/debian"


def test_no_mirror_for_the_suite_says_how_to_give_one(tmp_path: Path) -> None:
    write(tmp_path, "sources.list", "deb http://mirror.example/debian trixie main\n")
    with pytest.raises(PrerequisiteError, match="--mirror"):
        debian_mirror("bookworm", tmp_path)


def test_base_tag_follows_the_recipe() -> None:
    spec = BaseRecipe(mirror="http://mirror.example/debian", arch="amd64")
    assert spec.content_hash == replace(spec).content_hash
    for changed in (
        replace(spec, packages=(*spec.packages, "curl")),
        replace(spec, suite="trixie"),
        replace(spec, mirror="http://other.example/debian"),
        replace(spec, arch="arm64"),
    ):
        assert changed.content_hash != spec.content_hash


def copy_project(dest: Path) -> Path:
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, dest / name)
    for folder in ("system", "lab"):
        shutil.copytree(REPO / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def test_project_tag_follows_sources_base_and_recipe(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    before = project_hash("sha256:base", "taskq-base:x", root)
    assert source_hash(root) == source_hash(REPO)  # the same files, wherever they are
    (root / "system" / "__pycache__").mkdir(exist_ok=True)
    (root / "system" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    assert project_hash("sha256:base", "taskq-base:x", root) == before  # bytecode is no input
    assert project_hash("sha256:other", "taskq-base:x", root) != before
    assert project_hash("sha256:base", "taskq-base:y", root) != before
    (root / "system" / "core" / "lua" / "claim.lua").write_text("-- changed\n")
    assert project_hash("sha256:base", "taskq-base:x", root) != before


def test_the_project_image_installs_offline_from_the_wheels() -> None:
    text = dockerfile("taskq-base:x")
    assert "--no-index --find-links /tmp/wheels taskq async-timeout" in text
    assert "COPY --from=install /opt/taskq /opt/taskq" in text  # the wheels stay behind
    assert "[lab]" not in text  # the production system only
