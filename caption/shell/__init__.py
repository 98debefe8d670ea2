"""What every ``python -m caption.X`` command shares: its error boundary
(``errors``). Only commands import this package."""
