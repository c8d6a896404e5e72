"""Fine-tuning and evaluation on the standard downstream tasks, for every family of hf_models and for transformers'
own models: GLUE (`glue`), SQuAD v1.1/v2.0 (`squad`) and CoNLL-2003 NER (`conll`), in the manner of transformers'
`examples/pytorch` run_glue / run_qa / run_ner. `training/run_*.py` and `eval/eval_*.py` are the command lines.
"""
