#!/usr/bin/env python
"""Multi30k English -> German (test_2016_flickr) with hf_models' Seq2Seq LSTM: the bottleneck model (no attention)
against dot, general and concat (Bahdanau) attention, the same recipe for all four, through `training/run_translation.py`
as a user runs it. Reports detokenized sacreBLEU on the 1,000 test sentences and the 1,014 validation sentences, and
BLEU by source-sentence length for every model in one plot (Bahdanau et al. 2015, figure 2).

    python benchmarks/bench_multi30k.py --output_root runs/multi30k                      # all four, one by one
    python benchmarks/bench_multi30k.py --attention_types none dot --output_root runs/multi30k   # some of them

Each model writes its own folder and results; `--collect` only gathers finished runs into
benchmarks/results/multi30k.json and benchmarks/results/multi30k_bleu_by_length.png (so several invocations can
train models in parallel, e.g. one per core with --threads 1). The recipe: BPE tokenizers of 8,000 entries per side
trained on the training text, 256-d embeddings, a 1-layer bidirectional LSTM encoder (256 units per direction), a
1-layer LSTM decoder (256 units), dropout 0.2, teacher forcing, Adam lr 1e-3 (linear decay), batch 64, bf16 autocast,
`--epochs` epochs; beam search of 5 for the scores. Dot attention's score h_t . h_s needs encoder states as wide as
the decoder's, so its encoder is a 1-layer unidirectional LSTM of 256 units.
Published reference points (German -> English, the other direction): a GRU with Bahdanau attention 28.3 BLEU and
a seq2seq without attention 13.8.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from transformers import TrainingArguments

if __package__:  # python -m benchmarks.bench_multi30k, or imported by the tests
    from .bench_utils import ROOT, run, tidy_command
else:  # python benchmarks/bench_multi30k.py
    from bench_utils import ROOT, run, tidy_command

RESULTS = ROOT / "benchmarks" / "results" / "multi30k.json"
PLOT = ROOT / "benchmarks" / "results" / "multi30k_bleu_by_length.png"
ATTENTION_TYPES = ("none", "dot", "general", "concat", "transformer")  # the LSTM's attention types, and the Transformer
DATA = ROOT.parent / "shared" / "data" / "multi30k"
EXAMPLE = 3  # test sentence 4 (0-based 3): the first of at least 16 words
LABELS = {"none": "no attention (bottleneck)", "dot": "dot attention (unidirectional encoder)", "general": "general attention",
          "concat": "concat (Bahdanau) attention", "transformer": "Transformer (3+3 layers, d 256)"}


def _folder(root: Path, model: str) -> Path:
    """A run's folder: attention-<type> for the LSTMs, transformer for the Transformer."""
    return root / (model if model == "transformer" else f"attention-{model}")


def readable(cmd: list[str]) -> str:
    return tidy_command(" ".join(cmd))


TRANSFORMER_RECIPE = [
    # Vaswani et al.'s model at Multi30k's scale: 3 + 3 post-LN layers, d_model 256, 4 heads, d_ff 1024, sinusoidal
    # positions; Adam (0.9, 0.98) with warmup, label smoothing 0.1, dropout 0.1
    "--model_family", "transformer", "--hidden_size", "256", "--encoder_layers", "3", "--decoder_layers", "3",
    "--num_attention_heads", "4", "--ffn_dim", "1024", "--dropout", "0.1", "--tie_word_embeddings",
    "--max_position_embeddings", "256", "--learning_rate", "1e-3", "--warmup_steps", "400", "--adam_beta2", "0.98",
    "--label_smoothing_factor", "0.1", "--weight_decay", "0.0001",
    # batches of similar lengths: less padding, more sentences per second
    *(["--train_sampling_strategy", "group_by_length"]  # (transformers 5.0: --group_by_length)
      if "train_sampling_strategy" in TrainingArguments.__dataclass_fields__ else ["--group_by_length"]),
]


def command(data: Path, out: Path, attention: str, epochs: float, table: Path) -> list[str]:
    if attention == "transformer":
        model = TRANSFORMER_RECIPE
    else:
        model = ["--attention_type", attention, "--embedding_size", "256", "--hidden_size", "256",
                 "--encoder_layers", "1", "--decoder_layers", "1",
                 *([] if attention == "dot" else ["--bidirectional_encoder"]), "--dropout", "0.2",
                 "--learning_rate", "1e-3"]
    return [
        sys.executable, "training/run_translation.py",
        "--train_source_file", str(data / "train.en.gz"), "--train_target_file", str(data / "train.de.gz"),
        "--validation_source_file", str(data / "val.en.gz"), "--validation_target_file", str(data / "val.de.gz"),
        "--test_source_file", str(data / "test_2016_flickr.en.gz"),
        "--test_target_file", str(data / "test_2016_flickr.de.gz"),
        *model, "--source_vocab_size", "8000", "--target_vocab_size", "8000",
        "--do_train", "--do_eval", "--do_predict", "--predict_with_generate", "--generation_num_beams", "5",
        "--generation_max_length", "80", "--per_device_train_batch_size", "64", "--per_device_eval_batch_size", "100",
        "--num_train_epochs", str(epochs), "--bf16", "--use_cpu", "--seed", "42",
        "--save_strategy", "no", "--logging_steps", "100", "--disable_tqdm", "true", "--report_to", "none",
        "--overwrite_output_dir", "--output_dir", str(out), "--results_table", str(table),
    ]


def alignment_example(root: Path, results: dict, data_dir: Path = DATA, index: int = EXAMPLE) -> None:
    """Each attention model's translation of one test sentence, with its alignment heatmap (Bahdanau et al. 2015)."""
    from hf_models.seq2seq import plot_attention
    from hf_models.tasks.translation import (
        load_saved_translator,
        read_lines,
        translate_with_alignment,
    )

    sentence = read_lines(data_dir / "test_2016_flickr.en.gz")[index]
    reference = read_lines(data_dir / "test_2016_flickr.de.gz")[index]
    for attention, entry in results["runs"].items():
        out = _folder(root, attention)
        if not (out / "config.json").exists():
            continue
        model, source_tokenizer, target_tokenizer = load_saved_translator(str(out))
        example = translate_with_alignment(model, source_tokenizer, target_tokenizer, sentence, num_beams=5)
        entry["example"] = {"test_line": index + 1, "source": sentence, "reference": reference,
                          "translation": example["translation"]}
        if example["attentions"] is not None:
            path = ROOT / "benchmarks" / "results" / f"multi30k_attention_{attention}.png"
            plot_attention(example["attentions"], example["source_tokens"], example["target_tokens"], path,
                           title=f"{LABELS[attention]}: test sentence {index + 1}")
            entry["example"]["alignment_plot"] = str(path.relative_to(ROOT))
        if attention == "transformer":  # every head of the top layer: cross-attention and encoder self-attention
            from hf_models.transformer import plot_attention_heads

            source_tokens, target_tokens = example["source_tokens"], example["target_tokens"]
            for kind, weights, queries in (("cross", example["cross_attentions"][-1], target_tokens),
                                           ("self", example["encoder_self_attentions"][-1], source_tokens)):
                path = ROOT / "benchmarks" / "results" / f"multi30k_transformer_{kind}_attention_heads.png"
                what = "cross-attention" if kind == "cross" else "encoder self-attention"
                plot_attention_heads(weights, queries, source_tokens, path,
                                     title=f"Transformer, top layer {what}: test sentence {index + 1}")
                entry["example"][f"{kind}_attention_heads_plot"] = str(path.relative_to(ROOT))


def collect(root: Path) -> dict:
    """Gather the finished runs of `root` into the results JSON and the BLEU-by-length plot."""
    from hf_models.tasks.translation import plot_bleu_by_length

    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"runs": {}}
    for attention in ATTENTION_TYPES:
        out = _folder(root, attention)
        if not (out / "all_results.json").exists():
            continue
        run_info = json.loads((out / "bench_run.json").read_text()) if (out / "bench_run.json").exists() else {}
        if "command" in run_info:
            run_info["command"] = tidy_command(run_info["command"])
        run_info.setdefault("encoder", "transformer" if attention == "transformer" else
                            "unidirectional" if attention == "dot" else "bidirectional")
        results["runs"][attention] = {
            **run_info,
            "metrics": json.loads((out / "all_results.json").read_text()),
            "test_bleu_by_length": json.loads((out / "predict_bleu_by_length.json").read_text()),
            "validation_bleu_by_length": json.loads((out / "eval_bleu_by_length.json").read_text()),
        }
    results["direction"] = "en -> de, test_2016_flickr (1,000 sentences), validation val (1,014)"
    results["references_de_en"] = {"gru_bahdanau_attention": 28.3, "seq2seq_without_attention": 13.8}
    alignment_example(root, results)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    runs = {LABELS[a]: results["runs"][a]["test_bleu_by_length"] for a in ATTENTION_TYPES if a in results["runs"]}
    if runs:
        plot_bleu_by_length(runs, PLOT, title="Multi30k en-de test 2016: BLEU by source length")
    for attention in ATTENTION_TYPES:
        if attention in results["runs"]:
            metrics = results["runs"][attention]["metrics"]
            print(f"{attention:8s} test BLEU {metrics.get('predict_bleu', float('nan')):.2f}  "
                  f"val BLEU {metrics.get('eval_bleu', float('nan')):.2f}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", default=str(DATA))
    parser.add_argument("--output_root", required=True, help="Folder for the runs (a sub-folder per model).")
    parser.add_argument("--attention_types", nargs="*", default=list(ATTENTION_TYPES), choices=ATTENTION_TYPES,
                        help="The models: the LSTM's attention types, and 'transformer'.")
    parser.add_argument("--epochs", type=float, default=6)
    parser.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS for the runs.")
    parser.add_argument("--collect", action="store_true", help="Only gather finished runs (no training).")
    args = parser.parse_args()
    root = Path(args.output_root)
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    if not args.collect:
        for attention in args.attention_types:
            out = _folder(root, attention)
            cmd = command(Path(args.data_dir), out, attention, args.epochs, root / "results.md")
            seconds = run(cmd, _folder(root, attention).with_suffix(".log"))
            (out / "bench_run.json").write_text(json.dumps(
                {"command": readable(cmd), "wall_seconds": round(seconds, 1), "epochs": args.epochs,
                 "encoder": "transformer" if attention == "transformer" else
                 "unidirectional" if attention == "dot" else "bidirectional",
                 "threads": int(os.environ.get("OMP_NUM_THREADS", "0")) or None,
                 "finished": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=2) + "\n")
            collect(root)
    collect(root)


if __name__ == "__main__":
    main()
