"""The paths a user names on the command line.

``user_path`` is the argparse type of every flag or argument that names a
file or folder: ``~`` and ``~user`` are expanded as a shell would (a quoted
``'~/x'`` reaches the command unexpanded, and would otherwise become a folder
named ``~``), and an empty one is refused (``''`` would otherwise mean the
current folder).
"""
import argparse
import os


def user_path(text):
    """argparse type: ``text`` with a leading ``~`` expanded to the home folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path; name a file or folder")
    return os.path.expanduser(text)
