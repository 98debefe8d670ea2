"""Data-parallel training over MPI: ``mpirun -n N python -m caption.train ...``.

Every process (a *rank*, 0 to N-1) builds the same model from the same seed and
walks the same shuffled batches (caption/training/loop.py). Of each global batch
of B images, rank r takes the r-th of N slices of the images (B/N each; N must
divide B) with their sentences, and computes its slice's loss weighted by the
slice's share of the batch's target words, so that the shares add up to the
loss of the whole batch (eq. 3.2: a mean over all its words). Then ONE
allreduce of one flat float32 buffer per step sums, over the ranks, every
parameter's gradient, the weighted loss and a stop flag; each rank then holds
the gradient of the whole batch and takes the same optimizer step, and the
parameters stay equal everywhere, to the gradient of one process with the same
batch within float32 rounding (the sums are done in another order).

The stop flag carries Ctrl-C or SIGTERM to every rank at the same step; a rank
that dies outright leaves the others waiting in the allreduce until ``mpirun``
ends them, and the last checkpoint, written aside and renamed, stays resumable.
Validation and the test metrics split the images over the ranks and gather
their captions (``gather``), so that every rank scores the same whole split.
Only rank 0 writes the run folder and prints. Before any work the ranks
compare a digest of their config and data (``fingerprint``, ``agree``); an error on one rank
(a file it cannot read, a bug) ends the whole job (``abort``) rather than
leave the others waiting.

``group()`` gives ``Single`` (one process: every method does nothing, the loop
runs as it always has) or ``MPIGroup`` (under mpirun with N > 1; needs mpi4py:
``pip install -e '.[mpi]'``). B batch images, P parameter values.
"""
import contextlib
import hashlib
import json
import os
import time

import numpy as np

from nnscratch.backend import get_array_module, to_cpu

from .config import ConfigError

# What mpirun (Open MPI), MPICH/Hydra and Slurm's srun set in each process.
SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE")


class DistributedError(RuntimeError):
    """The ranks cannot train together (they disagree, or MPI is missing); one line."""


class Single:
    """One process: the no-op version of MPIGroup's interface."""

    rank, size, is_root = 0, 1, True

    def check_batch(self, batch_size):
        """Refuse a batch that the ranks cannot share evenly."""
        return None

    @contextlib.contextmanager
    def root_first(self):
        """Rank 0 runs the block (generating a dataset, filling a cache) before the others."""
        yield

    def broadcast(self, value):
        """Rank 0's ``value``, on every rank."""
        return value

    def rows(self, count):
        """This rank's slice of ``count`` items: all of them."""
        return np.arange(count)

    def reduce(self, parameters, value, stop):
        """(the loss of the whole batch, whether any rank asked to stop): as given."""
        return value, stop

    def any(self, flag):
        return bool(flag)

    def sum(self, values):
        return np.asarray(values, dtype=np.float64)

    def gather(self, items):
        return list(items)

    def agree(self, digest, what):
        return None

    def report(self):
        return None


class MPIGroup(Single):
    """The ranks of MPI_COMM_WORLD training one model together."""

    def __init__(self, comm):
        self.comm = comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.is_root = self.rank == 0
        self.buffer = None
        self.steps, self.seconds = 0, 0.0   # allreduces done and their time (report)

    def check_batch(self, batch_size):
        if batch_size % self.size:
            raise ConfigError(f"--batch-size {batch_size}: mpirun -n {self.size} splits each "
                              f"batch over {self.size} processes; choose a batch size that "
                              f"{self.size} divides")

    @contextlib.contextmanager
    def root_first(self):
        if not self.is_root:
            self.comm.Barrier()
        yield
        if self.is_root:
            self.comm.Barrier()

    def broadcast(self, value):
        return self.comm.bcast(value, root=0)

    def rows(self, count):
        return np.array_split(np.arange(count), self.size)[self.rank]

    def reduce(self, parameters, value, stop):
        """Sum every parameter's gradient (None counts as zeros), the weighted loss and
        the stop flags over the ranks, in one allreduce of one flat buffer; the summed
        gradients replace each rank's own. Returns (loss of the batch, any stop)."""
        from mpi4py import MPI
        sizes = [p.data.size for p in parameters]
        if self.buffer is None:
            self.buffer = np.empty(sum(sizes) + 2, dtype=np.float32)
        ends = np.cumsum(sizes)
        for p, end, size in zip(parameters, ends, sizes):
            self.buffer[end - size:end] = 0 if p.grad is None else to_cpu(p.grad).ravel()
        self.buffer[-2:] = value, float(stop)
        start = time.perf_counter()
        self.comm.Allreduce(MPI.IN_PLACE, self.buffer, op=MPI.SUM)
        self.seconds += time.perf_counter() - start
        self.steps += 1
        for p, end, size in zip(parameters, ends, sizes):
            xp = get_array_module(p.data)
            p.grad = xp.asarray(self.buffer[end - size:end].reshape(p.data.shape))
        return float(self.buffer[-2]), bool(self.buffer[-1])

    def any(self, flag):
        return bool(self.comm.allreduce(int(bool(flag))))

    def sum(self, values):
        return np.asarray(self.comm.allreduce(np.asarray(values, dtype=np.float64)))

    def gather(self, items):
        """Every rank's ``items`` (a list), concatenated in rank order, on every rank."""
        return [item for part in self.comm.allgather(list(items)) for item in part]

    def agree(self, digest, what):
        """Raise DistributedError on every rank unless all ranks hold the same ``digest``."""
        digests = self.comm.allgather(digest)
        if len(set(digests)) > 1:
            groups = {}
            for rank, d in enumerate(digests):
                groups.setdefault(d, []).append(rank)
            ranks = "; ".join(f"ranks {', '.join(map(str, r))}: {d[:12]}"
                              for d, r in groups.items())
            raise DistributedError(f"the {self.size} processes disagree on {what} ({ranks}); "
                                   f"every rank must be started with the same flags and see "
                                   f"the same files")

    def abort(self, status):
        """End every process of the job now (MPI_Abort): after an error on this one, the
        others may be waiting for it in a collective, and would wait for ever."""
        self.comm.Abort(status)

    def report(self):
        """A line on the allreduces: how many, their mean time, their size."""
        if not self.steps:
            return None
        return (f"MPI: {self.size} processes, {self.steps} allreduces of "
                f"{self.buffer.nbytes:,} bytes, {1e3 * self.seconds / self.steps:.2f} ms each "
                f"on rank {self.rank}")


def group():
    """The MPIGroup of this process when mpirun started it with N > 1, else Single."""
    size = next((int(os.environ[v]) for v in SIZE_VARIABLES
                 if os.environ.get(v, "").isdigit()), 1)
    if size <= 1:
        return Single()
    try:
        from mpi4py import MPI
    except ImportError:
        raise DistributedError(f"started by mpirun with {size} processes, but mpi4py is not "
                               f"installed: pip install -e '.[mpi]'") from None
    return MPIGroup(MPI.COMM_WORLD)


def fingerprint(config, task):
    """A sha256 of what every rank must share: the config, the vocabulary, each split's
    encoded captions and model inputs (pixels or features)."""
    h = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    h.update(task.vocab.to_json().encode())
    for split in sorted(task.inputs):
        h.update(json.dumps(task.encoded[split], default=int).encode())
        for array in _arrays(task.inputs[split]):
            h.update(np.ascontiguousarray(array).view(np.uint8))
    return h.hexdigest()


def _arrays(inputs):
    """The arrays of a split's model input: itself, or those an input object holds."""
    if isinstance(inputs, np.ndarray):
        return [inputs]
    return [value for _, value in sorted(vars(inputs).items()) if isinstance(value, np.ndarray)]


class ReadOnlyRun:
    """The run folder as a rank other than 0 sees it: it reads (the vocabulary and the
    checkpoints, to resume) and writes nothing; rank 0 writes."""

    WRITES = ("save_checkpoint", "log", "resume_log", "remove_leftovers", "write_metrics")

    def __init__(self, path):
        self.path = path
        self._folder = None

    def lock(self):
        return contextlib.nullcontext()

    def __getattr__(self, name):
        if name in self.WRITES:
            return lambda *args, **kwargs: None
        if self._folder is None:
            from .run_folder import RunFolder
            self._folder = RunFolder.open(self.path)
        return getattr(self._folder, name)
