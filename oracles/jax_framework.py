"""JAX as convfuzz knows it (oracles.framework): its variants (oracles.jax_oracle's JAX_VARIANTS) computing
lax.conv_general_dilated, what selects XLA's kernels, its calls as a user writes them (oracles.jax_calls), its
tracker."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from convfuzz.oracles.framework import Framework, Variant, probe
from convfuzz.oracles.kernel_facts import gpu_driver

if TYPE_CHECKING:
    from convfuzz.oracles.base import Oracle
    from convfuzz.oracles.call_text import UserCall
    from convfuzz.strategies.case import ConvConfig


class JaxFramework(Framework):
    """jax.lax.conv_general_dilated, jitted or eager, in each variant's form."""

    name = "jax"
    title = "JAX"
    module = "jax"
    packages = ("jax", "jaxlib")
    tracker = "https://github.com/jax-ml/jax/issues/new"
    batch_groups = True
    path_detail = "XLA lowerings"
    gpu_probes: ClassVar[Mapping[str, str]] = {
        "name": "str(jax.devices()[0].device_kind)",
        "capability": "str(jax.devices()[0].compute_capability)",
    }

    @property
    def variants(self) -> Mapping[str, Variant]:
        """JAX_VARIANTS (imported from oracles.jax_oracle, which imports no JAX until an oracle is built)."""
        from convfuzz.oracles.jax_oracle import JAX_VARIANTS

        return JAX_VARIANTS

    def build(self, variant: str) -> Oracle:
        """A JaxOracle of the variant."""
        from convfuzz.oracles.jax_oracle import JaxOracle

        return JaxOracle(variant)

    def takes(self, variant: str, config: ConvConfig) -> bool:
        """The framework's rule; an entry-point variant only where the case can be written as its call."""
        from convfuzz.oracles.jax_entry_points import entry_call
        from convfuzz.oracles.jax_oracle import JAX_VARIANTS

        entry = JAX_VARIANTS[variant].entry
        if entry and entry_call(config, entry) is None:
            return False
        return super().takes(variant, config)

    def facts(self) -> dict[str, Any]:
        """The default backend and its platform version, and the GPU it runs on."""
        import jax

        device = jax.devices()[0]
        found: dict[str, Any] = {
            "version": str(jax.__version__),
            "backend": str(device.platform),
            "platform_version": str(getattr(device.client, "platform_version", "") or "") or None,
        }
        if device.platform == "gpu":
            found["gpu"] = {
                **{name: probe(text, "jax", jax) for name, text in self.gpu_probes.items()},
                "driver": gpu_driver(),
            }
        return found

    def gpu_facts(self, section: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The 'gpu' part of JAX's facts."""
        gpu = section.get("gpu")
        return gpu if isinstance(gpu, Mapping) else None

    def user_call(self, oracle: str, variant: str, device: str, cfg: ConvConfig) -> UserCall | None:
        """lax.conv_general_dilated as oracles.jax_calls writes it."""
        from convfuzz.oracles.jax_calls import jax_user_call

        return jax_user_call(oracle, variant, device, cfg)

    def call_name(self, cfg: ConvConfig) -> str:
        """'lax.conv_general_dilated'."""
        return "lax.conv_general_dilated"

    def variant_phrase(self, variant: str) -> str:
        """' (not jitted)', ' (jax.vjp)', ' through lax.conv_transpose' (an entry point of its own)."""
        from convfuzz.oracles.jax_entry_points import EntryCall
        from convfuzz.oracles.jax_oracle import JAX_VARIANTS

        entry = JAX_VARIANTS[variant].entry if variant in JAX_VARIANTS else ""
        if entry:
            return f" through {EntryCall(entry, ()).function()}"
        return {"jax-eager": " (not jitted)", "jax-vjp": " (jax.vjp)"}.get(variant, "")

    def transposed_phrase(self, cfg: ConvConfig) -> str:
        """' (as conv_transpose2d)': JAX has no op of that name; the port computes it."""
        return f" (as {cfg.op})" if cfg.transposed else ""

    def device_check(self, device: str) -> str:
        """jax.devices('gpu') for a CUDA finding."""
        if device != "cuda":
            return ""
        return (
            "    import jax\n\n    try:\n        jax.devices('gpu')\n    except RuntimeError:\n"
            "        return 'jax sees no GPU here'\n"
        )

    def loading_lines(self, variant: str = "") -> str:
        """JAX with its CPU backend started (the worker has it before its first case)."""
        return "import jax\njax.devices('cpu')\n"


JAX = JaxFramework()
