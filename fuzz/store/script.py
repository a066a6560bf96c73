"""A finding's script, `findings/<id>.py`: the one generator, written from the finding's JSON alone.

The script is what a framework maintainer runs: numpy plus the suspect's framework, the case's tensors, the float64
EXPECTED result and the elementwise BOUND as literals, the call as a user writes it (oracles.user_calls), and a
main() that makes the call first: exit status 1 while the discrepancy reproduces (on any machine), 0 once it is
gone, 2 when this machine cannot tell (the framework or the device is missing, or the problem does not show and a
kernel-selecting fact differs from where it was found, exactly as replay decides). No convfuzz code is inside it
but kernel_facts.cpu_identity, the one reader of the CPU's facts, carried as its source. A finding whose suspect
exists only inside convfuzz (our reference, a relation between calls, a matmul or hand check) gets a script that
says to run `convfuzz replay ID` instead.

`convfuzz scripts` rewrites every script of a folder from its JSON, and a test fails when a committed script
differs from what this module writes now: scripts never go stale.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import math
import textwrap
from typing import Any

import numpy as np

from convfuzz.fuzz.judge.bounds import PASS
from convfuzz.fuzz.judge.decide import PROCESS_KINDS, REFERENCE, VALUE_KINDS
from convfuzz.fuzz.judge.verdict import yardstick
from convfuzz.fuzz.store.records import FindingRecord
from convfuzz.oracles.call_text import runner_name, runner_tensors
from convfuzz.oracles.environments import environment_of, oracle_environment, recorded_facts
from convfuzz.oracles.framework import Framework, framework_named, framework_of_variant
from convfuzz.oracles.isolation import DEFAULT_WORKER_MEMORY_GIB
from convfuzz.oracles.kernel_facts import (
    ARM_FLAGS,
    X86_FLAGS,
    compared_facts,
    cpu_identity,
    names_one_model,
    unrecorded_device_model,
)
from convfuzz.oracles.names import direct_framework, framework_of
from convfuzz.oracles.pinned import split_pin
from convfuzz.oracles.registry import suspect_device
from convfuzz.oracles.user_calls import user_call, user_runner
from convfuzz.strategies import features
from convfuzz.strategies.case import COMPLEX_DTYPES, DEFECTS, HOSTILE_PARAMETERS, ConvConfig

CHILD_TIMEOUT = 60
EXIT_CANNOT_TELL = 2
# An array literal this long or shorter stays on one line (the assignment's name comes before it).
ONE_LINE = 100


def _number(value: float) -> str:
    """A float64 as a literal that round-trips exactly; the non-finite values of a --nonfinite case as NumPy's
    constants."""
    return {"nan": "np.nan", "inf": "np.inf", "-inf": "-np.inf"}.get(repr(value), repr(value))


def _listed(body: str, tail: str) -> str:
    """np.array([body]{tail}: on one line where it is short, else wrapped for reading (`tail` closes the call and
    reshapes)."""
    if len(body) + len(tail) + 12 <= ONE_LINE:
        return f"np.array([{body}]{tail}"
    wrapped = textwrap.fill(body, width=108, initial_indent="    ", subsequent_indent="    ")
    return f"np.array([\n{wrapped}\n]{tail}"


def array_literal(values: np.ndarray) -> str:
    """A float64 array's values as the shortest plain NumPy expression that holds them exactly: np.zeros,
    np.ones or np.full where all are alike, np.arange for a run of integers, a list of integers, or a list of
    floats, reshaped; complex values as complex_array(real parts, imaginary parts), a helper the script defines."""
    if np.iscomplexobj(values):
        real, imag = array_literal(np.real(values)), array_literal(np.imag(values))
        together = f"complex_array({real}, {imag})"
        return together if len(together) <= ONE_LINE else f"complex_array(\n{real},\n{imag},\n)"
    flat = [float(v) for v in np.asarray(values, dtype=np.float64).ravel()]
    shape = tuple(values.shape)
    reshape = "" if len(shape) == 1 else f".reshape({shape!r})"  # a list or a range is 1-D already
    texts = [_number(v) for v in flat]
    if len(set(texts)) <= 1:  # repr tells 0.0 from -0.0, which a sign-sensitive case needs kept apart
        fill = texts[0] if texts else "0.0"
        return {"0.0": f"np.zeros({shape!r})", "1.0": f"np.ones({shape!r})"}.get(fill, f"np.full({shape!r}, {fill})")
    integral = all(math.isfinite(v) and v == int(v) and abs(v) < 2**53 and repr(v) != "-0.0" for v in flat)
    if not integral:
        return _listed(", ".join(texts), f"){reshape}")
    ints = [int(v) for v in flat]
    step = ints[1] - ints[0]
    if len(ints) >= 3 and step != 0 and all(b - a == step for a, b in itertools.pairwise(ints)):
        bounds = [ints[0], ints[-1] + step, step] if step != 1 else [ints[0], ints[-1] + 1] if ints[0] else [len(ints)]
        return f"np.arange({', '.join(map(str, bounds))}, dtype=np.float64){reshape}"
    return _listed(", ".join(map(str, ints)), f", dtype=np.float64){reshape}")


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
    ({'avx512_bf16': True, 'mkldnn_bf16': True, ...}); unknown ones left out. Where the facts say nothing of the
    device (a finding stored before facts were recorded), its recorded model name stands in, as in replay."""
    device = suspect_device(oracle, record.case.config.device)
    framework = direct_framework(oracle) or ""
    flat = compared_facts(recorded_facts(record.environment, oracle), framework, device)
    facts = {label: value for label, value in flat.items() if value is not None}
    model = unrecorded_device_model(record.environment, framework, device)
    if model is not None:
        facts["model" if device == "cpu" else "name"] = model
    return facts


def found_in(record: FindingRecord, oracle: str) -> dict[str, str]:
    """For a suspect of another environment ('torch@nightly'), the releases of its framework's distributions it
    was found with ({'torch': '2.16.0.dev20261201'}); {} for a suspect of the campaign's own interpreter, whose
    versions the finding records as a whole."""
    framework = framework_named(framework_of(oracle))
    if environment_of(oracle) is None or framework is None:
        return {}
    versions = oracle_environment(record.environment, oracle)
    return {name: str(versions[name]) for name in framework.packages if versions.get(name)}


# A script's another_release(), for a finding made in a named environment: a no-show on another release says
# nothing about the one it was found in.
ANOTHER_RELEASE_FUNCTION = (
    "def another_release() -> str | None:\n"
    "    \"\"\"Why this is not the release the problem was found in (FOUND_IN), or None.\"\"\"\n"
    "    from importlib import metadata\n\n"
    "    def installed(name: str) -> str | None:\n"
    "        try:\n"
    "            return metadata.version(name)\n"
    "        except metadata.PackageNotFoundError:\n"
    "            return None\n\n"
    "    differ = [f'{name} {then} (here {installed(name)})' for name, then in FOUND_IN.items()\n"
    "              if installed(name) != then]\n"
    "    return ('it was found with ' + ', '.join(differ) + ': run it with that release') if differ else None\n"
)


def unnamed_model(record: FindingRecord, oracle: str) -> str | None:
    """The name `oracle`'s device was recorded by when that name is all there is and covers several models
    (kernel_facts.names_one_model): no machine can be shown to run the same kernel, so a no-show never says gone."""
    device = suspect_device(oracle, record.case.config.device)
    model = unrecorded_device_model(record.environment, direct_framework(oracle) or "", device)
    return model if model is not None and not names_one_model(model) else None


def _facts_here_function(framework: Framework, device: str, labels: list[str]) -> str:
    """The script's facts_here(): the same facts read on the machine that runs it (the CPU's by cpu_identity, whose
    source the script carries; the framework's with its descriptor's own probe expressions)."""
    lines = ["def facts_here() -> dict:", "    \"\"\"FOUND_WITH's facts on this machine (None where unknown).\"\"\""]
    flags = tuple(label for label in labels if label in X86_FLAGS + ARM_FLAGS)
    probes = framework.cpu_probes if device == "cpu" else framework.gpu_probes
    wanted = {label: expression for label, expression in probes.items() if label in labels}
    if _reads_cpu(device, labels):
        cpu = "{'vendor': cpu['vendor'], 'model': cpu['model'], **cpu['isa']}"
        lines += [f"    cpu = cpu_identity({flags!r})", f"    facts = {cpu}" if wanted else f"    return {cpu}"]
    else:
        lines.append("    facts: dict = {}" if wanted else "    return {}")
    if wanted:
        lines.append(f"    import {framework.module}\n")
        # One lambda per fact and one guarded loop: a try block per fact would cost four lines each.
        lines.append("    probes = {")
        lines += [f"        {label!r}: lambda: {expression}," for label, expression in wanted.items()]
        lines += [
            "    }",
            "    for name, probe in probes.items():",
            "        try:",
            "            facts[name] = probe()",
            "        except Exception:  # an older or leaner build: unknown",
            "            pass",
            "    return facts",
        ]
    return "\n".join(lines) + "\n"


def _cpu_identity_source() -> str:
    """kernel_facts.cpu_identity's own source, for a script to read the CPU as convfuzz does; its long docstring
    is replaced by a line that says where it comes from."""
    source = inspect.getsource(cpu_identity)
    docstring = ast.parse(source).body[0].body[0]  # type: ignore[attr-defined]
    lines = source.splitlines(keepends=True)
    said = '    """The CPU as convfuzz reads it (the same function: oracles/kernel_facts.py)."""\n'
    return "".join([*lines[: docstring.lineno - 1], said, *lines[docstring.end_lineno :]])


def _reads_cpu(device: str, labels: list[str]) -> bool:
    """Whether a script compares facts of the CPU itself (vendor, model, instruction-set flags)."""
    return device == "cpu" and any(label in (*X86_FLAGS, *ARM_FLAGS, "vendor", "model") for label in labels)


def _missing_function(framework: Framework, device: str) -> str:
    """The script's missing(): what this machine lacks to make the call at all (the framework, the device)."""
    return (
        "def missing() -> str | None:\n"
        "    \"\"\"What this machine lacks to make the call at all, or None.\"\"\"\n"
        + "".join(
            f"    if importlib.util.find_spec({module!r}) is None:\n        return '{module} is not installed'\n"
            for module in framework.needed_modules()
        )
        + f"{framework.device_check(device)}"
        "    return None\n"
    )


def _unnamed_model_function(device: str, model: str) -> str:
    """The script's another_kernel() for a finding whose device was recorded only by a name that covers several
    models (unnamed_model): whatever runs here, a no-show cannot be told from another kernel."""
    return (
        "def another_kernel() -> str | None:\n"
        f"    \"\"\"Why the kernel with the problem may not have run here: the {device} it was found on is known\n"
        "    only by a name that covers models with other kernels.\"\"\"\n"
        "    if '--any-hardware' in sys.argv:\n"
        "        return None\n"
        f"    return ({f'it was found on a {device} recorded only as {model!r},'!r}\n"
        "            ' and another kernel may run here; --any-hardware calls it gone anyway')\n"
    )


# A script's another_kernel(): compared only once the problem did not show, as `convfuzz replay` does.
ANOTHER_KERNEL_FUNCTION = (
    "def another_kernel() -> str | None:\n"
    "    \"\"\"Why the kernel with the problem may not have run here (a fact that chose it differs from\n"
    "    FOUND_WITH), or None.\"\"\"\n"
    "    if '--any-hardware' in sys.argv:\n"
    "        return None\n"
    "    here = facts_here()\n"
    "    differ = [f'{name}: found with {then!r}, here {here[name]!r}' for name, then in FOUND_WITH.items()\n"
    "              if here.get(name) is not None and here[name] != then]\n"
    "    if not differ:\n"
    "        return None\n"
    "    return 'another kernel may run here (' + '; '.join(differ) + '); --any-hardware calls it gone anyway'\n"
)


def _earlier_calls(record: FindingRecord, run: str, indent: str) -> str:
    """The loop that makes the earlier calls a stale-buffer finding needs, or nothing."""
    if not record.preceding:
        return ""
    return (
        f"{indent}for tensors in PRECEDING:  # the earlier calls the discrepancy needs\n"
        f"{indent}    {run}(*tensors)\n"
    )


def _value_check_function(record: FindingRecord, run: str, nonfinite: bool) -> str:
    """The script's check() of a finding about values (or an accepted invalid configuration): it makes the call
    and says whether the problem shows, and what was seen."""
    cfg = record.case.config
    head = (
        "def check() -> tuple[bool, str]:\n"
        "    \"\"\"Make the call: whether the problem shows, and what was seen.\"\"\"\n"
        f"{_earlier_calls(record, run, '    ')}"
    )
    if cfg.defect:
        return head + (
            "    try:\n"
            f"        out = {run}()\n"
            "    except Exception as exc:  # refusing is right\n"
            "        return False, f'refused as it should: {type(exc).__name__}: {exc}'\n"
            "    if out.size == 0:\n"
            "        return False, 'an empty output, no numbers'\n"
            f"    return True, f'an output of shape {{out.shape}} for an invalid configuration ({cfg.defect}) "
            "instead of an error'\n"
        )
    # Where the exact result holds inf or NaN, the output must hold the same there; elsewhere an element is right
    # within its bound (a NaN where a number belongs is wrong: its error compares false).
    within = (
        "    with np.errstate(invalid='ignore'):\n"
        "        error = np.abs(out - EXPECTED)\n"
        "    same = (out == EXPECTED) | (np.isnan(out) & np.isnan(EXPECTED))  # inf and NaN where they belong\n"
        "    wrong = ~(same | (error <= BOUND))\n"
        if nonfinite else
        "    error = np.abs(out - EXPECTED)\n"
        "    wrong = ~(error <= BOUND)  # NaN where a number belongs is wrong too\n"
    )
    return head + (
        "    try:\n"
        f"        out = {run}()\n"
        "    except Exception as exc:\n"
        "        return True, f'raised {type(exc).__name__}: {exc} (expected an output of shape {EXPECTED.shape})'\n"
        "    if out.shape != EXPECTED.shape:\n"
        "        return True, f'an output of shape {out.shape}, expected {EXPECTED.shape}'\n"
        f"{within}"
        "    if not wrong.any():\n"
        "        return False, 'every element is within its bound of the exact result'\n"
        "    excess = np.where(wrong, np.nan_to_num(error, nan=np.inf) - BOUND, -np.inf)\n"
        "    at = np.unravel_index(int(np.argmax(excess)), out.shape)\n"
        "    return True, (f'{int(wrong.sum())} of {wrong.size} elements are off; worst out{list(map(int, at))} = '\n"
        "                  f'{out[at].item()!r}, exact {EXPECTED[at].item()!r}: |error| {error[at]:.3g} > '\n"
        "                  f'bound {BOUND[at]:.3g}')\n"
    )


# The child's exit status when the call raised an exception (it says which on its last line of output).
CHILD_RAISED = 3


def _process_check_functions(record: FindingRecord, run: str, framework: Framework, oracle: str) -> str:
    """The script's call_in_child() and check() of a crash or hang: the call runs in a child process, so that a
    crash or hang is reported rather than suffered, and only a call that returned is gone (an invalid
    configuration refused with an error is gone too; a MemoryError is not a refusal)."""
    cfg = record.case.config
    raised = (
        "        if said.startswith('raised MemoryError'):\n"
        "            return True, f'the call {said}: it tried to allocate what an invalid configuration never needs'\n"
        "        return False, f'refused as it should: {said}'\n"
        if cfg.defect else
        "        return True, f'no crash now, but the call {said} on a valid configuration'\n"
    )
    # A hostile parameter's child is held to convfuzz's worker memory budget, as the worker that found it was.
    cap = textwrap.indent(memory_cap_lines(framework, variant=oracle), "    ")
    return (
        "def call_in_child() -> int:\n"
        "    \"\"\"The child process: make the call, and say on the last line of output how it ended.\"\"\"\n"
        + (cap if cfg.defect in HOSTILE_PARAMETERS else "")
        + f"{_earlier_calls(record, run, '    ')}"
        "    try:\n"
        f"        {run}()\n"
        "    except Exception as exc:\n"
        "        print(f'raised {type(exc).__name__}: {exc}', flush=True)\n"
        f"        return {CHILD_RAISED}\n"
        "    print('returned', flush=True)\n"
        "    return 0\n\n\n"
        "def check() -> tuple[bool, str]:\n"
        "    \"\"\"Make the call in a child process: whether the problem shows, and what was seen.\"\"\"\n"
        "    try:\n"
        "        done = subprocess.run([sys.executable, __file__, '--call'], stdout=subprocess.PIPE, text=True,\n"
        "                              timeout=TIMEOUT, check=False)\n"
        "    except subprocess.TimeoutExpired:\n"
        "        return True, f'no answer within {TIMEOUT} s'\n"
        "    if done.returncode < 0:\n"
        "        return True, f'the process was killed by {signal.Signals(-done.returncode).name}'\n"
        "    said = (done.stdout.strip().splitlines() or [''])[-1]\n"
        "    if done.returncode == 0 and said == 'returned':\n"
        "        return False, 'the call returned'\n"
        f"    if done.returncode == {CHILD_RAISED} and said.startswith('raised '):\n"
        f"{raised}"
        "    return True, f'the process ended with exit status {done.returncode} before the call returned'\n"
    )


def _main_function(record: FindingRecord, checks_facts: bool, checks_release: bool = False) -> str:
    """The script's main(): whether this machine can make the call, then the call; only when the problem does not
    show, whether a kernel-selecting fact or (`checks_release`) the framework's release differs from where it was
    found (then it cannot tell)."""
    child = (
        "    if sys.argv[1:] == ['--call']:\n        return call_in_child()\n"
        if record.kind in PROCESS_KINDS else ""
    )
    facts = (
        "    why = another_kernel()\n"
        "    if why:\n"
        "        print(f'CANNOT TELL: it does not show here ({seen}), but {why}')\n"
        f"        return {EXIT_CANNOT_TELL}\n"
        if checks_facts else ""
    )
    release = (
        "    why = another_release()\n"
        "    if why:\n"
        "        print(f'CANNOT TELL: it does not show here ({seen}), but {why}')\n"
        f"        return {EXIT_CANNOT_TELL}\n"
        if checks_release else ""
    )
    return (
        f"def main() -> int:\n{child}"
        "    why = missing()\n"
        "    if why:\n"
        "        print(f'CANNOT TELL: {why}')\n"
        f"        return {EXIT_CANNOT_TELL}\n"
        "    shows, seen = check()\n"
        "    if shows:\n"
        "        print(f'REPRODUCES: {seen}')\n"
        "        return 1\n"
        f"{facts}{release}"
        "    print(f'GONE: {seen}')\n"
        "    return 0\n"
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


def call_framework(oracle: str) -> Framework:
    """The framework whose direct call `oracle` is (pinned or not): the one that writes its script and receives
    its issue; ValueError for any other oracle."""
    framework = framework_of_variant(split_pin(oracle)[0])
    if framework is None:
        raise ValueError(f"{oracle} is not a direct call of a framework")
    return framework


def issue_title(record: FindingRecord, oracle: str) -> str:
    """A one-line title: what is called, what goes wrong, on which dtype and device, and what is unusual."""
    cfg = record.case.config
    framework = call_framework(oracle)
    call = framework.call_name(cfg)
    what = f"{cfg.gradient} gradient of {call}" if cfg.gradient else call
    what += framework.transposed_phrase(cfg)
    how = framework.variant_phrase(split_pin(oracle)[0])
    extra = title_features(cfg)[:3]
    return (
        f"{what}{how} {_verb(record.kind, cfg)} for {cfg.dtype} on {suspect_device(oracle, cfg.device)}"
        + (f" with {', '.join(extra)}" if extra else "")
    )


def _needs(framework: Framework) -> str:
    """What a script needs installed: 'numpy and torch', 'numpy, onnxruntime and onnx' (numpy alone for a framework
    that is numpy)."""
    needed = ["numpy", *(m for m in framework.needed_modules() if m != "numpy")]
    return needed[0] if len(needed) == 1 else f"{', '.join(needed[:-1])} and {needed[-1]}"


def _release_words(release: dict[str, str]) -> str:
    """The docstring's line on the release a finding of another environment was found with ('' for others)."""
    named = ", ".join(f"{name} {version}" for name, version in release.items())
    return f"It was found with {named}: on another release a no-show cannot tell.\n" if release else ""


def script_for(record: FindingRecord, oracle: str, title: str) -> str:
    """The script that checks `record`'s discrepancy by calling `oracle` (a direct torch or JAX call) as a user
    writes it; `title` is its first docstring line."""
    cfg = record.case.config
    runner = user_runner(oracle, cfg)
    framework = call_framework(oracle)
    if runner is None:
        raise ValueError(f"{oracle} has no call a user writes for {cfg.op_name}")
    case = record.case
    device = suspect_device(oracle, cfg.device)
    unnamed = unnamed_model(record, oracle)
    facts = {} if unnamed else found_with(record, oracle)
    run = runner_name(oracle)
    release = found_in(record, oracle)
    process = record.kind in PROCESS_KINDS
    values, nonfinite = "", False
    if record.kind in VALUE_KINDS and not cfg.defect:
        exact, bound = expected_and_bound(record, oracle)
        nonfinite = not bool(np.isfinite(exact).all())
        values = (
            f"# The exact result, computed in {'complex128' if cfg.dtype in COMPLEX_DTYPES else 'float64'} from the "
            "same values.\n"
            f"EXPECTED = {array_literal(exact)}\n"
            f"# The largest |error| a correct {cfg.dtype} implementation may make, per element (its rounding bound).\n"
            f"BOUND = {array_literal(bound)}\n"
        )
    # Two blank lines after the constants above the inputs, where there are any.
    spacer = "\n" if process or facts or release else ""
    complex_helper = (
        f"{spacer}\ndef complex_array(real: np.ndarray, imag: np.ndarray) -> np.ndarray:\n"
        "    joined = np.empty(real.shape, dtype=np.complex128)\n"
        "    joined.real, joined.imag = real, imag\n"
        "    return joined\n\n"
        if cfg.dtype in COMPLEX_DTYPES else spacer
    )
    preceding = ""
    if record.preceding:
        calls = ",\n".join(
            "(" + ", ".join(array_literal(tensor) for tensor in earlier.tensors().values()) + ")"
            for earlier in record.preceding
        )
        named = ", ".join(runner_tensors(cfg))
        preceding = f"# Earlier calls with the same parameters ({named}), oldest first.\nPRECEDING = [\n{calls},\n]\n"
    tensors = "".join(f"{name.upper()} = {array_literal(value)}\n" for name, value in case.tensors().items())
    facts_lines = (
        "# What chose the kernel where this was found: where one of these differs another kernel runs, and a\n"
        "# discrepancy that does not show here says nothing about the kernel that has it.\n"
        f"FOUND_WITH = {facts!r}\n"
        if facts else ""
    ) + (
        "# The release it was found with (a convfuzz environment of its own): another release may not have it.\n"
        f"FOUND_IN = {release!r}\n" if release else ""
    )
    functions = [runner]
    if unnamed:
        functions.append(_unnamed_model_function(device, unnamed))
    elif facts:
        if _reads_cpu(device, list(facts)):
            functions.append(_cpu_identity_source())
        functions += [_facts_here_function(framework, device, list(facts)), ANOTHER_KERNEL_FUNCTION]
    functions.append(_missing_function(framework, device))
    functions.append(
        _process_check_functions(record, run, framework, oracle) if process
        else _value_check_function(record, run, nonfinite)
    )
    if release:
        functions.append(ANOTHER_RELEASE_FUNCTION)
    functions.append(_main_function(record, bool(facts) or unnamed is not None, bool(release)))
    imports = "import importlib.util\n" + ("import signal\nimport subprocess\n" if process else "") + "import sys\n"
    return (
        "#!/usr/bin/env python3\n"
        f'"""{title}.\n\n'
        f"Needs {_needs(framework)}. Exit status 1 while the problem reproduces, 0 once it is gone, 2 when this\n"
        f"machine cannot tell ({' or '.join(framework.needed_modules())} or the {device} device missing, or the "
        "problem does not show where\nanother kernel may have run).\n"
        f"{_release_words(release)}"
        f'Found by convfuzz (finding {record.id})."""\n\n'
        f"{imports}\nimport numpy as np\n\n"
        f"{f'TIMEOUT = {CHILD_TIMEOUT}{chr(10)}' if process else ''}"
        f"{facts_lines}"
        f"{complex_helper}\n"
        f"# The inputs, as float64 values that {cfg.dtype} holds exactly.\n"
        f"{tensors}{preceding}{values}\n\n"
        + "\n\n".join(functions)
        + "\n\nif __name__ == '__main__':\n"
        "    sys.exit(main())\n"
    )


def _snippet_outcome(record: FindingRecord, oracle: str) -> str:
    """The snippet's last lines: what the call returned next to what it should have, or what it does instead."""
    cfg = record.case.config
    seen = record.observed.get(oracle, {})
    error = str(seen.get("error", "")).split(";")[0].splitlines()[0] if seen.get("error") else ""
    if record.kind in PROCESS_KINDS:
        return f"print(out)  # not reached: the process is {error or 'lost'}\n"
    if cfg.defect:
        words = DEFECTS[cfg.defect].description if cfg.defect in DEFECTS else cfg.defect
        return f"print(out.shape)  # an output, but the configuration is invalid ({words}): expected an error\n"
    exact, bound = expected_and_bound(record, oracle)
    if error:
        return f"print(out)  # not reached: the call raises {error}; expected an output of shape {exact.shape}\n"
    if f"{oracle} returned an output of the wrong shape" in record.message:
        return f"print(out.shape, 'but should be', {exact.shape})\n"
    expected = array_literal(exact)
    lines = "print(out)\n" + (f"print('expected', {expected})\n" if len(expected) <= ONE_LINE - 20 else "")
    at = tuple(int(i) for i in seen.get("worst_index", ()))
    if len(at) == exact.ndim:
        where = ", ".join(map(str, at))
        lines += (
            f"print('out[{where}] =', out[{where}].item(), 'but should be', {_number(float(np.real(exact[at])))}, "
            f"'within', {bound[at]:.3g})\n"
        )
    return lines


def issue_snippet(record: FindingRecord, oracle: str) -> str:
    """The few lines a maintainer reads first in an upstream issue: the inputs written compactly, the one call as
    a user writes it (oracles.user_calls), and print(out) next to the expected values (or a comment on the crash,
    hang or error it causes instead). The finding's whole script, with its exit status, follows it in the issue."""
    cfg = record.case.config
    call = user_call(oracle, cfg)
    if call is None:
        raise ValueError(f"{oracle} is not a direct torch or JAX call for {cfg.op_name}")
    imports, statements = call.statements()
    imports = "".join(f"{line}\n" for line in imports.splitlines() if line and line != "import numpy as np")
    helper = (
        "\n\ndef complex_array(real, imag):\n    return real + 1j * imag\n\n\n" if cfg.dtype in COMPLEX_DTYPES else "\n"
    )
    inputs = "".join(f"{name.upper()} = {array_literal(value)}\n" for name, value in record.case.tensors().items())
    earlier = ""
    if record.preceding:  # a stale buffer shows only after earlier calls of the same shapes: the script has them
        earlier = "# The problem shows only after the earlier calls the full script below makes first.\n"
    capped = record.kind in PROCESS_KINDS and cfg.defect in HOSTILE_PARAMETERS
    cap = memory_cap_lines(call_framework(oracle), imported=True, variant=oracle) if capped else ""
    return (
        f"import numpy as np\n{imports}{helper}{inputs}{earlier}{cap}{statements}{_snippet_outcome(record, oracle)}"
    )


def memory_cap_lines(framework: Framework, imported: bool = False, variant: str = "") -> str:
    """Lines that load `framework` (as oracle `variant` has it) and then hold the process to convfuzz's worker
    memory budget, before the call of a hostile parameter's crash (it shows where an extreme output cannot be
    allocated) in a snippet or script."""
    loaded = framework.loading_lines(variant)
    if imported:  # the snippet imported it already
        loaded = "".join(line + "\n" for line in loaded.splitlines() if not line.startswith("import "))
    budget = int(DEFAULT_WORKER_MEMORY_GIB)
    return (
        f"# As convfuzz's worker: at most {budget} GiB mapped beyond the loaded framework (Linux; `ulimit -v` too).\n"
        f"import resource\n{loaded}"
        "mapped = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()\n"
        f"limit = mapped + {budget} * 2**30\n"
        "resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))\n"
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
