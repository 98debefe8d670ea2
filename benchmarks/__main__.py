"""``python -m benchmarks [SUBJECT ...] [--quick] [--best] [--cpu-time] [--busy N]
[--threads N|auto] [--out FILE]``: run the benchmark scripts, print their tables, write the results as JSON."""
import argparse
import contextlib
import importlib
import json
import time
from pathlib import Path

from nnscratch.threads import blas_threads, choose_threads, use_threads

from . import machine
from .load import busy_processes
from .timing import Settings, markdown_table

SUBJECTS = {"conv": "conv2d (batch 8)", "pooling": "max_pool2d", "linear": "linear",
            "lstm": "LSTM", "captioner": "Captioner training step",
            "flickr8k": "Captioner training step at Flickr8k scale", "cnn": "CNN forward",
            "memory": "Peak resident memory of the forward",
            "load": "Captioner training step under load",
            "profile_vgg": "VGG-16 forward, layer by layer",
            "decode": "Decoding at Flickr8k scale: greedy and beam search",
            "extract": "Feature extraction over JPEGs (SqueezeNet, vectors and regions)"}
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "cpu.json"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("subjects", nargs="*", choices=[[], *SUBJECTS], metavar="SUBJECT",
                        help=f"some of {', '.join(SUBJECTS)} (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny shapes and one repetition: checks that the scripts run")
    parser.add_argument("--best", action="store_true",
                        help="the fastest of the timed calls instead of their median "
                             "(for a machine busy with other work)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time the CPU time of the process instead of the wall clock, "
                             "NumPy's BLAS and PyTorch on one thread each (for a machine busy "
                             "with other work)")
    parser.add_argument("--busy", type=int, default=0, metavar="N",
                        help="run N CPU-bound processes beside the benchmarks (benchmarks/load.py)")
    parser.add_argument("--threads", metavar="N|auto",
                        help="NumPy's BLAS threads: a number, or auto: the idle cores once the "
                             "busy processes run, as the commands choose (nnscratch/threads.py); "
                             "default: the BLAS's own")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the JSON")
    args = parser.parse_args(argv)
    if args.busy < 0:
        parser.error(f"--busy must be 0 or more, got {args.busy}")
    if args.threads not in (None, "auto") and not (args.threads.isdigit() and int(args.threads) > 0):
        parser.error(f"--threads must be a number of 1 or more, or auto; got {args.threads}")
    if args.cpu_time and args.threads not in (None, "1"):
        parser.error(f"--cpu-time runs one thread each; --threads {args.threads} contradicts it")
    settings = Settings.make(args.quick, args.best, "cpu" if args.cpu_time else "wall")
    if args.cpu_time:
        args.threads = "1"
        torch_threads(1)
    results = {"machine": machine.describe(), "settings": vars(settings),
               "busy_processes": args.busy, "subjects": {}}
    print(machine.markdown(results["machine"]), f"- busy processes started: {args.busy}\n",
          sep="", flush=True)
    with busy_processes(args.busy), blas(args.threads) as threads:
        results["blas_threads"] = threads
        print(f"- NumPy's BLAS threads: {threads}", flush=True)
        print(f"- clock: {'CPU time of the process' if args.cpu_time else 'wall'}\n", flush=True)
        for subject in args.subjects or SUBJECTS:
            start = time.perf_counter()
            rows = importlib.import_module(f"benchmarks.{subject}").run(settings)
            print(markdown_table(SUBJECTS[subject], rows), flush=True)
            results["subjects"][subject] = {"rows": [row.as_dict() for row in rows],
                                            "seconds": time.perf_counter() - start}
    results["load_average_after"] = machine.load_average()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(f"results written to {args.out}")


def torch_threads(count):
    """PyTorch's intra-op threads, where PyTorch is installed."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(count)


@contextlib.contextmanager
def blas(threads):
    """NumPy's BLAS on ``threads`` threads ("auto": choose_threads; None: as it is)
    within the block, which receives the number."""
    if threads is None:
        yield blas_threads()
        return
    count, shared, _ = choose_threads() if threads == "auto" else (int(threads), False, "")
    with use_threads(count, shared):
        yield count


if __name__ == "__main__":
    main()
