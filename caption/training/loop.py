"""The training loop shared by both tasks: mini-batch SGD (thesis §3.2.2) with
validation-based model selection (§3.3), checkpoints, resume and fault stops.

A *task* (the caption generator or the ranking model, caption/training/tasks/)
supplies:

    task.model                 an nnscratch Module
    task.batches(rng)          the mini-batches of one epoch, shuffled with rng
    task.loss(batch)           the scalar training loss of a batch
    task.rng                   the NumPy Generator the model's dropout draws from
    task.evaluate(split)       a dict of metrics on "val" or "test"
    task.selection_metric      the key of evaluate()'s dict to maximise on "val"
    task.share_loss(batch)     under MPI only: this process's part of the batch's loss and of
                               its value (caption/training/distributed.py)

Each epoch's batch order comes from a generator seeded by (seed, epoch); the
state of ``task.rng`` is saved in every checkpoint and restored on resume. A
run resumed from its ``last`` checkpoint therefore reproduces the
uninterrupted run bit for bit.

At the end of an epoch the files are written best, log, last, each atomically
(caption/training/run_folder.py): a kill between two of them leaves ``last``
at the previous epoch, and resuming drops the log records newer than it and
repeats that epoch, which writes the same files again.
"""
import math

import numpy as np
from tqdm import tqdm

from nnscratch import no_grad
from nnscratch.optim import clip_grad_norm

from .distributed import Single
from .interrupts import Interrupts


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or infinite; the run stops, keeping its last good checkpoint."""


def new_state(optimizer):
    """The progress of a run that has not taken a step."""
    return {"epoch": 0, "step": 0, "step_in_epoch": 0, "loss_sum": 0.0, "best": None,
            "bad_epochs": 0, "lr": optimizer.lr}


def train(task, optimizer, run, config, resume=False, progress=True, between_steps=None,
          group=None):
    """Train ``task.model`` with ``optimizer``, writing into the RunFolder ``run``.

    ``config`` keys used: seed, epochs, lr, lr_schedule, lr_decay, grad_clip, patience, max_steps
    (stop, saving ``last``, after this many steps in all; None for no limit).
    Returns the progress dict of the last step taken, with "completed": False
    when max_steps stopped the run before its last epoch. On Ctrl-C or SIGTERM,
    ``last`` is saved and KeyboardInterrupt raised. ``between_steps``, if given, is
    called after every step (the BLAS threads following the machine's load:
    caption/shell/threads.py); the (threads, shared) it returns is shown in the
    progress. ``group``: the processes training together under MPI
    (caption/training/distributed.py: each takes its share of every batch, and one
    allreduce a step sums the gradients); None for one process.
    """
    group = group or Single()
    state = new_state(optimizer)
    if resume:
        run.remove_leftovers()
        if run.has_checkpoint("last"):   # else killed before its first checkpoint: start over
            state = run.load_checkpoint("last", task.model, optimizer)
            task.rng.bit_generator.state = state["rng"]
            optimizer.lr = state["lr"]  # as decayed so far (--lr-decay)
        run.resume_log(state["epoch"])
    rng = task.rng
    with Interrupts() as interrupts:
        try:
            while state["epoch"] < config["epochs"] and state["bad_epochs"] < config["patience"]:
                if not _train_epoch(task, optimizer, run, config, state, rng, progress, interrupts,
                                    between_steps or (lambda: None), group):
                    return {**state, "completed": False}
                _end_epoch(task, optimizer, run, config, state, rng, interrupts)
                if group.any(interrupts.requested):
                    raise KeyboardInterrupt
        except KeyboardInterrupt:
            with interrupts.held():
                state["rng"] = rng.bit_generator.state
                run.save_checkpoint("last", task.model, optimizer, state)
            print(f"\ninterrupted at epoch {state['epoch'] + 1}, step {state['step']}; "
                  f"resume with: python -m caption.train --resume {run.path}", flush=True)
            raise
    return {**state, "completed": True}


def _train_epoch(task, optimizer, run, config, state, rng, progress, interrupts, between_steps,
                 group):
    """Run the rest of the current epoch; False if stopped early by max_steps.

    Under MPI (``group.size`` > 1) a Ctrl-C or SIGTERM is seen by every process at the
    same step: its flag travels in the step's allreduce."""
    batches = task.batches(np.random.default_rng([config["seed"], 0, state["epoch"]]))
    bar = tqdm(total=len(batches), initial=state["step_in_epoch"], disable=not progress,
               desc=f"epoch {state['epoch'] + 1}/{config['epochs']}", unit="batch", leave=False)
    task.model.train()
    parameters, stop = task.model.parameters(), False
    for batch in batches[state["step_in_epoch"]:]:
        if stop or (group.size == 1 and interrupts.requested):
            bar.close()
            raise KeyboardInterrupt
        if config.get("max_steps") is not None and state["step"] >= config["max_steps"]:
            state["rng"] = rng.bit_generator.state
            run.save_checkpoint("last", task.model, optimizer, state)
            bar.close()
            return False
        optimizer.zero_grad()
        if group.size > 1:   # this process's part of the batch's loss (distributed.py)
            loss, value = task.share_loss(batch)
        else:
            loss = task.loss(batch)
            value = float(loss.item())
        if loss is not None and math.isfinite(value):
            loss.backward()
        value, stop = group.reduce(parameters, value, interrupts.requested)
        if not math.isfinite(value):
            bar.close()
            kept = (f"the last good checkpoint is {run.file('last.h5')}"
                    if run.has_checkpoint("last") else "no checkpoint was written yet")
            raise NonFiniteLoss(
                f"the training loss is {value} at epoch {state['epoch'] + 1}, step "
                f"{state['step'] + 1}; stopping ({kept}; try a lower --lr or a --grad-clip)")
        if config.get("grad_clip"):
            clip_grad_norm(task.model.parameters(), config["grad_clip"])
        if config.get("lr_schedule") == "cosine":
            optimizer.lr = cosine_lr(config["lr"], state["step"], config["epochs"] * len(batches))
        with interrupts.held():   # the update and its count go together
            optimizer.step()
            state["step"] += 1
            state["step_in_epoch"] += 1
            state["loss_sum"] += value
        threads = between_steps()   # (threads, shared) on the CPU: shown beside the loss
        shown = {"loss": f"{value:.3f}"}
        if threads:
            shown["threads"] = f"{threads[0]}{' shared' * threads[1]}"
        bar.set_postfix(shown)
        bar.update()
    bar.close()
    return True


def cosine_lr(lr, step, steps):
    """The learning rate of step ``step`` (from 0) of ``steps``, those of all the epochs:
    lr · ½ (1 + cos(π step / steps)), from ``lr`` at the first step down towards 0 at the last
    (Loshchilov & Hutter 2017, without restarts). A run resumed with more --epochs goes on
    along the longer curve."""
    return lr * 0.5 * (1 + math.cos(math.pi * step / steps))


def _end_epoch(task, optimizer, run, config, state, rng, interrupts):
    """Validate, keep the best checkpoint (thesis §3.3), decay lr, save ``last``.

    ``state`` changes only once validation is done, so an interruption during
    it saves the end of the epoch's last step, and resuming validates again.
    """
    with no_grad():
        task.model.eval()
        metrics = task.evaluate("val")
    train_loss = state["loss_sum"] / max(state["step_in_epoch"], 1)
    score = metrics[task.selection_metric]
    improved = state["best"] is None or score > state["best"]
    with interrupts.held():
        state["epoch"] += 1
        state["step_in_epoch"], state["loss_sum"] = 0, 0.0
        state["best"] = score if improved else state["best"]
        state["bad_epochs"] = 0 if improved else state["bad_epochs"] + 1
        optimizer.lr *= config.get("lr_decay", 1.0)
        state["lr"] = optimizer.lr
        state["rng"] = rng.bit_generator.state
        if improved:
            run.save_checkpoint("best", task.model, optimizer, state)
        run.log({"epoch": state["epoch"], "step": state["step"], "split": "val",
                 "lr": optimizer.lr, "train_loss": train_loss, **metrics})
        run.save_checkpoint("last", task.model, optimizer, state)
    shown = ", ".join(f"{k} {v:.3f}" for k, v in metrics.items() if isinstance(v, float))
    print(f"epoch {state['epoch']}: train loss {train_loss:.3f}, val {shown}"
          f"{' (best)' if improved else ''}", flush=True)
