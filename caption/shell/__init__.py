"""What the ``python -m caption.X`` commands share: the error boundary
(``errors``), the long commands' ``--threads`` flag (``threads``) and the
paths a user names (``paths``). Only commands import this package."""
