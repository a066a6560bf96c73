"""`convfuzz report`: the numbers it shows come from the campaign records and findings, the plots are real PNG
files, bad input writes nothing, and the HTML renders in headless Chromium with its summary table and plots."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from convfuzz.fuzz.campaign.engine import Campaign
from convfuzz.fuzz.campaign.record import campaign_record, write_campaign_record
from convfuzz.fuzz.campaign.settings import CampaignSettings
from convfuzz.fuzz.campaign.statistics import CampaignStats
from convfuzz.fuzz.cli import EXIT_CLEAN, EXIT_USAGE, main
from convfuzz.fuzz.report.data import gather
from convfuzz.fuzz.store.folder import FindingStore
from convfuzz.oracles.base import Oracle
from convfuzz.oracles.reference_oracle import ReferenceOracle
from tests.planted import DroppedBias

FINDINGS = Path(__file__).resolve().parent.parent / "findings"
COMMITTED = ("conv1d-float32-mismatch-jax-97e80552", "conv_transpose2d-bfloat16-crash-jax-def2b97c")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CHROMIUM = Path("/usr/bin/chromium")


def _campaign(folder: Path, seed: int, dtype: str) -> tuple[CampaignStats, Path]:
    """A short real campaign (our reference against a planted dropped-bias bug, no framework) into `folder`,
    with its campaign record written as `convfuzz run` writes it."""
    oracles: dict[str, Oracle] = {"reference": ReferenceOracle(), "dropped_bias": DroppedBias()}
    settings = CampaignSettings(seed=seed, max_examples=25, ops=("conv1d",), dtypes=(dtype,), database="none")
    stats = Campaign(oracles, settings, record=FindingStore(folder).add).run()
    record = campaign_record(stats, settings, tuple(oracles), 1, {"numpy": "test"}, datetime.now(UTC))
    return stats, write_campaign_record(folder, record)


# The two campaigns' own statistics, as their engine counted them (the numbers the report must show).
CAMPAIGN_STATS: list[CampaignStats] = []


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A findings folder with two committed findings and two campaigns' records and findings."""
    path = tmp_path_factory.mktemp("findings")
    for name in COMMITTED:
        shutil.copy(FINDINGS / f"{name}.json", path)
        shutil.copy(FINDINGS / f"{name}.py", path)
    CAMPAIGN_STATS[:] = [_campaign(path, 1, "float64")[0], _campaign(path, 2, "float32")[0]]
    return path


@pytest.mark.campaign  # the folder fixture runs two campaigns
def test_report_numbers_are_the_campaigns_and_findings(folder: Path) -> None:
    """Every number compared with what the two campaigns counted themselves, not with the report's own reading."""
    data = gather(folder)
    records = sorted((folder / "campaigns").glob("*.json"))
    assert len(data.campaigns) == len(records) == 2
    first, second = CAMPAIGN_STATS
    assert data.total("examples") == first.examples + second.examples > 0
    assert data.total("checks") == first.checks + second.checks
    assert data.total("multiply_adds") == first.multiply_adds + second.multiply_adds > 0
    by_device = data.by_op_dtype_device()
    assert by_device == {("conv1d", "float64", "cpu"): first.checks, ("conv1d", "float32", "cpu"): second.checks}
    examples = data.by_op_dtype_device("examples_by_op_dtype_device")
    assert examples == {("conv1d", "float64", "cpu"): first.examples, ("conv1d", "float32", "cpu"): second.examples}
    # Every passing framework observation of every check lands in one decade of the err/bound histogram.
    histogram = data.ratio_histogram()
    assert set(histogram) == {("dropped_bias", "float32"), ("dropped_bias", "float64")}
    passing = first.verdicts["pass"] + second.verdicts["pass"]
    assert sum(sum(c.values()) for c in histogram.values()) == data.summed("verdicts")["pass"] == passing > 0
    # The committed two and what the campaigns wrote.
    written = {f.id for f in first.findings} | {f.id for f in second.findings}
    assert written and {f.id for f in data.findings} == {*COMMITTED, *written}
    # One campaign alone: its numbers and only the findings it wrote.
    one = gather(folder, records[0])
    (mine,) = [s for s in CAMPAIGN_STATS if s.seed == one.campaigns[0]["seed"]]
    assert one.total("examples") == mine.examples and one.total("checks") == mine.checks
    assert {f.id for f in one.findings} == {f.id for f in mine.findings}


@pytest.mark.campaign  # the folder fixture runs two campaigns
def test_report_command_writes_html_markdown_plots_and_explanations(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert main(["report", str(folder), "--out", str(out)]) == EXIT_CLEAN
    html = (out / "index.html").read_text()
    summary = (out / "summary.md").read_text()
    examples = sum(s.examples for s in CAMPAIGN_STATS)
    assert f"<td>examples</td><td>{examples}</td>" in html and f"| examples | {examples} |" in summary
    plots = sorted((out / "plots").glob("*.png"))
    assert {p.stem for p in plots} == {"ratio_distribution", "findings_over_time", "coverage", "checks_by_op_dtype"}
    for plot in plots:
        assert plot.read_bytes().startswith(PNG_MAGIC) and plot.stat().st_size > 5000
        assert f'src="plots/{plot.name}"' in html and f"](plots/{plot.name})" in summary
    for name in COMMITTED:
        assert f'href="explain/{name}.html"' in html
        assert name in (out / "explain" / f"{name}.html").read_text()
    # Nothing to fetch: it opens offline (an upstream issue's URL is shown as text, never loaded).
    assert not re.search(r"""(src|href)=["']?https?://""", html)
    assert "<h2>Bugs (" in html


def test_report_of_a_missing_folder_or_a_bad_campaign_file_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    assert main(["report", str(tmp_path / "absent"), "--out", str(out)]) == EXIT_USAGE
    assert "absent" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["report", str(tmp_path), "--campaign", str(bad), "--out", str(out)]) == EXIT_USAGE
    assert "bad.json" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.campaign  # the folder fixture runs two campaigns
def test_report_renders_in_headless_chromium(folder: Path, tmp_path: Path) -> None:
    """The HTML report opened from the file system (no server, no network) in Debian's Chromium, which
    scripts/test installs: the summary table is there with the examples count, every plot is loaded and drawn,
    a finding's link opens its explanation, and a screenshot is taken."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (scripts/test installs Debian's chromium where apt-get is root)")
    out = tmp_path / "report"
    assert main(["report", str(folder), "--out", str(out)]) == EXIT_CLEAN
    examples = str(sum(s.examples for s in CAMPAIGN_STATS))
    # Chromium on a closed network: no background connections, no first-run work (playwright gives every launch a
    # fresh, empty profile of its own).
    flags = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", "--disable-quic"]
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=flags)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.goto((out / "index.html").as_uri())
            rows = page.locator("table#summary tr").all_inner_texts()
            assert any(row.split("\t")[:2] == ["examples", examples] for row in rows), rows
            images = page.evaluate("[...document.images].map(i => [i.getAttribute('src'), i.naturalWidth])")
            assert len(images) == 4 and all(width > 300 for _, width in images), images
            assert page.locator("#plot-ratio_distribution img").is_visible()
            screenshot = tmp_path / "report.png"
            page.screenshot(path=str(screenshot), full_page=True)
            assert screenshot.read_bytes().startswith(PNG_MAGIC) and screenshot.stat().st_size > 20000
            # The findings table's link (the bugs table names the finding too, as plain text).
            page.click(f"a[href='explain/{COMMITTED[0]}.html']")
            assert COMMITTED[0] in page.locator("pre").inner_text()
        finally:
            browser.close()
