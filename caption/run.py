"""A run folder: everything one training run writes, and reads back to resume.

    RUN/config.json     the resolved configuration (defaults, --config file, flags)
    RUN/vocab.json      the vocabulary the model was trained with
    RUN/last.h5         the latest checkpoint (to resume)
    RUN/best.h5         the checkpoint with the best validation score (thesis §3.3)
    RUN/log.jsonl       one JSON object per evaluation, appended as it happens
    RUN/metrics.json    the final test-split metrics

A checkpoint holds the model's parameters, the optimizer's state, the random
generator's state, the epoch and the step, so that a resumed run continues
exactly where the interrupted one stopped. Every file that matters is written
aside and renamed into place: a kill mid-write leaves the previous one intact.
"""
import json
import os
import pathlib
import tempfile

import nnscratch.io
from nnscratch.backend import to_cpu


def write_json_atomic(path, value):
    """Write ``value`` as JSON to ``path`` through a temporary file and a rename."""
    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(value, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


class RunFolder:
    """The files of one run under ``path`` (created if needed)."""

    def __init__(self, path):
        self.path = pathlib.Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    def file(self, name):
        return self.path / name

    def save_config(self, config):
        write_json_atomic(self.file("config.json"), config)

    def load_config(self):
        path = self.file("config.json")
        if not path.exists():
            raise FileNotFoundError(f"{path}: no config.json; is {self.path} a run folder "
                                    "written by python -m caption.train?")
        return json.loads(path.read_text())

    def log(self, record):
        """Append one JSON line to log.jsonl."""
        with open(self.file("log.jsonl"), "a") as f:
            f.write(json.dumps(record) + "\n")

    def read_log(self):
        path = self.file("log.jsonl")
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def write_metrics(self, metrics):
        write_json_atomic(self.file("metrics.json"), metrics)

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
        nnscratch.io.save(self.file(f"{name}.h5"),
                          {k: to_cpu(v) for k, v in state.items()},
                          metadata={"progress": progress, "optimizer_scalars": scalars})

    def load_checkpoint(self, name, model, optimizer=None):
        """Load ``name``.h5 into ``model`` (and ``optimizer``); returns the progress dict."""
        path = self.file(f"{name}.h5")
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such checkpoint in run {self.path}")
        state = nnscratch.io.load(path)
        metadata = nnscratch.io.load_metadata(path)
        model.load_state_dict({k[len("model/"):]: v for k, v in state.items() if k.startswith("model/")})
        if optimizer is not None:
            optimizer_state = {k[len("optimizer/"):]: v for k, v in state.items()
                               if k.startswith("optimizer/")}
            optimizer_state.update(metadata["optimizer_scalars"])
            optimizer.load_state_dict(optimizer_state)
        return metadata["progress"]
