"""Training a model of ``caption.models``: the configuration, checked at the
entrance (``config``); the run folder (``run_folder``); the training loop
(``loop``) and its interruption (``interrupts``); the task registry
(``tasks``); from a config to a task (``build``); optimizers, inputs and
baselines."""
