"""Rules the test suite keeps so that it stays fast to run in part and easy to move around in: every test that runs
a fuzz campaign carries the `campaign` marker (scripts/test --fast leaves them out), and no test module imports
another test module (shared helpers live in tests/helpers.py, planted bugs in tests/planted.py).

Which tests start the engine (Campaign, run_parallel) is checked here; a test of `convfuzz run` may stop at a usage
error before any campaign, so those are marked by hand."""

from __future__ import annotations

import ast
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
# What starts a campaign in a test's own process: the engine or the parallel runner.
CAMPAIGN_CALL = re.compile(r"\bCampaign\(|\brun_parallel\(")
# Test modules other modules may import from: they hold no tests.
SHARED = {"helpers", "planted", "faults", "known_bugs", "conftest"}


def _functions(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    return {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}


def _starts_a_campaign(source: str, function: ast.FunctionDef, helpers: set[str]) -> bool:
    text = ast.get_source_segment(source, function) or ""
    return bool(CAMPAIGN_CALL.search(text)) or any(re.search(rf"\b{h}\(", text) for h in helpers)


def unmarked_campaign_tests(path: Path) -> list[str]:
    """The tests of `path` that start the engine (directly or through a helper of their module) without the
    campaign marker."""
    source = path.read_text(encoding="utf-8")
    functions = _functions(ast.parse(source))
    helpers: set[str] = set()
    for _ in functions:  # helpers that call helpers: grow the set to its fixed point
        helpers |= {
            n for n, f in functions.items() if not n.startswith("test_") and _starts_a_campaign(source, f, helpers)
        }
    unmarked = []
    for name, function in functions.items():
        if not name.startswith("test_") or not _starts_a_campaign(source, function, helpers):
            continue
        if not any("mark.campaign" in ast.unparse(d) for d in function.decorator_list):
            unmarked.append(name)
    return unmarked


def test_every_campaign_test_is_marked() -> None:
    others = [p for p in sorted(TESTS.glob("test_*.py")) if p.name != Path(__file__).name]  # not this one's sample
    unmarked = {p.name: names for p in others if (names := unmarked_campaign_tests(p))}
    assert not unmarked, f"add @pytest.mark.campaign to: {unmarked}"


def test_the_check_sees_an_unmarked_campaign(tmp_path: Path) -> None:
    sample = tmp_path / "test_sample.py"
    sample.write_text(
        "def _search(oracles):\n    return Campaign(oracles).run()\n\n\n"
        "def test_finds(oracles):\n    assert _search(oracles).findings\n"
    )
    assert unmarked_campaign_tests(sample) == ["test_finds"]
    marked = sample.read_text().replace("def test_", "@pytest.mark.campaign\ndef test_")
    sample.write_text(marked)
    assert unmarked_campaign_tests(sample) == []


def test_no_test_module_imports_another() -> None:
    offending = []
    for path in sorted(TESTS.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            module = node.module or "" if isinstance(node, ast.ImportFrom) else ""
            if module.startswith("tests.") and module.split(".")[1] not in SHARED:
                offending.append(f"{path.name}: from {module} import ...")
    assert not offending, offending
