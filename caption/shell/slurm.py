"""``--shard auto``: which slice of the images this task of a Slurm job array encodes.

``sbatch --array=0-7`` (or ``1-8``, or ``0-15:2``) starts one task per id; Slurm gives
each task its id and the array's shape in the environment:

    SLURM_ARRAY_TASK_ID     this task's id
    SLURM_ARRAY_TASK_COUNT  how many tasks the array has (n)
    SLURM_ARRAY_TASK_MIN    the first id (0 or 1, or any number)
    SLURM_ARRAY_TASK_STEP   the step between ids (1 unless --array=A-B:S)

Task ``id`` is then shard i = (id - min) / step + 1 of n. Where MIN is not set the
ids are taken to start at 0 (an id of n then falls outside and is refused).
"""
from ..training.config import ConfigError

ID, COUNT, MIN, STEP = ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT",
                        "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_STEP")


def _integer(environ, name, default=None):
    text = environ.get(name)
    if text is None or text == "":
        if default is None:
            raise ConfigError(f"--shard auto: {name} is not set (run it as a task of a Slurm "
                              f"job array, sbatch --array=0-N, or give --shard i/n)")
        return default
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"--shard auto: {name}={text!r} is not a whole number") from None


def slurm_shard(environ):
    """(i, n, how): this array task's shard, 1 <= i <= n, from ``environ`` (os.environ),
    and a line saying where it came from. Raises ConfigError when the variables are
    absent or do not make sense."""
    task, count = _integer(environ, ID), _integer(environ, COUNT)
    first, step = _integer(environ, MIN, default=0), _integer(environ, STEP, default=1)
    if count < 1 or step < 1:
        raise ConfigError(f"--shard auto: {COUNT}={count} and {STEP}={step} must be 1 or more")
    offset, rest = divmod(task - first, step)
    i = offset + 1
    if rest or not 1 <= i <= count:
        raise ConfigError(f"--shard auto: {ID}={task} is not one of the {count} ids from "
                          f"{first} in steps of {step} ({MIN}"
                          f"{'=' + environ[MIN] if environ.get(MIN) else ' not set: taken as 0'})")
    how = (f"{ID}={task}, {COUNT}={count}"
           + (f", {MIN}={first}" if environ.get(MIN) else f", ids taken from 0 ({MIN} not set)")
           + (f", {STEP}={step}" if step != 1 else ""))
    return i, count, how
