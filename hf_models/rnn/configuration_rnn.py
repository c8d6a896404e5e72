"""Configuration of hf_models' recurrent family: Elman RNN, LSTM (Hochreiter & Schmidhuber 1997), GRU (Cho et al. 2014)."""

from transformers import PretrainedConfig

CELL_TYPES = ("rnn_tanh", "rnn_relu", "lstm", "gru")
IMPLEMENTATIONS = ("fused", "cells")
POOLINGS = ("last", "max", "mean")


class RnnConfig(PretrainedConfig):
    r"""Configuration of a recurrent language model / encoder (`RnnModel` and its heads).

    Args:
        cell_type: "rnn_tanh" (Elman: h_t = tanh(W_hh h_{t-1} + W_xh x_t + b)), "rnn_relu" (the same with ReLU),
            "lstm" (Hochreiter & Schmidhuber 1997) or "gru" (Cho et al. 2014).
        vocab_size: number of token ids.
        embedding_size: width of the input embeddings (defaults to `hidden_size`).
        hidden_size: width of every recurrent layer's state, per direction.
        num_layers: number of stacked recurrent layers.
        bidirectional: run a second, right-to-left recurrence in every layer and concatenate both states
            (encoders only: `RnnForCausalLM` refuses it).
        dropout: dropout on the embeddings, between recurrent layers and on the last layer's outputs.
        tie_word_embeddings: share the input embedding matrix with the LM head's output matrix (Press & Wolf 2017,
            Inan et al. 2017). When `embedding_size != hidden_size`, the LM head first projects the last hidden state
            to `embedding_size` with a learned linear map, so tying works for any pair of sizes.
        implementation: "fused" runs torch's `nn.RNN`/`nn.LSTM`/`nn.GRU` kernels (fast, the default); "cells" runs the
            lecture's cells step by step on the same parameters (same outputs, slower, for teaching and checking).
        classifier_pooling: how `RnnForSequenceClassification` summarises a sequence: "last" (the forward state at
            the last real token, concatenated with the backward state at the first token when bidirectional), "max"
            or "mean" over the real tokens.
        classifier_dropout: dropout before classification heads (defaults to `dropout`).
        initializer_range: weights are drawn from U(-initializer_range, initializer_range) (Zaremba et al. 2014 use
            0.1; 0.05 for larger models). `None` keeps torch's default 1/sqrt(hidden_size).
        pad_token_id: id used for padding (embedding row kept at zero and not trained).
    """

    model_type = "hf_rnn"
    # the recurrent state is returned for generate(); the Trainer's evaluation must not try to gather it
    keys_to_ignore_at_inference = ["past_key_values", "cache"]  # noqa: RUF012  (transformers reads a list)

    def __init__(
        self,
        cell_type: str = "lstm",
        vocab_size: int = 10000,
        embedding_size: int | None = None,
        hidden_size: int = 256,
        num_layers: int = 2,
        bidirectional: bool = False,
        dropout: float = 0.2,
        tie_word_embeddings: bool = True,
        implementation: str = "fused",
        classifier_pooling: str = "last",
        classifier_dropout: float | None = None,
        initializer_range: float | None = 0.1,
        pad_token_id: int | None = 0,
        **kwargs,
    ):
        if cell_type not in CELL_TYPES:
            raise ValueError(f"RnnConfig.cell_type must be one of {', '.join(CELL_TYPES)}, got {cell_type!r}")
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(
                f"RnnConfig.implementation must be one of {', '.join(IMPLEMENTATIONS)}, got {implementation!r}"
            )
        if classifier_pooling not in POOLINGS:
            raise ValueError(
                f"RnnConfig.classifier_pooling must be one of {', '.join(POOLINGS)}, got {classifier_pooling!r}"
            )
        for name, value in (
            ("vocab_size", vocab_size),
            ("hidden_size", hidden_size),
            ("embedding_size", hidden_size if embedding_size is None else embedding_size),
            ("num_layers", num_layers),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"RnnConfig.{name} must be a positive integer, got {value!r}")
        if embedding_size is None:
            embedding_size = hidden_size
        if not isinstance(bidirectional, bool):
            raise TypeError(f"RnnConfig.bidirectional must be True or False, got {bidirectional!r}")
        for name, value in (("dropout", dropout), ("classifier_dropout", classifier_dropout)):
            if value is None and name == "classifier_dropout":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) < 1.0:
                raise ValueError(f"RnnConfig.{name} must be a number in [0, 1), got {value!r}")
        if initializer_range is not None and (
            isinstance(initializer_range, bool)
            or not isinstance(initializer_range, (int, float))
            or not initializer_range > 0
        ):
            raise ValueError(f"RnnConfig.initializer_range must be a positive number or None, got {initializer_range!r}")
        if pad_token_id is not None and (
            not isinstance(pad_token_id, int) or isinstance(pad_token_id, bool) or not 0 <= pad_token_id < vocab_size
        ):
            raise ValueError(f"RnnConfig.pad_token_id ({pad_token_id!r}) must be in [0, vocab_size={vocab_size})")

        self.cell_type = cell_type
        self.vocab_size = vocab_size
        self.embedding_size = embedding_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.dropout = float(dropout)
        self.implementation = implementation
        self.classifier_pooling = classifier_pooling
        self.classifier_dropout = classifier_dropout
        self.initializer_range = initializer_range
        super().__init__(pad_token_id=pad_token_id, tie_word_embeddings=tie_word_embeddings, **kwargs)

    @property
    def num_directions(self) -> int:
        """2 for a bidirectional recurrence, else 1."""
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        """Width of every per-token output: hidden_size per direction, concatenated."""
        return self.hidden_size * self.num_directions


__all__ = ["RnnConfig"]
