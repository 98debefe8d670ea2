"""The paths a user names on the command line.

``user_path`` is the argparse type of every flag or argument that names a
file or folder: ``~`` and ``~user`` are expanded as a shell would (a quoted
``'~/x'`` reaches the command unexpanded, and would otherwise become a folder
named ``~``).
"""
import os


def user_path(text):
    """argparse type: ``text`` with a leading ``~`` expanded to the home folder."""
    return os.path.expanduser(text)
