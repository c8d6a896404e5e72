"""Seq2Seq configuration (Sutskever et al. 2014; attention of Bahdanau et al. 2015 and Luong et al. 2015)."""

from typing import ClassVar

from transformers import PretrainedConfig

ATTENTION_TYPES = ("none", "dot", "general", "concat")


class Seq2SeqConfig(PretrainedConfig):
    r"""Configuration of hf_models' LSTM encoder-decoder with attention.

    The source and target sides have separate vocabularies; `vocab_size` is the target vocabulary (the one the decoder
    predicts, and the one `generate()` reads).

    Args:
        source_vocab_size: size of the source (encoder) vocabulary.
        target_vocab_size: size of the target (decoder) vocabulary.
        embedding_size: width of the source and target word embeddings.
        hidden_size: width H of every LSTM layer (per direction in the encoder).
        encoder_layers: number of stacked LSTM layers in the encoder.
        decoder_layers: number of stacked LSTM layers in the decoder.
        bidirectional_encoder: run the encoder in both directions; the decoder's initial state is then a linear
            "bridge" on the concatenated final forward and backward states, and the encoder states h_s have 2H
            dimensions (so `attention_type="dot"`, which needs |h_t| = |h_s|, is refused).
        dropout: dropout on embeddings, between LSTM layers and on the attentional hidden state.
        attention_type: "none" (the bottleneck model of Sutskever et al.: the decoder sees the source only through
            its initial state), "dot" (h_t^T h_s), "general" (h_t^T W_a h_s) or "concat" (v_a^T tanh(W_a [h_t; h_s])).
        input_feeding: feed the previous attentional hidden state h~_{t-1} to the decoder LSTM together with the word
            embedding (Luong et al. 2015, section 3.3). Needs attention.
        teacher_forcing_ratio: in training, the probability of feeding the gold previous token to the decoder; with
            probability 1 - ratio the model's own argmax prediction is fed instead (1.0 = full teacher forcing).
        init_range: parameters are initialised uniformly in [-init_range, init_range] (Sutskever et al. 2014).
        tie_word_embeddings: share the decoder's input embedding with the output projection (needs
            embedding_size == hidden_size).
    """

    model_type = "hf_seq2seq"
    is_encoder_decoder = True
    keys_to_ignore_at_inference: ClassVar[list[str]] = ["past_key_values", "cache"]

    def __init__(
        self,
        source_vocab_size: int = 32000,
        target_vocab_size: int = 32000,
        embedding_size: int = 256,
        hidden_size: int = 512,
        encoder_layers: int = 2,
        decoder_layers: int = 2,
        bidirectional_encoder: bool = False,
        dropout: float = 0.2,
        attention_type: str = "general",
        input_feeding: bool = False,
        teacher_forcing_ratio: float = 1.0,
        init_range: float = 0.1,
        pad_token_id: int = 0,
        bos_token_id: int = 1,
        eos_token_id: int = 2,
        decoder_start_token_id: int | None = None,
        tie_word_embeddings: bool = False,
        **kwargs,
    ):
        kwargs.pop("vocab_size", None)  # derived from target_vocab_size (present in a saved config.json)
        kwargs.pop("is_encoder_decoder", None)
        for name, value in (
            ("source_vocab_size", source_vocab_size),
            ("target_vocab_size", target_vocab_size),
            ("embedding_size", embedding_size),
            ("hidden_size", hidden_size),
            ("encoder_layers", encoder_layers),
            ("decoder_layers", decoder_layers),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"Seq2SeqConfig.{name} must be a positive integer, got {value!r}")
        if attention_type not in ATTENTION_TYPES:
            raise ValueError(f"Seq2SeqConfig.attention_type must be one of {ATTENTION_TYPES}, got {attention_type!r}")
        if bidirectional_encoder and attention_type == "dot":
            raise ValueError(
                "Seq2SeqConfig.attention_type='dot' needs encoder and decoder states of the same size, but "
                "bidirectional_encoder=True gives 2 * hidden_size encoder states; use attention_type='general' or "
                "'concat'"
            )
        if input_feeding and attention_type == "none":
            raise ValueError("Seq2SeqConfig.input_feeding=True feeds the attentional state back, so it needs an "
                             "attention_type other than 'none'")
        if not isinstance(dropout, (int, float)) or not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"Seq2SeqConfig.dropout must be in [0, 1), got {dropout!r}")
        if not isinstance(teacher_forcing_ratio, (int, float)) or not 0.0 <= float(teacher_forcing_ratio) <= 1.0:
            raise ValueError(f"Seq2SeqConfig.teacher_forcing_ratio must be in [0, 1], got {teacher_forcing_ratio!r}")
        if not isinstance(init_range, (int, float)) or float(init_range) <= 0.0:
            raise ValueError(f"Seq2SeqConfig.init_range must be a positive number, got {init_range!r}")
        if decoder_start_token_id is None:
            decoder_start_token_id = bos_token_id
        for name, value in (
            ("pad_token_id", pad_token_id),
            ("bos_token_id", bos_token_id),
            ("eos_token_id", eos_token_id),
            ("decoder_start_token_id", decoder_start_token_id),
        ):
            if value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < target_vocab_size:
                raise ValueError(f"Seq2SeqConfig.{name} ({value!r}) must be a token id in [0, target_vocab_size="
                                 f"{target_vocab_size})")
        if pad_token_id is not None and pad_token_id >= source_vocab_size:
            raise ValueError(f"Seq2SeqConfig.pad_token_id ({pad_token_id}) must also be a source token id in "
                             f"[0, source_vocab_size={source_vocab_size})")
        if tie_word_embeddings and embedding_size != hidden_size:
            raise ValueError(
                f"Seq2SeqConfig.tie_word_embeddings=True needs embedding_size ({embedding_size}) == hidden_size "
                f"({hidden_size}): the output projection maps the hidden state onto the embedding matrix"
            )

        self.source_vocab_size = source_vocab_size
        self.target_vocab_size = target_vocab_size
        self.vocab_size = target_vocab_size
        self.embedding_size = embedding_size
        self.hidden_size = hidden_size
        self.encoder_layers = encoder_layers
        self.decoder_layers = decoder_layers
        self.num_hidden_layers = decoder_layers
        self.bidirectional_encoder = bool(bidirectional_encoder)
        self.dropout = float(dropout)
        self.attention_type = attention_type
        self.input_feeding = bool(input_feeding)
        self.teacher_forcing_ratio = float(teacher_forcing_ratio)
        self.init_range = float(init_range)
        super().__init__(
            pad_token_id=pad_token_id,
            bos_token_id=bos_token_id,
            eos_token_id=eos_token_id,
            decoder_start_token_id=decoder_start_token_id,
            tie_word_embeddings=tie_word_embeddings,
            is_encoder_decoder=True,
            **kwargs,
        )


__all__ = ["Seq2SeqConfig"]
