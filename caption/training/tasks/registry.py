"""The registry of tasks: ``@register("name")`` under a task class's line."""
TASKS = {}


def register(name):
    """Class decorator: make the task class known as ``name``."""
    def add(cls):
        cls.name = name
        TASKS[name] = cls
        return cls
    return add
