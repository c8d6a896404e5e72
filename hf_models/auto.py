"""Register every config and model of hf_models with transformers' Auto classes (done on `import hf_models`)."""

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    AutoModelForMultipleChoice,
    AutoModelForNextSentencePrediction,
    AutoModelForPreTraining,
    AutoModelForQuestionAnswering,
    AutoModelForSeq2SeqLM,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
)

from . import bert, ngram, rnn, seq2seq, word2vec

# (config class, [(auto class, model class), ...]) for every family of the package
REGISTRY = [
    (
        bert.BertConfig,
        [
            (AutoModel, bert.BertModel),
            (AutoModelForPreTraining, bert.BertForPreTraining),
            (AutoModelForMaskedLM, bert.BertForMaskedLM),
            (AutoModelForNextSentencePrediction, bert.BertForNextSentencePrediction),
            (AutoModelForSequenceClassification, bert.BertForSequenceClassification),
            (AutoModelForTokenClassification, bert.BertForTokenClassification),
            (AutoModelForQuestionAnswering, bert.BertForQuestionAnswering),
            (AutoModelForMultipleChoice, bert.BertForMultipleChoice),
        ],
    ),
    (
        word2vec.Word2VecConfig,
        [
            (AutoModel, word2vec.Word2VecModel),
        ],
    ),
    (
        ngram.NGramConfig,
        [
            (AutoModel, ngram.NGramLanguageModel),
            (AutoModelForCausalLM, ngram.NGramLanguageModel),
        ],
    ),
    (
        rnn.RnnConfig,
        [
            (AutoModel, rnn.RnnModel),
            (AutoModelForCausalLM, rnn.RnnForCausalLM),
            (AutoModelForSequenceClassification, rnn.RnnForSequenceClassification),
            (AutoModelForTokenClassification, rnn.RnnForTokenClassification),
        ],
    ),
    (
        seq2seq.Seq2SeqConfig,
        [
            (AutoModel, seq2seq.Seq2SeqModel),
            (AutoModelForSeq2SeqLM, seq2seq.Seq2SeqForConditionalGeneration),
        ],
    ),
]


def register_auto_classes() -> None:
    """Make AutoConfig/AutoModel*.from_pretrained understand hf_models' model types (idempotent)."""
    for config_class, heads in REGISTRY:
        AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
        for auto_class, model_class in heads:
            auto_class.register(config_class, model_class, exist_ok=True)


# hf_models model_type -> transformers' model_type of the same architecture and checkpoint format: a checkpoint of
# either kind runs through either library's classes (`hf_models.tasks.common.load_config`).
TRANSFORMERS_MODEL_TYPES = {
    bert.BertConfig.model_type: "bert",
}
