"""GLUE metrics as the benchmark defines them (Wang et al. 2019, table 1), as a local `evaluate` module.

- CoLA: Matthews correlation coefficient;
- STS-B: Pearson and Spearman correlation (regression scores);
- MRPC, QQP: accuracy and F1 of the positive class;
- SST-2, MNLI (matched and mismatched), QNLI, RTE, WNLI, AX/HANS: accuracy.

Works offline: `evaluate.load("path/to/hf_models/metrics/glue.py", "mrpc")` or `hf_models.metrics.load_metric(...)`.
The module is self-contained (no relative imports), as evaluate copies it into its cache before importing it.
"""

import datasets
import evaluate
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import f1_score, matthews_corrcoef

_CITATION = """\
@inproceedings{wang2019glue,
  title={{GLUE}: A Multi-Task Benchmark and Analysis Platform for Natural Language Understanding},
  author={Wang, Alex and Singh, Amanpreet and Michael, Julian and Hill, Felix and Levy, Omer and Bowman, Samuel R.},
  booktitle={International Conference on Learning Representations},
  year={2019}
}
"""

_DESCRIPTION = """\
The metric of each GLUE task: Matthews correlation (CoLA), Pearson/Spearman (STS-B), accuracy and F1 (MRPC, QQP),
accuracy (SST-2, MNLI matched/mismatched, QNLI, RTE, WNLI, HANS).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: predicted label ids (a float score for stsb).
    references: gold label ids (a float score for stsb).
Returns: a dict with, depending on the task,
    "accuracy", "f1" (mrpc, qqp: F1 of label 1), "matthews_correlation" (cola), "pearson" and "spearmanr" (stsb).
Example:
    >>> glue = evaluate.load("hf_models/metrics/glue.py", "mrpc")
    >>> glue.compute(predictions=[0, 1, 1], references=[0, 1, 0])
    {'accuracy': 0.6666666666666666, 'f1': 0.6666666666666666}
"""

ACCURACY_TASKS = ("sst2", "mnli", "mnli_mismatched", "mnli_matched", "qnli", "rte", "wnli", "hans", "ax")
CONFIGS = ("cola", "stsb", "mrpc", "qqp", *ACCURACY_TASKS)


def simple_accuracy(predictions, references) -> float:
    """Fraction of predictions equal to the gold label."""
    return float(sum(int(p == r) for p, r in zip(predictions, references)) / len(references))


def accuracy_and_f1(predictions, references) -> dict:
    """Accuracy, and F1 of the positive class (label 1) as GLUE reports for MRPC and QQP."""
    return {
        "accuracy": simple_accuracy(predictions, references),
        "f1": float(f1_score(y_true=references, y_pred=predictions)),
    }


def pearson_and_spearman(predictions, references) -> dict:
    """Pearson r and Spearman rho between predicted and gold similarity scores (STS-B)."""
    return {
        "pearson": float(pearsonr(predictions, references)[0]),
        "spearmanr": float(spearmanr(predictions, references)[0]),
    }


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Glue(evaluate.Metric):
    """The GLUE metric of one task (the config name: cola, sst2, mrpc, qqp, stsb, mnli, mnli_matched, ...)."""

    def _info(self):
        if self.config_name not in CONFIGS:
            raise KeyError(f"GLUE metric: unknown task {self.config_name!r}; choose one of {', '.join(CONFIGS)}")
        value_type = "float32" if self.config_name == "stsb" else "int64"
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value(value_type), "references": datasets.Value(value_type)}
            ),
            codebase_urls=["https://gluebenchmark.com/"],
            reference_urls=["https://arxiv.org/abs/1804.07461"],
        )

    def _compute(self, predictions, references):
        if len(references) == 0:
            raise ValueError(f"GLUE {self.config_name}: no examples to score")
        if self.config_name == "cola":
            return {"matthews_correlation": float(matthews_corrcoef(references, predictions))}
        if self.config_name == "stsb":
            return pearson_and_spearman(predictions, references)
        if self.config_name in ("mrpc", "qqp"):
            return accuracy_and_f1(predictions, references)
        return {"accuracy": simple_accuracy(predictions, references)}
