"""Captions of image files by a run folder, through the library (what caption.describe prints)."""
from caption.evaluation.new_images import caption_images
from caption.models.device import pick_device
from caption.training.build import open_model


def describe(paths, run, beam=3):
    """({path: [{"caption", "logprob", "score"}]}, [(path, why skipped)]) of the run's best model."""
    model, vocab, config = open_model(run)
    return caption_images(paths, model, vocab, config, pick_device(config["device"]), beam=beam)
