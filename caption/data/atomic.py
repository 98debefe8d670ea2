"""Writing a file whole or not at all (STYLE.md 15).

The text goes to ``.NAME.tmp`` beside the file, is flushed to the disk, and is
renamed over the file (``os.replace``, atomic on POSIX): a kill at any moment
leaves either the previous file or the new one, never half of one. The file
gets the user's usual permissions (as ``open`` gives them, after the umask).
"""
import json
import os
import pathlib


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
