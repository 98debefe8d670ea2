"""The one place where a model's device is picked (thesis §4.2), for every command.

``pick_device("gpu")`` fails at once, before any work, when no CUDA device
is usable; afterwards ``device.move(array)`` puts input batches where the
model is, and ``device.place(module)`` moves a model's parameters there.
"""
from dataclasses import dataclass

import numpy as np

from nnscratch.backend import require_gpu, to_gpu

DEVICES = ("cpu", "gpu")


@dataclass(frozen=True)
class Device:
    """Where a command computes: ``name`` is "cpu" (NumPy) or "gpu" (CuPy)."""
    name: str

    def move(self, array):
        """A host array as an array of this device."""
        return to_gpu(array) if self.name == "gpu" else np.asarray(array)

    def place(self, module):
        """``module`` with its parameters on this device (moved in place)."""
        if self.name == "gpu":
            module.to_gpu()
        return module


def pick_device(name):
    """The Device called ``name``; GPUUnavailable (saying what to do) when "gpu" cannot run here."""
    if name not in DEVICES:
        raise ValueError(f"pick_device: unknown device {name!r}; choose one of {DEVICES}")
    if name == "gpu":
        require_gpu()
    return Device(name)
