"""Entity-level precision, recall and F1 for sequence labelling (NER, chunking), as conlleval computes them.

A local `evaluate` module (the hub's "seqeval" metric cannot load offline) with the same inputs, options and outputs
as evaluate's seqeval, on the seqeval library (Nakayama 2018). Load it with `hf_models.metrics.load_metric("seqeval")`
or `evaluate.load(path_of_this_file)`; the file is self-contained (no relative imports) because `evaluate.load` copies
it into its modules cache.

An entity (a "chunk") is a maximal run of tags of one type, opened and closed by the rules of the CoNLL shared tasks'
conlleval.pl (startOfChunk / endOfChunk): `I-X` after `O` or after another type opens an entity (IOB1), `B-X` always
opens one (IOB2). A predicted entity counts as correct only when its type, first and last token all equal a gold
entity's. In the default mode (`mode=None`) seqeval applies exactly these rules, so on IOB1 and IOB2 tags the scores
equal conlleval's (tests/test_conll.py checks this against a re-implementation of conlleval.pl's counting); with
`mode="strict"` and a `scheme`, only entities that are well formed in that scheme count.
"""

from __future__ import annotations

import importlib

import datasets
import evaluate
from seqeval.metrics import accuracy_score, classification_report

_CITATION = """\
@inproceedings{tjong-kim-sang-de-meulder-2003-introduction,
    title = "Introduction to the {C}o{NLL}-2003 Shared Task: Language-Independent Named Entity Recognition",
    author = "Tjong Kim Sang, Erik F. and De Meulder, Fien",
    booktitle = "Proceedings of the Seventh Conference on Natural Language Learning at {HLT}-{NAACL} 2003",
    year = "2003",
    pages = "142--147",
}
@misc{seqeval,
    title = {{seqeval}: A Python framework for sequence labeling evaluation},
    url = {https://github.com/chakki-works/seqeval},
    author = {Hiroki Nakayama},
    year = {2018},
}
"""

_DESCRIPTION = """\
Entity-level (chunk-level) precision, recall and F1 of predicted tag sequences against gold ones, overall (micro
average over entities) and for each entity type, plus token-level accuracy: the numbers of the CoNLL-2000/2003
evaluation script conlleval.pl, computed by seqeval.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of predicted tag sequences, one list of tags (e.g. "B-PER", "I-PER", "O") per sentence.
    references: list of gold tag sequences, of the same lengths.
    suffix: tags carry their prefix at the end ("PER-B") instead of the start. Default False.
    scheme: with mode="strict", the tagging scheme entities must follow: one of "IOB1", "IOB2", "IOE1", "IOE2",
        "IOBES", "BILOU". Default None.
    mode: None (default: conlleval's chunk rules, which accept IOB1 and IOB2) or "strict".
    sample_weight: one weight per sentence. Default None.
    zero_division: value of a precision or recall whose denominator is 0: "warn" (0, with a warning), 0 or 1.
Returns:
    one entry per entity type, {"precision", "recall", "f1", "number"} ("number": its entities in the references),
    and "overall_precision", "overall_recall", "overall_f1" (micro averages over entities) and "overall_accuracy"
    (share of tokens whose tag is right).
Examples:
    >>> from hf_models.metrics import load_metric
    >>> seqeval = load_metric("seqeval")
    >>> references = [["B-PER", "I-PER", "O", "B-LOC"]]
    >>> predictions = [["B-PER", "I-PER", "O", "B-ORG"]]
    >>> results = seqeval.compute(predictions=predictions, references=references)
    >>> results["overall_f1"], results["PER"]["f1"], results["LOC"]["recall"], results["overall_accuracy"]
    (0.5, 1.0, 0.0, 0.75)
"""

SCHEMES = ("IOB1", "IOB2", "IOE1", "IOE2", "IOBES", "BILOU")


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class SeqevalNer(evaluate.Metric):
    """conlleval's entity-level precision/recall/F1 (overall and per type) and token accuracy, through seqeval."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            homepage="https://github.com/chakki-works/seqeval",
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("string", id="label"), id="sequence"),
                    "references": datasets.Sequence(datasets.Value("string", id="label"), id="sequence"),
                }
            ),
            codebase_urls=["https://github.com/chakki-works/seqeval"],
            reference_urls=["https://www.clips.uantwerpen.be/conll2003/ner/"],
        )

    def _compute(
        self,
        predictions,
        references,
        suffix: bool = False,
        scheme: str | None = None,
        mode: str | None = None,
        sample_weight: list[float] | None = None,
        zero_division: str | int = "warn",
    ):
        for i, (predicted, gold) in enumerate(zip(predictions, references)):
            if len(predicted) != len(gold):
                raise ValueError(
                    f"sentence {i}: {len(predicted)} predicted tags for {len(gold)} reference tags (one tag per token)"
                )
        if mode not in (None, "strict"):
            raise ValueError(f"mode must be None (conlleval's rules) or 'strict', got {mode!r}")
        if scheme is not None:
            if scheme not in SCHEMES:
                raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
            scheme = getattr(importlib.import_module("seqeval.scheme"), scheme)
        elif mode == "strict":
            raise ValueError(f"mode='strict' needs a scheme, one of {', '.join(SCHEMES)}")
        report = classification_report(
            y_true=references,
            y_pred=predictions,
            suffix=suffix,
            output_dict=True,
            scheme=scheme,
            mode=mode,
            sample_weight=sample_weight,
            zero_division=zero_division,
        )
        report.pop("macro avg")
        report.pop("weighted avg")
        overall = report.pop("micro avg")
        scores = {
            type_name: {
                "precision": float(score["precision"]),
                "recall": float(score["recall"]),
                "f1": float(score["f1-score"]),
                "number": int(score["support"]),
            }
            for type_name, score in report.items()
        }
        scores["overall_precision"] = float(overall["precision"])
        scores["overall_recall"] = float(overall["recall"])
        scores["overall_f1"] = float(overall["f1-score"])
        scores["overall_accuracy"] = float(accuracy_score(y_true=references, y_pred=predictions))
        return scores
