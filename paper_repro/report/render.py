"""REPORT.md and report.html from the items' :class:`ItemReport` objects (both from the same objects, so they agree).

The HTML page is self-contained: figures are embedded as base64 PNGs and the style sheet is inline, so the file
can be mailed or attached to a paper's supplement as it is.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from pathlib import Path

from paper_repro.report.model import STATUSES, ItemReport, Row

__all__ = ["readme_text", "render_html", "render_index", "render_markdown"]

_BADGE = dict(zip(STATUSES, ("#1b7f3b", "#2f6db5", "#b3261e", "#6b6b6b"), strict=True))


def _header(profile: str, seconds: float, items: Sequence[ItemReport]) -> list[str]:
    counts = {s: sum(i.status == s for i in items) for s in STATUSES}
    return [
        "# chasing-tail: what the package shows, with the paper beside it",
        "",
        f"Profile **{profile}**, {len(items)} items, {seconds:.0f} s of compute (cached items count their first run).",
        "Status counts: " + ", ".join(f"{s}: {n}" for s, n in counts.items()) + ".",
        "",
        "Statuses: *holds* (our number agrees with the paper's claim or number by the stated test), *holds under "
        "stated assumptions* (it agrees only given the listed assumptions), *does not hold*, *not reproducible "
        "here* (why is given). The paper is Zhang et al., arXiv 2509.21500 (ICLR 2026).",
        "",
    ]


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(items: Sequence[ItemReport], profile: str, seconds: float) -> str:
    """The whole report as Markdown (figures linked relative to the report folder)."""
    out = _header(profile, seconds, items)
    out += ["| item | section | status |", "|---|---|---|"]
    out += [f"| [{i.name}](#{i.name}) | {i.section} | {i.status} |" for i in items]
    section = None
    for it in items:
        if it.section != section:
            section = it.section
            out += ["", f"## {section}"]
        out += ["", f'<a id="{it.name}"></a>', "", f"### {it.title}", "", f"**Status: {it.status}.** {it.summary}"]
        if it.why:
            out += ["", f"Why: {it.why}"]
        out += [""] + [f"![{it.name}]({f})" for f in it.figures]
        if it.rows:
            out += ["", "| quantity | paper | ours | status | test / note |", "|---|---|---|---|---|"]
            out += [
                "| " + " | ".join(_md_cell(c) for c in (r.quantity, r.paper or "–", r.ours, r.status, r.note)) + " |"
                for r in it.rows
            ]
        if it.assumptions:
            out += ["", "Assumptions: " + "; ".join(it.assumptions) + "."]
        if it.command:
            out += ["", f"Rerun alone: `{it.command}`"]
    return "\n".join(out) + "\n"


def render_index(items: Sequence[ItemReport], profile: str) -> str:
    """One table, a row per compared number: item, command, hardware, time, the paper's number, ours, status
    (paper_repro/README.md is this table from a quick run, under a hand-written header)."""
    out = [
        f"Profile **{profile}**. Time: compute of the item's cached run on that hardware.",
        "",
        "| item | command | hardware | time | quantity | paper | ours | status |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for it in items:
        first = (
            f"[{it.name}](REPORT.md#{it.name})",
            f"`{it.command}`" if it.command else "",
            it.hardware,
            f"{it.seconds:.0f} s",
        )
        for k, r in enumerate(it.rows or (Row("–", "", "–", it.status, it.why),)):
            lead = first if k == 0 else ("", "", "", "")
            out.append(
                "| " + " | ".join(_md_cell(c) for c in (*lead, r.quantity, r.paper or "–", r.ours, r.status)) + " |"
            )
    return "\n".join(out) + "\n"


_README_HEAD = """# paper_repro: every result of the package, with its command

`chase repro` (the README's main job) runs every item below and writes one report, `REPORT.md` plus a
self-contained `report.html`; `chase repro --only ITEM` runs one. The single-report generators behind `docs/`
(`chase repro bandit-findings`, `rubric-world-sensitivity`, ...) stay available as targets: `chase repro --help`.

This page is written by `chase repro --profile quick --out docs/report --readme paper_repro/README.md` (the report
it links to is committed there); the table below
is that run's (hardware and time are those of the run that computed each item; items read from committed files
take no time here, and their commands say how they were made).

"""


def readme_text(items: Sequence[ItemReport], profile: str) -> str:
    """paper_repro/README.md: a fixed header and :func:`render_index`'s table."""
    return _README_HEAD + render_index(items, profile).replace("](REPORT.md#", "](../docs/report/REPORT.md#")


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1300px;margin:2em auto;padding:0 1em;
line-height:1.45;color:#1d1d1f}
h1{font-size:1.6em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}h3{margin-top:1.6em}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em;width:100%}
th,td{border:1px solid #ccc;padding:.35em .5em;vertical-align:top;text-align:left}th{background:#f3f3f3}
.badge{display:inline-block;padding:.1em .55em;border-radius:.8em;color:#fff;font-size:.85em;white-space:nowrap}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}code{background:#f3f3f3;padding:.1em .3em;border-radius:3px}
.assume{color:#444;font-size:.92em}
table.rows td:nth-child(1){width:25%}table.rows td:nth-child(2){width:16%}table.rows td:nth-child(3){width:29%}
table.rows td:nth-child(4){width:11%}table.rows td:nth-child(5){width:19%}
"""


def _badge(status: str) -> str:
    return f'<span class="badge" style="background:{_BADGE[status]}">{html.escape(status)}</span>'


def _embedded(report_dir: Path, rel: str) -> str:
    data = base64.b64encode((report_dir / rel).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(rel)}" src="data:image/png;base64,{data}">'


def _item_html(it: ItemReport, report_dir: Path) -> list[str]:
    e = html.escape
    out = [f'<h3 id="{e(it.name)}">{e(it.title)}</h3>', f"<p>{_badge(it.status)} {e(it.summary)}</p>"]
    if it.why:
        out.append(f"<p><b>Why:</b> {e(it.why)}</p>")
    out += [_embedded(report_dir, f) for f in it.figures]
    if it.rows:
        heads = "".join(f"<th>{h}</th>" for h in ("quantity", "paper", "ours", "status", "test / note"))
        out.append(f'<table class="rows"><tr>{heads}</tr>')
        for r in it.rows:
            cells = (e(r.quantity), e(r.paper or "–"), e(r.ours), _badge(r.status), e(r.note))
            out.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        out.append("</table>")
    if it.assumptions:
        out.append(f'<p class="assume"><b>Assumptions:</b> {e("; ".join(it.assumptions))}.</p>')
    if it.command:
        out.append(f"<p>Rerun alone: <code>{e(it.command)}</code></p>")
    return out


def _inline(escaped: str) -> str:
    """The header's Markdown emphasis as HTML (``**b**``, ``*i*``), on already-escaped text."""
    escaped = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", escaped)
    return re.sub(r"\*([^*]+)\*", r"<i>\1</i>", escaped)


def render_html(items: Sequence[ItemReport], profile: str, seconds: float, report_dir: Path) -> str:
    """The report as one self-contained HTML page (figures read from ``report_dir`` and embedded)."""
    e = html.escape
    head = _header(profile, seconds, items)
    body = [f"<h1>{e(head[0][2:])}</h1>"] + [f"<p>{_inline(e(line))}</p>" for line in head[2:] if line]
    body.append("<table><tr><th>item</th><th>section</th><th>status</th></tr>")
    body += [
        f'<tr><td><a href="#{e(i.name)}">{e(i.name)}</a></td><td>{e(i.section)}</td><td>{_badge(i.status)}</td></tr>'
        for i in items
    ]
    body.append("</table>")
    section = None
    for it in items:
        if it.section != section:
            section = it.section
            body.append(f"<h2>{e(section)}</h2>")
        body += _item_html(it, report_dir)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>chasing-tail report</title>'
        f"<style>{_CSS}</style></head><body>" + "\n".join(body) + "</body></html>\n"
    )
