"""A run folder: everything one training run writes, and reads back to resume.

    RUN/config.json     the resolved configuration (defaults, --config file, flags)
    RUN/vocab.json      the vocabulary the model was trained with
    RUN/data_digest.json  the SHA-256 of its dataset and feature files (data_digest.py)
    RUN/best.h5         the checkpoint with the best validation score (thesis §3.3)
    RUN/last.h5         the latest checkpoint (to resume)
    RUN/log.jsonl       one JSON object per validation, appended as it happens
    RUN/metrics.json    the final test-split metrics

A checkpoint holds the model's parameters, the optimizer's state, the random
generator's state, the epoch and the step, so that a resumed run continues
exactly where the interrupted one stopped.

Nothing is lost, whatever moment the process dies (SIGKILL included):

- ``RunFolder.create`` refuses a folder that already holds anything, and
  makes the new one whole or not at all, in a staging folder of its own
  process; ``RunFolder.open`` creates nothing (``resume.resumable`` opens a
  run to go on training it).
- Every file that matters is written aside (``.NAME.*.tmp``) and renamed into
  place, so a kill mid-write leaves the previous file whole; the leftover
  temporary file is removed when the run is resumed.
- At the end of an epoch the writes go best, log, last (caption/training/loop.py):
  the run resumes from ``last``, and ``resume_log`` drops the log records
  newer than it, so a record is never written twice; a torn last line of the
  log (a kill mid-append) is ignored.
- A full disk or a read-only folder raises ``RunError`` naming the file; the
  previous checkpoint is intact.
"""
import contextlib
import errno
import itertools
import json
import os
import pathlib
import secrets
import shutil

import numpy as np

import nnscratch.io
from nnscratch.backend import to_cpu

from ..data.files import read_json as read_json_value
from ..data.files import exclusive, read_text, write_atomic as write_whole

CONFIG, VOCAB, LOG, METRICS = "config.json", "vocab.json", "log.jsonl", "metrics.json"
CHECKPOINTS = ("best", "last")
ADVICE = "continue a run with --resume {path}, or choose another --out"


class RunError(ValueError):
    """A run folder that cannot be created, opened, read or written; names the file."""


def write_atomic(path, text):
    """``caption.data.files.write_atomic``, with a failure as a RunError naming the file."""
    try:
        write_whole(path, text)
    except OSError as error:
        raise RunError(f"{path}: cannot write it ({error.strerror or error}); "
                       f"the previous version, if any, is intact") from None


def write_json_atomic(path, value):
    """Write ``value`` as indented JSON to ``path``, atomically (``write_atomic``)."""
    write_atomic(path, json.dumps(value, indent=2))


def read_json(path):
    """The JSON value in ``path``; RunError naming the file when it is missing or malformed."""
    try:
        return read_json_value(path)
    except FileNotFoundError:
        raise RunError(f"{path}: missing") from None
    except OSError as error:
        raise RunError(f"{path}: cannot read it ({error.strerror or error})") from None
    except ValueError as error:   # includes UnicodeDecodeError
        raise RunError(f"{path}: not valid JSON ({error})") from None


class RunFolder:
    """The files of one run under ``path``. Use ``RunFolder.create`` or ``RunFolder.open``."""

    def __init__(self, path):
        self.path = pathlib.Path(path)

    @classmethod
    def create(cls, path, files, fill=None, numbered=False, advice=None):
        """A new run folder holding ``files`` (name -> text: the config and vocabulary),
        and whatever ``fill(run)`` writes into it (``caption.export``: the checkpoint).

        RunError if ``path`` exists and holds anything; with ``numbered`` (a default name
        such as runs/caption-DATE, which two processes started in the same second share)
        the first free one of ``path``, ``path-2``, ``path-3``... is taken instead. The
        files are written into a staging folder of this process alone
        (``.NAME.creating-PID-RANDOM`` beside it), which is then renamed to ``path``: a
        kill meanwhile leaves no half-made run, and two processes never share a staging
        folder nor delete each other's.
        """
        path, advice = pathlib.Path(path), advice or ADVICE
        if path.name in ("", ".."):   # "." or "..": the folder's own name, to rename onto
            path = pathlib.Path(os.path.abspath(path))
        if not numbered:
            cls.check_free(path, advice)              # before any work, when it can be told
        parent = path.parent
        if (parent.exists() or parent.is_symlink()) and not parent.is_dir():
            raise RunError(f"{path}: {parent} is not a folder (a file, or a symbolic link "
                           f"that leads to none)")
        staging = parent / f".{path.name}.creating-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            parent.mkdir(parents=True, exist_ok=True)
            staging.mkdir()
            for name, text in files.items():
                write_atomic(staging / name, text)
            if fill is not None:
                fill(cls(staging))
            return cls(cls._publish(staging, path, numbered, advice))
        except OSError as error:
            raise RunError(f"{path}: cannot create the run folder "
                           f"({error.strerror or error})") from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)   # ours alone; gone once renamed

    @classmethod
    def _publish(cls, staging, path, numbered, advice):
        """Rename the finished ``staging`` folder to ``path`` (or with ``numbered`` to the
        first free of path-2, path-3...); returns where it went. The rename itself is what
        decides between two processes: it fails onto a folder that holds anything."""
        for number in itertools.count(1):
            target = path if number == 1 else path.with_name(f"{path.name}-{number}")
            try:
                cls.check_free(target, advice)
                os.rename(staging, target)   # onto nothing, or onto an empty folder
                return target
            except RunError:
                if not numbered:
                    raise
            except OSError as error:
                if error.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
                if not numbered:
                    raise RunError(f"{target}: another process created a run there "
                                   f"meanwhile; {advice.format(path=target)}") from None

    @staticmethod
    def check_free(path, advice=None):
        """RunError unless ``path`` is nothing or an empty folder other than the current one
        (renaming onto it would leave the user's shell in a removed folder)."""
        path, advice = pathlib.Path(path), advice or ADVICE
        if path.is_symlink():
            raise RunError(f"{path}: a symbolic link; a run folder is created, never reached "
                           f"through a link: {advice.format(path=path)}")
        if path.exists() and not path.is_dir():
            raise RunError(f"{path}: exists and is not a folder; "
                           f"{advice.format(path=path)}")
        if path.is_dir() and any(path.iterdir()):
            held = "a run" if (path / CONFIG).exists() else "files"
            raise RunError(f"{path}: the folder already holds {held}; "
                           f"{advice.format(path=path)} (nothing was written)")
        if path.is_dir() and pathlib.Path.cwd().resolve().is_relative_to(path.resolve()):
            raise RunError(f"{path}: the current folder; name a new folder to create "
                           f"(nothing was written)")

    @classmethod
    def open(cls, path):
        """An existing run folder (one with a config.json); creates and removes nothing."""
        path = pathlib.Path(path)
        if not path.is_dir():
            raise RunError(f"{path}: no such run folder")
        if not (path / CONFIG).is_file():
            raise RunError(f"{path}: no {CONFIG}; is it a run folder written by "
                           f"python -m caption.train?")
        return cls(path)

    @contextlib.contextmanager
    def lock(self):
        """Hold the run for one writer: a second process training it meanwhile gets RunError.

        An advisory lock (flock) on the folder itself, so no lock file is left
        behind; the system releases it when the process ends, however it ends.
        """
        with exclusive(self.path, RunError(f"{self.path}: another process is training this "
                                           f"run; let it finish (or stop it) first")):
            yield self

    def remove_leftovers(self):
        """Delete the temporary files of writes that a kill interrupted (on resuming: the
        resuming process is then the run's only writer)."""
        for leftover in self.path.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)

    def file(self, name):
        return self.path / name

    def save_config(self, config):
        write_json_atomic(self.file(CONFIG), config)

    def load_config(self):
        """The run's config.json, checked (caption/training/config.py)."""
        from .config import check_saved
        return check_saved(read_json(self.file(CONFIG)), str(self.file(CONFIG)))

    def log(self, record):
        """Append one JSON line to log.jsonl (flushed to disk)."""
        try:
            with open(self.file(LOG), "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError as error:
            raise RunError(f"{self.file(LOG)}: cannot append to it "
                           f"({error.strerror or error})") from None

    def read_log(self):
        """The records of log.jsonl; a torn last line (a kill mid-append) is left out.

        RunError naming the line if a record is not a JSON object with an integer epoch
        (a hand-edited or damaged log)."""
        path = self.file(LOG)
        if not path.exists():
            return []
        try:
            lines = read_text(path).splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise RunError(f"{path}: cannot read it ({error})") from None
        records = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                if number == len(lines):
                    break
                raise RunError(f"{path}: line {number} is not valid JSON") from None
            epoch = record.get("epoch") if isinstance(record, dict) else None
            if isinstance(epoch, bool) or not isinstance(epoch, int):
                raise RunError(f"{path}: line {number} is not a record of the run (a JSON "
                               f"object with an integer 'epoch'); the log is damaged")
            records.append(record)
        return records

    def resume_log(self, epoch):
        """Keep only the log records of epochs up to ``epoch`` (the checkpoint resumed from)."""
        records = [r for r in self.read_log() if r["epoch"] <= epoch]
        write_atomic(self.file(LOG), "".join(json.dumps(r) + "\n" for r in records))

    def write_metrics(self, metrics):
        write_json_atomic(self.file(METRICS), metrics)

    def has_checkpoint(self, name):
        return self.file(f"{name}.h5").is_file()

    def save_checkpoint(self, name, model, optimizer, progress):
        """Write ``name``.h5: model parameters, optimizer state (none when
        ``optimizer`` is None) and ``progress`` (epoch, step, generator state,
        best score...: JSON-able) atomically."""
        state = {f"model/{k}": v for k, v in model.state_dict().items()}
        scalars = {}
        for key, value in (optimizer.state_dict() if optimizer else {}).items():
            if isinstance(value, (int, float)):
                scalars[key] = value
            else:
                state[f"optimizer/{key}"] = value
        path = self.file(f"{name}.h5")
        try:
            nnscratch.io.save(path, {k: to_cpu(v) for k, v in state.items()},
                              metadata={"progress": progress, "optimizer_scalars": scalars})
        except OSError as error:
            raise RunError(f"{path}: cannot write the checkpoint ({error.strerror or error}); "
                           f"the previous one is intact") from None

    def check_checkpoint(self, name):
        """RunError unless ``name``.h5 is there and reads as a checkpoint (its metadata)."""
        path = self.file(f"{name}.h5")
        if not path.is_file():
            others = [c for c in CHECKPOINTS if c != name and self.has_checkpoint(c)]
            hint = (f"try --checkpoint {others[0]}" if others else
                    "it has none yet: a run writes best.h5 and last.h5 at the end of its "
                    "first epoch")
            raise RunError(f"{path}: no such checkpoint in the run ({hint})")
        try:
            metadata = nnscratch.io.load_metadata(path)
        except (OSError, ValueError) as error:
            raise RunError(f"{path}: not a checkpoint ({error})") from None
        if not isinstance(metadata.get("progress"), dict):
            raise RunError(f"{path}: not a checkpoint written by python -m caption.train "
                           f"(no progress object in its metadata)")

    def load_checkpoint(self, name, model, optimizer=None):
        """Load ``name``.h5 into ``model`` (and ``optimizer``); returns the progress dict."""
        self.check_checkpoint(name)
        path = self.file(f"{name}.h5")
        expected = {f"model/{k}": v.shape for k, v in model.state_dict().items()}
        try:
            if optimizer is None:
                state = nnscratch.io.load(path, expected, skip=("optimizer",))
            else:   # shapes checked before any array is read (nnscratch/io.py)
                expected.update({"optimizer/steps": (), "optimizer/counts": (len(optimizer.params),)})
                optional = {f"optimizer/{i}/{slot}": p.shape for i, p in enumerate(optimizer.params)
                            for slot in optimizer.slot_names}
                state = nnscratch.io.load(path, expected, optional)
            metadata = nnscratch.io.load_metadata(path)
            broken = [k for k, v in state.items() if k.startswith("model/")
                      and not np.isfinite(v).all()]
            if broken:
                raise RunError(f"{path}: the parameters {broken[:3]} hold NaN or inf; "
                               f"the checkpoint is unusable")
            model.load_state_dict({k[len("model/"):]: v for k, v in state.items()
                                   if k.startswith("model/")})
            if optimizer is not None:
                optimizer_state = {k[len("optimizer/"):]: v for k, v in state.items()
                                   if k.startswith("optimizer/")}
                optimizer_state.update(metadata["optimizer_scalars"])
                optimizer.load_state_dict(optimizer_state)
            return metadata["progress"]
        except RunError:
            raise
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise RunError(f"{path}: not a checkpoint of this run's model "
                           f"({type(error).__name__}: {error})") from None
