"""One module per op family; each op is a ``Function`` (forward and backward
side by side) plus a lowercase function for users. ``nnscratch.functional``
gathers the lowercase functions."""
