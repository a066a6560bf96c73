"""A finding as an issue for the PyTorch or JAX tracker: title, body, and a short script that needs only numpy and
the one framework, carries the case, the float64 expected output and the elementwise bound, and exits 1 while the
discrepancy reproduces.

The full repro script (fuzz.repro) compares every oracle with convfuzz's own judge inlined; this one is what a
framework maintainer wants to read: the call as a user writes it, and a plain comparison.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import numpy as np

from fuzz.bounds import PASS
from fuzz.decide import NUMERIC_KINDS, REFERENCE, shown_error_and_bound, shown_values, stored_error, stored_number
from fuzz.judge import yardstick
from fuzz.records import FindingRecord
from fuzz.repro import array_literal, optional_literal, runner_name, user_runner
from oracles.pinned import split_pin
from strategies.case import COMPLEX_DTYPES, ConvConfig

TRACKERS = {
    "torch": ("PyTorch", "https://github.com/pytorch/pytorch/issues/new"),
    "jax": ("JAX", "https://github.com/jax-ml/jax/issues/new"),
}
VALUE_KINDS = ("precision", "mismatch", "nonfinite", "error_mismatch")
CHILD_TIMEOUT = 60


@dataclass(frozen=True)
class UpstreamIssue:
    """An issue ready to paste: where it goes, its title, its Markdown body and the repro script inside it."""

    framework: str  # 'torch' or 'jax'
    tracker: str  # the project's name ('PyTorch')
    url: str  # where a new issue is opened
    oracle: str  # the suspect the script calls
    title: str
    body: str
    script: str

    def to_json(self) -> dict[str, str]:
        """JSON form for `convfuzz explain --json`."""
        return {
            "framework": self.framework, "tracker": self.tracker, "url": self.url, "oracle": self.oracle,
            "title": self.title, "body": self.body, "script": self.script,
        }


def framework_of(oracle: str) -> str | None:
    """'torch' or 'jax' for an oracle that is a direct call of that framework (any variant, pinned or not) and for
    which a user-form call exists; None for the reference, relations, matmul and hand checks."""
    variant = split_pin(oracle)[0]
    for framework in TRACKERS:
        if variant == framework or variant.startswith(framework + "-"):
            return framework
    return None


def upstream_suspect(record: FindingRecord) -> str | None:
    """The suspect an upstream issue is about: the first one that is a direct torch or JAX call."""
    for suspect in record.suspects:
        if framework_of(suspect) is not None and user_runner(suspect, record) is not None:
            return suspect
    return None


def no_issue_reason(record: FindingRecord) -> str:
    """Why `record` gets no upstream issue (only meaningful when upstream_suspect is None)."""
    if REFERENCE in record.suspects:
        return "the suspect is convfuzz's own float64 reference: a bug of ours, not of a framework"
    return (
        f"the suspect(s) {', '.join(record.suspects)} exist only inside convfuzz (a relation between calls, a matmul "
        "or hand check): the full repro script shows the calls that disagree"
    )


def features(cfg: ConvConfig) -> list[str]:
    """What is unusual about a case, in a few words each, most telling first (for an issue title)."""
    pads = cfg.pad_pairs()
    found = [
        ("negative padding", any(lo < 0 or hi < 0 for lo, hi in pads)),
        ("asymmetric padding", any(lo != hi for lo, hi in pads)),
        (f"padding_mode={cfg.padding_mode}", cfg.padding_mode != "zeros"),
        (f"{cfg.layout} layout", cfg.layout != "contiguous"),
        (f"groups={cfg.groups}", cfg.groups > 1),
        (f"batch_group_count={cfg.batch_groups}", cfg.batch_groups > 1),
        (f"stride={cfg.stride}", any(s > 1 for s in cfg.stride)),
        (f"dilation={cfg.dilation}", any(d > 1 for d in cfg.dilation)),
        (f"output_padding={cfg.output_padding}", cfg.transposed and any(cfg.output_padding)),
        (f"invalid configuration ({cfg.defect})", bool(cfg.defect)),
    ]
    return [text for text, present in found if present]


def _call_name(framework: str, cfg: ConvConfig) -> str:
    return f"F.{cfg.op}" if framework == "torch" else "lax.conv_general_dilated"


def _verb(kind: str, cfg: ConvConfig) -> str:
    if cfg.defect:
        return {"crash": "crashes on an invalid configuration", "timeout": "hangs on an invalid configuration"}.get(
            kind, "accepts an invalid configuration"
        )
    return {
        "precision": "loses precision",
        "mismatch": "returns wrong values",
        "nonfinite": "propagates inf/NaN wrongly",
        "error_mismatch": "raises an error on a valid case",
        "crash": "crashes the process",
        "timeout": "hangs",
    }[kind]


def issue_title(record: FindingRecord, oracle: str) -> str:
    """A one-line title: what is called, what goes wrong, on which dtype and device, and what is unusual."""
    cfg = record.case.config
    framework = framework_of(oracle) or "torch"
    call = _call_name(framework, cfg)
    what = f"{cfg.gradient} gradient of {call}" if cfg.gradient else call
    if cfg.transposed and framework == "jax":
        what += f" (as {cfg.op})"
    variant = split_pin(oracle)[0]
    how = {"torch-compile": " under torch.compile", "jax-eager": " (not jitted)", "torch-vjp": " (its VJP)",
           "jax-vjp": " (jax.vjp)"}.get(variant, "")
    extra = features(cfg)[:3]
    return (
        f"{what}{how} {_verb(record.kind, cfg)} for {cfg.dtype} on {split_pin(oracle)[1] or cfg.device}"
        + (f" with {', '.join(extra)}" if extra else "")
    )


def _script_main(record: FindingRecord, oracle: str) -> str:
    """The script's main(): how it decides that the discrepancy is there."""
    run = runner_name(oracle)
    kind, cfg = record.kind, record.case.config
    earlier = "    for x, w, b, g in PRECEDING:  # the earlier calls the discrepancy needs\n" \
              f"        {run}(x, w, b, g)\n" if record.preceding else ""
    if kind in ("crash", "timeout"):
        return (
            "def main() -> int:\n"
            "    if sys.argv[1:] == ['--call']:  # the child: make the call\n"
            f"{textwrap.indent(earlier, '    ') if earlier else ''}"
            f"        {run}()\n"
            "        return 0\n"
            "    # The call runs in a child process, so a crash or a hang is reported rather than suffered.\n"
            "    try:\n"
            "        done = subprocess.run([sys.executable, __file__, '--call'], timeout=TIMEOUT, check=False)\n"
            "    except subprocess.TimeoutExpired:\n"
            "        print(f'REPRODUCES: no answer within {TIMEOUT} s')\n"
            "        return 1\n"
            "    if done.returncode < 0:\n"
            "        print(f'REPRODUCES: the process was killed by {signal.Signals(-done.returncode).name}')\n"
            "        return 1\n"
            "    print(f'GONE: the call returned (exit status {done.returncode})')\n"
            "    return 0\n"
        )
    if cfg.defect:
        return (
            "def main() -> int:\n"
            f"{earlier}"
            "    try:\n"
            f"        out = {run}()\n"
            "    except Exception as exc:  # refusing is right\n"
            "        print(f'GONE: refused as it should: {type(exc).__name__}: {exc}')\n"
            "        return 0\n"
            "    if out.size == 0:\n"
            "        print('GONE: an empty output, no numbers')\n"
            "        return 0\n"
            f"    print(f'REPRODUCES: an output of shape {{out.shape}} for an invalid configuration ({cfg.defect}) "
            "instead of an error')\n"
            "    return 1\n"
        )
    return (
        "def main() -> int:\n"
        f"{earlier}"
        "    try:\n"
        f"        out = {run}()\n"
        "    except Exception as exc:\n"
        "        print(f'REPRODUCES: raised {type(exc).__name__}: {exc}')\n"
        "        print('expected: an output of shape', EXPECTED.shape)\n"
        "        return 1\n"
        "    if out.shape != EXPECTED.shape:\n"
        "        print(f'REPRODUCES: output of shape {out.shape}, expected {EXPECTED.shape}')\n"
        "        return 1\n"
        "    with np.errstate(invalid='ignore'):\n"
        "        error = np.abs(out - EXPECTED)\n"
        "    # Where the exact result is inf or NaN the output must be the same; elsewhere within the bound.\n"
        "    same = (out == EXPECTED) | (np.isnan(out) & np.isnan(EXPECTED))\n"
        "    wrong = ~(same | (error <= BOUND))\n"
        "    if not wrong.any():\n"
        "        print('GONE: every element is within its bound of the exact result')\n"
        "        return 0\n"
        "    excess = np.where(wrong, np.nan_to_num(error, nan=np.inf) - BOUND, -np.inf)\n"
        "    at = np.unravel_index(int(np.argmax(excess)), out.shape)\n"
        "    print(f'REPRODUCES: {int(wrong.sum())} of {wrong.size} elements are off; worst '\n"
        "          f'out{list(map(int, at))} = {out[at].item()!r}, exact {EXPECTED[at].item()!r}: '\n"
        "          f'|error| {error[at]:.3g} > bound {BOUND[at]:.3g}')\n"
        "    return 1\n"
    )


def expected_and_bound(record: FindingRecord, oracle: str) -> tuple[np.ndarray, np.ndarray]:
    """The float64 exact result of the case and the elementwise bound the judge allows `oracle` against it (its
    own bound plus the reference's; zero in the exact tier)."""
    yard = yardstick(record.case)
    return yard.exact, yard.bound(oracle, PASS) + yard.bound(REFERENCE, PASS)


def issue_script(record: FindingRecord, oracle: str) -> str:
    """The standalone script of the issue: the case's tensors, expected output and bound as literals, the call of
    `oracle` as a user writes it, and a main() that exits 1 while the discrepancy reproduces."""
    runner = user_runner(oracle, record)
    if runner is None:
        raise ValueError(f"{oracle} is not a direct torch or JAX call")
    case, cfg = record.case, record.case.config
    framework = framework_of(oracle)
    values = ""
    if record.kind in VALUE_KINDS and not cfg.defect:
        exact, bound = expected_and_bound(record, oracle)
        values = (
            f"# The exact result, computed in {'complex128' if cfg.dtype in COMPLEX_DTYPES else 'float64'} from the "
            "same values.\n"
            f"EXPECTED = {array_literal(exact)}\n"
            f"# The largest |error| a correct {cfg.dtype} implementation may make, per element (its rounding bound).\n"
            f"BOUND = {array_literal(bound)}\n"
        )
    complex_helper = (
        "\n\ndef complex_array(real: np.ndarray, imag: np.ndarray) -> np.ndarray:\n"
        "    joined = np.empty(real.shape, dtype=np.complex128)\n"
        "    joined.real, joined.imag = real, imag\n"
        "    return joined\n\n"
        if cfg.dtype in COMPLEX_DTYPES else "\n"
    )
    preceding = ""
    if record.preceding:
        calls = ",\n".join(
            f"({array_literal(c.x)}, {array_literal(c.w)}, {optional_literal(c.b)}, {optional_literal(c.g)})"
            for c in record.preceding
        )
        preceding = (
            f"# Earlier calls with the same parameters (x, w, b, g), oldest first.\nPRECEDING = [\n{calls},\n]\n"
        )
    optional = {"B": case.b, "G": case.g}
    tensors = "".join(f"{name} = {optional_literal(value)}\n" for name, value in optional.items())
    return (
        "#!/usr/bin/env python3\n"
        f'"""{issue_title(record, oracle)}.\n\n'
        f"Needs numpy and {framework}. Exit status 1 while the problem reproduces, 0 once it is gone.\n"
        f'Found by convfuzz (finding {record.id})."""\n\n'
        "import signal\nimport subprocess\nimport sys\n\nimport numpy as np\n\n"
        f"TIMEOUT = {CHILD_TIMEOUT}\n"
        f"{complex_helper}\n"
        f"# The inputs, as float64 values that {cfg.dtype} holds exactly.\n"
        f"X = {array_literal(case.x)}\n"
        f"W = {array_literal(case.w)}\n"
        f"{tensors}{preceding}{values}\n\n"
        f"{runner}\n\n"
        f"{_script_main(record, oracle)}\n\n"
        "if __name__ == '__main__':\n"
        "    sys.exit(main())\n"
    )


def _versions(environment: dict[str, object]) -> str:
    names = ("torch", "jax", "jaxlib", "numpy", "python", "platform")
    lines = [f"- {name}: {environment[name]}" for name in names if environment.get(name)]
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


def build_issue(
    record: FindingRecord, oracle: str, observation: dict[str, object], agreeing: list[str],
    environment: dict[str, object],
) -> UpstreamIssue:
    """The upstream issue for `record` about suspect `oracle`: `observation` is the suspect's worst element (the
    judge's observation JSON), `agreeing` the implementations that agree with each other, `environment` where it
    reproduces."""
    framework = framework_of(oracle)
    if framework is None:
        raise ValueError(f"{oracle} is not a direct torch or JAX call")
    tracker, url = TRACKERS[framework]
    script = issue_script(record, oracle)
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
    body = (
        "### Description\n\n"
        f"{issue_title(record, oracle)}. {agree}{expected}.{tier}\n\n"
        "### Reproduction\n\n"
        "Needs numpy and the framework only; prints the worst element and exits with status 1 while the problem "
        "is present.\n\n"
        f"```python\n{script}```\n\n"
        "### Expected vs actual\n\n"
        f"{_expected_vs_actual(observation)}\n\n"
        "The allowed error is a rounding bound for a correct implementation of this dtype (the sum of |x*w| "
        "terms times the accumulated unit roundoff), not a fixed tolerance.\n\n"
        "### Versions\n\n"
        f"{_versions(environment)}\n\n"
        f"Found by convfuzz, a differential fuzzer for convolutions (finding `{record.id}`).\n"
    )
    return UpstreamIssue(framework, tracker, url, oracle, issue_title(record, oracle), body, script)
