"""What the ``python -m caption.X`` commands share: the error boundary
(``errors``) and the long commands' ``--threads`` flag (``threads``). Only
commands import this package."""
