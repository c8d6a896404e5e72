"""Local `evaluate` metric modules, so every metric of the package works offline (the hub's metrics cannot load here).

Each module file defines one `evaluate.Metric` subclass and works on its own as well:

    import evaluate, hf_models.metrics as m
    metric = m.load_metric("glue", "cola")                      # an instance, through evaluate.load on the local file
    metric = evaluate.load(m.metric_path("glue"), "cola")      # the same, by hand
"""

from __future__ import annotations

from pathlib import Path

# metric name -> module file in this folder
METRIC_MODULES = {
    "glue": "glue.py",
    "squad": "squad.py",
    "squad_v2": "squad_v2.py",
    "korquad": "korquad.py",
    "seqeval": "seqeval_ner.py",
    "sacrebleu": "sacrebleu_metric.py",
}


def metric_path(name: str) -> str:
    """Path of the module file of the local metric `name` (for `evaluate.load`)."""
    if name not in METRIC_MODULES:
        raise ValueError(f"unknown metric {name!r}; hf_models ships {', '.join(sorted(METRIC_MODULES))}")
    return str(Path(__file__).with_name(METRIC_MODULES[name]))


def load_metric(name: str, config_name: str | None = None, **kwargs):
    """`evaluate.load` of the local module file of metric `name` (works offline), e.g. `load_metric("glue", "mrpc")`."""
    import evaluate

    return evaluate.load(metric_path(name), config_name, **kwargs)


__all__ = ["METRIC_MODULES", "load_metric", "metric_path"]
