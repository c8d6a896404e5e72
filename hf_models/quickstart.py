"""The quickstart: BERT end to end on the samples the package ships, with no network.

1. train a WordPiece tokenizer on the text sample (tokenizers library);
2. pretrain a tiny BERT with masked LM + next sentence prediction (Trainer);
3. fine-tune it for sentiment on an SST-2 sample and evaluate on SST-2 dev;
4. save the model and tokenizer, reload them through `transformers.AutoModelForSequenceClassification`, and check
   that the reloaded model gives the same predictions.

    python -m hf_models                      # everything with the defaults, a few minutes on 2 CPU cores
    python -m hf_models --output_dir my_run --pretrain_epochs 10
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import time
from importlib import resources
from pathlib import Path

import datasets
import numpy as np
import torch
import transformers
from transformers import Trainer, TrainingArguments

from .bert import BertConfig, BertForPreTraining, BertForSequenceClassification
from .cli_utils import prepare_output_dir, releases_output_dirs, write_json
from .file_utils import staged_folder
from .pretraining import (
    DataCollatorForBertPretraining,
    compute_pretraining_metrics,
    create_nsp_examples,
    preprocess_logits_for_metrics,
    read_documents,
)
from .tokenization import train_wordpiece_tokenizer

logger = logging.getLogger("hf_models.quickstart")

SENTIMENT_LABELS = {0: "negative", 1: "positive"}


def sample_path(name: str) -> Path:
    """Path of a sample file shipped in hf_models/data."""
    return Path(str(resources.files("hf_models") / "data" / name))


def read_labeled_tsv(path: str | os.PathLike, text_column: str = "sentence", label_column: str = "label"):
    """Read a `sentence<TAB>label` file with a header (the GLUE SST-2 format) into a datasets.Dataset."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    texts, labels = [], []
    with path.open(encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        if text_column not in header or label_column not in header:
            raise ValueError(f"{path}, line 1: header {header} lacks the columns {text_column!r} and {label_column!r}")
        t_idx, l_idx = header.index(text_column), header.index(label_column)
        for line_no, line in enumerate(f, start=2):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) != len(header):
                raise ValueError(f"{path}, line {line_no}: expected {len(header)} tab-separated fields, got {len(fields)}")
            try:
                label = int(fields[l_idx])
            except ValueError:
                raise ValueError(f"{path}, line {line_no}: label {fields[l_idx]!r} is not an integer") from None
            texts.append(fields[t_idx].strip())
            labels.append(label)
    if not texts:
        raise ValueError(f"{path}: no examples")
    return datasets.Dataset.from_dict({"sentence": texts, "label": labels})


def _training_args(output_dir: Path, **kwargs) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(output_dir),
        use_cpu=not torch.cuda.is_available(),
        report_to="none",
        save_strategy="no",
        logging_strategy="epoch",
        eval_strategy="epoch",
        disable_tqdm=False,
        **kwargs,
    )


@releases_output_dirs
def run(args) -> dict:
    transformers.set_seed(args.seed)
    output_dir = Path(args.output_dir)
    prepare_output_dir(output_dir, args.overwrite_output_dir,  # writable, ours alone, emptied only when asked
                       inputs=[args.pretrain_file, args.train_file, args.eval_file])
    work_dir = output_dir / "work"
    results: dict = {"settings": vars(args)}
    started = time.perf_counter()

    # 1. Tokenizer --------------------------------------------------------------------------------------------------
    text_file = args.pretrain_file or sample_path("wikitext2_sample.txt")
    train_file = args.train_file or sample_path("sst2_train_sample.tsv")
    eval_file = args.eval_file or sample_path("sst2_dev.tsv")
    sentiment_train = read_labeled_tsv(train_file)
    sentiment_eval = read_labeled_tsv(eval_file)
    logger.info("training a WordPiece tokenizer (vocab %d) on %s and the sentiment sentences", args.vocab_size, text_file)
    corpus = Path(text_file).read_text(encoding="utf-8").splitlines() + list(sentiment_train["sentence"])
    tokenizer = train_wordpiece_tokenizer(corpus, vocab_size=args.vocab_size, input_type="texts")
    results["tokenizer_vocab_size"] = len(tokenizer)

    # 2. Pretraining: MLM + NSP ---------------------------------------------------------------------------------------
    documents = read_documents([text_file], document_separator="wikitext")
    examples = create_nsp_examples(
        documents, tokenizer, max_seq_length=args.max_seq_length, seed=args.seed, dupe_factor=args.dupe_factor
    )
    split = examples.train_test_split(test_size=0.1, seed=args.seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=args.hidden_size,
        num_hidden_layers=args.num_hidden_layers,
        num_attention_heads=args.num_attention_heads,
        intermediate_size=4 * args.hidden_size,
        max_position_embeddings=args.max_seq_length,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = BertForPreTraining(config)
    logger.info("pretraining BERT (%.1fM parameters) on %d NSP pairs", model.num_parameters() / 1e6, len(split["train"]))
    pretrainer = Trainer(
        model=model,
        args=_training_args(
            work_dir / "pretraining",
            num_train_epochs=args.pretrain_epochs,
            per_device_train_batch_size=32,
            per_device_eval_batch_size=64,
            learning_rate=args.pretrain_learning_rate,
            warmup_steps=0.1,
            weight_decay=0.01,
            label_names=["labels", "next_sentence_label"],
        ),
        train_dataset=split["train"],
        eval_dataset=split["test"],
        data_collator=DataCollatorForBertPretraining(tokenizer, mlm_probability=0.15, seed=args.seed),
        compute_metrics=compute_pretraining_metrics,
        preprocess_logits_for_metrics=preprocess_logits_for_metrics,
    )
    before = pretrainer.evaluate()
    pretrainer.train()
    after = pretrainer.evaluate()
    results["pretraining"] = {
        "examples": len(split["train"]),
        "mlm_loss_before": before["eval_mlm_loss"],
        "mlm_loss_after": after["eval_mlm_loss"],
        "mlm_accuracy_before": before["eval_mlm_accuracy"],
        "mlm_accuracy_after": after["eval_mlm_accuracy"],
        "nsp_accuracy_before": before["eval_nsp_accuracy"],
        "nsp_accuracy_after": after["eval_nsp_accuracy"],
    }
    pretrained_dir = work_dir / "pretrained"
    with staged_folder(pretrained_dir) as staging:  # each file renamed into place whole, config.json last
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)

    # 3. Fine-tuning for sentiment ------------------------------------------------------------------------------------
    def encode(batch):
        return tokenizer(batch["sentence"], truncation=True, max_length=args.max_seq_length)

    train_ds = sentiment_train.map(encode, batched=True, remove_columns=["sentence"])
    eval_ds = sentiment_eval.map(encode, batched=True, remove_columns=["sentence"])
    classifier = BertForSequenceClassification.from_pretrained(
        pretrained_dir,
        num_labels=2,
        id2label=SENTIMENT_LABELS,
        label2id={v: k for k, v in SENTIMENT_LABELS.items()},
    )

    def accuracy(eval_pred):
        predictions = np.argmax(eval_pred.predictions, axis=-1)
        return {"accuracy": float((predictions == eval_pred.label_ids).mean())}

    finetuner = Trainer(
        model=classifier,
        args=_training_args(
            work_dir / "finetuning",
            num_train_epochs=args.finetune_epochs,
            per_device_train_batch_size=32,
            per_device_eval_batch_size=128,
            learning_rate=args.finetune_learning_rate,
            warmup_steps=0.1,
            weight_decay=0.01,
        ),
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        data_collator=transformers.DataCollatorWithPadding(tokenizer),
        compute_metrics=accuracy,
    )
    finetuner.train()
    sentiment = finetuner.evaluate()
    results["sentiment"] = {
        "train_examples": len(train_ds),
        "eval_examples": len(eval_ds),
        "eval_accuracy": sentiment["eval_accuracy"],
        "eval_loss": sentiment["eval_loss"],
        "majority_class_accuracy": max(np.mean(eval_ds["label"]), 1 - np.mean(eval_ds["label"])),
    }

    # 4. Save, then reload through transformers' Auto class ------------------------------------------------------------
    final_dir = output_dir / "model"
    with staged_folder(final_dir) as staging:
        classifier.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
    reloaded = transformers.AutoModelForSequenceClassification.from_pretrained(final_dir).eval()
    reloaded_tokenizer = transformers.AutoTokenizer.from_pretrained(final_dir)
    probes = ["a gorgeous , witty , seductive movie .", "the plot is nothing but boring and predictable ."]
    batch = reloaded_tokenizer(probes, padding=True, return_tensors="pt")
    classifier.eval()
    with torch.no_grad():
        reloaded_logits = reloaded(**batch).logits
        original_logits = classifier(**batch).logits
    max_diff = float((reloaded_logits - original_logits).abs().max())
    if not math.isfinite(max_diff) or max_diff > 1e-5:
        raise RuntimeError(f"the reloaded model disagrees with the trained one (max |diff| {max_diff})")
    results["reload"] = {
        "auto_class": type(reloaded).__module__ + "." + type(reloaded).__name__,
        "max_abs_logit_diff": max_diff,
        "predictions": {
            text: SENTIMENT_LABELS[int(i)] for text, i in zip(probes, reloaded_logits.argmax(-1).tolist())
        },
    }
    results["model_dir"] = str(final_dir)
    results["seconds"] = round(time.perf_counter() - started, 1)
    write_json(output_dir / "quickstart_results.json", json.loads(json.dumps(results, default=str)))
    return results


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m hf_models", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--output_dir", default="hf_models_quickstart", help="where the model and results are saved")
    parser.add_argument("--overwrite_output_dir", action="store_true", help="replace a non-empty --output_dir")
    parser.add_argument("--pretrain_file", default=None, help="text for pretraining (default: shipped WikiText-2 sample)")
    parser.add_argument("--train_file", default=None, help="sentence<TAB>label tsv (default: shipped SST-2 sample)")
    parser.add_argument("--eval_file", default=None, help="sentence<TAB>label tsv (default: shipped SST-2 dev)")
    parser.add_argument("--vocab_size", type=int, default=8000)
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--hidden_size", type=int, default=128)
    parser.add_argument("--num_hidden_layers", type=int, default=2)
    parser.add_argument("--num_attention_heads", type=int, default=2)
    parser.add_argument("--dupe_factor", type=int, default=5, help="NSP/MLM instances made from each document")
    parser.add_argument("--pretrain_epochs", type=float, default=3.0)
    parser.add_argument("--pretrain_learning_rate", type=float, default=5e-4)
    parser.add_argument("--finetune_epochs", type=float, default=3.0)
    parser.add_argument("--finetune_learning_rate", type=float, default=5e-4)
    parser.add_argument("--seed", type=int, default=42)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    transformers.utils.logging.set_verbosity_warning()
    results = run(args)
    print(json.dumps({k: v for k, v in results.items() if k != "settings"}, indent=2, default=str))
    print(f"\nSaved to {results['model_dir']}: load it with "
          f"transformers.AutoModelForSequenceClassification.from_pretrained({results['model_dir']!r}) after "
          "`import hf_models`, or with trust_remote_code=True without it.")
    return results
