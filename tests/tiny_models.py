"""Tiny randomly initialised models of the four families the built-in adapters cover (BERT, OPT,
GPT-NeoX, GPT-Neo), shared by the tests of several stages: the tokenizers (BERT: the real MiniLM WordPiece
one; the decoders: a small byte-level BPE trained here in milliseconds and laid out like the real ones),
the configs, the adapters, and a plugin object that registers them."""

from __future__ import annotations

import pytest
from transformers import BertConfig, GPTNeoConfig, GPTNeoXConfig, OPTConfig

from memlocbench import hookimpl
from memlocbench_models.bert import BertAdapter, minilm_source
from memlocbench_models.gpt_neo import GPTNeoAdapter
from memlocbench_models.gpt_neox import GPTNeoXAdapter
from memlocbench_models.opt import OPTAdapter

ARCHS = ["bert", "opt", "gpt-neox", "gpt-neo"]
EOT = "<|endoftext|>"

CORPUS = [
    "a stirring , funny and finally transporting re-imagining of beauty and the beast",
    "apparently reassembled from the cutting-room floor of any given daytime soap .",
    "they presume their audience wo n't sit still for a sociology lesson | however",
    "this is a visually stunning rumination on love , memory , history and the war",
    "the movie is bad , the acting is worse , and the script is the worst of all .",
    "it 's a charming and often affecting journey .",
]


def bpe(specials: list[str], bos: str | None):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 4, trainer)
    if bos is not None:  # like OPT: "</s> text"
        bos_id = tok.token_to_id(bos)
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A $B", special_tokens=[(bos, bos_id)])
    return tok


@pytest.fixture(scope="module")
def tokenizer_dirs(tmp_path_factory):
    from transformers import PreTrainedTokenizerFast

    root = tmp_path_factory.mktemp("tokenizers")
    opt = PreTrainedTokenizerFast(tokenizer_object=bpe(["<s>", "<pad>", "</s>", "<unk>"], "</s>"),
                                  bos_token="</s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>")
    opt.save_pretrained(root / "opt")
    gpt = PreTrainedTokenizerFast(tokenizer_object=bpe([EOT], None),
                                  bos_token=EOT, eos_token=EOT, unk_token=EOT)
    gpt.save_pretrained(root / "gpt")
    return {"opt": str(root / "opt"), "gpt": str(root / "gpt"), "vocab": len(gpt)}


def tiny_config(arch: str, vocab: int):
    common = dict(hidden_size=32, max_position_embeddings=64)
    if arch == "bert":
        return BertConfig(vocab_size=30522, num_hidden_layers=3, num_attention_heads=4,
                          intermediate_size=64, **common)
    if arch == "opt":  # word_embed_proj_dim != hidden_size: project_in / project_out, as in opt-350m
        return OPTConfig(vocab_size=vocab, num_hidden_layers=4, num_attention_heads=4, ffn_dim=64,
                         word_embed_proj_dim=16, pad_token_id=1, bos_token_id=2, eos_token_id=2, **common)
    if arch == "gpt-neox":  # no pad id in the config, like pythia's
        return GPTNeoXConfig(vocab_size=vocab, num_hidden_layers=4, num_attention_heads=4,
                             intermediate_size=64, bos_token_id=0, eos_token_id=0, pad_token_id=None,
                             **common)
    if arch == "gpt-neo":  # 6 layers: more than 4 stand-in layers below a window; local attention bites
        return GPTNeoConfig(vocab_size=vocab, num_layers=6, attention_types=[[["global", "local"], 3]],
                            num_heads=4, window_size=4, bos_token_id=0, eos_token_id=0,
                            pad_token_id=None, **common)
    raise ValueError(arch)


def num_layers(arch: str) -> int:
    return {"bert": 3, "opt": 4, "gpt-neox": 4, "gpt-neo": 6}[arch]


def tiny_adapter(arch: str, dirs: dict):
    cfg = tiny_config(arch, dirs["vocab"])
    kw = dict(name=f"tiny-{arch}", hub_id=f"tests/tiny-{arch}", description=f"tiny random {arch}", config=cfg)
    if arch == "bert":
        return BertAdapter(source=minilm_source, **kw)
    cls = {"opt": OPTAdapter, "gpt-neox": GPTNeoXAdapter, "gpt-neo": GPTNeoAdapter}[arch]
    src = dirs["opt"] if arch == "opt" else dirs["gpt"]
    return cls(source=lambda: src, **kw)


class TinyModels:
    """A plugin object registering the given model adapters."""

    def __init__(self, adapters):
        self.adapters = adapters

    @hookimpl
    def register_models(self, register):
        for a in self.adapters:
            register(a)



def tiny_bert(name: str, hidden: int = 32, layers: int = 3) -> BertAdapter:
    """A randomly initialised BERT of ``layers`` layers, ``hidden`` wide (2 x hidden neurons a layer),
    with MiniLM's real tokenizer: for tests of the training loop, keys and weight-based methods."""
    config = BertConfig(vocab_size=30522, num_hidden_layers=layers, num_attention_heads=4, hidden_size=hidden,
                        intermediate_size=2 * hidden, max_position_embeddings=64)
    return BertAdapter(name=name, hub_id=f"tests/{name}", description=f"tiny random bert ({name})", config=config,
                       source=minilm_source)
