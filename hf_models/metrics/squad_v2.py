"""SQuAD v2.0 exact match and F1 with unanswerable questions (Rajpurkar et al. 2018), as a local `evaluate` metric.

The scores are those of the official `evaluate-v2.0.py` script:

- a question is unanswerable when its references have no answer; its gold answer is then the empty string, so the
  prediction "" scores 1 and anything else 0 (for answerable questions, gold answers that normalise to "" are dropped);
- each prediction carries a no-answer score (`no_answer_probability`, the script's `--na-prob-file`; any score where
  higher means "more likely unanswerable" works, e.g. the null-score difference of BERT's post-processing): when it is
  above `no_answer_threshold` (the script's `--na-prob-thresh`, default 1.0) the question counts as answered with "";
- `exact`/`f1` over all questions, `HasAns_*` over the answerable ones, `NoAns_*` over the unanswerable ones (percent);
- `best_exact`/`best_f1`: the scores at the best threshold on the no-answer score, and that threshold
  (`best_exact_thresh`, `best_f1_thresh`), found by sweeping the questions in increasing no-answer score.

Every question of the references needs a prediction (the official script cannot score a partial file either).

The file is self-contained (no imports from hf_models) so that `evaluate.load` can run it from its own cache copy:

    metric = hf_models.metrics.load_metric("squad_v2")
    metric.compute(predictions=[{"id": "q1", "prediction_text": "", "no_answer_probability": 0.9}],
                   references=[{"id": "q1", "answers": {"text": [], "answer_start": []}}])
"""

from __future__ import annotations

import collections
import re
import string

import datasets
import evaluate

_CITATION = """\
@inproceedings{rajpurkar-etal-2018-know,
    title = "Know What You Don{'}t Know: Unanswerable Questions for {SQ}u{AD}",
    author = "Rajpurkar, Pranav and Jia, Robin and Liang, Percy",
    booktitle = "Proceedings of the 56th Annual Meeting of the Association for Computational Linguistics",
    year = "2018",
    pages = "784--789",
}
"""

_DESCRIPTION = """\
Exact match and F1 of the official SQuAD v2.0 evaluation script, with unanswerable questions: overall, on the
answerable (HasAns) and unanswerable (NoAns) questions, and at the best threshold on the no-answer score.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of {"id": str, "prediction_text": str, "no_answer_probability": float}, one per question
        ("" predicts "no answer"; no_answer_probability: higher means more likely unanswerable, 0.0 when unknown).
    references: list of {"id": str, "answers": {"text": list[str], "answer_start": list[int]}}, one per question
        (empty lists for an unanswerable question).
    no_answer_threshold: a question whose no_answer_probability is above it counts as answered with "" (default 1.0).
Returns:
    exact, f1, total: over all questions (percent; total is the number of questions);
    HasAns_exact, HasAns_f1, HasAns_total: over the answerable questions (when there are some);
    NoAns_exact, NoAns_f1, NoAns_total: over the unanswerable questions (when there are some);
    best_exact, best_exact_thresh, best_f1, best_f1_thresh: the best scores over thresholds on no_answer_probability.
Examples:
    >>> metric = evaluate.load("hf_models/metrics/squad_v2.py")
    >>> metric.compute(predictions=[{"id": "1", "prediction_text": "", "no_answer_probability": 0.0}],
    ...                references=[{"id": "1", "answers": {"text": [], "answer_start": []}}])["exact"]
    100.0
"""


# ----------------------------------------------------------------------------------------------------------------------
# The official v2.0 scoring functions
# ----------------------------------------------------------------------------------------------------------------------
_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(s: str) -> str:
    """Lower case, drop punctuation, drop the articles a/an/the, collapse whitespace (official normalisation)."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCTUATION)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def get_tokens(s: str) -> list[str]:
    """The normalised tokens of an answer ([] for the empty answer)."""
    if not s:
        return []
    return normalize_answer(s).split()


def compute_exact(a_gold: str, a_pred: str) -> int:
    """EM = [normalize(gold) == normalize(prediction)]."""
    return int(normalize_answer(a_gold) == normalize_answer(a_pred))


def compute_f1(a_gold: str, a_pred: str) -> float:
    """Token F1 = 2PR / (P + R); when either side is empty, 1 if both are and 0 otherwise."""
    gold_toks = get_tokens(a_gold)
    pred_toks = get_tokens(a_pred)
    common = collections.Counter(gold_toks) & collections.Counter(pred_toks)  # multiset intersection
    num_same = sum(common.values())
    if len(gold_toks) == 0 or len(pred_toks) == 0:
        return int(gold_toks == pred_toks)  # "no answer" is right only against "no answer"
    if num_same == 0:
        return 0
    precision = num_same / len(pred_toks)
    recall = num_same / len(gold_toks)
    return 2 * precision * recall / (precision + recall)


def get_raw_scores(gold: dict[str, list[str]], preds: dict[str, str]) -> tuple[dict[str, int], dict[str, float]]:
    """Per question, the best EM and F1 over its gold answers ([""] for an unanswerable question)."""
    exact_scores, f1_scores = {}, {}
    for qid, answers in gold.items():
        gold_answers = [a for a in answers if normalize_answer(a)]
        if not gold_answers:
            gold_answers = [""]  # the only correct prediction for an unanswerable question is no answer
        a_pred = preds[qid]
        exact_scores[qid] = max(compute_exact(a, a_pred) for a in gold_answers)
        f1_scores[qid] = max(compute_f1(a, a_pred) for a in gold_answers)
    return exact_scores, f1_scores


def apply_no_ans_threshold(scores: dict[str, float], na_probs: dict[str, float], qid_to_has_ans: dict[str, bool],
                           na_prob_thresh: float) -> dict[str, float]:
    """Questions with a no-answer score above the threshold count as answered with "": 1 if unanswerable, else 0."""
    new_scores = {}
    for qid, s in scores.items():
        pred_na = na_probs[qid] > na_prob_thresh
        new_scores[qid] = float(not qid_to_has_ans[qid]) if pred_na else s
    return new_scores


def make_eval_dict(exact_scores: dict[str, float], f1_scores: dict[str, float],
                   qid_list: list[str] | None = None) -> dict[str, float]:
    """{'exact', 'f1', 'total'}: mean scores in percent over `qid_list` (all questions when None)."""
    if not qid_list:
        total = len(exact_scores)
        return {
            "exact": 100.0 * sum(exact_scores.values()) / total,
            "f1": 100.0 * sum(f1_scores.values()) / total,
            "total": total,
        }
    total = len(qid_list)
    return {
        "exact": 100.0 * sum(exact_scores[k] for k in qid_list) / total,
        "f1": 100.0 * sum(f1_scores[k] for k in qid_list) / total,
        "total": total,
    }


def merge_eval(main_eval: dict, new_eval: dict, prefix: str) -> None:
    """Copy `new_eval` into `main_eval` under PREFIX_key."""
    for k, value in new_eval.items():
        main_eval[f"{prefix}_{k}"] = value


def find_best_thresh(preds: dict[str, str], scores: dict[str, float], na_probs: dict[str, float],
                     qid_to_has_ans: dict[str, bool]) -> tuple[float, float]:
    """The best score (percent) over no-answer thresholds, and that threshold.

    Start with every question answered "" (all unanswerable ones right), then lower the bar question by question in
    increasing no-answer score: an answerable question gains its score, an unanswerable one loses 1 if its
    prediction is not empty.
    """
    num_no_ans = sum(1 for k in qid_to_has_ans if not qid_to_has_ans[k])
    cur_score = num_no_ans
    best_score = cur_score
    best_thresh = 0.0
    qid_list = sorted(na_probs, key=lambda k: na_probs[k])
    for qid in qid_list:
        if qid not in scores:
            continue
        if qid_to_has_ans[qid]:
            diff = scores[qid]
        else:
            diff = -1 if preds[qid] else 0
        cur_score += diff
        if cur_score > best_score:
            best_score = cur_score
            best_thresh = na_probs[qid]
    return 100.0 * best_score / len(scores), best_thresh


def find_all_best_thresh(main_eval: dict, preds: dict[str, str], exact_raw: dict[str, int], f1_raw: dict[str, float],
                         na_probs: dict[str, float], qid_to_has_ans: dict[str, bool]) -> None:
    """Add best_exact, best_exact_thresh, best_f1 and best_f1_thresh to `main_eval`."""
    best_exact, exact_thresh = find_best_thresh(preds, exact_raw, na_probs, qid_to_has_ans)
    best_f1, f1_thresh = find_best_thresh(preds, f1_raw, na_probs, qid_to_has_ans)
    main_eval["best_exact"] = best_exact
    main_eval["best_exact_thresh"] = exact_thresh
    main_eval["best_f1"] = best_f1
    main_eval["best_f1_thresh"] = f1_thresh


def compute_score(preds: dict[str, str], gold: dict[str, list[str]], na_probs: dict[str, float],
                  no_answer_threshold: float = 1.0) -> dict[str, float]:
    """The official v2.0 evaluation: overall, HasAns_ and NoAns_ scores, and the best thresholds.

    `preds`: id -> predicted text ("" for no answer); `gold`: id -> gold answer texts ([] when unanswerable);
    `na_probs`: id -> no-answer score of the prediction.
    """
    if not gold:
        raise ValueError("squad_v2 metric: no references to score")
    missing = [qid for qid in gold if qid not in preds or qid not in na_probs]
    if missing:
        raise ValueError(f"squad_v2 metric: {len(missing)} of {len(gold)} questions have no prediction (first: "
                         f"{missing[0]!r}); every question of the references needs one")
    qid_to_has_ans = {qid: bool(answers) for qid, answers in gold.items()}
    has_ans_qids = [k for k, v in qid_to_has_ans.items() if v]
    no_ans_qids = [k for k, v in qid_to_has_ans.items() if not v]
    preds = {qid: preds[qid] for qid in gold}  # predictions of questions outside the references are not scored
    na_probs = {qid: na_probs[qid] for qid in gold}
    exact_raw, f1_raw = get_raw_scores(gold, preds)
    exact_thresh = apply_no_ans_threshold(exact_raw, na_probs, qid_to_has_ans, no_answer_threshold)
    f1_thresh = apply_no_ans_threshold(f1_raw, na_probs, qid_to_has_ans, no_answer_threshold)
    out_eval = make_eval_dict(exact_thresh, f1_thresh)
    if has_ans_qids:
        merge_eval(out_eval, make_eval_dict(exact_thresh, f1_thresh, qid_list=has_ans_qids), "HasAns")
    if no_ans_qids:
        merge_eval(out_eval, make_eval_dict(exact_thresh, f1_thresh, qid_list=no_ans_qids), "NoAns")
    find_all_best_thresh(out_eval, preds, exact_raw, f1_raw, na_probs, qid_to_has_ans)
    return out_eval


def _by_id(records: list[dict], what: str, value) -> dict:
    """id -> value(record); a repeated id is an error (it would make the score depend on the order)."""
    out = {}
    for record in records:
        qid = record["id"]
        if qid in out:
            raise ValueError(f"squad_v2 metric: id {qid!r} appears twice in the {what}")
        out[qid] = value(record)
    return out


# ----------------------------------------------------------------------------------------------------------------------
# The evaluate module
# ----------------------------------------------------------------------------------------------------------------------
@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class SquadV2(evaluate.Metric):
    """SQuAD v2.0 exact match and F1 (percent) with no-answer handling, HasAns/NoAns breakdown and best thresholds."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": {
                        "id": datasets.Value("string"),
                        "prediction_text": datasets.Value("string"),
                        # float64: a threshold compares exactly against the scores the post-processing wrote
                        "no_answer_probability": datasets.Value("float64"),
                    },
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

    def _compute(self, predictions, references, no_answer_threshold: float = 1.0) -> dict[str, float]:
        preds = _by_id(predictions, "predictions", lambda p: p["prediction_text"])
        na_probs = _by_id(predictions, "predictions", lambda p: float(p["no_answer_probability"]))
        gold = _by_id(references, "references", lambda r: list(r["answers"]["text"]))
        return compute_score(preds, gold, na_probs, no_answer_threshold)
