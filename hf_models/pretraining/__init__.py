"""The pretraining wing: raw text -> documents -> the examples and batches of each pretraining objective.

- `documents`: text files into documents (lists of sentences), the input of every objective.
- `next_sentence`: BERT's next-sentence-prediction pairs "[CLS] A [SEP] B [SEP]".
- `masked_lm`: BERT's masked-LM collator (15% selected; 80% [MASK], 10% random, 10% kept), MLM-only segments and
  the MLM/NSP evaluation metrics.
- `span_corruption`: T5's span corruption (spans -> sentinels, target = sentinels + spans), block packing and the
  input/target length computation.

Causal-LM blocks (GPT) join as a module of its own. The training run over any objective is
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
from .span_corruption import (
    DataCollatorForSpanCorruption,
    compute_input_and_target_lengths,
    create_span_corruption_examples,
    group_texts,
    random_spans_noise_mask,
    sentinel_token_ids,
    spans_to_sentinels,
)

__all__ = [
    "IGNORE_INDEX",
    "NSP_IS_NEXT",
    "NSP_RANDOM_NEXT",
    "DataCollatorForBertPretraining",
    "DataCollatorForSpanCorruption",
    "compute_input_and_target_lengths",
    "compute_pretraining_metrics",
    "create_mlm_examples",
    "create_nsp_examples",
    "create_span_corruption_examples",
    "group_texts",
    "preprocess_logits_for_metrics",
    "random_spans_noise_mask",
    "read_documents",
    "sentinel_token_ids",
    "spans_to_sentinels",
    "split_into_sentences",
]
