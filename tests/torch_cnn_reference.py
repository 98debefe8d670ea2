"""VGG-16 and SqueezeNet v1.1 in plain torch.nn: the references the CNN tests
compare against (torchvision does not import beside this torch build).

The VGG-16 module numbers its layers as torchvision does ("features.0",
"classifier.6"), so its state dict is a torchvision-layout file. The
SqueezeNet follows the authors' Caffe definition (ceil-mode pooling, ReLU
after conv10), independently of caption/cnn/squeezenet.py.

Weights are made in our layout (``random_state``) and the torch model sees
them through views (``torch_model``), so no test pays for copying them.
"""
import numpy as np
import torch
from torch import nn

VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
SQUEEZENET_FIRES = (("fire2", 64, 16, 64), ("fire3", 128, 16, 64), ("fire4", 128, 32, 128),
                    ("fire5", 256, 32, 128), ("fire6", 256, 48, 192), ("fire7", 384, 48, 192),
                    ("fire8", 384, 64, 256), ("fire9", 512, 64, 256))


class TorchVGG16(nn.Module):
    def __init__(self):
        super().__init__()
        layers, in_channels = [], 3
        for widths in VGG16_BLOCKS:
            for width in widths:
                layers += [nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU()]
                in_channels = width
            layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4096, 1000))

    def fc7_and_logits(self, x):
        fc7 = self.classifier[:5](torch.flatten(self.features(x), 1))
        return fc7, self.classifier[5:](fc7)

    def forward(self, x):
        return self.fc7_and_logits(x)[1]


class TorchFire(nn.Module):
    def __init__(self, in_channels, squeeze, expand):
        super().__init__()
        self.squeeze1x1 = nn.Conv2d(in_channels, squeeze, 1)
        self.expand1x1 = nn.Conv2d(squeeze, expand, 1)
        self.expand3x3 = nn.Conv2d(squeeze, expand, 3, padding=1)

    def forward(self, x):
        s = torch.relu(self.squeeze1x1(x))
        return torch.cat([torch.relu(self.expand1x1(s)), torch.relu(self.expand3x3(s))], 1)


class TorchSqueezeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, stride=2)
        for name, in_channels, squeeze, expand in SQUEEZENET_FIRES:
            setattr(self, name, TorchFire(in_channels, squeeze, expand))
        self.conv10 = nn.Conv2d(512, 1000, 1)
        self.pool = nn.MaxPool2d(3, 2, ceil_mode=True)

    def fire_maps(self, x):
        x = self.pool(torch.relu(self.conv1(x)))
        for name, *_ in SQUEEZENET_FIRES:
            x = getattr(self, name)(x)
            if name in ("fire3", "fire5"):
                x = self.pool(x)
        return x

    def features(self, x):
        return self.fire_maps(x).mean(dim=(2, 3))

    def forward(self, x):
        return torch.relu(self.conv10(self.fire_maps(x))).mean(dim=(2, 3))


def random_state(model_class, seed):
    """Random weights for ``model_class``'s layers in our layout and names
    ("conv1_1/W" (F, C, KH, KW), "fc6/W" (D, M)), float32: He-normal weights
    and small biases, so that activations keep their scale through every layer."""
    rng = np.random.default_rng(seed)
    state = {}
    for module, name in _layers(_skeleton(model_class)):
        shape = tuple(module.weight.shape)
        if isinstance(module, nn.Linear):
            shape = shape[::-1]
        std = np.float32((2 / module.weight[0].numel()) ** 0.5)
        state[f"{name}/W"] = rng.standard_normal(shape, dtype=np.float32) * std
        state[f"{name}/b"] = rng.uniform(-0.1, 0.1, module.weight.shape[0]).astype(np.float32)
    return state


def torch_model(model_class, state):
    """A ``model_class()`` in eval mode whose parameters are views of ``state``'s
    arrays (our layout; a linear weight is seen transposed, (M, D))."""
    model = _skeleton(model_class)
    for module, name in _layers(model):
        W = torch.from_numpy(state[f"{name}/W"])
        module.weight = nn.Parameter(W.T if isinstance(module, nn.Linear) else W,
                                     requires_grad=False)
        module.bias = nn.Parameter(torch.from_numpy(state[f"{name}/b"]), requires_grad=False)
    return model.eval()


def _skeleton(model_class):
    """The model's structure without memory or initialisation (torch's meta device)."""
    with torch.device("meta"):
        return model_class()


def _layers(model):
    """(torch module, our layer name) for every Conv2d and Linear, in network order."""
    names = _our_names(model)
    return [(model.get_submodule(torch_name), name) for torch_name, name in names.items()]


def _our_names(model):
    """torch module name -> our layer name ("features.0" -> "conv1_1", "fire2.expand1x1" -> ...)."""
    if isinstance(model, TorchSqueezeNet):
        return {name: name.replace(".", "/") for name, m in model.named_modules()
                if isinstance(m, nn.Conv2d)}  # "fire2.squeeze1x1" -> "fire2/squeeze1x1"
    convs = [f"conv{b}_{i}" for b, widths in enumerate(VGG16_BLOCKS, 1)
             for i in range(1, len(widths) + 1)]
    torch_convs = [f"features.{i}" for i, m in enumerate(model.features)
                   if isinstance(m, nn.Conv2d)]
    torch_fcs = [f"classifier.{i}" for i, m in enumerate(model.classifier)
                 if isinstance(m, nn.Linear)]
    return dict(zip(torch_convs + torch_fcs, convs + ["fc6", "fc7", "fc8"]))


def run(model_fn, x):
    """model_fn applied to the NumPy batch x, as NumPy (a tuple for a tuple)."""
    with torch.no_grad():
        y = model_fn(torch.from_numpy(np.ascontiguousarray(x)))
    return tuple(t.numpy() for t in y) if isinstance(y, tuple) else y.numpy()
