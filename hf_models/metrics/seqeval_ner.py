"""Entity-level precision, recall and F1 for sequence labelling (NER, chunking), as conlleval computes them.

A local `evaluate` module (the hub's "seqeval" metric cannot load offline) with the same inputs, options and outputs
as evaluate's seqeval, on the seqeval library (Nakayama 2018). Load it with `hf_models.metrics.load_metric("seqeval")`
or `evaluate.load(path_of_this_file)`; the file is self-contained (no relative imports) because `evaluate.load` copies
it into its modules cache.

An entity (a "chunk") is a maximal run of tags of one type, opened and closed by the rules of the CoNLL shared tasks'
conlleval.pl (startOfChunk / endOfChunk): `I-X` after `O` or after another type opens an entity (IOB1), `B-X` opens
one (IOB2). A predicted entity counts as correct only when its type, first and last token all equal a gold entity's.
conlleval.pl does not know IOBES: its `S-X` is no one-word entity (`S-X S-X` is one entity, and so is `E-X B-X`).
The default mode (`mode=None`) reads entities with `chunk_rules`: "conlleval" (the default) exactly as conlleval.pl
does, so the scores equal its scores on any tags (tests/test_conll.py and tests/test_conll_scoring.py check this
against a re-implementation of conlleval.pl's counting and against conlleval.pl itself), or "iobes", seqeval's own
default rules (`S-` a one-word entity, `B-` always opening one), which evaluate's seqeval applies. With
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
    mode: None (default: entities by `chunk_rules`) or "strict".
    chunk_rules: how mode=None groups tags into entities: "conlleval" (conlleval.pl's startOfChunk/endOfChunk, which
        read IOB1, IOB2 and IOE; the default) or "iobes" (seqeval's default rules: S- is a one-word entity, B- always
        opens one; what evaluate's seqeval does). Not with mode="strict".
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
CHUNK_RULES = ("conlleval", "iobes")
_PREFIXES = ("O", "B", "I", "E", "S")


def _conlleval_starts(previous_prefix: str, prefix: str, previous_type: str, entity_type: str) -> bool:
    """conlleval.pl's startOfChunk for O/B/I/E/S tags (it knows B-, I- and E-; S- is no prefix of its own there)."""
    if prefix == "B" and previous_prefix in ("B", "I", "O"):
        return True
    if previous_prefix in ("E", "O") and prefix in ("I", "E"):
        return True
    return prefix != "O" and previous_type != entity_type


def conlleval_as_iob2(tags: list[str], suffix: bool = False) -> list[str]:
    """The entities conlleval.pl finds in a tag sequence, written in IOB2 (B- first, I- after), which seqeval's
    default rules read the same way. With O/B/I/E/S tags conlleval.pl's endOfChunk ends an entity exactly where its
    startOfChunk opens the next or an O comes, so the starts alone say where the entities are. Tags with any other
    prefix are left as they are."""
    converted, previous_prefix, previous_type = [], "O", ""
    for tag in tags:
        if tag == "O":
            prefix, entity_type = "O", ""
        elif suffix:
            entity_type, _, prefix = tag.rpartition("-")
        else:
            prefix, _, entity_type = tag.partition("-")
        if prefix not in _PREFIXES or (prefix != "O" and "-" not in tag):
            converted.append(tag)
        elif prefix == "O":
            converted.append("O")
        else:
            new = "B" if _conlleval_starts(previous_prefix, prefix, previous_type, entity_type) else "I"
            converted.append(f"{entity_type}-{new}" if suffix else f"{new}-{entity_type}")
        previous_prefix, previous_type = prefix, entity_type
    return converted


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
        chunk_rules: str | None = None,
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
        if chunk_rules is not None and chunk_rules not in CHUNK_RULES:
            raise ValueError(f"chunk_rules must be one of {', '.join(CHUNK_RULES)}, got {chunk_rules!r}")
        if mode == "strict" and chunk_rules is not None:
            raise ValueError("chunk_rules applies to mode=None; mode='strict' reads the entities of its scheme")
        gold, guessed = references, predictions
        if mode is None and (chunk_rules or "conlleval") == "conlleval":
            gold = [conlleval_as_iob2(list(tags), suffix) for tags in references]
            guessed = [conlleval_as_iob2(list(tags), suffix) for tags in predictions]
        report = classification_report(
            y_true=gold,
            y_pred=guessed,
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
