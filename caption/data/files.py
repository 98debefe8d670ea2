"""Reading and writing the project's text files safely.

Reading: only a regular file is opened (a FIFO named like a dataset would
otherwise block forever, a device never end), and JSON nested deeper than
the parser's recursion is an error like any malformed JSON.

Writing, whole or not at all (STYLE.md 15): ``written_aside`` gives a
temporary name beside the file (``.NAME.PID-RANDOM.tmp``, one per process),
and once the write succeeded renames it over the file (``os.replace``, atomic
on POSIX): a kill at any moment leaves either the previous file or the new
one, never half of one; a failed write names the user's file, not the
temporary one. ``write_atomic`` does so for text, flushed to the disk. The
file gets the user's usual permissions (as ``open`` gives them, after the umask).

Every output a command writes is first checked by ``check_output``, the same
way for all of them: a new file (or, with ``--force``, an existing regular
file) in an existing folder, never one of the command's own inputs, never
reached through a symbolic link.
"""
import contextlib
import fcntl
import json
import os
import pathlib
import secrets
import stat


class OutputError(ValueError):
    """An output path a command must not write; the message names the flag and the path."""


def open_regular(path):
    """``path`` opened for reading in binary, if it is a regular file (after symlinks).

    Opened without blocking, so that a FIFO or a device is refused at once
    (IsADirectoryError "it is a folder" / "it is not a regular file", an OSError).
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
            raise IsADirectoryError(f"it is {kind}")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_text(path):
    """The UTF-8 text of the regular file ``path`` (OSError, UnicodeDecodeError)."""
    with open_regular(path) as f:
        return f.read().decode("utf-8")


def read_json(path):
    """The JSON value in ``path``: OSError, UnicodeDecodeError, or ValueError
    (json.JSONDecodeError, or nesting too deep to parse)."""
    text = read_text(path)
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply to read") from None


def check_output(path, flag, inputs=(), force=False, suffixes=None):
    """OutputError unless ``path``, the value of ``flag``, may be written.

    It must be a new file, or with ``force`` an existing regular file (``force`` None:
    the command has no --force flag), in an existing folder; not a symbolic link (a
    write would land elsewhere); not one of ``inputs`` (the files the command reads,
    compared as files, so a hard link or another spelling is caught too); and with
    ``suffixes`` (a collection of lower-case extensions), end in one of them.
    """
    shown = f"{flag} {path}"
    if not str(path).strip() or "\0" in str(path):
        raise OutputError(f"{flag} {str(path)!r}: not a usable file name")
    path = pathlib.Path(path)
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise OutputError(f"{shown}: unknown extension {path.suffix or '(none)'!r}; use one "
                          f"of {', '.join(sorted(suffixes))}")
    try:
        if not stat.S_ISDIR(os.stat(path.parent).st_mode):
            raise OutputError(f"{shown}: {path.parent} is not a folder")
        info = os.lstat(path)
    except FileNotFoundError:
        if not path.parent.is_dir():
            raise OutputError(f"{shown}: its folder does not exist") from None
        info = None
    except OSError as error:   # a symbolic link loop above it, a permission...
        raise OutputError(f"{shown}: cannot reach it ({error.strerror or error})") from None
    if info is not None:
        if stat.S_ISLNK(info.st_mode):
            raise OutputError(f"{shown}: a symbolic link; name the file itself, an output is "
                              f"never written through a link")
        if not stat.S_ISREG(info.st_mode):
            raise OutputError(f"{shown}: exists and is not a regular file")
        for source in inputs:
            with contextlib.suppress(OSError):
                if os.path.samefile(path, source):
                    raise OutputError(f"{shown}: that is one of the command's own inputs "
                                      f"({source}); choose another file")
        if not force:
            how = "choose another file" if force is None else ("pass --force to replace it, "
                                                               "or choose another file")
            raise OutputError(f"{shown}: exists already; {how}")


@contextlib.contextmanager
def written_aside(path):
    """A temporary path beside ``path``, renamed onto it once the block succeeds (removed if
    it fails). An OSError of the block or the rename names ``path``, the user's file."""
    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(3)}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as error:
        raise OSError(error.errno, error.strerror or str(error), str(path)) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def write_atomic(path, text):
    """Write ``text`` to ``path`` atomically; OSError naming ``path`` on failure."""
    with written_aside(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


def write_json_atomic(path, value, indent=2):
    """Write ``value`` as JSON to ``path`` atomically (``indent`` None: compact)."""
    separators = None if indent is not None else (",", ":")
    write_atomic(path, json.dumps(value, indent=indent, separators=separators,
                                  ensure_ascii=False))


def user_folder():
    """The user's data folder, $NNSCRATCH_CACHE or ~/.cache/nnscratch: what the project
    makes once and reuses (the shapes set, feature caches, converted CNN weights), never
    beside the code, which may be installed read-only."""
    return pathlib.Path(os.environ.get("NNSCRATCH_CACHE") or pathlib.Path.home() / ".cache" / "nnscratch")


@contextlib.contextmanager
def exclusive(path, busy):
    """Hold an advisory lock (flock) on ``path``, a folder or a file (created if absent),
    for this process while in the block; when another process holds it, raise ``busy``
    (an exception). The system releases the lock when the process ends, however it ends."""
    fd = os.open(path, os.O_RDONLY if os.path.isdir(path) else os.O_RDONLY | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise busy from None
        yield
    finally:
        os.close(fd)
