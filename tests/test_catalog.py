"""The catalog's launch parameters: one frozen dataclass per launch kind, read by kind, never by string key."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from hwbench import catalog, kernel_spec
from hwbench.kernel_spec import CpuFmaLaunch, GpuFmaLaunch, Launch, TransferLaunch

SUITE = Path(catalog.__file__).parent
KINDS = {name: kind for name, kind in vars(kernel_spec).items()
         if isinstance(kind, type) and issubclass(kind, Launch) and kind is not Launch}


def test_launch_as_returns_the_declared_parameters_and_refuses_another_kind():
    fma = catalog.kernel("gpu", "fma_fp32")
    assert fma.launch_as(GpuFmaLaunch).iterations == 4096
    with pytest.raises(TypeError, match="fma_fp32: launch parameters are GpuFmaLaunch, not TransferLaunch"):
        fma.launch_as(TransferLaunch)
    with pytest.raises(TypeError, match="triad: launch parameters are NoneType, not CpuFmaLaunch"):
        catalog.kernel("cpu", "triad").launch_as(CpuFmaLaunch)  # a CPU STREAM kernel has none


def test_launch_parameters_are_frozen_like_the_kernel():
    launch = catalog.kernel("gpu", "h2d").launch_as(TransferLaunch)
    with pytest.raises(dataclasses.FrozenInstanceError):
        launch.nbytes = 1  # type: ignore[misc]
    smaller = dataclasses.replace(launch, nbytes=1 << 20)  # a test's smaller copy, the catalog's untouched
    assert (smaller.nbytes, launch.nbytes) == (1 << 20, 256 << 20)


@pytest.mark.parametrize("device", ["cpu", "gpu"])
def test_every_declared_launch_kind_is_read_by_that_device_and_no_other_kind_is(device):
    """The kinds the catalog gives a device's kernels are those its families read (``launch_as(Kind)`` or an
    ``isinstance`` on ``kernel.launch``): no kernel carries parameters nobody reads, no family reads a kind no
    kernel has. A base kind read (InstructionLaunch, VectorLaunch, GridLaunch) covers its subclasses."""
    declared = {type(k.launch) for k in catalog.kernels(device) if k.launch is not None}
    source = "\n".join(path.read_text() for path in sorted((SUITE / device).glob("*.py")))
    read = {KINDS[name] for name in re.findall(r"launch_as\((\w+)\)", source)}
    read |= {KINDS[name] for group in re.findall(r"isinstance\([\w.\[\]]*launch, \(?([\w, ]+)\)?\)", source)
             for name in re.split(r",\s*", group) if name in KINDS}
    assert {kind.__name__ for kind in declared if not any(issubclass(kind, r) for r in read)} == set()
    assert {kind.__name__ for kind in read if not any(issubclass(d, kind) for d in declared)} == set()


def test_each_kernel_is_declared_once():
    for device in ("cpu", "gpu"):
        names = [k.name for k in catalog.kernels(device)]
        assert sorted(names) == sorted(set(names)), device
