"""Fast word2vec training in the manner of gensim and word2vec.c: a producer thread reads the corpus and encodes
batches of about `batch_words` words to ids; `workers` threads train on them with the compiled kernels of
`kernels.py`, which release the GIL and update the model's weights in place without locks (Hogwild!, Recht et al.
2011, as word2vec.c and gensim do). The learning rate decays linearly from alpha to min_alpha over all the words of
all epochs, word by word.

The full softmax (O(V) per prediction, the lecture's objective) is trained through the model's torch `forward` in
mini-batches of predictions instead: the point there is the objective, not the speed.
"""

from __future__ import annotations

import itertools
import logging
import math
import queue
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from .configuration_word2vec import Word2VecConfig
from .corpus import as_corpus
from .modeling_word2vec import Word2VecModel
from .vocabulary import Vocabulary

logger = logging.getLogger(__name__)

_LCG_MASK = 0xFFFFFFFFFFFF


# ----------------------------------------------------------------------------------------------------------------------
# Statistics and callbacks
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class EpochStats:
    """One pass over the corpus: words read and trained, time, speed and the mean loss per prediction."""

    epoch: int
    raw_words: int
    effective_words: int
    seconds: float
    words_per_second: float
    effective_words_per_second: float
    loss: float | None
    alpha: float

    @classmethod
    def measured(cls, epoch: int, raw_words: int, effective_words: int, seconds: float, loss: float | None,
                 alpha: float) -> EpochStats:
        """The stats of an epoch from its counts and wall time (the rates derived here, once for every trainer)."""
        return cls(
            epoch=epoch,
            raw_words=raw_words,
            effective_words=effective_words,
            seconds=seconds,
            words_per_second=raw_words / seconds if seconds > 0 else 0.0,
            effective_words_per_second=effective_words / seconds if seconds > 0 else 0.0,
            loss=loss,
            alpha=alpha,
        )


@dataclass
class TrainingStats:
    """Totals over all epochs of one `train_word2vec` call, and each epoch's `EpochStats`."""

    epochs: list[EpochStats] = field(default_factory=list)
    workers: int = 1

    @property
    def raw_words(self) -> int:
        return sum(e.raw_words for e in self.epochs)

    @property
    def effective_words(self) -> int:
        return sum(e.effective_words for e in self.epochs)

    @property
    def seconds(self) -> float:
        return sum(e.seconds for e in self.epochs)

    @property
    def words_per_second(self) -> float:
        return self.raw_words / self.seconds if self.seconds > 0 else 0.0

    @property
    def effective_words_per_second(self) -> float:
        return self.effective_words / self.seconds if self.seconds > 0 else 0.0

    @property
    def loss(self) -> float | None:
        """Mean loss per prediction in the last epoch."""
        return self.epochs[-1].loss if self.epochs else None

    def to_dict(self) -> dict:
        return {
            "epochs": len(self.epochs),
            "workers": self.workers,
            "raw_words": self.raw_words,
            "effective_words": self.effective_words,
            "seconds": self.seconds,
            "words_per_second": self.words_per_second,
            "effective_words_per_second": self.effective_words_per_second,
            "loss": self.loss,
            "per_epoch": [asdict(e) for e in self.epochs],
        }


class Word2VecCallback:
    """Hooks called by `train_word2vec` (gensim's `CallbackAny2Vec`); override the ones you need."""

    def on_train_begin(self, model: Word2VecModel) -> None:
        pass

    def on_epoch_begin(self, model: Word2VecModel, epoch: int) -> None:
        pass

    def on_epoch_end(self, model: Word2VecModel, epoch: int, stats: EpochStats) -> None:
        pass

    def on_train_end(self, model: Word2VecModel, stats: TrainingStats) -> None:
        pass


def _call(callbacks: Sequence, hook: str, *args) -> None:
    for callback in callbacks:
        method = getattr(callback, hook, None)
        if method is not None:
            method(*args)


# ----------------------------------------------------------------------------------------------------------------------
# Batches of encoded sentences
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class _Job:
    """A batch of sentences as ids (-1: not in the vocabulary) and sentence offsets, with its learning rates."""

    ids: np.ndarray  # (words,) int32
    offsets: np.ndarray  # (sentences + 1,) int64
    raw_words: int
    alpha_start: float
    alpha_end: float
    seed: int


def _job_seed(seed: int, call: int, epoch: int, job: int) -> int:
    """A 48-bit start state of the kernels' LCG for one job, reproducible from (seed, training call, epoch, job)."""
    entropy = [seed & 0xFFFFFFFF, call, epoch, job]
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0]) & _LCG_MASK


class _Batcher:
    """Cuts a corpus into jobs of about `batch_words` words (gensim's job producer), encoding tokens to ids."""

    def __init__(self, vocab: Vocabulary, config: Word2VecConfig, batch_words: int, total_words: int,
                 epochs: int, start_alpha: float, end_alpha: float, call: int = 0):
        self.get = vocab.key_to_index.get
        self.lowercase = config.lowercase
        self.max_sentence_length = config.max_sentence_length
        self.batch_words = batch_words
        self.total_words = max(total_words, 1)
        self.epochs = epochs
        self.start_alpha = start_alpha
        self.end_alpha = end_alpha
        self.seed = config.seed
        self.call = call

    def alpha(self, epoch: int, words_done: int) -> float:
        """Linear decay from start_alpha to end_alpha over epochs x total_words words (word2vec.c, gensim)."""
        progress = (epoch + min(words_done / self.total_words, 1.0)) / self.epochs
        return max(self.end_alpha, self.start_alpha - (self.start_alpha - self.end_alpha) * progress)

    def _encode(self, sentences: list, raw_words: int, epoch: int, words_done: int, job: int) -> _Job:
        flat = list(itertools.chain.from_iterable(sentences))
        if self.lowercase:
            flat = [token.lower() for token in flat]
        ids = np.fromiter(map(self.get, flat, itertools.repeat(-1)), dtype=np.int32, count=len(flat))
        offsets = np.zeros(len(sentences) + 1, dtype=np.int64)
        np.cumsum([len(s) for s in sentences], out=offsets[1:])
        return _Job(
            ids=ids,
            offsets=offsets,
            raw_words=raw_words,
            alpha_start=self.alpha(epoch, words_done),
            alpha_end=self.alpha(epoch, words_done + raw_words),
            seed=_job_seed(self.seed, self.call, epoch, job),
        )

    def jobs(self, corpus: Iterable, epoch: int):
        """Yield the jobs of one epoch."""
        batch: list = []
        batch_size = 0
        words_done = 0
        job = 0
        step = self.max_sentence_length
        for number, sentence in enumerate(corpus):
            if isinstance(sentence, str):
                raise TypeError(f"corpus sentence #{number} is a str, not a list of tokens: {sentence[:40]!r}")
            if not isinstance(sentence, list):
                sentence = list(sentence)
            pieces = [sentence]
            if len(sentence) > step:  # too long for one kernel buffer: split like gensim's LineSentence
                pieces = [sentence[i:i + step] for i in range(0, len(sentence), step)]
            for piece in pieces:
                if batch_size + len(piece) > self.batch_words and batch:
                    yield self._encode(batch, batch_size, epoch, words_done, job)
                    words_done += batch_size
                    job += 1
                    batch, batch_size = [], 0
                batch.append(piece)
                batch_size += len(piece)
        if batch:
            yield self._encode(batch, batch_size, epoch, words_done, job)


# ----------------------------------------------------------------------------------------------------------------------
# Weights as numpy views
# ----------------------------------------------------------------------------------------------------------------------
class _NumpyWeights:
    """The model's weights as float32 C-contiguous numpy arrays sharing memory with the parameters.

    Parameters on another device or dtype are trained on a CPU float32 copy that is written back at the end.
    """

    def __init__(self, model: Word2VecModel):
        self.pairs = []
        self.arrays = {}
        for name in ("input_embeddings", "output_embeddings", "hs_node_embeddings"):
            module = getattr(model, name, None)
            if module is None:
                self.arrays[name] = np.zeros((0, model.config.vector_size), dtype=np.float32)
                continue
            weight = module.weight.data
            if weight.device.type == "cpu" and weight.dtype == torch.float32 and weight.is_contiguous():
                work = weight
            else:
                work = weight.detach().to("cpu", torch.float32).contiguous()
                self.pairs.append((weight, work))
            self.arrays[name] = work.numpy()

    def write_back(self) -> None:
        with torch.no_grad():
            for weight, work in self.pairs:
                weight.copy_(work.to(weight.device, weight.dtype))


# ----------------------------------------------------------------------------------------------------------------------
# The fast path
# ----------------------------------------------------------------------------------------------------------------------
def train_word2vec(
    model: Word2VecModel,
    corpus,
    epochs: int | None = None,
    workers: int = 2,
    progress: bool = True,
    callbacks: Sequence | None = None,
    total_words: int | None = None,
    start_alpha: float | None = None,
    end_alpha: float | None = None,
    batch_words: int | None = None,
    compute_loss: bool = True,
) -> TrainingStats:
    """Train `model` on `corpus` in place; returns words, time, words/s and loss per epoch.

    Args:
        model: a `Word2VecModel` with its vocabulary.
        corpus: a re-iterable of token lists (a list, a `LineSentence`) or a path (read as a `LineSentence`).
        epochs: passes over the corpus (default `config.epochs`).
        workers: training threads (gensim's `workers`); the kernels run in parallel without the GIL.
        progress: show a tqdm progress bar with words/s and the loss.
        callbacks: objects with any of on_train_begin/on_epoch_begin/on_epoch_end/on_train_end (`Word2VecCallback`).
        total_words: raw words per epoch, for the learning-rate schedule and the progress bar (default: the count
            of the corpus the vocabulary was built from).
        start_alpha / end_alpha: learning rates at the start and end of this call (default alpha / min_alpha).
        batch_words: words per job (default `config.batch_words`).
        compute_loss: track the loss (a few percent slower).
    """
    config = model.config
    vocab = model._require_vocab()
    epochs = config.epochs if epochs is None else epochs
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    corpus = as_corpus(corpus)
    callbacks = list(callbacks or [])
    total_words = total_words or vocab.total_words
    start_alpha = config.alpha if start_alpha is None else float(start_alpha)
    end_alpha = config.min_alpha if end_alpha is None else float(end_alpha)
    # each call draws fresh random numbers; a new model trained by the same calls reproduces them (one worker)
    call = getattr(model, "_training_calls", 0)
    model._training_calls = call + 1
    batcher = _Batcher(
        vocab, config, batch_words or config.batch_words, total_words, epochs, start_alpha, end_alpha, call
    )
    stats = TrainingStats(workers=workers)
    logger.info(
        f"training word2vec ({config.architecture}, {config.objective}) on {len(vocab)} words x "
        f"{config.vector_size} dims, {epochs} epochs of ~{total_words} words, {workers} workers"
    )
    _call(callbacks, "on_train_begin", model)
    if config.objective == "full_softmax":
        run_epoch = _FullSoftmaxEpoch(model, batcher, compute_loss)
    else:
        run_epoch = _KernelEpoch(model, batcher, workers, compute_loss)
    try:
        for epoch in range(epochs):
            _call(callbacks, "on_epoch_begin", model, epoch)
            epoch_stats = run_epoch(corpus, epoch, progress, total_words)
            stats.epochs.append(epoch_stats)
            logger.info(
                f"epoch {epoch + 1}/{epochs}: {epoch_stats.raw_words} raw words ({epoch_stats.effective_words} "
                f"effective) in {epoch_stats.seconds:.2f}s, {epoch_stats.words_per_second:,.0f} words/s "
                f"({epoch_stats.effective_words_per_second:,.0f} effective), loss {epoch_stats.loss}"
            )
            _call(callbacks, "on_epoch_end", model, epoch, epoch_stats)
    finally:
        run_epoch.close()
    _call(callbacks, "on_train_end", model, stats)
    return stats


class _KernelEpoch:
    """One epoch with the compiled kernels: a producer thread, `workers` training threads, progress in this one."""

    def __init__(self, model: Word2VecModel, batcher: _Batcher, workers: int, compute_loss: bool):
        from . import kernels

        config = model.config
        vocab = model.vocab
        self.kernels = kernels
        self.model = model
        self.batcher = batcher
        self.workers = workers
        self.compute_loss = compute_loss
        self.weights = _NumpyWeights(model)
        hierarchical = config.objective == "hierarchical_softmax"
        if hierarchical:
            tree = vocab.huffman_tree()
            self.codes, self.points, self.code_lengths = tree.codes, tree.points, tree.lengths
            self.cum_table = np.ones(1, dtype=np.uint32)
            self.guide, self.guide_shift = np.zeros(2, dtype=np.int32), 0
        else:
            self.codes = np.zeros((0, 0), dtype=np.uint8)
            self.points = np.zeros((0, 0), dtype=np.int32)
            self.code_lengths = np.zeros(0, dtype=np.int32)
            self.cum_table = vocab.cum_table(config.ns_exponent)
            self.guide, self.guide_shift = kernels.build_guide_table(self.cum_table)
        self.sample_ints = vocab.sample_ints(config.sample)
        self.settings = {
            "skipgram": config.architecture == "skipgram",
            "hierarchical": hierarchical,
            "negative": 0 if hierarchical else config.negative,
            "window": config.window,
            "shrink_windows": config.shrink_windows,
            "cbow_mean": config.cbow_mean,
            "do_sample": bool(config.sample),
        }
        # compile the kernel (or load it from numba's cache) now, so that the first epoch's timing excludes it
        self.train_job(_Job(np.zeros(0, dtype=np.int32), np.zeros(1, dtype=np.int64), 0, 0.0, 0.0, 1))

    def train_job(self, job: _Job) -> tuple[int, float, int]:
        """Run the kernel on one job; returns (effective words, summed loss, predictions)."""
        w = self.weights.arrays
        s = self.settings
        effective, loss, predictions, _ = self.kernels.train_batch(
            w["input_embeddings"], w["output_embeddings"], w["hs_node_embeddings"],
            job.ids, job.offsets, self.sample_ints, self.cum_table, self.guide, self.guide_shift,
            self.codes, self.points, self.code_lengths,
            s["skipgram"], s["hierarchical"], s["negative"], s["window"], s["shrink_windows"], s["cbow_mean"],
            s["do_sample"], job.alpha_start, job.alpha_end, np.uint64(job.seed), self.compute_loss,
        )
        return effective, loss, predictions

    def __call__(self, corpus, epoch: int, progress: bool, total_words: int) -> EpochStats:
        from tqdm.auto import tqdm

        job_queue: queue.Queue = queue.Queue(maxsize=2 * self.workers)
        done_queue: queue.Queue = queue.Queue()
        stop = threading.Event()

        def producer():
            try:
                for job in self.batcher.jobs(corpus, epoch):
                    while not stop.is_set():
                        try:
                            job_queue.put(job, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        break
            except BaseException as error:  # noqa: BLE001 -- reported to the main thread, which raises it
                done_queue.put(("error", error))
            finally:
                for _ in range(self.workers):
                    job_queue.put(None)

        def worker():
            while True:
                job = job_queue.get()
                if job is None:
                    break
                if stop.is_set():  # drain the queue so that the producer never blocks
                    continue
                try:
                    effective, loss, predictions = self.train_job(job)
                except BaseException as error:  # noqa: BLE001 -- reported to the main thread, which raises it
                    done_queue.put(("error", error))
                    stop.set()
                    continue
                done_queue.put(("job", (job.raw_words, effective, loss, predictions, job.alpha_end)))
            done_queue.put(("done", None))

        threads = [threading.Thread(target=worker, name=f"word2vec-worker-{i}", daemon=True)
                   for i in range(self.workers)]
        threads.append(threading.Thread(target=producer, name="word2vec-producer", daemon=True))
        raw = effective = predictions = 0
        loss = 0.0
        alpha = self.batcher.alpha(epoch, 0)
        bar = tqdm(total=total_words, unit="word", unit_scale=True, disable=not progress,
                   desc=f"word2vec epoch {epoch + 1}/{self.batcher.epochs}", leave=False)
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        finished = 0
        error = None
        last_postfix = started
        try:
            while finished < self.workers:
                kind, payload = done_queue.get()
                if kind == "done":
                    finished += 1
                elif kind == "error":
                    error = error or payload
                    stop.set()
                else:
                    job_raw, job_effective, job_loss, job_predictions, job_alpha = payload
                    alpha = min(alpha, job_alpha)  # jobs may finish out of order; the rate only decreases
                    raw += job_raw
                    effective += job_effective
                    loss += job_loss
                    predictions += job_predictions
                    bar.update(job_raw)
                    now = time.perf_counter()
                    if progress and now - last_postfix > 0.5:
                        last_postfix = now
                        postfix = {"alpha": f"{alpha:.5f}"}
                        if self.compute_loss and predictions:
                            postfix["loss"] = f"{loss / predictions:.4f}"
                        bar.set_postfix(postfix, refresh=False)
        except BaseException:
            stop.set()
            raise
        finally:
            for thread in threads:
                thread.join()
            bar.close()
            self.sync()  # callbacks, and an interrupted run, see the epoch's updates through the model
        if error is not None:
            raise error
        seconds = time.perf_counter() - started
        return EpochStats.measured(epoch, raw, effective, seconds,
                                   (loss / predictions if predictions else math.nan) if self.compute_loss else None,
                                   alpha)

    def sync(self) -> None:
        """Make the model's parameters (and its cached `wv`) reflect the kernels' in-place updates."""
        self.weights.write_back()
        updated = getattr(self.model, "_word_vectors_updated", None)  # absent in a folder saved by older versions
        if updated is not None:
            updated()

    def close(self) -> None:
        self.sync()


class _FullSoftmaxEpoch:
    """One epoch of the full softmax through `model.forward`: SGD on mini-batches of predictions, in torch."""

    batch_size = 256

    def __init__(self, model: Word2VecModel, batcher: _Batcher, compute_loss: bool):
        from . import kernels

        self.kernels = kernels
        self.model = model
        self.batcher = batcher
        self.compute_loss = compute_loss
        config = model.config
        self.sample_ints = model.vocab.sample_ints(config.sample)
        self.settings = (bool(config.sample), config.window, config.shrink_windows)

    def examples(self, job: _Job):
        """The job's predictions: skip-gram (centre, context) pairs or CBOW (centre, context bag, mask) rows."""
        do_sample, window, shrink = self.settings
        if self.model.config.architecture == "skipgram":
            centers, contexts, effective, _ = self.kernels.skipgram_pairs(
                job.ids, job.offsets, self.sample_ints, do_sample, window, shrink, np.uint64(job.seed)
            )
            return {"center_ids": centers, "context_ids": contexts}, effective
        centers, contexts, mask, effective, _ = self.kernels.cbow_examples(
            job.ids, job.offsets, self.sample_ints, do_sample, window, shrink, np.uint64(job.seed)
        )
        return {"center_ids": centers, "context_ids": contexts, "context_mask": mask}, effective

    def __call__(self, corpus, epoch: int, progress: bool, total_words: int) -> EpochStats:
        from tqdm.auto import tqdm

        model = self.model
        model.train()
        parameters = [p for p in model.parameters() if p.requires_grad]
        device = model.input_embeddings.weight.device
        raw = effective = predictions = 0
        loss_sum = 0.0
        alpha = self.batcher.alpha(epoch, 0)
        bar = tqdm(total=total_words, unit="word", unit_scale=True, disable=not progress,
                   desc=f"word2vec epoch {epoch + 1}/{self.batcher.epochs} (full softmax)", leave=False)
        started = time.perf_counter()
        try:
            for job in self.batcher.jobs(corpus, epoch):
                batch, job_effective = self.examples(job)
                count = len(batch["center_ids"])
                for start in range(0, count, self.batch_size):
                    stop = min(start + self.batch_size, count)
                    # the learning rate decays linearly over the job's predictions, like the kernels' word by word
                    alpha = job.alpha_start + (job.alpha_end - job.alpha_start) * start / max(count, 1)
                    inputs = {k: torch.from_numpy(v[start:stop]).to(device) for k, v in batch.items()}
                    for p in parameters:
                        p.grad = None
                    loss = model(**inputs).loss
                    # word2vec's SGD takes one step of size alpha per prediction: the summed loss's gradient
                    (loss * (stop - start)).backward()
                    with torch.no_grad():
                        for p in parameters:
                            if p.grad is not None:
                                p.add_(p.grad, alpha=-alpha)
                    loss_sum += float(loss.detach()) * (stop - start)
                    predictions += stop - start
                raw += job.raw_words
                effective += job_effective
                bar.update(job.raw_words)
                if progress and predictions:
                    bar.set_postfix({"alpha": f"{alpha:.5f}", "loss": f"{loss_sum / predictions:.4f}"}, refresh=False)
        finally:
            for p in parameters:
                p.grad = None
            bar.close()
        seconds = time.perf_counter() - started
        return EpochStats.measured(epoch, raw, effective, seconds, loss_sum / predictions if predictions else math.nan,
                                   alpha)

    def close(self) -> None:
        pass


# ----------------------------------------------------------------------------------------------------------------------
# gensim's Word2Vec(sentences, ...) in one call
# ----------------------------------------------------------------------------------------------------------------------
def build_vocab(corpus, config: Word2VecConfig) -> Vocabulary:
    """The vocabulary of `corpus` under the config's min_count, max_vocab_size, max_final_vocab and lowercase."""
    vocab = Vocabulary.build(
        as_corpus(corpus),
        min_count=config.min_count,
        max_vocab_size=config.max_vocab_size,
        max_final_vocab=config.max_final_vocab,
        lowercase=config.lowercase,
    )
    minimum = 2 if config.objective == "hierarchical_softmax" else 1
    if len(vocab) < minimum:
        raise ValueError(
            f"the corpus has {len(vocab)} word(s) seen at least min_count={config.min_count} times; word2vec needs "
            f"at least {minimum}: lower Word2VecConfig.min_count or use a larger corpus"
        )
    return vocab


def build_and_train(
    corpus,
    config: Word2VecConfig | None = None,
    workers: int = 2,
    progress: bool = True,
    callbacks: Sequence | None = None,
    **config_kwargs,
) -> tuple[Word2VecModel, TrainingStats]:
    """Build the vocabulary, create the model and train it (gensim's `Word2Vec(sentences, ...)`).

    `config_kwargs` create the config when none is given (e.g. `architecture="cbow", vector_size=50`).
    """
    if config is None:
        config = Word2VecConfig(**config_kwargs)
    elif config_kwargs:
        raise ValueError("pass either a config or config keyword arguments, not both")
    corpus = as_corpus(corpus)
    vocab = build_vocab(corpus, config)
    config.vocab_size = len(vocab)
    model = Word2VecModel(config, vocab=vocab)
    stats = train_word2vec(model, corpus, workers=workers, progress=progress, callbacks=callbacks)
    return model, stats


__all__ = [
    "EpochStats",
    "TrainingStats",
    "Word2VecCallback",
    "build_and_train",
    "build_vocab",
    "train_word2vec",
]
