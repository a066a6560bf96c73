"""What XLA lowered a convolution to, read from the optimized HLO text of the executable that ran it.

XLA rewrites a convolution before any kernel runs: a 1x1 window becomes a dot (a GEMM), a base (input) dilation or
a window dilation is folded into the window by a pass that names the new instruction after itself
('convolution-base-dilated'), half-precision types are widened to float32 where the CPU backend has no native conv,
a batch_group_count becomes a grouped conv, and a complex conv becomes three real ones. Which of these happened
selects the kernel that computes the case, and real bugs live on some of them only, so each check reports its
lowering as the JAX oracle's path (oracles.base.backend_path) and campaigns steer toward the rare ones.
"""

from __future__ import annotations

import re

# An instruction line of HLO text: '%name.3 = f32[1,8,8,4]{3,2,1,0} convolution(%a, %b), window={...}, ...'.
_INSTRUCTION = re.compile(
    r"^\s*(?:ROOT\s+)?%(?P<name>[\w.-]+)\s*=\s*(?P<type>[a-z]+\d*)\[[^\]]*\]\S*\s+"
    r"(?P<opcode>convolution|dot|custom-call)\("
)
_FEATURE_GROUPS = re.compile(r"feature_group_count=(\d+)")
_BATCH_GROUPS = re.compile(r"batch_group_count=(\d+)")
_CUSTOM_TARGET = re.compile(r'custom_call_target="([^"]+)"')
# HLO instruction names end in '.N' when several share a stem; the stem is what a pass named it.
_NUMBERED = re.compile(r"\.\d+$")


def _lowering(match: re.Match[str], line: str) -> str:
    """One instruction's lowering: its opcode (or the pass-given stem of its name when a pass renamed it), its
    element type, and whether it is grouped - e.g. 'convolution-window-dilated f32 grouped', 'dot f64'."""
    opcode, stem = match["opcode"], _NUMBERED.sub("", match["name"])
    if opcode == "custom-call":
        target = _CUSTOM_TARGET.search(line)
        kind = f"custom-call {target[1]}" if target else "custom-call"
    else:
        # A name such as 'convolution-base-dilated' says which pass produced it; a plain 'convolution' or an
        # arbitrary user-chosen name adds nothing over the opcode.
        kind = stem if stem.startswith(f"{opcode}-") else opcode
    words = [kind, match["type"]]
    for pattern, word in ((_FEATURE_GROUPS, "grouped"), (_BATCH_GROUPS, "batch-grouped")):
        groups = pattern.search(line)
        if groups and int(groups[1]) > 1:
            words.append(word)
    return " ".join(words)


def lowerings(hlo_text: str) -> list[str]:
    """The distinct lowerings of the convolutions, dots and custom calls in optimized HLO text, in order of first
    appearance; [] when XLA computed the result without one (an empty batch is filled with the bias alone)."""
    found: list[str] = []
    for line in hlo_text.splitlines():
        match = _INSTRUCTION.match(line)
        if match:
            lowering = _lowering(match, line)
            if lowering not in found:
                found.append(lowering)
    return found


def lowered_path(platform: str, hlo_text: str) -> str:
    """The JAX oracle's path for one executable: 'XLA:cpu/convolution f32+dot f32' (the backend, then each
    lowering), or 'XLA:cpu/none' when no convolution or dot was left (a single-channel 1x1 conv becomes a
    multiply; an empty batch needs no arithmetic)."""
    return f"XLA:{platform}/{'+'.join(lowerings(hlo_text)) or 'none'}"
