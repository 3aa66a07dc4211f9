"""A local transformers chat model: batched greedy generation, the tokenizer set up for chat (shared by the
transformers judge and ``chase judge serve``)."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

from rft.chat import CHATML_TEMPLATE

__all__ = ["LocalChatModel"]


class LocalChatModel:
    """Greedy chat generation with a local transformers causal LM, in batches (left padded, sorted by length).

    Sets what chat models need and small local tokenizers lack: a pad token (eos when absent), left padding,
    a ChatML template when the tokenizer has none, and ``<|im_end|>`` as an extra end-of-turn token.
    ``max_input_tokens`` (default: the model's context minus ``max_new_tokens``) bounds prompt length; a longer
    prompt gets no reply (None). One ``generate`` at a time per model (a lock), so threads may share it."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        batch_size: int = 8,
        max_new_tokens: int = 256,
        max_input_tokens: int | None = None,
        model_id: str | None = None,
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.model_id = model_id or str(getattr(model, "name_or_path", "") or type(model).__name__)
        self.batch_size = int(batch_size)
        self.max_new_tokens = int(max_new_tokens)
        ctx = getattr(getattr(model, "config", None), "max_position_embeddings", None)
        self.max_input_tokens = max_input_tokens or (ctx - self.max_new_tokens if ctx else None)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"
        if getattr(tokenizer, "chat_template", None) is None:
            tokenizer.chat_template = CHATML_TEMPLATE
        eos = {tokenizer.eos_token_id}
        if "<|im_end|>" in tokenizer.get_vocab():
            eos.add(tokenizer.convert_tokens_to_ids("<|im_end|>"))  # chat models end a turn with <|im_end|>
        self._eos = sorted(e for e in eos if e is not None)
        self._lock = threading.Lock()
        self.generations = 0

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @classmethod
    def from_pretrained(
        cls, path: str, *, gguf_file: str | None = None, device: str = "cpu", **kw: Any
    ) -> LocalChatModel:
        """Load a local model folder (``gguf_file``: a GGUF file inside it, dequantized by transformers; needs
        the ``gguf`` package). Never downloads: ``local_files_only=True``."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        extra = {"gguf_file": gguf_file} if gguf_file else {}
        tok = AutoTokenizer.from_pretrained(path, local_files_only=True, **extra)
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, **extra).to(device).eval()
        kw.setdefault("model_id", os.path.basename(os.path.normpath(path)) + (f"/{gguf_file}" if gguf_file else ""))
        return cls(model, tok, **kw)

    def generate(
        self, conversations: Sequence[list[dict[str, str]]], max_new_tokens: int | None = None
    ) -> list[str | None]:
        """Greedy replies for chat ``conversations``; None where the prompt is longer than ``max_input_tokens``."""
        import torch

        new_tokens = min(max_new_tokens or self.max_new_tokens, self.max_new_tokens)
        texts = [
            self.tokenizer.apply_chat_template(m, add_generation_prompt=True, tokenize=False) for m in conversations
        ]
        lengths = [len(self.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
        replies: list[str | None] = [None] * len(texts)
        order = [
            i
            for i in sorted(range(len(texts)), key=lambda i: lengths[i])
            if self.max_input_tokens is None or lengths[i] <= self.max_input_tokens
        ]
        device = next(self.model.parameters()).device
        for s in range(0, len(order), self.batch_size):
            idx = order[s : s + self.batch_size]
            enc = self.tokenizer(
                [texts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(device)
            with self._lock, torch.inference_mode():
                gen = self.model.generate(
                    **enc,
                    max_new_tokens=new_tokens,
                    do_sample=False,
                    eos_token_id=self._eos,
                    pad_token_id=self.tokenizer.pad_token_id,
                )
                self.generations += len(idx)
            new = gen[:, enc["input_ids"].shape[1] :]
            for i, row in zip(idx, new, strict=True):
                replies[i] = self.tokenizer.decode(row, skip_special_tokens=True)
        return replies
