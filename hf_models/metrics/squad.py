"""SQuAD v1.1 exact match and F1 (Rajpurkar et al. 2016), as a local `evaluate` metric.

The scores are those of the official `evaluate-v1.1.py` script: both strings are normalised (lower case, punctuation
and the articles a/an/the removed, whitespace collapsed), exact match asks for equal normalised strings, F1 is the
harmonic mean of token precision and recall over the bag of normalised tokens, and each question takes the best score
over its gold answers. Both are averaged over the questions of the references and given in percent; a question with no
prediction scores 0, as in the official script.

The file is self-contained (no imports from hf_models) so that `evaluate.load` can run it from its own cache copy:

    metric = hf_models.metrics.load_metric("squad")
    metric.compute(predictions=[{"id": "q1", "prediction_text": "Denver Broncos"}],
                   references=[{"id": "q1", "answers": {"text": ["Denver Broncos"], "answer_start": [177]}}])
    # {'exact_match': 100.0, 'f1': 100.0}
"""

from __future__ import annotations

import logging
import re
import string
from collections import Counter
from collections.abc import Callable, Iterable

import datasets
import evaluate

logger = logging.getLogger(__name__)

_CITATION = """\
@inproceedings{rajpurkar-etal-2016-squad,
    title = "{SQ}u{AD}: 100,000+ Questions for Machine Comprehension of Text",
    author = "Rajpurkar, Pranav and Zhang, Jian and Lopyrev, Konstantin and Liang, Percy",
    booktitle = "Proceedings of the 2016 Conference on Empirical Methods in Natural Language Processing",
    year = "2016",
    pages = "2383--2392",
}
"""

_DESCRIPTION = """\
Exact match and F1 of the official SQuAD v1.1 evaluation script: answers are normalised (lower case, no punctuation,
no articles, single spaces) before comparison, F1 is computed over bags of tokens, and each question scores the best
value over its gold answers. Scores are percentages over the questions of the references.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of {"id": str, "prediction_text": str}, one per question.
    references: list of {"id": str, "answers": {"text": list[str], "answer_start": list[int]}}, one per question,
        each with at least one gold answer.
Returns:
    exact_match: percentage of questions whose prediction equals a gold answer after normalisation (0-100).
    f1: average over questions of the best token-overlap F1 against the gold answers (0-100).
Examples:
    >>> metric = evaluate.load("hf_models/metrics/squad.py")
    >>> metric.compute(predictions=[{"id": "1", "prediction_text": "the Broncos"}],
    ...                references=[{"id": "1", "answers": {"text": ["Denver Broncos"], "answer_start": [177]}}])
    {'exact_match': 0.0, 'f1': 66.66666666666666}
"""


# ----------------------------------------------------------------------------------------------------------------------
# The official v1.1 scoring functions
# ----------------------------------------------------------------------------------------------------------------------
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(s: str) -> str:
    """Lower case, drop punctuation, drop the articles a/an/the, collapse whitespace (official v1.1 normalisation)."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCTUATION)
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def exact_match_score(prediction: str, ground_truth: str) -> bool:
    """EM = [normalize(prediction) == normalize(ground_truth)]."""
    return normalize_answer(prediction) == normalize_answer(ground_truth)


def f1_score(prediction: str, ground_truth: str) -> float:
    """F1 = 2PR / (P + R) over the bags of normalised tokens (0 when they share none)."""
    prediction_tokens = normalize_answer(prediction).split()
    ground_truth_tokens = normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)  # multiset intersection
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(prediction_tokens)
    recall = num_same / len(ground_truth_tokens)
    return 2 * precision * recall / (precision + recall)


def metric_max_over_ground_truths(metric_fn: Callable[[str, str], float], prediction: str,
                                  ground_truths: Iterable[str]) -> float:
    """The best score of `prediction` against any of the gold answers."""
    return max(metric_fn(prediction, ground_truth) for ground_truth in ground_truths)


def compute_score(predictions: dict[str, str], references: dict[str, list[str]]) -> dict[str, float]:
    """{'exact_match', 'f1'} in percent over the questions of `references` (id -> gold texts); missing ids score 0."""
    if not references:
        raise ValueError("squad metric: no references to score")
    exact_match = f1 = 0.0
    missing = [qid for qid in references if qid not in predictions]
    if missing:
        logger.warning(f"{len(missing)} of {len(references)} questions have no prediction and score 0 "
                       f"(first: {missing[0]!r})")
    for qid, ground_truths in references.items():
        if not ground_truths:
            raise ValueError(f"squad metric: question {qid!r} has no gold answer; SQuAD v1.1 scoring needs at least "
                             "one (use the squad_v2 metric for questions without an answer)")
        if qid not in predictions:
            continue
        exact_match += metric_max_over_ground_truths(exact_match_score, predictions[qid], ground_truths)
        f1 += metric_max_over_ground_truths(f1_score, predictions[qid], ground_truths)
    total = len(references)
    return {"exact_match": 100.0 * exact_match / total, "f1": 100.0 * f1 / total}


def _by_id(records: list[dict], what: str, value: Callable[[dict], object]) -> dict:
    """id -> value(record); a repeated id is an error (it would make the score depend on the order)."""
    out = {}
    for record in records:
        qid = record["id"]
        if qid in out:
            raise ValueError(f"squad metric: id {qid!r} appears twice in the {what}")
        out[qid] = value(record)
    return out


# ----------------------------------------------------------------------------------------------------------------------
# The evaluate module
# ----------------------------------------------------------------------------------------------------------------------
@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Squad(evaluate.Metric):
    """SQuAD v1.1 exact match and F1 (percent), with the official script's normalisation."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": {"id": datasets.Value("string"), "prediction_text": datasets.Value("string")},
                    "references": {
                        "id": datasets.Value("string"),
                        "answers": datasets.Sequence(
                            {"text": datasets.Value("string"), "answer_start": datasets.Value("int32")}
                        ),
                    },
                }
            ),
            codebase_urls=["https://rajpurkar.github.io/SQuAD-explorer/"],
            reference_urls=["https://rajpurkar.github.io/SQuAD-explorer/"],
        )

    def _compute(self, predictions, references) -> dict[str, float]:
        predictions = _by_id(predictions, "predictions", lambda p: p["prediction_text"])
        references = _by_id(references, "references", lambda r: list(r["answers"]["text"]))
        return compute_score(predictions, references)
