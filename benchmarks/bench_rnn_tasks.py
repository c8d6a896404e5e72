#!/usr/bin/env python
"""BiLSTMs trained from scratch on SST-2 (sentence classification) and CoNLL-2003 (NER), through the same commands
that fine-tune BERT: `training/create_rnn_checkpoint.py` (word vocabulary of the training file + a random RnnModel),
then `training/run_glue.py` / `training/run_ner.py` (task head added, everything trained with the HF Trainer).

    python benchmarks/bench_rnn_tasks.py --output_root runs/rnn_tasks              # both tasks
    python benchmarks/bench_rnn_tasks.py --tasks sst2 --sst2_epochs 2 --output_root runs/rnn_tasks

Results (metrics, commands, wall times) go to benchmarks/results/rnn_tasks.json. Reference points: the GLUE paper's
single-task BiLSTM (Wang et al. 2019; 2 x 1500-unit BiLSTM, max pooling, 300-d GloVe) scores 85.9 on the SST-2
*test* set (no SST-2 test labels exist here: we report dev). For CoNLL-2003 the published BiLSTM taggers add a CRF,
character features and pretrained vectors (Lample et al. 2016's LSTM-CRF: 90.94 test F1 with all three); this
word-only tagger from random embeddings, with a softmax per word, has none of them. Recipes (all seed 42, Adam at a
constant lr, bf16 autocast, no pretrained vectors, batches of similar length):
- SST-2: vocabulary words seen twice, 300-d embeddings, 1 x 256-unit BiLSTM, max pooling, dropout 0.5, lr 1e-3,
  batch 64, 2 epochs;
- CoNLL-2003: cased words seen twice, 100-d embeddings, 1 x 256-unit BiLSTM, dropout 0.5, lr 2e-3, batch 32, 6 epochs;
  dev (eng.testa) every epoch, test (eng.testb) at the end, with the best-dev-F1 epoch's weights.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

if __package__:  # python -m benchmarks.bench_rnn_tasks, or imported by the tests
    from .bench_utils import ROOT, record_run, run, tidy_command
else:  # python benchmarks/bench_rnn_tasks.py
    from bench_utils import ROOT, record_run, run, tidy_command

RESULTS = ROOT / "benchmarks" / "results" / "rnn_tasks.json"
COMMON = ["--seed", "42", "--use_cpu", "--logging_steps", "100", "--disable_tqdm", "true", "--report_to", "none",
          "--train_sampling_strategy", "group_by_length", "--overwrite_output_dir", "--optim", "adamw_torch",
          "--weight_decay", "0", "--warmup_steps", "0", "--lr_scheduler_type", "constant", "--bf16"]


def readable(cmd: list[str]) -> str:
    return tidy_command(" ".join(cmd))


def record(name: str, commands: list[list[str]], seconds: float, out: Path, **notes) -> dict:
    """Add one run (its commands, wall time, vocabulary and all_results.json) to benchmarks/results/rnn_tasks.json."""
    vocabulary = json.loads((out.parent / f"{out.name}-init" / "vocabulary.json").read_text())
    entry = {"commands": [readable(c) for c in commands], "wall_seconds": round(seconds, 1),
             "vocab_size": vocabulary["vocab_size"], "train_unk_rate": vocabulary["unk_rate"],
             "num_parameters_encoder": vocabulary["num_parameters"], **notes}
    return record_run(RESULTS, name, out, entry)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--output_root", required=True, help="Folder for the runs (a sub-folder per run).")
    parser.add_argument("--tasks", nargs="*", default=["sst2", "conll"])
    parser.add_argument("--sst2_epochs", type=float, default=2)
    parser.add_argument("--conll_epochs", type=float, default=6)
    parser.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS for the runs.")
    args = parser.parse_args()
    data, root = Path(args.data_dir), Path(args.output_root)
    table = ["--results_table", str(root / "results.md")]
    if args.threads:
        import os

        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    create = [sys.executable, "training/create_rnn_checkpoint.py", "--pre_tokenizer", "whitespace",
              "--min_frequency", "2", "--bidirectional", "--num_layers", "1", "--overwrite_output_dir", "--seed", "42"]
    if "sst2" in args.tasks:
        out = root / "bilstm-sst2"
        init = [*create, "--glue_task", "sst2", "--train_file", str(data / "glue" / "SST-2" / "train.tsv"),
                "--embedding_size", "300", "--hidden_size", "256", "--dropout", "0.5", "--classifier_pooling", "max",
                "--output_dir", f"{out}-init"]
        train = [sys.executable, "training/run_glue.py", "--model_name_or_path", f"{out}-init", "--task_name",
                 "sst2", "--data_dir", str(data / "glue" / "SST-2"), "--do_train", "--do_eval",
                 "--max_seq_length", "128", "--per_device_train_batch_size", "64", "--per_device_eval_batch_size",
                 "256", "--learning_rate", "1e-3", "--num_train_epochs", str(args.sst2_epochs),
                 "--eval_strategy", "epoch", "--save_strategy", "epoch", "--save_total_limit", "1",
                 "--load_best_model_at_end", "--metric_for_best_model", "accuracy", "--output_dir", str(out),
                 *table, *COMMON]
        begin = time.time()
        run(init, root / "sst2-init.log")
        run(train, root / "sst2.log")
        record("sst2_bilstm", [init, train], time.time() - begin, out,
               splits="train: SST-2 train (67,349 sentences); eval: SST-2 dev (872); best epoch by dev accuracy",
               epochs=args.sst2_epochs)
    if "conll" in args.tasks:
        conll, out = data / "conll2003", root / "bilstm-conll"
        init = [*create, "--conll", "--train_file", str(conll / "eng.train"), "--embedding_size", "100",
                "--hidden_size", "256", "--dropout", "0.5", "--output_dir", f"{out}-init"]
        train = [sys.executable, "training/run_ner.py", "--model_name_or_path", f"{out}-init",
                 "--train_file", str(conll / "eng.train"), "--validation_file", str(conll / "eng.testa"),
                 "--test_file", str(conll / "eng.testb"), "--do_train", "--do_eval", "--do_predict",
                 "--per_device_train_batch_size", "32", "--per_device_eval_batch_size", "256",
                 "--learning_rate", "2e-3", "--num_train_epochs", str(args.conll_epochs), "--eval_strategy", "epoch",
                 "--save_strategy", "epoch", "--save_total_limit", "1", "--load_best_model_at_end",
                 "--metric_for_best_model", "f1", "--return_entity_level_metrics", "--output_dir", str(out),
                 *table, *COMMON]
        begin = time.time()
        run(init, root / "conll-init.log")
        run(train, root / "conll.log")
        record("conll2003_bilstm", [init, train], time.time() - begin, out,
               splits="train eng.train (14,041 sentences), eval eng.testa (dev, 3,250), predict eng.testb (test, "
                      "3,453); best epoch by dev F1", epochs=args.conll_epochs)


if __name__ == "__main__":
    main()
