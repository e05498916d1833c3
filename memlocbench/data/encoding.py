"""Tokenise once, then build padded batches: shuffled for training, length-sorted for evaluation."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Encoded:
    """Token ids of a list of texts (unpadded), plus the padding id to use."""

    ids: list[list[int]]
    pad_id: int
    device: str = "cpu"  # where ``batch`` puts its tensors (``memlocbench.run.device``)

    def batch(self, indices: list[int]) -> dict[str, torch.Tensor]:
        seqs = [self.ids[i] for i in indices]
        width = max(len(s) for s in seqs)
        input_ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, s in enumerate(seqs):
            input_ids[row, : len(s)] = torch.tensor(s, dtype=torch.long)
            mask[row, : len(s)] = 1
        return {"input_ids": input_ids.to(self.device), "attention_mask": mask.to(self.device)}

    def eval_batches(self, indices: list[int], batch_size: int) -> list[tuple[list[int], dict[str, torch.Tensor]]]:
        """Batches of similar length (little padding); deterministic, so results can be cached per batch."""
        order = sorted(indices, key=lambda i: (len(self.ids[i]), i))
        chunks = [order[k : k + batch_size] for k in range(0, len(order), batch_size)]
        return [(chunk, self.batch(chunk)) for chunk in chunks]


def encode(tokenizer, texts: list[str], max_length: int, device: str = "cpu") -> Encoded:
    out = tokenizer(texts, truncation=True, max_length=max_length)
    pad = tokenizer.pad_token_id
    if pad is None:
        raise ValueError("tokenizer has no pad token; the model adapter must set one")
    return Encoded(ids=[list(x) for x in out["input_ids"]], pad_id=int(pad), device=device)
