#!/usr/bin/env python
"""Write the project's article-disjoint split of SQuAD v1.1 dev, in the official json format.

SQuAD's training set is not in ../shared/data, so the project fine-tunes and evaluates on dev-v1.1.json (48
articles, 10570 questions) split by article: train.json holds the questions of the 35 articles whose titles are also
articles of dev-v2.0.json (6013 questions), validation.json those of the other 13 articles (4557 questions). No
article, and so no context, is in both. split.json records the titles and counts.

    python eval/make_squad_split.py --output_dir runs/squad_split
    python eval/make_squad_split.py --v1_file PATH/dev-v1.1.json --v2_file PATH/dev-v2.0.json --output_dir DIR

Then fine-tune with `training/run_qa.py --train_file DIR/train.json --validation_file DIR/validation.json ...`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hf_models.tasks.squad import make_article_disjoint_split

SHARED_SQUAD = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "squad"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--v1_file", default=str(SHARED_SQUAD / "dev-v1.1.json"),
                        help="SQuAD v1.1 dev, official json (default: ../shared/data/squad/dev-v1.1.json)")
    parser.add_argument("--v2_file", default=str(SHARED_SQUAD / "dev-v2.0.json"),
                        help="SQuAD v2.0 dev, whose article titles pick the train articles (default: next to v1)")
    parser.add_argument("--output_dir", required=True, help="Folder for train.json, validation.json and split.json")
    parser.add_argument("--overwrite", action="store_true", help="Replace split files already in --output_dir")
    args = parser.parse_args(argv)

    output_dir = Path(args.output_dir)
    existing = [name for name in ("train.json", "validation.json", "split.json") if (output_dir / name).exists()]
    if existing and not args.overwrite:
        parser.error(f"{output_dir} already holds {', '.join(existing)}; pass --overwrite to replace them")
    summary = make_article_disjoint_split(args.v1_file, args.v2_file, output_dir)
    for split in ("train", "validation"):
        part = summary[split]
        print(f"{split}: {part['articles']} articles, {part['questions']} questions -> {part['file']}")
    print(json.dumps({split: summary[split]["titles"] for split in ("validation",)}, indent=1))
    return summary


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
