"""``Sequential``: layers applied one after another, f⁽ⁿ⁾(… f⁽¹⁾(x)) (thesis eq. 3.1)."""
from .module import Module


class Sequential(Module):
    """Apply the layers in order; y = layer_n(… layer_1(x)).

    ``Sequential(a, b)`` names the layers "0", "1", ...;
    ``Sequential(conv1_1=a, relu1_1=b)`` or ``Sequential(OrderedDict(...))``
    names them by the keys, so saved keys read like an architecture table
    ("conv1_1/W").
    """

    def __init__(self, *layers, **named_layers):
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], dict):
            named_layers, layers = layers[0], ()
        if layers and named_layers:
            raise ValueError("Sequential: give the layers either by position or by name, not both")
        pairs = named_layers.items() or [(str(i), m) for i, m in enumerate(layers)]
        for name, layer in pairs:
            if not isinstance(layer, Module):
                raise ValueError(f"Sequential: layer '{name}' is a {type(layer).__name__}, "
                                 f"not a Module")
            setattr(self, name, layer)

    def forward(self, x):
        for layer in self:
            x = layer(x)
        return x

    def __iter__(self):
        return iter(m for m in self._children.values() if isinstance(m, Module))

    def __len__(self):
        return len(self._children)

    def __getitem__(self, key):
        """The layer at position ``key`` (an int) or named ``key`` (a str)."""
        return list(self)[key] if isinstance(key, int) else self._children[key]
