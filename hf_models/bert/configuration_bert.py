"""BERT configuration (Devlin et al. 2019, "BERT: Pre-training of Deep Bidirectional Transformers")."""

from transformers import PretrainedConfig


class BertConfig(PretrainedConfig):
    r"""Configuration of hf_models' BERT.

    It reads the `config.json` of any checkpoint saved in transformers' BERT format (model_type "bert", for example
    `bert-base-uncased` or MiniLM), and saves with its own model_type "hf_bert" so it never collides with
    transformers' own class in the Auto registries.

    Args:
        vocab_size: size of the WordPiece vocabulary.
        hidden_size: width d_model of every encoder block; must be divisible by `num_attention_heads`.
        num_hidden_layers: number of post-LN encoder blocks.
        num_attention_heads: heads h of multi-head attention; each head has d_k = hidden_size / h.
        intermediate_size: inner width d_ff of the position-wise feed-forward network.
        hidden_act: activation of the feed-forward network ("gelu" in BERT).
        hidden_dropout_prob: dropout on embeddings and on every sub-layer output before the residual add.
        attention_probs_dropout_prob: dropout on the attention probabilities.
        max_position_embeddings: number of learned absolute positions (longest sequence the model accepts).
        type_vocab_size: number of segment (token type) embeddings; 2 for sentence A / sentence B.
        initializer_range: std of the truncated-normal-like init of weight matrices.
        layer_norm_eps: epsilon of every LayerNorm.
        classifier_dropout: dropout before classification heads (defaults to `hidden_dropout_prob`).
        sparse_prediction: when training the MLM head with labels, run the vocabulary projection only on the
            masked positions (the only ones the loss sees). Same loss and gradients, far less compute; `logits` then
            holds one row per masked token. Evaluation and inference always return logits for every position.
    """

    model_type = "hf_bert"

    def __init__(
        self,
        vocab_size: int = 30522,
        hidden_size: int = 768,
        num_hidden_layers: int = 12,
        num_attention_heads: int = 12,
        intermediate_size: int = 3072,
        hidden_act: str = "gelu",
        hidden_dropout_prob: float = 0.1,
        attention_probs_dropout_prob: float = 0.1,
        max_position_embeddings: int = 512,
        type_vocab_size: int = 2,
        initializer_range: float = 0.02,
        layer_norm_eps: float = 1e-12,
        pad_token_id: int | None = 0,
        classifier_dropout: float | None = None,
        sparse_prediction: bool = True,
        tie_word_embeddings: bool = True,
        **kwargs,
    ):
        for name, value in (
            ("vocab_size", vocab_size),
            ("hidden_size", hidden_size),
            ("num_hidden_layers", num_hidden_layers),
            ("num_attention_heads", num_attention_heads),
            ("intermediate_size", intermediate_size),
            ("max_position_embeddings", max_position_embeddings),
            ("type_vocab_size", type_vocab_size),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"BertConfig.{name} must be a positive integer, got {value!r}")
        if hidden_size % num_attention_heads != 0:
            raise ValueError(
                f"BertConfig.hidden_size ({hidden_size}) must be divisible by BertConfig.num_attention_heads "
                f"({num_attention_heads}): each head gets hidden_size / num_attention_heads dimensions"
            )
        for name, value in (
            ("hidden_dropout_prob", hidden_dropout_prob),
            ("attention_probs_dropout_prob", attention_probs_dropout_prob),
        ):
            if not 0.0 <= float(value) < 1.0:
                raise ValueError(f"BertConfig.{name} must be in [0, 1), got {value!r}")
        if pad_token_id is not None and not 0 <= pad_token_id < vocab_size:
            raise ValueError(f"BertConfig.pad_token_id ({pad_token_id}) must be in [0, vocab_size={vocab_size})")
        # Fields of transformers' BERT configs that this implementation does not support are refused, not ignored.
        if kwargs.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(
                f"BertConfig.position_embedding_type={kwargs['position_embedding_type']!r} is not supported; "
                "hf_models' BERT uses learned absolute positions"
            )
        if kwargs.get("is_decoder", False) or kwargs.get("add_cross_attention", False):
            raise ValueError("BertConfig: is_decoder/add_cross_attention are not supported; BERT here is an encoder")
        kwargs.pop("position_embedding_type", None)

        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.classifier_dropout = classifier_dropout
        self.sparse_prediction = sparse_prediction
        super().__init__(pad_token_id=pad_token_id, tie_word_embeddings=tie_word_embeddings, **kwargs)

    @classmethod
    def get_config_dict(cls, pretrained_model_name_or_path, **kwargs):
        """Read a config.json; a checkpoint in transformers' BERT format (model_type "bert") is read as ours."""
        config_dict, kwargs = super().get_config_dict(pretrained_model_name_or_path, **kwargs)
        if config_dict.get("model_type") == "bert":
            config_dict = {**config_dict, "model_type": cls.model_type}
        return config_dict, kwargs


__all__ = ["BertConfig"]
