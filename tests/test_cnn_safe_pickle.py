"""The restricted unpickler: NumPy arrays and plain containers load, any
other global is refused before it can run."""
import os
import pickle

import numpy as np
import pytest

from caption.cnn import safe_pickle


class RunsACommand:
    """Unpickling this would call os.system("echo pwned")."""

    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_arrays_and_containers_load(tmp_path, protocol):
    data = {"param values": [np.arange(6, dtype=np.float32).reshape(2, 3), np.zeros(2)],
            "synset words": ["tench, Tinca tinca"], "mean value": np.array([1.0, 2.0, 3.0]),
            "shape": (2, 3), "scalar": np.float32(1.5)}
    path = tmp_path / "ok.pkl"
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    loaded = safe_pickle.load(path)
    np.testing.assert_array_equal(loaded["param values"][0], data["param values"][0])
    assert loaded["synset words"] == data["synset words"] and loaded["shape"] == (2, 3)
    assert loaded["scalar"] == np.float32(1.5)


def test_a_pickle_that_would_run_a_command_is_refused(tmp_path, capfd):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"param values": [RunsACommand()]}))
    with pytest.raises(pickle.UnpicklingError, match=r"refused global '(posix|nt|os)\.system'"):
        safe_pickle.load(path)
    assert "pwned" not in capfd.readouterr().out


@pytest.mark.parametrize("name", ["builtins.eval", "numpy.load", "subprocess.Popen"])
def test_other_globals_are_refused_by_name(tmp_path, name):
    module, attribute = name.rsplit(".", 1)
    path = tmp_path / "other.pkl"
    path.write_bytes(b"\x80\x02c" + f"{module}\n{attribute}\n".encode() + b")R.")
    with pytest.raises(pickle.UnpicklingError, match=f"refused global '{name}'"):
        safe_pickle.load(path)
