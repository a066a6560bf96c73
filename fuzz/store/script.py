"""A finding's script, `findings/<id>.py`: the one generator, written from the finding's JSON alone.

The script is what a framework maintainer runs: numpy plus the suspect's framework, the case's tensors, the float64
EXPECTED result and the elementwise BOUND as literals, the call as a user writes it (oracles.user_calls), and a
main() whose exit status says 1 while the discrepancy reproduces, 0 once it is gone, 2 when this machine cannot
tell (the framework or the device is missing, or a kernel-selecting fact differs from where it was found). No
convfuzz code is inside it. A finding whose suspect exists only inside convfuzz (our reference, a relation between
calls, a matmul or hand check) gets a script that says to run `convfuzz replay ID` instead.

`convfuzz scripts` rewrites every script of a folder from its JSON, and a test fails when a committed script
differs from what this module writes now: scripts never go stale.
"""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np

from convfuzz.fuzz.judge.bounds import PASS
from convfuzz.fuzz.judge.decide import PROCESS_KINDS, REFERENCE, VALUE_KINDS
from convfuzz.fuzz.judge.verdict import yardstick
from convfuzz.fuzz.store.records import FindingRecord
from convfuzz.oracles.kernel_facts import (
    ARM_FLAGS,
    JAX_GPU_PROBES,
    TORCH_CPU_PROBES,
    TORCH_GPU_PROBES,
    X86_FLAGS,
    compared_facts,
)
from convfuzz.oracles.names import direct_framework
from convfuzz.oracles.pinned import split_pin
from convfuzz.oracles.registry import suspect_device
from convfuzz.oracles.user_calls import runner_name, user_runner
from convfuzz.strategies import features
from convfuzz.strategies.case import COMPLEX_DTYPES, ConvConfig

CHILD_TIMEOUT = 60
EXIT_CANNOT_TELL = 2
# An array literal this long or shorter stays on one line (the assignment's name comes before it).
ONE_LINE = 100


def array_literal(values: np.ndarray) -> str:
    """np.array([...]) with values that round-trip exactly, wrapped for reading; complex values as
    complex_array(real parts, imaginary parts), a helper the script then defines."""
    if np.iscomplexobj(values):
        real, imag = array_literal(np.real(values)), array_literal(np.imag(values))
        together = f"complex_array({real}, {imag})"
        return together if len(together) <= ONE_LINE else f"complex_array(\n{real},\n{imag},\n)"
    # repr gives 'nan' / 'inf' for the non-finite values of a --nonfinite case: spelled as NumPy constants.
    special = {"nan": "np.nan", "inf": "np.inf", "-inf": "-np.inf"}
    body = ", ".join(special.get(repr(float(v)), repr(float(v))) for v in values.ravel())
    shape = f".reshape({tuple(values.shape)!r})"
    if len(body) + len(shape) + 12 <= ONE_LINE:  # a few values: one line
        return f"np.array([{body}]){shape}"
    wrapped = textwrap.fill(body, width=108, initial_indent="    ", subsequent_indent="    ")
    return f"np.array([\n{wrapped}\n]){shape}"


def optional_literal(values: np.ndarray | None) -> str:
    """array_literal of an optional tensor (a missing bias or cotangent is None)."""
    return "None" if values is None else array_literal(values)


def script_suspect(record: FindingRecord) -> str | None:
    """The suspect a finding's script calls: the first one that is a direct torch or JAX call with a user form."""
    for suspect in record.suspects:
        if direct_framework(suspect) is not None and user_runner(suspect, record.case.config) is not None:
            return suspect
    return None


def expected_and_bound(record: FindingRecord, oracle: str) -> tuple[np.ndarray, np.ndarray]:
    """The float64 exact result of the case and the elementwise bound the judge allows `oracle` against it (its
    own bound plus the reference's; zero in the exact tier)."""
    yard = yardstick(record.case)
    return yard.exact, yard.bound(oracle, PASS) + yard.bound(REFERENCE, PASS)


def found_with(record: FindingRecord, oracle: str) -> dict[str, Any]:
    """The kernel-selecting facts of `oracle`'s framework on its device where the finding was found, flattened
    ({'avx512_bf16': True, 'mkldnn_bf16': True, ...}); unknown ones left out. {} for a finding without facts."""
    recorded = record.environment.get("kernel_facts")
    device = suspect_device(oracle, record.case.config.device)
    if not isinstance(recorded, dict):
        # Found before facts were recorded: the device's model name is all there is (what replay compares too).
        models = record.environment.get("devices")
        model = models.get(device) if isinstance(models, dict) else None
        return {} if model is None else {"model" if device == "cpu" else "name": model}
    framework = direct_framework(oracle) or ""
    flat = compared_facts(recorded, framework, device)
    return {label: value for label, value in flat.items() if value is not None}


def _facts_here_function(framework: str, device: str, labels: list[str]) -> str:
    """The script's facts_here(): the same facts read on the machine that runs it (the CPU's from /proc/cpuinfo,
    the framework's with kernel_facts' own probe expressions)."""
    lines = ["def facts_here() -> dict:", "    \"\"\"FOUND_WITH's facts on this machine (None where unknown).\"\"\"",
             "    facts: dict = {}"]
    flag_labels = tuple(label for label in labels if label in X86_FLAGS + ARM_FLAGS)
    if device == "cpu" and (flag_labels or "vendor" in labels or "model" in labels):
        lines += [
            "    fields = {}",
            "    try:  # the first processor's block of /proc/cpuinfo (Linux): its vendor and instruction-set flags",
            "        with open('/proc/cpuinfo', encoding='utf-8', errors='replace') as info:",
            "            for line in info.read().split('\\n\\n')[0].splitlines():",
            "                key, _, value = line.partition(':')",
            "                fields[key.strip()] = value.strip()",
            "    except OSError:",
            "        pass",
            "    facts['vendor'] = fields.get('vendor_id') or fields.get('CPU implementer')",
            "    facts['model'] = fields.get('model name')",
            "    flags = (fields.get('flags') or fields.get('Features') or '').split()",
            f"    for flag in {flag_labels!r}:",
            "        facts[flag] = (flag in flags) if flags else None",
        ]
    if device == "cpu":
        probes = TORCH_CPU_PROBES if framework == "torch" else {}
    else:
        probes = TORCH_GPU_PROBES if framework == "torch" else JAX_GPU_PROBES
    wanted = {label: expression for label, expression in probes.items() if label in labels}
    if wanted:
        lines.append(f"    import {framework}\n")
        for label, expression in wanted.items():
            lines += [
                "    try:",
                f"        facts[{label!r}] = {expression}",
                "    except Exception:  # an older or leaner build: unknown",
                "        pass",
            ]
    lines.append("    return facts")
    return "\n".join(lines) + "\n"


def _cannot_tell_function(framework: str, device: str, checks_facts: bool) -> str:
    """The script's cannot_tell(): why this machine cannot say whether the problem is still there, or None."""
    device_check = ""
    if device == "cuda" and framework == "torch":
        device_check = "    if not torch.cuda.is_available():\n        return 'torch sees no GPU here'\n"
    elif device == "cuda":
        device_check = (
            "    try:\n        jax.devices('gpu')\n    except RuntimeError:\n        return 'jax sees no GPU here'\n"
        )
    facts = (
        "    if '--any-hardware' in sys.argv:\n"
        "        return None\n"
        "    here = facts_here()\n"
        "    differ = [f'{name}: found with {then!r}, here {here[name]!r}' for name, then in FOUND_WITH.items()\n"
        "              if here.get(name) is not None and here[name] != then]\n"
        "    if differ:\n"
        "        return 'another kernel may run here (' + '; '.join(differ) + '); --any-hardware runs it anyway'\n"
        if checks_facts else ""
    )
    return (
        "def cannot_tell() -> str | None:\n"
        "    \"\"\"Why this machine cannot tell whether the problem is still there, or None.\"\"\"\n"
        "    try:\n"
        f"        import {framework}\n"
        "    except ImportError:\n"
        f"        return '{framework} is not installed'\n"
        f"{device_check}{facts}"
        "    return None\n"
    )


def _main_function(record: FindingRecord, oracle: str) -> str:
    """The script's main(): first whether this machine can tell, then whether the discrepancy is there."""
    run = runner_name(oracle)
    kind, cfg = record.kind, record.case.config
    earlier = (
        "    for x, w, b, g in PRECEDING:  # the earlier calls the discrepancy needs\n"
        f"        {run}(x, w, b, g)\n" if record.preceding else ""
    )
    child = ""
    if kind in PROCESS_KINDS:
        child = (
            "    if sys.argv[1:2] == ['--call']:  # the child: make the call\n"
            f"{textwrap.indent(earlier, '    ')}"
            f"        {run}()\n"
            "        return 0\n"
        )
    start = (
        f"def main() -> int:\n{child}"
        "    why = cannot_tell()\n"
        "    if why:\n"
        "        print(f'CANNOT TELL: {why}')\n"
        f"        return {EXIT_CANNOT_TELL}\n"
    )
    if kind in PROCESS_KINDS:
        return start + (
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
        return start + earlier + (
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
    return start + earlier + (
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


def title_features(cfg: ConvConfig) -> list[str]:
    """What is unusual about a case, in a few words each, most telling first (for an issue title)."""
    found = [
        ("negative padding", features.negatively_padded(cfg)),
        ("asymmetric padding", features.asymmetrically_padded(cfg)),
        (f"padding_mode={cfg.padding_mode}", features.padding_mode_other_than_zeros(cfg)),
        (f"{cfg.layout} layout", features.non_contiguous_layout(cfg)),
        (f"groups={cfg.groups}", features.grouped(cfg)),
        (f"batch_group_count={cfg.batch_groups}", features.batch_grouped(cfg)),
        (f"stride={cfg.stride}", features.strided(cfg)),
        (f"dilation={cfg.dilation}", features.dilated(cfg)),
        (f"output_padding={cfg.output_padding}", features.output_padded(cfg)),
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
    framework = direct_framework(oracle) or "torch"
    call = _call_name(framework, cfg)
    what = f"{cfg.gradient} gradient of {call}" if cfg.gradient else call
    if cfg.transposed and framework == "jax":
        what += f" (as {cfg.op})"
    variant = split_pin(oracle)[0]
    how = {"torch-compile": " under torch.compile", "jax-eager": " (not jitted)", "torch-vjp": " (its VJP)",
           "jax-vjp": " (jax.vjp)"}.get(variant, "")
    extra = title_features(cfg)[:3]
    return (
        f"{what}{how} {_verb(record.kind, cfg)} for {cfg.dtype} on {suspect_device(oracle, cfg.device)}"
        + (f" with {', '.join(extra)}" if extra else "")
    )


def script_for(record: FindingRecord, oracle: str, title: str) -> str:
    """The script that checks `record`'s discrepancy by calling `oracle` (a direct torch or JAX call) as a user
    writes it; `title` is its first docstring line."""
    cfg = record.case.config
    runner = user_runner(oracle, cfg)
    framework = direct_framework(oracle)
    if runner is None or framework is None:
        raise ValueError(f"{oracle} is not a direct torch or JAX call for {cfg.op_name}")
    case = record.case
    device = suspect_device(oracle, cfg.device)
    facts = found_with(record, oracle)
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
    tensors = "".join(f"{name} = {optional_literal(value)}\n" for name, value in (("B", case.b), ("G", case.g)))
    facts_lines = (
        "# What chose the kernel where this was found: where one of these differs another kernel runs, and a\n"
        "# discrepancy that does not show says nothing about the kernel that has it.\n"
        f"FOUND_WITH = {facts!r}\n"
        if facts else ""
    )
    return (
        "#!/usr/bin/env python3\n"
        f'"""{title}.\n\n'
        f"Needs numpy and {framework}. Exit status 1 while the problem reproduces, 0 once it is gone, 2 when this\n"
        f"machine cannot tell ({framework} or the {device} device missing, or another kernel would run here).\n"
        f'Found by convfuzz (finding {record.id})."""\n\n'
        "import signal\nimport subprocess\nimport sys\n\nimport numpy as np\n\n"
        f"TIMEOUT = {CHILD_TIMEOUT}\n"
        f"{facts_lines}"
        f"{complex_helper}\n"
        f"# The inputs, as float64 values that {cfg.dtype} holds exactly.\n"
        f"X = {array_literal(case.x)}\n"
        f"W = {array_literal(case.w)}\n"
        f"{tensors}{preceding}{values}\n\n"
        f"{runner}\n\n"
        f"{_facts_here_function(framework, device, list(facts)) + chr(10) + chr(10) if facts else ''}"
        f"{_cannot_tell_function(framework, device, bool(facts))}\n\n"
        f"{_main_function(record, oracle)}\n\n"
        "if __name__ == '__main__':\n"
        "    sys.exit(main())\n"
    )


def replay_instead_script(record: FindingRecord) -> str:
    """The script of a finding no single torch or JAX call shows: it says what to run instead and exits 2."""
    suspects = ", ".join(record.suspects)
    return (
        "#!/usr/bin/env python3\n"
        f'"""convfuzz finding {record.id}: {record.kind}, suspect(s) {suspects}.\n\n'
        "The suspect exists only inside convfuzz (its float64 reference, a relation between calls, a matmul or hand\n"
        "check), so no call of torch or JAX alone shows the discrepancy. Check it with convfuzz itself:\n\n"
        f'    convfuzz replay {record.id}\n"""\n\n'
        "import sys\n\n"
        f"print('CANNOT TELL: no single framework call shows this finding; run: convfuzz replay {record.id}')\n"
        f"sys.exit({EXIT_CANNOT_TELL})\n"
    )


def finding_script(record: FindingRecord) -> str:
    """`findings/<id>.py` for `record`: the suspect's call as a user writes it (script_for), or, where no suspect
    is a direct framework call, a script that says to run `convfuzz replay ID`."""
    oracle = script_suspect(record)
    return replay_instead_script(record) if oracle is None else script_for(record, oracle, issue_title(record, oracle))
