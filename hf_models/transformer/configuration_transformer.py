"""Transformer configuration (Vaswani et al. 2017, "Attention Is All You Need").

The field names are those of transformers' Marian (and BART) configs, so a MarianMT config.json (model_type "marian",
the post-LN, sinusoidal-position Transformer of the paper) is read by `TransformerConfig` as it is.
"""

from typing import ClassVar

from transformers import PretrainedConfig

POSITION_EMBEDDINGS = ("sinusoidal", "learned", "none")
LAYER_NORM_POSITIONS = ("post", "pre")
ACTIVATIONS = ("relu", "gelu", "swish", "silu", "gelu_new", "tanh")


class TransformerConfig(PretrainedConfig):
    r"""Configuration of hf_models' Transformer encoder-decoder.

    Defaults are the paper's base model (N = 6 layers, d_model = 512, h = 8 heads, d_ff = 2048, dropout 0.1, one
    vocabulary shared by source, target and the output layer, embeddings scaled by sqrt(d_model), post-LN).

    Args:
        vocab_size: the source vocabulary (and the target one when `share_encoder_decoder_embeddings`).
        decoder_vocab_size: the target vocabulary (default `vocab_size`); differs only with separate vocabularies.
        share_encoder_decoder_embeddings: one embedding matrix for the source and target words (section 3.4).
        tie_word_embeddings: the output projection (pre-softmax linear) is the target embedding matrix (section 3.4).
        d_model: the width of every sub-layer output and embedding.
        encoder_layers, decoder_layers: N, the number of stacked layers of each side.
        encoder_attention_heads, decoder_attention_heads: h; d_k = d_v = d_model / h.
        encoder_ffn_dim, decoder_ffn_dim: d_ff, the inner width of the position-wise feed-forward network.
        max_position_embeddings: the longest sequence the positions cover.
        position_embedding: "sinusoidal" (section 3.5), "learned" (a trained embedding per position, which the paper
            found nearly identical), or "none" (bare self-attention, which cannot tell word order: an experiment).
        layer_norm_position: "post" (the paper: LayerNorm(x + Sublayer(x))) or "pre" (x + Sublayer(LayerNorm(x)),
            Xiong et al. 2020, with a final LayerNorm after each stack: trains without learning-rate warmup).
        scale_embedding: multiply the token embeddings by sqrt(d_model) (section 3.4).
        feed_forward: the position-wise feed-forward network of each layer (False: attention only, an experiment).
        causal_decoder: the decoder's self-attention hides future positions (False: the decoder sees the words it
            must predict, an experiment that shows why the mask is needed).
        scale_attention: divide the attention scores by sqrt(d_k) (False: unscaled dot products, an experiment).
        activation_function: of the feed-forward network (the paper: relu; Marian's checkpoints: swish).
        dropout: on the embeddings plus positions and on every sub-layer output (P_drop, section 5.4).
        attention_dropout: on the attention probabilities. activation_dropout: inside the feed-forward network.
        layer_norm_eps: epsilon of every LayerNorm.
        sparse_prediction: when training with labels, run the output projection only on the labelled target
            positions (not the padding the loss ignores). Same loss and gradients, less compute; `logits` then holds
            one row per labelled token. Evaluation and inference always return logits for every position.
    """

    model_type = "hf_transformer"
    is_encoder_decoder = True
    keys_to_ignore_at_inference: ClassVar[list[str]] = ["past_key_values", "cache"]
    attribute_map: ClassVar[dict[str, str]] = {
        "hidden_size": "d_model",
        "num_attention_heads": "decoder_attention_heads",
        "num_hidden_layers": "decoder_layers",  # the layers a decoding cache has
    }

    def __init__(
        self,
        vocab_size: int = 32000,
        decoder_vocab_size: int | None = None,
        share_encoder_decoder_embeddings: bool = True,
        d_model: int = 512,
        encoder_layers: int = 6,
        decoder_layers: int = 6,
        encoder_attention_heads: int = 8,
        decoder_attention_heads: int = 8,
        encoder_ffn_dim: int = 2048,
        decoder_ffn_dim: int = 2048,
        max_position_embeddings: int = 512,
        position_embedding: str = "sinusoidal",
        layer_norm_position: str = "post",
        scale_embedding: bool = True,
        feed_forward: bool = True,
        causal_decoder: bool = True,
        scale_attention: bool = True,
        activation_function: str = "relu",
        dropout: float = 0.1,
        attention_dropout: float = 0.0,
        activation_dropout: float = 0.0,
        layer_norm_eps: float = 1e-5,
        sparse_prediction: bool = True,
        pad_token_id: int | None = 0,
        bos_token_id: int | None = None,
        eos_token_id: int | None = 2,
        decoder_start_token_id: int | None = None,
        forced_eos_token_id: int | None = None,
        tie_word_embeddings: bool = True,
        use_cache: bool = True,
        **kwargs,
    ):
        kwargs.pop("is_encoder_decoder", None)
        if decoder_vocab_size is None:
            decoder_vocab_size = vocab_size
        for name, value in (
            ("vocab_size", vocab_size), ("decoder_vocab_size", decoder_vocab_size), ("d_model", d_model),
            ("encoder_layers", encoder_layers), ("decoder_layers", decoder_layers),
            ("encoder_attention_heads", encoder_attention_heads), ("decoder_attention_heads", decoder_attention_heads),
            ("encoder_ffn_dim", encoder_ffn_dim), ("decoder_ffn_dim", decoder_ffn_dim),
            ("max_position_embeddings", max_position_embeddings),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"TransformerConfig.{name} must be a positive integer, got {value!r}")
        for heads_name, heads in (("encoder_attention_heads", encoder_attention_heads),
                                  ("decoder_attention_heads", decoder_attention_heads)):
            if d_model % heads:
                raise ValueError(f"TransformerConfig.d_model ({d_model}) must be divisible by {heads_name} ({heads}): "
                                 "each head attends in d_k = d_model / h dimensions")
        if position_embedding not in POSITION_EMBEDDINGS:
            raise ValueError(f"TransformerConfig.position_embedding must be one of {POSITION_EMBEDDINGS}, got "
                             f"{position_embedding!r}")
        if layer_norm_position not in LAYER_NORM_POSITIONS:
            raise ValueError(f"TransformerConfig.layer_norm_position must be one of {LAYER_NORM_POSITIONS}, got "
                             f"{layer_norm_position!r}")
        if activation_function not in ACTIVATIONS:
            raise ValueError(f"TransformerConfig.activation_function must be one of {ACTIVATIONS}, got "
                             f"{activation_function!r}")
        if position_embedding == "sinusoidal" and d_model % 2:
            raise ValueError(f"TransformerConfig.d_model ({d_model}) must be even for sinusoidal positions (a sine "
                             "and a cosine per frequency)")
        for name, value in (("dropout", dropout), ("attention_dropout", attention_dropout),
                            ("activation_dropout", activation_dropout)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= float(value) < 1.0:
                raise ValueError(f"TransformerConfig.{name} must be in [0, 1), got {value!r}")
        if share_encoder_decoder_embeddings and decoder_vocab_size != vocab_size:
            raise ValueError(f"TransformerConfig.share_encoder_decoder_embeddings=True needs one vocabulary, but "
                             f"vocab_size={vocab_size} and decoder_vocab_size={decoder_vocab_size}")
        if decoder_start_token_id is None:
            decoder_start_token_id = pad_token_id if bos_token_id is None else bos_token_id  # Marian starts from pad
        for name, value in (("pad_token_id", pad_token_id), ("bos_token_id", bos_token_id),
                            ("eos_token_id", eos_token_id), ("decoder_start_token_id", decoder_start_token_id),
                            ("forced_eos_token_id", forced_eos_token_id)):
            if value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < decoder_vocab_size:
                raise ValueError(f"TransformerConfig.{name} ({value!r}) must be a target token id in [0, "
                                 f"decoder_vocab_size={decoder_vocab_size})")
        if pad_token_id is not None and pad_token_id >= vocab_size:
            raise ValueError(f"TransformerConfig.pad_token_id ({pad_token_id}) must also be a source token id in "
                             f"[0, vocab_size={vocab_size})")

        self.vocab_size = vocab_size
        self.decoder_vocab_size = decoder_vocab_size
        self.share_encoder_decoder_embeddings = bool(share_encoder_decoder_embeddings)
        self.d_model = d_model
        self.encoder_layers = encoder_layers
        self.decoder_layers = decoder_layers
        self.encoder_attention_heads = encoder_attention_heads
        self.decoder_attention_heads = decoder_attention_heads
        self.encoder_ffn_dim = encoder_ffn_dim
        self.decoder_ffn_dim = decoder_ffn_dim
        self.max_position_embeddings = max_position_embeddings
        self.position_embedding = position_embedding
        self.layer_norm_position = layer_norm_position
        self.scale_embedding = bool(scale_embedding)
        self.feed_forward = bool(feed_forward)
        self.causal_decoder = bool(causal_decoder)
        self.scale_attention = bool(scale_attention)
        self.activation_function = activation_function
        self.dropout = float(dropout)
        self.attention_dropout = float(attention_dropout)
        self.activation_dropout = float(activation_dropout)
        self.layer_norm_eps = float(layer_norm_eps)
        self.sparse_prediction = bool(sparse_prediction)
        self.use_cache = use_cache
        super().__init__(
            pad_token_id=pad_token_id,
            bos_token_id=bos_token_id,
            eos_token_id=eos_token_id,
            decoder_start_token_id=decoder_start_token_id,
            forced_eos_token_id=forced_eos_token_id,
            tie_word_embeddings=tie_word_embeddings,
            is_encoder_decoder=True,
            **kwargs,
        )

    @classmethod
    def from_marian(cls, marian_config, **kwargs) -> "TransformerConfig":
        """The TransformerConfig of a transformers `MarianConfig` (or its config.json as a dict, whose missing fields
        take MarianConfig's defaults): the same architecture under the same field names."""
        from transformers import MarianConfig

        if isinstance(marian_config, dict):
            marian_config = MarianConfig(**{k: v for k, v in marian_config.items() if k != "model_type"})
        fields = {k: v for k, v in marian_config.to_dict().items()
                  if k not in ("model_type", "architectures", "auto_map", "transformers_version", "normalize_before")}
        if getattr(marian_config, "normalize_before", False):
            fields["layer_norm_position"] = "pre"
        fields.update(kwargs)
        return cls(**fields)

    @classmethod
    def from_dict(cls, config_dict, **kwargs):
        """A config.json of model_type "marian" (a MarianMT checkpoint) is read with MarianConfig's defaults."""
        if config_dict.get("model_type") == "marian":
            return_unused = kwargs.pop("return_unused_kwargs", False)
            config = cls.from_marian(config_dict)
            for key in [k for k in kwargs if hasattr(config, k)]:
                setattr(config, key, kwargs.pop(key))
            return (config, kwargs) if return_unused else config
        return super().from_dict(config_dict, **kwargs)


__all__ = ["TransformerConfig"]
