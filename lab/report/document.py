"""A report as a list of blocks (heading, paragraph, table, image), written as
``report.md`` and as a self-contained ``report.html`` (figures embedded as base64), so the
two always say the same thing. What a run's report says is ``lab.report.run_report``; a
sweep's, ``lab.report.sweep``; a comparison's, ``lab.report.compare``."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Heading:
    text: str


@dataclass(frozen=True, slots=True)
class Para:
    text: str


@dataclass(frozen=True, slots=True)
class TableBlock:
    header: Sequence[str]
    rows: Sequence[Sequence[Any]]


@dataclass(frozen=True, slots=True)
class Image:
    path: Path  # relative to the run folder
    alt: str


Block = Heading | Para | TableBlock | Image


def fmt(v: Any) -> str:
    """A table cell: floats to 4 significant digits, None as '-'."""
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def markdown(bs: list[Block]) -> str:
    lines: list[str] = []
    for b in bs:
        match b:
            case Heading():
                lines += [("# " if not lines else "## ") + b.text, ""]
            case Para():
                lines += [b.text, ""]
            case TableBlock():
                lines.append("| " + " | ".join(b.header) + " |")
                lines.append("|" + "---|" * len(b.header))
                lines += [
                    "| " + " | ".join(fmt(v).replace("|", "/") for v in r) + " |" for r in b.rows
                ]
                lines.append("")
            case Image():
                lines += [f"![{b.alt}]({b.path.as_posix()})", ""]
    return "\n".join(lines)


def _inline(text: str) -> str:
    """Escaped paragraph text with the markdown the reports use inline: **bold** and
    `code` (headings keep theirs as written)."""
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(text))
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", out)


def html_page(bs: list[Block], run_dir: Path, title: str) -> str:
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        "</title><style>body{font-family:sans-serif;max-width:1000px;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}"
        "img{max-width:100%}</style></head><body>"
    ]
    first = True
    for b in bs:
        match b:
            case Heading():
                tag = "h1" if first else "h2"
                parts.append(f"<{tag}>{html.escape(b.text)}</{tag}>")
            case Para():
                parts.append(f"<p>{_inline(b.text)}</p>")
            case TableBlock():
                head = "".join(f"<th>{html.escape(h)}</th>" for h in b.header)
                body = "".join(
                    "<tr>" + "".join(f"<td>{html.escape(fmt(v))}</td>" for v in r) + "</tr>"
                    for r in b.rows
                )
                parts.append(f"<table><tr>{head}</tr>{body}</table>")
            case Image():
                data = base64.b64encode((run_dir / b.path).read_bytes()).decode()
                parts.append(
                    f"<p><img alt='{html.escape(b.alt)}' src='data:image/png;base64,{data}'></p>"
                )
        first = False
    parts.append("</body></html>")
    return "\n".join(parts)
