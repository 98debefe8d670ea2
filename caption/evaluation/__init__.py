"""Looking at what a model does: the HTML report of an evaluated run
(``report``), captions for new images (``new_images``) and metrics as text
(``tables``). Nothing here reads a run folder: the callers pass what it needs."""
