"""Corpus-level BLEU (Papineni et al. 2002) as sacreBLEU computes it (Post 2018), on detokenized text.

A local `evaluate` module (the hub's "sacrebleu" metric cannot load offline) wrapping `sacrebleu.corpus_bleu`, with
the same inputs and outputs as evaluate's sacrebleu. Load it with `hf_models.metrics.load_metric("sacrebleu")` or
`evaluate.load(path_of_this_file)`; the file is self-contained (no relative imports) because `evaluate.load` copies
it into its modules cache.

BLEU = BP * exp(sum_n 1/4 log p_n): p_n the clipped n-gram precisions (n = 1..4) over the whole corpus, and the
brevity penalty BP = min(1, exp(1 - ref_len / sys_len)). sacreBLEU tokenizes both sides itself (default "13a", the
tokenizer of WMT's mteval-v13a.pl), so scores are comparable across papers only on detokenized output.
"""

from __future__ import annotations

import datasets
import evaluate
import sacrebleu

_CITATION = """\
@inproceedings{post-2018-call,
    title = "A Call for Clarity in Reporting {BLEU} Scores",
    author = "Post, Matt",
    booktitle = "Proceedings of the Third Conference on Machine Translation: Research Papers",
    year = "2018",
    pages = "186--191",
}
@inproceedings{papineni-etal-2002-bleu,
    title = "{B}leu: a Method for Automatic Evaluation of Machine Translation",
    author = "Papineni, Kishore and Roukos, Salim and Ward, Todd and Zhu, Wei-Jing",
    booktitle = "Proceedings of the 40th Annual Meeting of the Association for Computational Linguistics",
    year = "2002",
    pages = "311--318",
}
"""

_DESCRIPTION = """\
Corpus BLEU of detokenized system outputs against one or more detokenized references per sentence, computed by
sacreBLEU with its own tokenization, so that scores are reproducible and comparable.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of system outputs (detokenized strings), one per sentence.
    references: list of references per sentence: a list of strings (every sentence the same number of references)
        or one string per sentence.
    smooth_method: "exp" (default), "floor", "add-k" or "none".
    smooth_value: the floor or k of the smoothing methods that take one. Default None (sacreBLEU's default).
    tokenize: sacreBLEU tokenizer: "13a" (default), "none", "zh", "intl", "char", "ja-mecab", "ko-mecab", "flores101",
        "flores200".
    lowercase: case-insensitive BLEU. Default False.
    force: score text that looks tokenized without a warning. Default False.
    use_effective_order: ignore n-gram orders without any match (for sentence-level BLEU). Default False.
Returns:
    "score" (BLEU, 0-100), "counts" (matching n-grams, n = 1..4), "totals" (system n-grams), "precisions" (p_n in
    percent), "bp" (brevity penalty), "sys_len" and "ref_len" (tokens of the system output and of the references).
Examples:
    >>> from hf_models.metrics import load_metric
    >>> bleu = load_metric("sacrebleu")
    >>> results = bleu.compute(predictions=["hello there general kenobi"], references=[["hello there general kenobi"]])
    >>> round(results["score"], 1)
    100.0
"""

TOKENIZERS = ("none", "13a", "zh", "intl", "char", "ja-mecab", "ko-mecab", "spm", "flores101", "flores200")


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class SacreBleu(evaluate.Metric):
    """Corpus BLEU with its n-gram counts, precisions and brevity penalty, through `sacrebleu.corpus_bleu`."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            homepage="https://github.com/mjpost/sacrebleu",
            features=[
                datasets.Features(
                    {
                        "predictions": datasets.Value("string", id="sequence"),
                        "references": datasets.Sequence(datasets.Value("string", id="sequence"), id="references"),
                    }
                ),
                datasets.Features(
                    {
                        "predictions": datasets.Value("string", id="sequence"),
                        "references": datasets.Value("string", id="sequence"),
                    }
                ),
            ],
            codebase_urls=["https://github.com/mjpost/sacrebleu"],
            reference_urls=["https://github.com/mjpost/sacrebleu", "https://aclanthology.org/W18-6319"],
        )

    def _compute(
        self,
        predictions,
        references,
        smooth_method: str = "exp",
        smooth_value: float | None = None,
        tokenize: str = "13a",
        lowercase: bool = False,
        force: bool = False,
        use_effective_order: bool = False,
    ):
        """BLEU = BP * exp(1/4 sum_n log p_n) over the corpus (Papineni et al. 2002), by sacrebleu.corpus_bleu."""
        if tokenize not in TOKENIZERS:
            raise ValueError(f"tokenize must be one of {', '.join(TOKENIZERS)}, got {tokenize!r}")
        references = [[r] if isinstance(r, str) else list(r) for r in references]
        if not references:
            raise ValueError("no sentences to score: predictions and references are empty")
        counts = {len(r) for r in references}
        if len(counts) != 1:
            first = len(references[0])
            bad = next(i for i, r in enumerate(references) if len(r) != first)
            raise ValueError(f"sacreBLEU needs the same number of references for every sentence: sentence 0 has "
                             f"{first}, sentence {bad} has {len(references[bad])}")
        # sacreBLEU wants one stream per reference: transpose [sentence][reference] -> [reference][sentence]
        streams = [[r[i] for r in references] for i in range(counts.pop())]
        output = sacrebleu.corpus_bleu(
            predictions,
            streams,
            smooth_method=smooth_method,
            smooth_value=smooth_value,
            force=force,
            lowercase=lowercase,
            tokenize=tokenize,
            use_effective_order=use_effective_order,
        )
        return {
            "score": float(output.score),
            "counts": [int(c) for c in output.counts],
            "totals": [int(t) for t in output.totals],
            "precisions": [float(p) for p in output.precisions],
            "bp": float(output.bp),
            "sys_len": int(output.sys_len),
            "ref_len": int(output.ref_len),
        }
