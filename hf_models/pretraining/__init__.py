"""The pretraining wing: raw text -> documents -> the examples and batches of each pretraining objective.

- `documents`: text files into documents (lists of sentences), the input of every objective.
- `next_sentence`: BERT's next-sentence-prediction pairs "[CLS] A [SEP] B [SEP]".
- `masked_lm`: BERT's masked-LM collator (15% selected; 80% [MASK], 10% random, 10% kept), MLM-only segments and
  the MLM/NSP evaluation metrics.

Span corruption (T5) and causal-LM blocks (GPT) join as modules of their own. The training run over any objective is
`hf_models.tasks.pretraining.run_pretraining` (`training/pretrain.py --objective ...`).
"""

from .documents import read_documents, split_into_sentences
from .masked_lm import (
    IGNORE_INDEX,
    DataCollatorForBertPretraining,
    compute_pretraining_metrics,
    create_mlm_examples,
    preprocess_logits_for_metrics,
)
from .next_sentence import NSP_IS_NEXT, NSP_RANDOM_NEXT, create_nsp_examples

__all__ = [
    "IGNORE_INDEX",
    "NSP_IS_NEXT",
    "NSP_RANDOM_NEXT",
    "DataCollatorForBertPretraining",
    "compute_pretraining_metrics",
    "create_mlm_examples",
    "create_nsp_examples",
    "preprocess_logits_for_metrics",
    "read_documents",
    "split_into_sentences",
]
