"""What the tests of bad input expect of a command that refuses: one line."""


def one_line(capsys, *names):
    """The command's stderr: one line starting "error: ", no traceback, holding every one
    of ``names``."""
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for name in names:
        assert str(name) in err, (name, err)
    return err
