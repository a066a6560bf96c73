"""Planted faults: oracles that behave like the reference except on one trigger class, where they kill or hang
their process. Only ever run inside an isolated worker (oracles.isolation).

The trigger classes exclude each other (checked in this order: an even group count, stride, dilation, batch), so
with all four enabled every case trips at most one fault and each fault is its own finding. The classes are of
similar size (the segfault takes about a quarter of the cases, each later class a good share of the rest), so a
campaign meets each fault well within its budget. Each fault costs a worker restart (about 0.15 s; a hang also its
timeout), which is most of a fault campaign's time: the classes are no larger than that needs."""

from __future__ import annotations

import ctypes
import os
import time

from convfuzz.oracles.base import FloatArray
from convfuzz.oracles.reference_oracle import ReferenceOracle
from convfuzz.strategies.case import ConvCase


class _Fault:
    name = "fault"

    def devices(self) -> tuple[str, ...]:
        return ("cpu",)

    def triggered(self, case: ConvCase) -> bool:
        raise NotImplementedError

    def fault(self) -> None:
        raise NotImplementedError

    def run(self, case: ConvCase) -> FloatArray:
        if self.triggered(case):
            self.fault()
        return ReferenceOracle().run(case)


class SegfaultOnGroups(_Fault):
    """A real SIGSEGV (reads address 0) on convolutions with an even number of groups and a batch of one."""

    name = "segfault_on_groups"

    def triggered(self, case: ConvCase) -> bool:
        return case.config.groups % 2 == 0 and case.config.batch == 1

    def fault(self) -> None:
        ctypes.string_at(0)


class AbortOnDilation(_Fault):
    """abort() (SIGABRT, as a failed C++ assertion does) when any dilation exceeds 1 (odd group counts, strides at
    most 2 only)."""

    name = "abort_on_dilation"

    def triggered(self, case: ConvCase) -> bool:
        cfg = case.config
        return cfg.groups % 2 == 1 and all(s <= 2 for s in cfg.stride) and any(d > 1 for d in cfg.dilation)

    def fault(self) -> None:
        os.abort()


class HangOnStride(_Fault):
    """Never answers when any stride exceeds 3 (odd group counts only): the smallest class, since every hang drawn
    or tried while shrinking waits out the case timeout."""

    name = "hang_on_stride"

    def triggered(self, case: ConvCase) -> bool:
        cfg = case.config
        return cfg.groups % 2 == 1 and any(s > 3 for s in cfg.stride)

    def fault(self) -> None:
        time.sleep(3600)


class MemoryErrorOnBatch(_Fault):
    """Raises MemoryError for batches larger than 1 (when no other fault's trigger holds)."""

    name = "memory_error_on_batch"

    def triggered(self, case: ConvCase) -> bool:
        cfg = case.config
        plain = cfg.groups % 2 == 1 and all(d == 1 for d in cfg.dilation) and all(s <= 2 for s in cfg.stride)
        return plain and cfg.batch > 1

    def fault(self) -> None:
        raise MemoryError("cannot allocate workspace")


FAULTS = (SegfaultOnGroups, AbortOnDilation, HangOnStride, MemoryErrorOnBatch)


class SlowReference:
    """The reference, answering after half a second: an exchange that an interrupt can cut off midway."""

    name = "slow_reference"
    delay = 0.5

    def devices(self) -> tuple[str, ...]:
        return ("cpu",)

    def run(self, case: ConvCase) -> FloatArray:
        time.sleep(self.delay)
        return ReferenceOracle().run(case)


class SlowToWarmUp(HangOnStride):
    """Takes two seconds to warm up (as torch.compile's first compilation takes tens of seconds on a busy machine),
    then answers like the reference, except that it hangs where HangOnStride does."""

    name = "slow_to_warm_up"

    def warm_up(self) -> None:
        time.sleep(2.0)


class SleepsForever(SlowReference):
    """Answers no case at all (sleeps for an hour), in the campaign's own process: only the time budget's stop
    ends a campaign of it."""

    name = "sleeps_forever"
    delay = 3600.0


class HangOnDilation3(_Fault):
    """Never answers a convolution with a dilation of 3 in any dim, and refuses an invalid configuration as a
    framework does: alone beside the reference, a campaign's one finding is this hang."""

    name = "hang_on_dilation3"

    def triggered(self, case: ConvCase) -> bool:
        return 3 in case.config.dilation

    def fault(self) -> None:
        time.sleep(3600)

    def run(self, case: ConvCase) -> FloatArray:
        if case.config.defect:
            raise ValueError(f"invalid configuration: {case.config.defect}")
        return super().run(case)


ALLOCATION_BYTES = 2 * 2**30


class AllocatesTwoGiB(_Fault):
    """Allocates (and touches) 2 GiB on every case: beyond a worker memory budget of 1 GiB, within the default."""

    name = "allocates_two_gib"

    def triggered(self, case: ConvCase) -> bool:
        return True

    def fault(self) -> None:
        block = bytearray(ALLOCATION_BYTES)
        block[-1] = 1
