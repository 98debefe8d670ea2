"""Layers: ``Module`` and ``Parameter``, and the layers of the thesis's
networks (§3.4 CNN layers, §3.5 recurrent layers) built on
``nnscratch.functional``. Parameters are registered by assignment and saved
under path-style keys ("conv1_1/W")."""
from .activation import ReLU
from .attention import Attention
from .container import Sequential
from .conv import Conv2d
from .dropout import Dropout
from .embedding import Embedding
from .linear import Linear
from .module import Module, Parameter
from .pooling import MaxPool2d
from .recurrent import LSTM, RNN

__all__ = ["Module", "Parameter", "Linear", "Conv2d", "MaxPool2d", "ReLU", "Dropout",
           "Embedding", "RNN", "LSTM", "Sequential", "Attention"]
