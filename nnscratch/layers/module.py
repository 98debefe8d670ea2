"""``Parameter`` and ``Module``: the learnable θ of the thesis (§3.2.1,
``f(x; θ)``, eq. 3.1) and the containers that hold them.

A Module registers every Parameter and sub-Module assigned to one of its
attributes, in the order of assignment, so that ``named_parameters()`` walks
the model like an architecture table and names each parameter by its path
("conv1_1/W", "encoder/lstm/Wx"). Those names are the keys of
``state_dict()``, which ``nnscratch.io.save`` writes as nested HDF5 groups.
"""
from collections import OrderedDict

import numpy as np

from ..backend import get_array_module, to_cpu, to_gpu
from ..core import Tensor


class Parameter(Tensor):
    """A Tensor that a Module owns and an optimizer updates (requires_grad=True)."""

    def __init__(self, data):
        super().__init__(data, requires_grad=True)


class Module:
    """Base of every layer and model: ``__call__`` runs ``forward``.

    Subclasses call ``super().__init__()`` first, then assign Parameters and
    sub-Modules as attributes. ``self.training`` (True after construction)
    tells layers such as Dropout which mode they are in; ``train()`` and
    ``eval()`` set it on the whole tree.
    """

    def __init__(self):
        object.__setattr__(self, "_children", OrderedDict())
        self.training = True

    def __setattr__(self, name, value):
        if "_children" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() "
                                 f"before assigning attribute '{name}'")
        if isinstance(value, (Parameter, Module)):
            if "/" in name:
                raise ValueError(f"{type(self).__name__}: child name '{name}' "
                                 f"may not contain '/' (it separates path keys)")
            self._children[name] = value
        else:
            self._children.pop(name, None)
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        self._children.pop(name, None)
        object.__delattr__(self, name)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    # -- walking the tree ---------------------------------------------------
    def named_parameters(self):
        """(path, Parameter) pairs in registration order, each Parameter once
        (a Parameter shared by two layers is named where it is first met)."""
        seen = set()
        for path, p in self._walk(""):
            if id(p) not in seen:
                seen.add(id(p))
                yield path, p

    def _walk(self, prefix):
        for name, child in self._children.items():
            if isinstance(child, Parameter):
                yield prefix + name, child
            else:
                yield from child._walk(prefix + name + "/")

    def parameters(self):
        """Every Parameter of the tree, in the order of ``named_parameters()``."""
        return [p for _, p in self.named_parameters()]

    def modules(self):
        """This Module and every sub-Module below it, depth first."""
        yield self
        for child in self._children.values():
            if isinstance(child, Module):
                yield from child.modules()

    # -- saving and loading -------------------------------------------------
    def state_dict(self):
        """OrderedDict path -> copy of the parameter's array (same device)."""
        return OrderedDict((name, p.data.copy()) for name, p in self.named_parameters())

    def load_state_dict(self, state, strict=True):
        """Copy ``state`` (path -> array) into the parameters, in place.

        Values are converted to each parameter's dtype and device. A key whose
        shape differs from its parameter's raises ValueError; with ``strict``
        so does a parameter the state lacks or a key that names no parameter.
        Everything is checked before anything is copied.
        """
        own = OrderedDict(self.named_parameters())
        problems = _state_problems(own, state, strict)
        if problems:
            raise ValueError(f"{type(self).__name__}.load_state_dict: "
                             + "; ".join(problems))
        for name, p in own.items():
            if name in state:
                copy_into(p.data, state[name])
        return self

    # -- modes and devices --------------------------------------------------
    def train(self, mode=True):
        """Set ``training`` to ``mode`` on this Module and every sub-Module."""
        for m in self.modules():
            m.training = mode
        return self

    def eval(self):
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def to_gpu(self):
        """Move every parameter (and its grad) to the GPU; returns self."""
        for p in self.parameters():
            p.to_gpu()
        return self

    def to_cpu(self):
        """Move every parameter (and its grad) to the host; returns self."""
        for p in self.parameters():
            p.to_cpu()
        return self

    def zero_grad(self):
        """Forget the gradients of every parameter (``grad = None``)."""
        for p in self.parameters():
            p.grad = None

    # -- printing -----------------------------------------------------------
    def extra_repr(self):
        """The layer's settings, shown inside its repr; subclasses override."""
        return ""

    def __repr__(self):
        lines = [f"({name}): {child!r}".replace("\n", "\n  ")
                 for name, child in self._children.items() if isinstance(child, Module)]
        head = f"{type(self).__name__}({self.extra_repr()}"
        return head + ")" if not lines else head + "\n  " + "\n  ".join(lines) + "\n)"


def _state_problems(own, state, strict):
    """What keeps ``state`` from loading into the parameters ``own`` (path -> Parameter)."""
    problems = []
    for key, p in own.items():
        if key in state and _shape(state[key]) != p.shape:
            problems.append(f"'{key}': state has shape {_shape(state[key])}, "
                            f"parameter has shape {p.shape}")
        elif key not in state and strict:
            problems.append(f"'{key}': missing from the state (parameter has shape {p.shape})")
    if strict:
        problems += [f"'{key}': state has shape {_shape(value)}, but the model has no "
                     f"such parameter" for key, value in state.items() if key not in own]
    return problems


def _shape(value):
    return tuple(np.shape(value))


def copy_into(array, value):
    """array[...] = value, with value moved to array's device and cast to its dtype."""
    xp = get_array_module(array)
    value = to_cpu(value) if xp is np else to_gpu(value)
    array[...] = value.astype(array.dtype, copy=False)
