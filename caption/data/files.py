"""Reading and writing the project's text files safely.

Reading: only a regular file is opened (a FIFO named like a dataset would
otherwise block forever, a device never end), and JSON nested deeper than
the parser's recursion is an error like any malformed JSON.

Writing, whole or not at all (STYLE.md 15): the text goes to ``.NAME.tmp``
beside the file, is flushed to the disk, and is renamed over the file
(``os.replace``, atomic on POSIX): a kill at any moment leaves either the
previous file or the new one, never half of one. The file gets the user's
usual permissions (as ``open`` gives them, after the umask).
"""
import json
import os
import pathlib
import stat


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


def write_atomic(path, text):
    """Write ``text`` to ``path`` atomically; OSError (the temporary file removed) on failure."""
    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
