"""The update rules a config can name (thesis §3.2.2), built from its settings."""
from nnscratch import optim

OPTIMIZERS = {
    "sgd": lambda params, c: optim.SGD(params, c["lr"], weight_decay=c["weight_decay"]),
    "momentum": lambda params, c: optim.SGD(params, c["lr"], momentum=c["momentum"],
                                            weight_decay=c["weight_decay"]),
    "adam": lambda params, c: optim.Adam(params, c["lr"], weight_decay=c["weight_decay"]),
    "rmsprop": lambda params, c: optim.RMSprop(params, c["lr"], weight_decay=c["weight_decay"]),
}


def build_optimizer(parameters, config):
    """The optimizer config["optimizer"] names, with lr, momentum and weight_decay of ``config``."""
    return OPTIMIZERS[config["optimizer"]](parameters, config)
