"""Stopping a training run at a safe point, on Ctrl-C (SIGINT) or SIGTERM.

A signal does not break into the step that is running: it only raises a
flag, and the training loop stops at the next step boundary, saving ``last``
(caption/training/loop.py). So a checkpoint never holds parameters that one
update has changed and a step counter that has not counted it. SIGTERM,
what ``timeout`` and job schedulers send, saves exactly as Ctrl-C does. A
second signal while a step runs stops at once (KeyboardInterrupt), except
inside ``held()``: the few lines that must run as one (an update and its
count; the checkpoint writes).
"""
import contextlib
import signal
import sys
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupts:
    """Within ``with Interrupts() as interrupts:``, SIGINT and SIGTERM set
    ``interrupts.signal`` (the first one's number) instead of stopping the process."""

    def __init__(self):
        self.signal = None
        self._holding = 0
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is not threading.main_thread():
            return self   # only the main thread receives signals
        for number in SIGNALS:
            self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc):
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        return False

    def _handle(self, number, frame):
        if self.signal is not None and not self._holding:
            raise KeyboardInterrupt
        if self.signal is None:
            print(f"\n{signal.Signals(number).name}: stopping at the end of this step "
                  "(again to stop at once)", file=sys.stderr, flush=True)
        self.signal = self.signal or number

    @contextlib.contextmanager
    def held(self):
        """Run the block whole: signals arriving meanwhile only raise the flag."""
        self._holding += 1
        try:
            yield
        finally:
            self._holding -= 1

    @property
    def requested(self):
        return self.signal is not None
