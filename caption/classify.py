"""ImageNet classification of photos with a pretrained CNN: thesis §5.1, Fig. 3.5.

    python -m caption.classify IMG [IMG ...] [--cnn squeezenet|vgg16] [--weights PATH]
                               [--top 5] [--json] [--device cpu|gpu]

For each image, the ``--top`` most probable of the 1000 ImageNet classes,
p = softmax(logits) (thesis §3.4). Images that cannot be read are reported,
one line each on stderr (in the JSON under "skipped"), and skipped; the
others are still classified, and the exit status is 1 when any was skipped.
"""
import argparse
import json
import sys

import numpy as np

import nnscratch.functional as F
from nnscratch import no_grad
from nnscratch.backend import get_array_module

from .cnn import ARCHITECTURES, build
from .cnn.preprocess import image_to_array, load_images
from .models.device import DEVICES, pick_device
from .shell.errors import command
from .shell.paths import user_path

BATCH_SIZE = 16


def top_classes(probabilities, class_names, k):
    """The k most probable classes of one image: [(name, index, probability)], best first."""
    best = np.argsort(-probabilities, kind="stable")[:k]
    return [(class_names[i], int(i), float(probabilities[i])) for i in best]


def classify(images, net, k, batch_size=BATCH_SIZE):
    """Top-k classes of each RGB Pillow image, in batches of ``batch_size``,
    on the device that holds ``net``'s parameters."""
    xp = get_array_module(next(iter(net.parameters())).data)
    results = []
    with no_grad():
        for start in range(0, len(images), batch_size):
            batch = np.stack([image_to_array(image, net.preprocessing)
                              for image in images[start:start + batch_size]])
            probabilities = F.softmax(net(xp.asarray(batch)), axis=-1).numpy()
            results += [top_classes(p, net.class_names, k) for p in probabilities]
    return results


def print_text(paths, results):
    for path, top in zip(paths, results):
        print(path)
        for name, _, probability in top:
            print(f"  {probability:7.2%}  {name}")


def print_json(paths, results, errors):
    report = {"results": [{"image": path,
                           "top": [{"class": name, "index": index, "probability": probability}
                                   for name, index, probability in top]}
                          for path, top in zip(paths, results)],
              "skipped": [{"image": error.name, "error": error.reason} for error in errors]}
    print(json.dumps(report, indent=2, ensure_ascii=False))


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m caption.classify",
        description="Top-k ImageNet classes of each image (thesis Fig. 3.5).")
    parser.add_argument("images", nargs="+", metavar="IMG", type=user_path, help="image files")
    parser.add_argument("--cnn", choices=sorted(ARCHITECTURES), default="squeezenet",
                        help="the network (default: squeezenet)")
    parser.add_argument("--weights", metavar="PATH", type=user_path,
                        help="a converted weight file (default: weights/<cnn>.h5)")
    parser.add_argument("--top", type=int, default=5, metavar="K",
                        help="how many classes to show per image (default: 5)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--device", choices=DEVICES, default="cpu",
                        help="where the network runs (default: cpu)")
    args = parser.parse_args(argv)
    if not 1 <= args.top <= 1000:
        parser.error(f"--top must be between 1 and 1000, got {args.top}")
    return args


@command
def main(argv=None):
    args = parse_args(argv)
    device = pick_device(args.device)
    net = device.place(build(args.cnn, weights=args.weights))
    images, kept, errors = load_images(args.images)
    for error in errors:
        print(f"caption.classify: skipped: {error}", file=sys.stderr)
    paths = [args.images[i] for i in kept]
    results = classify(images, net, args.top)
    if args.json:
        print_json(paths, results, errors)
    else:
        print_text(paths, results)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
