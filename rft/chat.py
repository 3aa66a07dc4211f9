"""The ChatML chat template, in one place: the tiny LMs are saved with it (:mod:`rft.tinylm`), and
:class:`rft.judges.LocalChatModel` gives it to a tokenizer that has no chat template of its own."""

__all__ = ["CHATML_TEMPLATE"]

# ChatML, as Qwen2 uses. Prefix-preserving (each message renders independently), so TRL's conversational
# path and our own prompt rendering give identical token sequences.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
