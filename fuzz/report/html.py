"""`convfuzz report`: a self-contained HTML report and a Markdown summary of a findings folder or one campaign.

The report folder holds index.html (inline style, no script, no network), summary.md, plots/*.png and
explain/<id>.html (one page per finding, `convfuzz explain --no-replay` as text). It opens from the file system.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from convfuzz.fuzz.campaign.implementations import backends, detail_word, never_reached, primitives, reached
from convfuzz.fuzz.report.data import ReportData
from convfuzz.fuzz.report.explain import explain, render_text
from convfuzz.fuzz.report.plots import PLOTS
from convfuzz.fuzz.store.bugs import bugs_line, group_bugs
from convfuzz.fuzz.store.folder import write_atomically

MESSAGE_CHARS = 160  # of a finding's message in the findings table

PLOT_CAPTIONS = {
    "ratio_distribution": "How close correct answers come to their bound (err/bound of passing checks)",
    "findings_over_time": "Findings over time",
    "coverage": "Coverage of exercised features",
    "checks_by_op_dtype": "Checks per op and dtype",
}


@dataclass(frozen=True)
class Table:
    """A table both formats render: an id (for HTML), a title, column names and rows of cells."""

    id: str
    title: str
    columns: Sequence[str]
    rows: Sequence[Sequence[str]]
    links: dict[str, str] | None = None  # cell text -> relative link


def summary_table(data: ReportData) -> Table:
    """The at-a-glance numbers."""
    statuses = Counter(f.status for f in data.findings)
    rows = [
        ("scope", data.scope),
        ("campaign runs", str(len(data.campaigns))),
        ("fuzzing time", f"{data.seconds():.0f} s"),
        ("examples", str(data.total("examples"))),
        ("checks", str(data.total("checks"))),
        ("multiply-adds checked", f"{data.total('multiply_adds'):,}"),
        ("distinct configurations (sum over runs)", str(data.total("distinct_configurations"))),
        ("findings", f"{len(data.findings)} ({', '.join(f'{k} {v}' for k, v in sorted(statuses.items())) or 'none'})"),
        ("bugs", bugs_line(group_bugs(data.findings))),
        ("unreadable finding files", str(len(data.problems))),
        ("versions", "; ".join(data.versions()) or "-"),
    ]
    return Table("summary", "Summary", ("what", "value"), rows)


def runs_table(data: ReportData) -> Table:
    """One row per campaign run."""
    rows = []
    for c in data.campaigns:
        counts = c.get("counts", {})
        chosen = c.get("settings", {})
        workers = str(chosen.get("workers")) + (f" (Ray {chosen['ray']})" if chosen.get("ray") else "")
        rows.append((
            str(c.get("ended")), str(c.get("seed")), f"{float(c.get('seconds') or 0):.0f}",
            str(counts.get("examples")), str(counts.get("checks")), workers,
            ", ".join(c.get("oracles", [])), str(len(c.get("findings", []))), "yes" if c.get("interrupted") else "",
        ))
    columns = ("ended", "seed", "seconds", "examples", "checks", "workers", "oracles", "new findings", "interrupted")
    return Table("runs", "Runs", columns, rows)


def checks_table(data: ReportData) -> Table:
    """Examples and checks per op, dtype and device (an example holds one to three checks: value sets of one
    configuration; with --gradients an op's examples also hold its gradients' checks, counted as OP.grad_*)."""
    checks = data.by_op_dtype_device()
    examples = data.by_op_dtype_device("examples_by_op_dtype_device")
    rows = [
        (op, dtype, device, str(examples.get((op, dtype, device), "")), str(checks.get((op, dtype, device), "")))
        for op, dtype, device in sorted(set(checks) | set(examples))
    ]
    return Table("checks", "Examples and checks per op, dtype and device", ("op", "dtype", "device", "examples",
                                                                              "checks"), rows)


def findings_by_kind_table(data: ReportData) -> Table:
    """Findings counted by kind (rows) and suspect (columns)."""
    suspects = sorted({s for f in data.findings for s in f.suspects})
    kinds = sorted({f.kind for f in data.findings})
    counts = Counter((f.kind, s) for f in data.findings for s in f.suspects)
    rows = [(kind, *(str(counts.get((kind, s), 0) or "") for s in suspects)) for kind in kinds]
    return Table("by-kind", "Findings by kind and suspect", ("kind", *suspects), rows)


def bugs_table(data: ReportData) -> Table:
    """Every bug (findings of one root cause, fuzz.store.bugs), most findings first, with a person's verdict."""
    rows = []
    bugs = group_bugs(data.findings)
    for bug in bugs:
        triaged = next((f.triage for f in bug.findings if f.triage), {})
        rows.append((
            bug.key, str(len(bug.findings)), bug.what(), bug.reach(), str(triaged.get("class", "")),
            str(triaged.get("upstream", "")), ", ".join(f.id for f in bug.findings),
        ))
    columns = ("bug", "findings", "what", "reach", "triage", "upstream", "its findings")
    return Table("bugs", f"Bugs ({bugs_line(bugs)})", columns, rows)


def findings_table(data: ReportData) -> Table:
    """Every finding, linked to its explanation."""
    rows = []
    for f in sorted(data.findings, key=lambda f: (f.kind, f.id)):
        cfg = f.case.config
        first_line = f.message.splitlines()[0] if f.message else ""
        # A crash's stderr runs long: the first words here, the whole of it on the explanation page.
        what = first_line if len(first_line) <= MESSAGE_CHARS else first_line[:MESSAGE_CHARS] + " ..."
        rows.append((f.id, f.kind, ", ".join(f.suspects), f.status, cfg.op_name, cfg.dtype, cfg.device,
                     f.created[:10], what))
    links = {f.id: f"explain/{f.id}.html" for f in data.findings}
    columns = ("finding", "kind", "suspects", "status", "op", "dtype", "device", "found", "what")
    return Table("findings", "Findings", columns, rows, links)


def coverage_table(data: ReportData) -> Table:
    """Every exercised feature with the number of checks that had it."""
    rows = [(name, str(n)) for name, n in sorted(data.summed("features").items())]
    return Table("coverage", "Coverage of exercised features", ("feature", "checks"), rows)


def implementations_table(data: ReportData) -> Table:
    """Per oracle that reports its paths: each backend and what ran behind it (oneDNN implementations, XLA lowerings)
    with the checks, and torch's CPU conv backends none of them reached (checks 0)."""
    rows = []
    for oracle, paths in sorted(reached(data.summed("features")).items()):
        rows += [(oracle, "backend", name, str(n)) for name, n in backends(paths).most_common()]
        detail = detail_word(oracle)
        rows += [(oracle, detail, name, str(n)) for name, n in primitives(paths).most_common()]
        rows += [(oracle, "backend never reached", name, "0") for name in never_reached(oracle, paths)]
    return Table("implementations", "Implementations reached", ("oracle", "level", "implementation", "checks"), rows)


def closest_table(data: ReportData) -> Table:
    """The largest err/bound of a passing check per oracle and dtype."""
    rows = [(key, f"{ratio:.3g}") for key, ratio in sorted(data.closest_to_bound().items())]
    return Table("closest", "Closest approach to the bound (max err/bound of passing checks)",
                 ("oracle dtype", "max err/bound"), rows)


def tables(data: ReportData) -> list[Table]:
    """Every table of the report, in order."""
    return [summary_table(data), bugs_table(data), findings_by_kind_table(data), findings_table(data), runs_table(data),
            checks_table(data), implementations_table(data), coverage_table(data), closest_table(data)]


_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; max-width: 1400px; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #eef; }
figure { margin: 1em 0; } figcaption { font-weight: bold; margin-bottom: 0.3em; }
img { max-width: 100%; border: 1px solid #ddd; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; font-size: 0.8em; }
"""


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    links = table.links or {}

    def cell(text: str) -> str:
        if text in links:
            return f'<td><a href="{html.escape(links[text])}">{html.escape(text)}</a></td>'
        return f"<td>{html.escape(text)}</td>"

    body = "".join("<tr>" + "".join(cell(c) for c in row) + "</tr>\n" for row in table.rows)
    empty = "" if table.rows else f'<tr><td colspan="{len(table.columns)}">none</td></tr>'
    return (
        f'<h2>{html.escape(table.title)}</h2>\n<table id="{table.id}"><thead><tr>{head}</tr></thead>'
        f"<tbody>\n{body}{empty}</tbody></table>\n"
    )


def _markdown_table(table: Table) -> str:
    def cell(text: str) -> str:
        text = text.replace("|", "\\|")
        link = (table.links or {}).get(text)
        return f"[{text}]({link})" if link else text

    lines = [f"## {table.title}", "", "| " + " | ".join(table.columns) + " |",
             "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in table.rows] or ["none"]
    return "\n".join(lines) + "\n"


def _figures(plots: dict[str, Path | None], folder: Path) -> tuple[str, str]:
    """The plots as HTML figures and Markdown images (or a line saying why a plot is missing)."""
    html_parts, markdown_parts = [], []
    for name, path in plots.items():
        caption = PLOT_CAPTIONS[name]
        if path is None:
            html_parts.append(f"<p><b>{html.escape(caption)}</b>: nothing to plot yet.</p>")
            markdown_parts.append(f"**{caption}**: nothing to plot yet.\n")
            continue
        relative = path.relative_to(folder).as_posix()
        html_parts.append(
            f'<figure id="plot-{name}"><figcaption>{html.escape(caption)}</figcaption>'
            f'<img src="{html.escape(relative)}" alt="{html.escape(caption)}"></figure>'
        )
        markdown_parts.append(f"![{caption}]({relative})\n")
    return "\n".join(html_parts), "\n".join(markdown_parts)


def write_report(data: ReportData, out: Path) -> tuple[Path, Path]:
    """Write the report of `data` into `out` (created if needed); returns (index.html, summary.md)."""
    out.mkdir(parents=True, exist_ok=True)
    plots = {name: draw(data, out / "plots" / f"{name}.png") for name, draw in PLOTS.items()}
    (out / "explain").mkdir(exist_ok=True)
    for record in data.findings:
        page = render_text(explain(record, replay=False, environment_here={}, folder=data.findings))
        write_atomically(
            out / "explain" / f"{record.id}.html",
            f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(record.id)}</title>"
            f"<style>{_STYLE}</style></head><body><p><a href='../index.html'>report</a></p>"
            f"<pre>{html.escape(page)}</pre></body></html>\n",
        )
    every = tables(data)
    figures_html, figures_markdown = _figures(plots, out)
    title = f"convfuzz report: {data.scope}"
    problems = "".join(f"<li>{html.escape(str(p))}</li>" for p in data.problems)
    index = out / "index.html"
    write_atomically(index, (
        f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body>\n<h1>{html.escape(title)}</h1>\n"
        f"{_html_table(every[0])}<h2>Plots</h2>\n{figures_html}\n"
        + "".join(_html_table(t) for t in every[1:])
        + (f"<h2>Unreadable finding files</h2><ul>{problems}</ul>" if problems else "")
        + "</body></html>\n"
    ))
    summary = out / "summary.md"
    write_atomically(summary, (
        f"# {title}\n\n{_markdown_table(every[0])}\n## Plots\n\n{figures_markdown}\n"
        + "\n".join(_markdown_table(t) for t in every[1:])
    ))
    return index, summary
