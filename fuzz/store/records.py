"""Finding records: frozen data, a versioned JSON schema, and strict loading that never executes code.

Schema (version 1) of findings/<id>.json:
  schema_version  1
  id              '<op>-<dtype>-<kind>-<suspects>-<hash>', also the file stem
  kind            precision | mismatch | nonfinite | error_mismatch | crash | timeout (the last two from
                  isolated workers; nonfinite: the inf/nan propagation rule broken, opt-in --nonfinite values)
  suspects        oracle names judged wrong, e.g. ["torch"]
  oracles         every oracle that voted on the case
  op              conv1d | conv2d | conv3d | conv_transpose1d | conv_transpose2d | conv_transpose3d
  config          every conv parameter plus dtype, device, layout, and where they apply output_padding and the
                  invalid stream's defect (see strategies.case.ConvConfig.to_json)
  inputs          {"x"|"w"|"b": {"shape": [...], "dtype": <config dtype>, "values": [flat float64, C order]}}; a
                  complex dtype's tensors add "imag": [flat float64] (the imaginary parts; "values" the real parts)
  families        how each tensor's values were drawn, e.g. {"x": "ones"}
  observed        per oracle: against, worst_index and there actual, expected, abs_error, bound, ratio (err/bound);
                  max_error (the largest error anywhere); or error
  message         the suspects' lines in the one failure grammar
  exact_tier      true when integer data makes any difference at all a bug
  signature       what de-duplicates findings: op|dtype|device|kind|suspects[|error type][|defect:<name>]
                  [|<deviation>]
  deviation       (optional) a class maintainers often call by design: reduced-accumulation | nan-through-zero
                  (fuzz.judge.deviation)
  bug             (optional) the bug the finding belongs to, 'bug-' + 8 hex digits (fuzz.store.bugs): findings of one
                  root cause share it
  triage          (optional) a person's verdict (`convfuzz triage`): class (bug | expected | artifact), upstream
                  (an issue URL), note, date, bug (a bug key a person filed it under)
  environment     python, torch, jax, jaxlib, numpy, hypothesis versions, platform, device names, and
                  kernel_facts: what chose the kernels where it was found (oracles.kernel_facts; absent in findings
                  stored before it was recorded); environments (optional): per other environment whose oracles
                  ('torch@nightly') it judged, {executable, versions, kernel_facts} (oracles.environments)
  created         UTC ISO 8601
  status          open | fixed | regressed (`convfuzz replay --update` moves it: open -> fixed when gone on every
                  replay run, fixed -> regressed when it shows again, regressed -> fixed when gone again)
  history         (optional) what `replay --update` saw, each {"versions": {...}, "date": ...}: last_seen (the
                  latest replay that reproduced it), fixed_in (the replay that found it gone), regressed_in; and
                  bisect: what `convfuzz bisect --update` saw, {date, framework, steps: [{environment, version,
                  state, reason}], summary}
  preceding       (optional) earlier calls with the same config that the discrepancy needs, oldest first, each
                  in the `inputs` form: a stale-buffer bug shows only when the case is called after them
  shrink_complete (optional) false when the time budget ended the shrinking before Hypothesis was done: the case
                  is the smallest reached, and the example database lets a later campaign go on from it
  confirmed       (optional) false for a crash or hang seen once only, written as soon as it was seen (a second
                  sighting, in this example or another, confirms it, and the time budget may end the campaign
                  first): the next campaign re-checks it before anything else
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from convfuzz.fuzz.judge.decide import ERROR_KINDS, KINDS, PROCESS_KINDS, Decision
from convfuzz.strategies.case import COMPLEX_DTYPES, ConvCase, ConvConfig
from convfuzz.strategies.dtypes import join_parts

SCHEMA_VERSION = 1
STATUSES = ("open", "fixed", "regressed")
TRIAGE_CLASSES = ("bug", "expected", "artifact")
_BUG_PATTERN = re.compile(r"^bug-[0-9a-f]{8}$")
_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


class FindingFormatError(ValueError):
    """A finding file that is not valid JSON of the documented schema."""


def signature_of(case: ConvCase, decision: Decision) -> str:
    """The de-duplication key: one finding per op, dtype, device, kind and suspect set (and error type).

    Layout, padding mode, groups and the other parameters are left out on purpose: each would multiply the
    findings of one bug (and the time spent shrinking each), and shrinking keeps them where the bug needs them.
    """
    cfg = case.config
    parts = [cfg.op_name, cfg.dtype, cfg.device, str(decision.kind), ",".join(decision.suspects)]
    if decision.kind in ERROR_KINDS:
        # The error type ('RuntimeError') or how the worker ended ('killed by SIGSEGV'), not the details.
        # A hang is 'no answer' whatever the case timeout was: a campaign with another --case-timeout meets the same
        # finding.
        errors = sorted({"no answer" if o.failure == "timeout" else re.split("[:;]", o.error)[0]
                         for o in decision.observations.values() if o.error})
        parts.append(",".join(errors))
    if cfg.defect:
        parts.append(f"defect:{cfg.defect}")  # each way of being invalid is its own rule, hence its own finding
    if decision.deviation:
        parts.append(decision.deviation)  # NaN through a zero must not hide a NaN leak of the same op and dtype
    return "|".join(parts)


def kind_of_signature(signature: str) -> str:
    """The finding kind a signature from signature_of names (its fourth part)."""
    return signature.split("|")[3]


def crash_classes(signature: str) -> set[str]:
    """A crash or hang signature of an invalid case as the same failure of each of its suspects in any op or dtype,
    whatever the error types and whichever other oracles failed with it: {'cpu|crash|jax|defect:hostile_padding'};
    empty for any other signature."""
    device, kind, suspects, *rest = signature.split("|")[2:]
    defects = [part for part in rest if part.startswith("defect:")]
    if kind not in PROCESS_KINDS or not defects:
        return set()
    return {"|".join([device, kind, suspect, *defects]) for suspect in suspects.split(",")}


@dataclass(frozen=True)
class FindingRecord:
    """One stored finding: the shrunk case, what each oracle did on it, and where it was seen."""

    id: str
    kind: str
    suspects: tuple[str, ...]
    oracles: tuple[str, ...]
    case: ConvCase
    observed: dict[str, dict[str, Any]]
    message: str
    exact_tier: bool
    signature: str
    environment: dict[str, Any]
    created: str
    status: str = "open"
    preceding: tuple[ConvCase, ...] = ()
    history: dict[str, Any] = field(default_factory=dict)
    deviation: str | None = None
    bug: str = ""  # set when the finding is stored (fuzz.store.bugs), or by a person merging bugs
    triage: dict[str, Any] = field(default_factory=dict)
    shrink_complete: bool = True
    confirmed: bool = True

    @classmethod
    def from_decision(
        cls, case: ConvCase, decision: Decision, environment: dict[str, Any], now: datetime | None = None,
        preceding: Sequence[ConvCase] = (), shrink_complete: bool = True, confirmed: bool = True,
    ) -> FindingRecord:
        """A new open finding for a discrepant `decision` on `case` (called after the `preceding` cases)."""
        if decision.kind is None:
            raise ValueError("a consistent case is not a finding")
        digest = hashlib.sha256(json.dumps(_case_json(case), sort_keys=True).encode()).hexdigest()[:8]
        # Oracle names may hold characters a file name should not ('torch@cpu', a user's own names).
        suspects = re.sub(r"[^a-z0-9_.-]+", "-", "-".join(decision.suspects).lower().replace("@", "-at-"))
        kind = decision.kind.replace("_", "-")
        return cls(
            id=f"{case.config.op_name}-{case.config.dtype}-{kind}-{suspects}-{digest}",
            kind=decision.kind,
            suspects=decision.suspects,
            oracles=tuple(decision.observations),
            case=case,
            observed={n: o.to_json() for n, o in decision.observations.items()},
            message=decision.message,
            exact_tier=decision.exact_tier,
            signature=signature_of(case, decision),
            environment=environment,
            created=(now or datetime.now(UTC)).isoformat(timespec="seconds"),
            preceding=tuple(preceding),
            deviation=decision.deviation,
            shrink_complete=shrink_complete,
            confirmed=confirmed,
        )

    def to_json(self) -> dict[str, Any]:
        """The schema-1 JSON document."""
        return {
            "schema_version": SCHEMA_VERSION,
            "id": self.id,
            "kind": self.kind,
            "suspects": list(self.suspects),
            "oracles": list(self.oracles),
            "op": self.case.config.op_name,
            **_case_json(self.case),
            "observed": self.observed,
            "message": self.message,
            "exact_tier": self.exact_tier,
            "signature": self.signature,
            **({"deviation": self.deviation} if self.deviation else {}),
            **({"bug": self.bug} if self.bug else {}),
            **({"triage": self.triage} if self.triage else {}),
            "environment": self.environment,
            "created": self.created,
            "status": self.status,
            **({"preceding": [_inputs_json(c) for c in self.preceding]} if self.preceding else {}),
            **({"history": self.history} if self.history else {}),
            **({} if self.shrink_complete else {"shrink_complete": False}),
            **({} if self.confirmed else {"confirmed": False}),
        }

    @classmethod
    def from_json(cls, data: Any) -> FindingRecord:
        """Parse a schema-1 document; raises FindingFormatError naming the first problem."""
        try:
            return cls._parse(data)
        except FindingFormatError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise FindingFormatError(f"{type(exc).__name__}: {exc}") from exc

    @classmethod
    def _parse(cls, data: Any) -> FindingRecord:
        if not isinstance(data, dict):
            raise FindingFormatError("top level must be a JSON object")
        if data.get("schema_version") != SCHEMA_VERSION:
            raise FindingFormatError(f"schema_version {data.get('schema_version')!r} is not {SCHEMA_VERSION}")
        if not isinstance(data["id"], str) or not _ID_PATTERN.match(data["id"]):
            raise FindingFormatError(f"id {data['id']!r} is not a safe file stem")
        if data["kind"] not in KINDS:
            raise FindingFormatError(f"kind {data['kind']!r} is not one of {KINDS}")
        if data["status"] not in STATUSES:
            raise FindingFormatError(f"status {data['status']!r} is not one of {STATUSES}")
        config = ConvConfig.from_json(data["config"])
        case = _parse_case(config, data["inputs"], "inputs", dict(data.get("families", {})))
        preceding = data.get("preceding", [])
        if not isinstance(preceding, list):
            raise FindingFormatError("preceding must be a list of inputs objects")
        history = data.get("history", {})
        if not isinstance(history, dict):
            raise FindingFormatError("history must be an object")
        bug = data.get("bug", "")
        if bug and not (isinstance(bug, str) and _BUG_PATTERN.match(bug)):
            raise FindingFormatError(f"bug {bug!r} is not 'bug-' and eight hex digits")
        triage = data.get("triage", {})
        if not isinstance(triage, dict) or triage.get("class", "bug") not in TRIAGE_CLASSES:
            raise FindingFormatError(f"triage {triage!r} is not an object whose class is one of {TRIAGE_CLASSES}")
        return cls(
            id=data["id"],
            kind=data["kind"],
            suspects=tuple(str(s) for s in data["suspects"]),
            oracles=tuple(str(s) for s in data["oracles"]),
            case=case,
            observed=dict(data["observed"]),
            message=str(data["message"]),
            exact_tier=bool(data["exact_tier"]),
            signature=str(data["signature"]),
            environment=dict(data["environment"]),
            created=str(data["created"]),
            status=data["status"],
            preceding=tuple(_parse_case(config, p, f"preceding[{i}]", {}) for i, p in enumerate(preceding)),
            history=dict(history),
            deviation=str(data["deviation"]) if data.get("deviation") else None,
            bug=bug,
            triage=dict(triage),
            shrink_complete=bool(data.get("shrink_complete", True)),
            confirmed=bool(data.get("confirmed", True)),
        )


def _parse_case(config: ConvConfig, inputs: Any, where: str, families: dict[str, str]) -> ConvCase:
    """The case of `config` whose tensors an `inputs` object holds; FindingFormatError names a wrong shape."""
    expected = {"x": config.input_shape(), "w": config.weight_shape()}
    if config.bias:
        expected["b"] = (config.out_channels,)
    if config.gradient:
        expected["g"] = config.output_shape()
    arrays = {}
    for name, shape in expected.items():
        tensor = inputs[name]
        values = np.asarray(tensor["values"], dtype=np.float64)
        if tuple(tensor["shape"]) != shape or values.size != int(np.prod(shape)):
            raise FindingFormatError(f"{where}.{name} should have shape {shape}, got {tensor['shape']}")
        if config.dtype in COMPLEX_DTYPES:
            imag = np.asarray(tensor["imag"], dtype=np.float64)
            if imag.shape != values.shape:
                raise FindingFormatError(f"{where}.{name}.imag should hold {values.size} numbers, got {imag.size}")
            values = join_parts(values, imag)
        arrays[name] = values.reshape(shape)
    return ConvCase(config, arrays["x"], arrays["w"], arrays.get("b"), families, g=arrays.get("g"))


def _inputs_json(case: ConvCase) -> dict[str, Any]:
    """A case's tensors in the `inputs` form: shape, dtype and flat float64 values of x, w, b (and a gradient
    case's cotangent g)."""
    inputs: dict[str, Any] = {}
    for name, tensor in case.tensors().items():
        flat = tensor.ravel()
        inputs[name] = {"shape": list(tensor.shape), "dtype": case.config.dtype, "values": np.real(flat).tolist()}
        if case.config.dtype in COMPLEX_DTYPES:
            inputs[name]["imag"] = np.imag(flat).tolist()
    return inputs


def _case_json(case: ConvCase) -> dict[str, Any]:
    """config, inputs and families of a case, as stored in a finding."""
    return {
        "config": case.config.to_json(),
        "inputs": _inputs_json(case),
        "families": dict(case.families),
    }
