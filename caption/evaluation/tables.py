"""Metrics as text, the way ``caption.train`` and ``caption.evaluate`` print them."""


def format_metrics(metrics, indent=""):
    """Nested metric dicts as aligned text lines."""
    lines = []
    for key, value in metrics.items():
        if isinstance(value, dict):
            lines.append(f"{indent}{key}:")
            lines.append(format_metrics(value, indent + "  "))
        elif isinstance(value, float):
            lines.append(f"{indent}{key:<22}{value:.4f}")
        else:
            lines.append(f"{indent}{key:<22}{value}")
    return "\n".join(lines)


def retrieval_table(metrics):
    """Retrieval metrics ({"annotation": {...}, "search": {...}, ...}) as a text table, a
    row per direction; nested baselines follow as indented lines."""
    columns = list(metrics["annotation"])
    lines = [f"{'':<12}" + "".join(f"{c:>13}" for c in columns)]
    for direction in ("annotation", "search"):
        values = metrics[direction]
        lines.append(f"{direction:<12}" + "".join(f"{values[c]:>13.2f}" for c in columns))
    if "baselines" in metrics:
        lines.append(format_metrics({"baselines": metrics["baselines"]}))
    return "\n".join(lines)
