#!/usr/bin/env python
"""Evaluate a causal language model (hf_models' GPT, a transformers causal LM, a folder saved by
training/run_clm.py or a hub name) on text: `--task perplexity`, `--task lambada` or `--task documents`.

`--task perplexity`: the strided sliding-window perplexity of the Hugging Face guide "Perplexity of fixed-length
models": windows of `--max_length` tokens (default: the model's positions) every `--stride` tokens (default half a
window), the first max_length - stride tokens of each window after the first are context only, every other token
is scored once. Reported: the token-level perplexity and the number of tokens scored, the word-level perplexity
exp(NLL / whitespace words) and bits per byte, as lm-evaluation-harness defines them:

    python eval/eval_perplexity.py --task perplexity --model_name_or_path /tmp/gpt-tiny-wikitext2 \
        --text_file ../shared/data/wikitext2/test.txt --stride 64 --output_dir /tmp/gpt-tiny-wikitext2-ppl

`--text_format lines` (automatic for a word-level tokenizer) scores each line followed by the eos token, as
run_clm trains and as the n-gram and LSTM models count PTB's <eos>.

`--task lambada`: LAMBADA last-word accuracy (greedy decoding must give every token of " " + last word) and the
target's perplexity, exactly as lm-evaluation-harness's `lambada_openai` task, on OpenAI's lambada_test.jsonl:

    python eval/eval_perplexity.py --task lambada --model_name_or_path PATH \
        --text_file ../shared/data/lambada/lambada_test.jsonl --batch_size 8 --output_file /tmp/lambada.json

`--task documents`: lm-evaluation-harness's `loglikelihood_rolling` over the documents of a text file, as its
`wikitext` task: documents split at WikiText's top-level " = Title = " headings as EleutherAI/wikitext_document_level
(`--document_split wikitext`; `lines`: one per line, `file`: the whole file), `--detokenize wikitext` for the task's
detokenizer, each document scored whole after the tokenizer's bos (else eos) token by disjoint windows of
`--max_length` tokens; reported: word_perplexity, byte_perplexity and bits_per_byte over the words
(re.split(r"\\s+")) and UTF-8 bytes of the original documents, the documents and tokens scored:

    python eval/eval_perplexity.py --task documents --model_name_or_path PATH \
        --text_file ../shared/data/wikitext2/test.txt --document_split wikitext --detokenize wikitext \
        --max_length 2048 --batch_size 4 --output_file /tmp/wikitext_documents.json

Results go to `--output_file` (JSON) and/or `--output_dir` (eval_results.json and a row of the results table).
`--implementation hf_models|transformers` runs the same checkpoint through either library's classes.
"""

from __future__ import annotations

from hf_models.cli_utils import releases_output_dirs, run_main
from hf_models.tasks.causal_lm import eval_causal_lm_cli


@releases_output_dirs
def main(argv: list[str] | None = None) -> dict:
    return eval_causal_lm_cli(argv)


if __name__ == "__main__":
    run_main(main)
