"""One descriptor per framework: everything convfuzz knows about a framework, asked of one object.

A framework (torch, JAX, or one of your own) is a subclass of Framework in one module, registered by one line:
its entry in BUILT_IN below, or for a framework outside convfuzz its 'module:attribute' in $CONVFUZZ_FRAMEWORKS
(comma-separated; isolated workers inherit it). The descriptor says how each of its oracles (the framework's
variants: 'torch', 'torch-compile', ...) is built and which cases it takes part in, what selects its kernels on this
machine, how a user writes its call (finding scripts, `convfuzz explain`, the upstream draft), and where its bugs
are reported. The generic code (the registry, the judge's voters, scripts, reports) asks the descriptor and never
tests a framework's name.

Standard library only at import time: a descriptor imports its framework when an oracle is built or a fact read.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable, Mapping
from functools import cache, partial
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from convfuzz.oracles.base import Oracle
    from convfuzz.oracles.call_text import UserCall
    from convfuzz.strategies.case import ConvConfig

# The frameworks convfuzz ships, each one line: 'module:attribute' of its descriptor.
BUILT_IN: tuple[str, ...] = (
    "convfuzz.oracles.torch_framework:TORCH",
    "convfuzz.oracles.jax_framework:JAX",
    "convfuzz.oracles.onnxruntime_framework:ONNXRUNTIME",
    "convfuzz.oracles.tensorflow_framework:TENSORFLOW",
)
FRAMEWORKS_ENV = "CONVFUZZ_FRAMEWORKS"
# Defect scopes (strategies.case.DEFECTS) that bind every framework; the others name the frameworks whose own
# rules they are (Framework.defect_scopes).
EVERY_FRAMEWORK_SCOPES = ("all", "frameworks")


def probe(expression: str, module_name: str, module: Any) -> Any:
    """The value of one PROBES expression with `module` bound to `module_name`; None where this build lacks what
    it reads (an older or leaner release has fewer probes: the fact is then unknown, not an error)."""
    try:
        return eval(expression, {module_name: module})  # the descriptors' own constant expressions, never input
    except Exception:  # noqa: BLE001
        return None


class Variant(Protocol):
    """One way a framework computes cases (an oracle name): which ops it computes."""

    def computes(self, op: str) -> bool:
        """Whether it computes `op` ('conv2d', or a gradient 'conv2d.grad_weight')."""
        ...


class Framework:
    """Everything convfuzz knows about one framework. Subclasses set the class attributes and override the methods
    whose defaults do not fit."""

    name: str = ""  # 'torch': every oracle of it is this name or starts with 'name-'
    title: str = ""  # the project's own name, 'PyTorch'
    module: str = ""  # what a user imports, 'torch'; find_spec(module) says whether it is installed
    script_modules: tuple[str, ...] = ()  # what a finding's script imports besides numpy; () means (module,)
    packages: tuple[str, ...] = ()  # distributions whose versions say which code ran: ('jax', 'jaxlib')
    extra: str | None = None  # the pip extra of convfuzz that installs it; None where convfuzz itself needs it
    tracker: str = ""  # where a new upstream issue is opened
    batch_groups: bool = False  # computes XLA's batch_group_count
    # takes cropping (negative) pads, as XLA's rule (the reference's) defines them; ONNX and tf.pad forbid them
    negative_pads: bool = True
    # Defect scopes beyond EVERY_FRAMEWORK_SCOPES this framework is bound by: 'torch' (torch's own rules).
    defect_scopes: tuple[str, ...] = ()
    # Kernel-selecting facts: {label: Python expression over the imported module (named `module`)} for the CPU
    # and for a GPU. Facts collects and compares them, and a finding's script reads them with the same text.
    cpu_probes: ClassVar[Mapping[str, str]] = {}
    gpu_probes: ClassVar[Mapping[str, str]] = {}
    fact_words: ClassVar[Mapping[str, str]] = {}  # how a compared fact is said ('torch's oneDNN (mkldnn) kernels')
    # What the part of an oracle's path after its '/' names (oracles.base.backend_path: 'Mkldnn/jit_dw:avx2'),
    # in the summary and the report: 'oneDNN implementations' behind torch's backends, 'XLA lowerings' for JAX.
    path_detail: str = "implementations"

    @property
    def variants(self) -> Mapping[str, Variant]:
        """Its oracles by name, the plain call first (named like the framework)."""
        raise NotImplementedError

    def build(self, variant: str) -> Oracle:
        """The oracle `variant`; raises OracleUnavailable where the framework cannot be imported or used."""
        raise NotImplementedError

    def computes(self, variant: str, op: str) -> bool:
        """Whether oracle `variant` computes `op`."""
        return self.variants[variant].computes(op)

    def takes(self, variant: str, config: ConvConfig) -> bool:
        """Whether oracle `variant` takes part in cases of `config` (its op computed; batch_group_count where the
        framework has it; an invalid-stream case where the defect's scope binds it). A framework that lacks a dtype
        or feature says so here: it sits out such cases (a refusal, never a finding)."""
        from convfuzz.strategies.case import DEFECTS

        if not self.computes(variant, config.op_name):
            return False
        if config.batch_groups > 1 and not self.batch_groups:
            return False
        # A cropping pad of a valid case, or the invalid stream's extreme padding of -1 (which the reference crops).
        cropping = config.defect in ("", "hostile_padding") and any(lo < 0 or hi < 0 for lo, hi in config.pad_pairs())
        if cropping and not self.negative_pads:
            return False
        if not config.defect:
            return True
        scope = DEFECTS[config.defect].scope
        return scope in EVERY_FRAMEWORK_SCOPES or any(scope.startswith(own) for own in self.defect_scopes)

    def facts(self) -> dict[str, Any]:
        """What selects its kernels here: its version and each probe (None where a probe fails), plus a 'gpu'
        section where it runs on one. Imports the framework."""
        module = importlib.import_module(self.module)
        found: dict[str, Any] = {"version": self.version(module)}
        found.update({label: probe(text, self.module, module) for label, text in self.cpu_probes.items()})
        return found

    def version(self, module: Any) -> str | None:
        """The framework's version as it reports it."""
        version = getattr(module, "__version__", None)
        return None if version is None else str(version)

    def gpu_facts(self, section: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The GPU part of this framework's facts section, where it has one."""
        return None

    def user_call(self, oracle: str, variant: str, device: str, cfg: ConvConfig) -> UserCall | None:
        """How a user computes a case of `cfg` with oracle `variant` on `device` (numpy and this framework only),
        or None where it has no such call."""
        return None

    def call_name(self, cfg: ConvConfig) -> str:
        """What a user calls for `cfg`, for an issue title: 'F.conv2d', 'lax.conv_general_dilated'."""
        return cfg.op

    def variant_phrase(self, variant: str) -> str:
        """How the title says which variant ran: ' under torch.compile'; '' for the plain call."""
        return ""

    def transposed_phrase(self, cfg: ConvConfig) -> str:
        """What the title adds for a transposed op the framework computes under another name: ' (as
        conv_transpose2d)'."""
        return ""

    def device_check(self, device: str) -> str:
        """Source lines (indented one level) of a script's missing() that return why this machine lacks `device`
        for the framework; '' where nothing needs checking (the CPU)."""
        return ""

    def loading_lines(self, variant: str = "") -> str:
        """Source that loads the framework as oracle `variant`'s worker has it before a case (a snippet of a hostile
        parameter's crash caps memory after these lines)."""
        return f"import {self.module}\n"

    def paths_never_reached(self, paths: Mapping[str, int]) -> list[str]:
        """The implementations its oracles can report (oracles.base.backend_path) that none of `paths` reached."""
        return []

    def needed_modules(self) -> tuple[str, ...]:
        """What a finding's script of this framework imports besides numpy."""
        return self.script_modules or (self.module,)

    def installed(self) -> bool:
        """Whether its module can be imported here (without importing it)."""
        return importlib.util.find_spec(self.module) is not None

    def owns(self, variant: str) -> bool:
        """Whether oracle name `variant` (unpinned) is one of this framework's."""
        return variant in self.variants


class RegistrationError(ValueError):
    """A framework named in $CONVFUZZ_FRAMEWORKS cannot be loaded: the message says which and why."""


def _load(target: str) -> Framework:
    """The descriptor at 'module:attribute'."""
    module, colon, attribute = target.partition(":")
    where = f"{FRAMEWORKS_ENV} names {target!r}"
    if not colon or not module or not attribute:
        raise RegistrationError(f"{where}; a framework is registered as 'module:attribute'")
    try:
        found = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as exc:
        raise RegistrationError(f"{where}, which does not load: {exc}") from exc
    if not isinstance(found, Framework) or not found.name:
        raise RegistrationError(f"{where}, which is not a named convfuzz Framework descriptor")
    return found


@cache
def _registered(extra: str) -> dict[str, Framework]:
    targets = [*BUILT_IN, *(t.strip() for t in extra.split(",") if t.strip())]
    found: dict[str, Framework] = {}
    for target in targets:
        framework = _load(target)
        found.setdefault(framework.name, framework)
    return found


def frameworks() -> dict[str, Framework]:
    """Every registered framework by name (BUILT_IN, then $CONVFUZZ_FRAMEWORKS), whether installed or not.
    Raises RegistrationError where $CONVFUZZ_FRAMEWORKS names one that cannot be loaded."""
    return _registered(os.environ.get(FRAMEWORKS_ENV, ""))


def framework_named(name: str) -> Framework | None:
    """The framework called `name` ('torch'), or None."""
    return frameworks().get(name)


def framework_of_variant(variant: str) -> Framework | None:
    """The framework oracle name `variant` (unpinned: 'jax-eager') is a direct call of, or None (our reference,
    relations, matmul and hand checks, a user's own oracle)."""
    return next((f for f in frameworks().values() if f.owns(variant)), None)


def every_variant() -> dict[str, Callable[[], Oracle]]:
    """A constructor per oracle name of every registered framework."""
    return {
        variant: partial(framework.build, variant)
        for framework in frameworks().values() for variant in framework.variants
    }
