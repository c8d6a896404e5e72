"""KorQuAD 1.0 exact match and character-level F1 (Lim et al. 2019), as a local `evaluate` metric.

The scores are those of the official `evaluate-v1.0.py` script (https://korquad.github.io/dataset/evaluate-v1.0.py,
written from SQuAD's v1.1 script). Both strings are normalised: the ASCII quotes ' and ", the brackets < > ( ), the
Korean book-title and angle brackets 《 》 〈 〉 and the single curly quotes ‘ ’ become spaces, the text is lower-cased,
ASCII punctuation (`string.punctuation`) is removed and whitespace collapsed. Exact match asks for equal normalised
strings; F1 is computed over CHARACTERS, not words: the harmonic mean of precision and recall over the multisets of
the normalised strings' characters with the whitespace left out, since Korean attaches particles to words
("서울에서" = "서울" + "에서") and a word-level F1 would give a prediction that only adds a particle nothing. Each
question takes the best score over its gold answers; both scores are averaged over the questions of the references
and given in percent, a question with no prediction scoring 0, as in the official script.

Exactly as the official script (and unlike a general Unicode normaliser) the other CJK marks are kept: 「 」 『 』
【 】 “ ” ・ and the full-width punctuation count as characters, and no article is removed (the script has no
remove_articles, so "the" in an English answer counts).

The file is self-contained (no imports from hf_models) so that `evaluate.load` can run it from its own cache copy:

    metric = hf_models.metrics.load_metric("korquad")
    metric.compute(predictions=[{"id": "q1", "prediction_text": "서울에서"}],
                   references=[{"id": "q1", "answers": {"text": ["서울"], "answer_start": [10]}}])
    # {'exact_match': 0.0, 'f1': 66.66666666666666}   (the squad metric gives 0.0 and 0.0)
"""

from __future__ import annotations

import logging
import string
from collections import Counter
from collections.abc import Callable, Iterable

import datasets
import evaluate

logger = logging.getLogger(__name__)

_CITATION = """\
@article{lim2019korquad1,
    title = {KorQuAD1.0: Korean QA Dataset for Machine Reading Comprehension},
    author = {Lim, Seungyoung and Kim, Myungji and Lee, Jooyoul},
    journal = {arXiv preprint arXiv:1909.07005},
    year = {2019},
}
"""

_DESCRIPTION = """\
Exact match and character-level F1 of the official KorQuAD 1.0 evaluation script: answers are normalised (quotes and
brackets ' " < > ( ) 《 》 〈 〉 ‘ ’ to spaces, lower case, no ASCII punctuation, single spaces) before comparison, F1 is
computed over the characters of the normalised answers (whitespace left out), and each question scores the best value
over its gold answers. Scores are percentages over the questions of the references.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of {"id": str, "prediction_text": str}, one per question.
    references: list of {"id": str, "answers": {"text": list[str], "answer_start": list[int]}}, one per question,
        each with at least one gold answer.
Returns:
    exact_match: percentage of questions whose prediction equals a gold answer after normalisation (0-100).
    f1: average over questions of the best character-overlap F1 against the gold answers (0-100).
Examples:
    >>> metric = evaluate.load("hf_models/metrics/korquad.py")
    >>> metric.compute(predictions=[{"id": "1", "prediction_text": "이순신은"}],
    ...                references=[{"id": "1", "answers": {"text": ["이순신"], "answer_start": [0]}}])
    {'exact_match': 0.0, 'f1': 85.71428571428571}
"""


# ----------------------------------------------------------------------------------------------------------------------
# The official v1.0 scoring functions
# ----------------------------------------------------------------------------------------------------------------------
# remove_(): these become spaces (the official script's re.sub calls, in its order)
_TO_SPACE = str.maketrans({ch: " " for ch in "'\"《》<>〈〉()‘’"})
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(s: str) -> str:
    """Quotes/brackets ' " 《 》 < > 〈 〉 ( ) ‘ ’ to spaces, lower case, drop ASCII punctuation, collapse whitespace
    (the official KorQuAD 1.0 normalisation: white_space_fix(remove_punc(lower(remove_(s)))))."""
    s = s.translate(_TO_SPACE).lower()
    s = "".join(ch for ch in s if ch not in _PUNCTUATION)
    return " ".join(s.split())


def _characters(s: str) -> list[str]:
    """The characters of the normalised string, whitespace left out (the official script's prediction_Char)."""
    return [ch for token in normalize_answer(s).split() for ch in token]


def exact_match_score(prediction: str, ground_truth: str) -> bool:
    """EM = [normalize(prediction) == normalize(ground_truth)]."""
    return normalize_answer(prediction) == normalize_answer(ground_truth)


def f1_score(prediction: str, ground_truth: str) -> float:
    """Character F1 = 2PR / (P + R) over the multisets of normalised non-space characters (0 when they share none)."""
    prediction_chars = _characters(prediction)
    ground_truth_chars = _characters(ground_truth)
    common = Counter(prediction_chars) & Counter(ground_truth_chars)  # multiset intersection
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(prediction_chars)
    recall = num_same / len(ground_truth_chars)
    return 2 * precision * recall / (precision + recall)


def metric_max_over_ground_truths(metric_fn: Callable[[str, str], float], prediction: str,
                                  ground_truths: Iterable[str]) -> float:
    """The best score of `prediction` against any of the gold answers."""
    return max(metric_fn(prediction, ground_truth) for ground_truth in ground_truths)


def compute_score(predictions: dict[str, str], references: dict[str, list[str]]) -> dict[str, float]:
    """{'exact_match', 'f1'} in percent over the questions of `references` (id -> gold texts); missing ids score 0."""
    if not references:
        raise ValueError("korquad metric: no references to score")
    exact_match = f1 = 0.0
    missing = [qid for qid in references if qid not in predictions]
    if missing:
        logger.warning(f"{len(missing)} of {len(references)} questions have no prediction and score 0 "
                       f"(first: {missing[0]!r})")
    for qid, ground_truths in references.items():
        if not ground_truths:
            raise ValueError(f"korquad metric: question {qid!r} has no gold answer; KorQuAD 1.0 scoring needs at "
                             "least one")
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
            raise ValueError(f"korquad metric: id {qid!r} appears twice in the {what}")
        out[qid] = value(record)
    return out


# ----------------------------------------------------------------------------------------------------------------------
# The evaluate module
# ----------------------------------------------------------------------------------------------------------------------
@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Korquad(evaluate.Metric):
    """KorQuAD 1.0 exact match and character-level F1 (percent), with the official script's normalisation."""

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
            codebase_urls=["https://korquad.github.io/KorQuad%201.0/"],
            reference_urls=["https://korquad.github.io/KorQuad%201.0/", "https://arxiv.org/abs/1909.07005"],
        )

    def _compute(self, predictions, references) -> dict[str, float]:
        predictions = _by_id(predictions, "predictions", lambda p: p["prediction_text"])
        references = _by_id(references, "references", lambda r: list(r["answers"]["text"]))
        return compute_score(predictions, references)
