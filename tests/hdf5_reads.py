"""What a test's HDF5 reader reads, watched through h5py.Dataset.__getitem__:
the tests of files from outside use it to show that a file is judged from
its headers alone."""
import h5py
import pytest


def never_read(monkeypatch):
    """From now on, reading any dataset fails the test."""
    monkeypatch.setattr(h5py.Dataset, "__getitem__", lambda *args: pytest.fail("read"))


def recorded_reads(monkeypatch):
    """The list, filled as the test goes on, of the datasets read ("/imgid")."""
    read = []
    getitem = h5py.Dataset.__getitem__
    monkeypatch.setattr(h5py.Dataset, "__getitem__",
                        lambda self, index: read.append(self.name) or getitem(self, index))
    return read
