"""The PyTorch side of the model benchmarks: the same architectures as ours,
written in plain ``torch.nn`` with PyTorch's own initialisation (the timings
do not depend on the weights' values; decoding's do, and benchmarks/decode.py
copies ours in).

    vgg16()                  caption/cnn/vgg16.py: configuration D, 224×224 input
    squeezenet()             caption/cnn/squeezenet.py: v1.1, Caffe's ceil-mode pooling;
                             ``holding(twin, net)`` copies our weights in, ``fire_maps(twin)``
                             is its conv1-to-fire9 part (caption.cnn.extract's vectors and regions)
    Captioner(V, ...)        caption/models/captioner.py with caption/models/small_cnn.py as its
                             encoder, condition "every", an LSTM, masked cross-entropy
    FeatureCaptioner(V, K)   the same on precomputed features, with ``greedy`` and
                             ``beam_search`` decoding it as caption/models/decoding.py does;
                             with ``attention``, its loss also reads a pretrained CNN's
                             regions as ours does with caption/models/precomputed.py
                             (attention_query "words"; decoding stays without attention)
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


def holding(twin, net):
    """``twin`` (a torch module) with copies of our ``net``'s parameters: both list them
    in the same order (conv1, fire2..fire9's squeeze, expand 1×1, expand 3×3, conv10),
    in the same layout (F, C, KH, KW) for convolutions."""
    ours = list(net.named_parameters())
    theirs = list(twin.parameters())
    if len(ours) != len(theirs):
        raise ValueError(f"holding: {len(ours)} parameters against {len(theirs)}")
    with torch.no_grad():
        for (name, p), t in zip(ours, theirs):
            if tuple(p.shape) != tuple(t.shape):
                raise ValueError(f"holding: {name} is {p.shape}, the twin's {tuple(t.shape)}")
            t.copy_(torch.from_numpy(p.data))
    return twin


def fire_maps(twin):
    """``squeezenet()``'s layers from conv1 to fire9: (N, 3, 227, 227) -> (N, 512, 14, 14)."""
    return twin[:-5]   # without dropout, conv10, its ReLU, the average and the flattening


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

    With ``attention`` (A > 0), the loss also takes the images' regions (N, L, C),
    divided by ``region_scale`` (caption/models/precomputed.py), and reads them
    as ours does with attention_query "words" (nnscratch/layers/attention.py,
    centred): keys r_l W_k once an image, the query [x_t ; x_{t-1}] W_q,
    α_t = softmax_l of their products, c_t = Σ_l α_tl r_l − r̄, and the next word
    read out of [dropout(h_t) ; c_t].
    """

    def __init__(self, vocab_size, feature_size, embed_size=64, hidden_size=256, dropout=0.0,
                 attention=0, region_size=512, region_scale=1.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)   # on the features and on h, as ours
        self.image_projection = nn.Linear(feature_size, embed_size)
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.lstm = nn.LSTM(2 * embed_size, hidden_size, batch_first=True)
        read_out = hidden_size
        if attention:
            self.query = nn.Linear(2 * embed_size, attention, bias=False)
            self.key = nn.Linear(region_size, attention, bias=False)
            self.region_scale = region_scale
            read_out += region_size
        self.output = nn.Linear(read_out, vocab_size)

    def encode(self, features):
        """Features (N, K) -> v (N, E)."""
        return torch.relu(self.image_projection(self.dropout(features)))

    def step(self, v, ids, state):
        """One word: v (B, E) and ids (B,) of the current words, state (h, c) each (1, B, H)
        or None (zeros) -> (log-probabilities (B, V), new state)."""
        x = torch.cat([self.embedding(ids), v], dim=1)[:, None]       # (B, 1, 2E)
        h, state = self.lstm(x, state)
        return torch.log_softmax(self.output(self.dropout(h[:, 0])), dim=1), state

    def attend(self, words, regions, keys):
        """words (B, T, E), the regions (B, L, C) and keys (B, L, A) of each row's image
        -> context (B, T, C)."""
        before = torch.cat([torch.zeros_like(words[:, :1]), words[:, :-1]], dim=1)
        scores = self.query(torch.cat([words, before], dim=2)) @ keys.transpose(1, 2)
        return torch.softmax(scores, dim=2) @ regions - regions.mean(dim=1, keepdim=True)

    def loss(self, features, ids, mask, image_of_row, buckets, regions=None):
        v = self.encode(features)                                       # (N, E)
        if regions is not None:
            regions = regions * (1.0 / self.region_scale)               # (N, L, C)
            keys = self.key(regions)                                    # once an image
        lengths = mask.sum(dim=1)
        order = torch.sort(lengths, descending=True, stable=True).indices
        total = 0.0
        for rows in torch.tensor_split(order, buckets):
            T = int(lengths[rows].max())
            image = image_of_row[rows]
            words = self.embedding(ids[rows, :T - 1])                  # (B, T - 1, E)
            x = torch.cat([words, v[image, None].expand_as(words)], dim=2)
            h = self.dropout(self.lstm(x)[0])
            if regions is not None:
                h = torch.cat([h, self.attend(words, regions[image], keys[image])], dim=2)
            logits = self.output(h)
            nll = nn.functional.cross_entropy(logits.flatten(0, 1), ids[rows, 1:T].flatten(),
                                              reduction="none")
            total = total + (nll * mask[rows, 1:T].flatten()).sum()
        return total / (lengths - 1).sum()


@torch.no_grad()
def greedy(model, features, start_id, end_id, max_len=20, never=()):
    """The most likely word at every step, for a batch: features (N, K) -> words (N, max_len),
    each row its sentence followed by <end> (the <end> it chose, then <end> as padding)."""
    model.eval()
    v = model.encode(features)
    words = torch.full((len(v), max_len), end_id)
    last, state = torch.full((len(v),), start_id), None
    done = torch.zeros(len(v), dtype=torch.bool)
    for t in range(max_len):
        logprobs, state = model.step(v, last, state)
        logprobs[:, list(never)] = -torch.inf
        last = logprobs.argmax(dim=1)
        words[:, t] = last.masked_fill(done, end_id)
        done |= last == end_id
        if done.all():
            break
    return words


@torch.no_grad()
def beam_search(model, features, start_id, end_id, beam=3, max_len=20, never=()):
    """The ``beam`` best sentences of each of N images, by the rules of
    caption/models/decoding.py: features (N, K) -> (words (N, beam, max_len), each
    sentence followed by <end>; scores (N, beam), log-probability / length), best first.

    The search runs on a grid, n images still searching × ``beam`` slots, one
    ``model.step`` a step: the ``beam`` best extensions of each image's slots
    (by total log-probability; an empty slot is at -inf) are ranked, and of
    them an image takes as many as it has hypotheses left to find, beam minus
    those finished. Those ending in <end> (or reaching ``max_len``) are
    finished; the rest fill the slots of the next step. An image that has
    found all ``beam`` leaves the grid.
    """
    model.eval()
    K, V = beam, model.output.out_features
    v = model.encode(features)
    N = len(v)
    found_words = torch.full((N, K, max_len), end_id)  # the finished hypotheses of each image
    found_logprob, found_length = torch.zeros(N, K), torch.ones(N, K)
    found = torch.zeros(N, dtype=torch.long)
    images = torch.arange(N)                            # the images still searching, (n,)
    total = torch.zeros(N, 1)                           # their slots' log-probabilities, (n, k)
    prefix = torch.zeros(N, 1, 0, dtype=torch.long)     # and words so far, (n, k, t)
    last, state = torch.full((N,), start_id), None
    for t in range(max_len):
        n, k = total.shape
        logprobs, state = model.step(v[images].repeat_interleave(k, 0), last, state)
        logprobs[:, list(never)] = -torch.inf
        best, flat = (total[:, :, None] + logprobs.view(n, k, V)).view(n, k * V).topk(K, dim=1)
        origin, word = flat // V, flat % V                                  # (n, K) each
        taken = torch.arange(K) < (K - found[images])[:, None]
        finished = taken & ((word == end_id) | (t == max_len - 1))
        words = torch.cat([prefix.gather(1, origin[:, :, None].expand(-1, -1, t)),
                           word[:, :, None]], dim=2)                        # (n, K, t + 1)
        row, col = finished.nonzero(as_tuple=True)
        image, slot = images[row], found[images[row]] + finished.cumsum(1)[row, col] - 1
        found_words[image, slot, :t + 1] = words[row, col]
        found_logprob[image, slot], found_length[image, slot] = best[row, col], t + 1
        found[images] += finished.sum(1)
        alive = taken & ~finished
        searching = alive.any(dim=1)
        if not searching.any():
            break
        parents = (torch.arange(n)[:, None] * k + origin)[searching].view(-1)
        state = tuple(s[:, parents] for s in state)
        images, last = images[searching], word[searching].view(-1)
        total = best.masked_fill(~alive, -torch.inf)[searching]
        prefix = words[searching]
    scores = found_logprob / found_length
    order = scores.argsort(dim=1, descending=True, stable=True)
    return found_words.gather(1, order[:, :, None].expand(-1, -1, max_len)), scores.gather(1, order)
