"""A finding as an issue for its framework's tracker (oracles.framework: PyTorch's, JAX's, ...): title, and a body
that leads with the few lines a maintainer wants (the inputs, the one call, what it prints against what it should:
fuzz.store.script.issue_snippet) and carries the finding's own script further down (numpy and the one framework,
the float64 expected output and the elementwise bound, exit 1 while the discrepancy reproduces)."""

from __future__ import annotations

from dataclasses import dataclass

from convfuzz.fuzz.campaign.bisect import releases_line
from convfuzz.fuzz.campaign.environment import versions
from convfuzz.fuzz.judge.decide import (
    NUMERIC_KINDS,
    REFERENCE,
    shown_error_and_bound,
    shown_values,
    stored_error,
    stored_number,
)
from convfuzz.fuzz.store.records import FindingRecord
from convfuzz.fuzz.store.script import call_framework, issue_snippet, issue_title, script_for
from convfuzz.oracles.environments import oracle_environment
from convfuzz.oracles.framework import Framework
from convfuzz.strategies.case import COMPLEX_DTYPES


@dataclass(frozen=True)
class UpstreamIssue:
    """An issue ready to paste: where it goes, its title, its Markdown body and the repro script inside it."""

    framework: str  # the framework's name: 'torch', 'jax', ...
    tracker: str  # the project's name ('PyTorch')
    url: str  # where a new issue is opened
    oracle: str  # the suspect the script calls
    title: str
    body: str
    snippet: str  # the few lines the body leads with
    script: str  # the finding's whole script, with its exit status, further down the body

    def to_json(self) -> dict[str, str]:
        """JSON form for `convfuzz explain --json`."""
        return {
            "framework": self.framework, "tracker": self.tracker, "url": self.url, "oracle": self.oracle,
            "title": self.title, "body": self.body, "snippet": self.snippet, "script": self.script,
        }


def no_issue_reason(record: FindingRecord) -> str:
    """Why `record` gets no upstream issue (only meaningful when script_suspect is None)."""
    if REFERENCE in record.suspects:
        return "the suspect is convfuzz's own float64 reference: a bug of ours, not of a framework"
    return (
        f"the suspect(s) {', '.join(record.suspects)} exist only inside convfuzz (a relation between calls, a matmul "
        "or hand check): `convfuzz replay ID` runs the calls that disagree"
    )


def _versions(environment: dict[str, object], framework: Framework) -> str:
    """The versions the framework's maintainers ask for: its own packages, numpy and python; the platform and
    devices."""
    wanted = (*framework.packages, "numpy", "python")
    lines = [f"- {name}: {value}" for name, value in versions(environment).items() if name in wanted]
    if environment.get("platform"):
        lines.append(f"- platform: {environment['platform']}")
    devices = environment.get("devices")
    if isinstance(devices, dict):
        lines += [f"- {device}: {model}" for device, model in devices.items()]
    return "\n".join(lines)


def _expected_vs_actual(observation: dict[str, object]) -> str:
    """The suspect's worst element as a small Markdown table, or what it raised."""
    if "error" in observation:
        return f"The call ends with: `{observation['error']}`; the other implementations compute the result."
    if "accepted_shape" in observation:
        return f"The call returns an output of shape {observation['accepted_shape']} instead of raising an error."
    index = ", ".join(str(i) for i in observation.get("worst_index", []))  # type: ignore[attr-defined]
    # Every number at the one element shown; the output's largest error, where it is elsewhere, said apart.
    error = stored_error(observation) or 0.0
    actual, expected = stored_number(observation.get("actual")), stored_number(observation.get("expected"))
    shown_actual, shown_expected = shown_values(actual, expected, error)
    shown_error, shown_bound = shown_error_and_bound(error, float(observation.get("bound", 0.0)))  # type: ignore[arg-type]
    table = (
        "| element | expected (exact) | actual | abs error | allowed |\n|---|---|---|---|---|\n"
        f"| out[{index}] | {shown_expected} | {shown_actual} | {shown_error} | {shown_bound} |"
    )
    largest = observation.get("max_error")
    if isinstance(largest, float) and largest > error:
        table += f"\n\nThe largest abs error anywhere in the output is {largest:.3g} (at another element)."
    return table


def _releases_paragraph(record: FindingRecord) -> str:
    """The releases a bisect found it in, as a paragraph ('' where it was never bisected)."""
    line = releases_line(record)
    return f"Across releases: {line}.\n\n" if line else ""


def build_issue(
    record: FindingRecord, oracle: str, observation: dict[str, object], agreeing: list[str],
    environment: dict[str, object],
) -> UpstreamIssue:
    """The upstream issue for `record` about suspect `oracle`: `observation` is the suspect's worst element (the
    judge's observation JSON), `agreeing` the implementations that agree with each other, `environment` where it
    reproduces."""
    framework = call_framework(oracle)
    script = script_for(record, oracle, issue_title(record, oracle))
    cfg = record.case.config
    # A framework's maintainers do not know convfuzz's oracle names: the reference is said in words.
    named = [("a float64 NumPy reference" if a == REFERENCE else a) for a in agreeing]
    others = ", ".join(named[:-1]) + " and " + named[-1] if len(named) > 1 else "".join(named) or "the others"
    agree = f"{others[0].upper()}{others[1:]} agree with each other on this case" if len(named) > 1 else (
        f"It differs from {others}"
    )
    numeric = record.kind in NUMERIC_KINDS and not cfg.defect
    tier = (
        " Every input is a small integer and every partial sum is exact in this dtype, so any correct summation "
        "order gives exactly the expected result: any difference at all is a bug." if record.exact_tier and numeric
        else ""
    )
    wide = "complex128" if cfg.dtype in COMPLEX_DTYPES else "float64"
    expected = f"; the expected values below are computed in {wide} from the same {cfg.dtype} inputs" if numeric else ""
    snippet = issue_snippet(record, oracle)
    body = (
        "### Description\n\n"
        f"{issue_title(record, oracle)}. {agree}{expected}.{tier}\n\n"
        "### Reproduction\n\n"
        f"```python\n{snippet}```\n\n"
        "### Expected vs actual\n\n"
        f"{_expected_vs_actual(observation)}\n\n"
        "The allowed error is a rounding bound for a correct implementation of this dtype (the sum of |x*w| "
        "terms times the accumulated unit roundoff), not a fixed tolerance.\n\n"
        "### Versions\n\n"
        f"{_versions(dict(oracle_environment(environment, oracle)), framework)}\n\n"
        f"{_releases_paragraph(record)}"
        "<details><summary>The same check as a script with an exit status (numpy and the framework only: 1 while "
        "the problem is present, 0 once it is fixed, 2 where this machine cannot tell)</summary>\n\n"
        f"```python\n{script}```\n\n</details>\n\n"
        f"Found by convfuzz, a differential fuzzer for convolutions (finding `{record.id}`).\n"
    )
    return UpstreamIssue(framework.name, framework.title, framework.tracker, oracle, issue_title(record, oracle), body,
                         snippet, script)
