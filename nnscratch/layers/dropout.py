"""The dropout layer of thesis §3.4: inverted dropout while training, the
identity in evaluation mode."""
from .. import functional as F
from .module import Module


class Dropout(Module):
    """Drop each unit with probability ``p`` while ``self.training``.

    The mode is passed to ``F.dropout`` explicitly (``train=self.training``),
    so ``model.eval()`` turns every Dropout of a model into the identity.
    ``rng`` (a NumPy Generator, or None for the library's global one) makes
    the masks reproducible.
    """

    def __init__(self, p, rng=None):
        super().__init__()
        self.p, self.rng = p, rng

    def forward(self, x):
        return F.dropout(x, self.p, train=self.training, rng=self.rng)

    def extra_repr(self):
        return f"p={self.p}"
