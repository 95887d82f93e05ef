"""``lab images build|list`` (the lab's docker images) and ``lab clean`` (containers a
killed run left behind). Commands of ``lab`` (``make images`` runs ``lab images build``);
they talk to the engine at ``$DOCKER_HOST``.
"""

from __future__ import annotations

from pathlib import Path

import click

from lab.backends.docker.containers import RUN_LABEL, leftovers, remove
from lab.backends.docker.debian import DebianError
from lab.backends.docker.engine import EngineError, connect
from lab.backends.docker.images import (
    REPO,
    BuiltImage,
    ImageError,
    ensure_base_image,
    ensure_project_image,
    list_images,
)


def _mb(size_bytes: int) -> str:
    return f"{size_bytes / 1e6:.0f} MB"


def _report(image: BuiltImage) -> None:
    how = "cached" if image.cached else "built"
    click.echo(f"{image.kind}: {image.tag} ({how}, {_mb(image.size_bytes)}, {image.seconds:.1f} s)")
    for step in image.steps:
        click.echo(f"  {step.name}: {step.seconds:.1f} s")


@click.group()
def images() -> None:
    """The docker images the lab runs, built here without a registry."""


@images.command()
@click.option("--base-only", is_flag=True, help="Only the Debian base image.")
@click.option("--rebuild", is_flag=True, help="Build even if an image with the same tag exists.")
@click.option("--mirror", help="Debian mirror URL [default: the one apt uses on this machine].")
@click.option(
    "--root",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=REPO,
    show_default=True,
    help="The project checkout the wheels are built from.",
)
def build(base_only: bool, rebuild: bool, mirror: str | None, root: Path) -> None:
    """Build the base image (debootstrap) and the project image (host-built wheels).
    Each is skipped when an image of the same content exists."""
    try:
        client = connect()
        base = ensure_base_image(client, mirror=mirror, rebuild=rebuild)
        if base_only:
            _report(base)
            return
        project = ensure_project_image(client, root=root, base=base, rebuild=rebuild)
    except (EngineError, ImageError, DebianError) as exc:
        raise click.ClickException(str(exc)) from None
    _report(base)
    _report(project)


@images.command("list")
def list_command() -> None:
    """The images built here, newest first."""
    try:
        found = list_images(connect(timeout_seconds=30))
    except EngineError as exc:
        raise click.ClickException(str(exc)) from None
    for info in found:
        tags = ", ".join(info.tags) or "<untagged>"
        size, created = _mb(info.size_bytes), info.created[:19]
        click.echo(f"{info.kind:8} {tags:28} {info.id[7:19]}  {size:>7}  {created}")


@click.command()
@click.option(
    "--all",
    "every",
    is_flag=True,
    help="Every lab container, also those of runs in progress and of other hosts.",
)
def clean(every: bool) -> None:
    """Remove the containers of docker runs whose lab process is gone (killed, or on a
    crashed machine): those labelled org.taskq.lab.run. A run removes its own when it
    ends, also on failure and Ctrl-C."""
    try:
        client = connect(timeout_seconds=60)
    except EngineError as exc:
        raise click.ClickException(str(exc)) from None
    found = leftovers(client, every=every)
    for container in found:
        click.echo(f"removing {container.name} ({container.labels.get(RUN_LABEL)})")
        remove(container)
    click.echo(f"removed {len(found)} container(s)")


if __name__ == "__main__":
    images()
