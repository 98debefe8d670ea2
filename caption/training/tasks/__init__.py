"""The task registry: what ``python -m caption.train --task NAME`` can learn.

Each task is a class registered under its name (``@register("caption")``
under the class line; ``registry.py``), and every place that depends on the
task asks the registry, ``TASKS[config["task"]]``, instead of testing the name. A task
class supplies what the training loop needs (caption/training/loop.py) and:

    Task.build_model(config, vocab, feature_size, rng)   the untrained model
    task.final_metrics()                                  test metrics after training
    task.evaluation(split, beam, meteor)                  what caption.evaluate writes
    task.report(run_dir, evaluation, sample)              its HTML report (a Path)
    Task.table(metrics)                                   metrics as printed text
"""
from . import caption, rank  # noqa: F401  (importing a task module registers its task)
from .registry import TASKS

__all__ = ["TASKS"]
