"""Activation layers (thesis §3.4): the ReLU, y = max(0, x)."""
from .. import functional as F
from .module import Module


class ReLU(Module):
    """y = max(0, x), element by element, any shape."""

    def forward(self, x):
        return F.relu(x)
