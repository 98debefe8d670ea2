"""The PyTorch side of the model benchmarks: the same architectures as ours,
written in plain ``torch.nn`` with PyTorch's own initialisation (the timings
do not depend on the weights' values).

    vgg16()                  caption/cnn/vgg16.py: configuration D, 224×224 input
    squeezenet()             caption/cnn/squeezenet.py: v1.1, Caffe's ceil-mode pooling
    Captioner(V, ...)        caption/models/captioner.py with caption/models/small_cnn.py as its
                             encoder, condition "every", an LSTM, masked cross-entropy
"""
import torch
from torch import nn

VGG16_WIDTHS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
SQUEEZENET_FIRES = ((16, 64), (16, 64), (32, 128), (32, 128), (48, 192), (48, 192),
                    (64, 256), (64, 256))  # fire2..fire9: squeeze, expand of each branch
SQUEEZENET_POOL_AFTER = (1, 3)             # pool after fire3 and fire5 (indices above)


def vgg16():
    layers, channels = [], 3
    for block in VGG16_WIDTHS:
        for width in block:
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
            channels = width
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers, nn.Flatten(),
                         nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(4096, 1000)).eval()


class Fire(nn.Module):
    def __init__(self, channels, squeeze, expand):
        super().__init__()
        self.squeeze = nn.Sequential(nn.Conv2d(channels, squeeze, 1), nn.ReLU())
        self.expand1x1 = nn.Sequential(nn.Conv2d(squeeze, expand, 1), nn.ReLU())
        self.expand3x3 = nn.Sequential(nn.Conv2d(squeeze, expand, 3, padding=1), nn.ReLU())

    def forward(self, x):
        s = self.squeeze(x)
        return torch.cat([self.expand1x1(s), self.expand3x3(s)], 1)


def squeezenet():
    layers = [nn.Conv2d(3, 64, 3, stride=2), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True)]
    channels = 64
    for i, (squeeze, expand) in enumerate(SQUEEZENET_FIRES):
        layers.append(Fire(channels, squeeze, expand))
        channels = 2 * expand
        if i in SQUEEZENET_POOL_AFTER:
            layers.append(nn.MaxPool2d(3, 2, ceil_mode=True))
    layers += [nn.Dropout(0.5), nn.Conv2d(channels, 1000, 1), nn.ReLU(),
               nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers).eval()


def small_cnn(image_size=64, widths=(16, 32, 32), feature_size=256):
    layers, channels = [], 3
    for width in widths:
        layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        channels = width
    side = image_size // 2 ** len(widths)
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels * side * side, feature_size),
                         nn.ReLU())


class Captioner(nn.Module):
    """Images (N, 3, S, S) and ids (N, T + 1) -> the masked mean NLL of ids[:, 1:].

    ``torch.nn.LSTM`` has two bias vectors where ours has one (4H more parameters).
    """

    def __init__(self, vocab_size, image_size=64, embed_size=64, hidden_size=256):
        super().__init__()
        self.encoder = small_cnn(image_size)
        self.image_projection = nn.Linear(256, embed_size)
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.lstm = nn.LSTM(2 * embed_size, hidden_size, batch_first=True)
        self.output = nn.Linear(hidden_size, vocab_size)

    def loss(self, images, ids, mask):
        v = torch.relu(self.image_projection(self.encoder(images)))  # (N, E)
        words = self.embedding(ids[:, :-1])                            # (N, T, E)
        x = torch.cat([words, v[:, None].expand_as(words)], dim=2)
        logits = self.output(self.lstm(x)[0])                          # (N, T, V)
        nll = nn.functional.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten(),
                                          reduction="none")
        weights = mask[:, 1:].flatten()
        return (nll * weights).sum() / weights.sum()


class FeatureCaptioner(nn.Module):
    """caption/models/captioner.py on precomputed features (N images, K-d), condition "every":
    sentences (B, T + 1) of the images ``image_of_row`` (B,) -> the masked mean NLL.

    The loss runs the sentences as ours does (``Captioner.loss`` with ``buckets``):
    sorted by length, cut into ``buckets`` groups, each group only as far as its
    own longest sentence.
    """

    def __init__(self, vocab_size, feature_size, embed_size=64, hidden_size=256, dropout=0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)   # on the features and on h, as ours
        self.image_projection = nn.Linear(feature_size, embed_size)
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.lstm = nn.LSTM(2 * embed_size, hidden_size, batch_first=True)
        self.output = nn.Linear(hidden_size, vocab_size)

    def loss(self, features, ids, mask, image_of_row, buckets):
        v = torch.relu(self.image_projection(self.dropout(features)))  # (N, E)
        lengths = mask.sum(dim=1)
        order = torch.sort(lengths, descending=True, stable=True).indices
        total = 0.0
        for rows in torch.tensor_split(order, buckets):
            T = int(lengths[rows].max())
            words = self.embedding(ids[rows, :T - 1])                  # (B, T - 1, E)
            x = torch.cat([words, v[image_of_row[rows], None].expand_as(words)], dim=2)
            logits = self.output(self.dropout(self.lstm(x)[0]))
            nll = nn.functional.cross_entropy(logits.flatten(0, 1), ids[rows, 1:T].flatten(),
                                              reduction="none")
            total = total + (nll * mask[rows, 1:T].flatten()).sum()
        return total / (lengths - 1).sum()
