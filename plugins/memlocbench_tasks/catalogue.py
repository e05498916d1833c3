"""The tasks of Dankers & Titov (2024), with their hub sources and preprocessing."""

from __future__ import annotations

from memlocbench.data.hub_task import HubTask
from memlocbench.protocols import TaskMetadata

SST2 = HubTask(TaskMetadata(
    name="sst2",
    description="Stanford Sentiment Treebank, binary sentence-level sentiment",
    hub_id="yerevann/sst2",
    splits={"train": "train", "evaluation": "validation"},
    text_fields=("sentence",),
    label_field="label",
    label_names=("negative", "positive"),
    license="unknown (SST; research use)",
    citation="Socher et al. (2013), Recursive Deep Models for Semantic Compositionality Over a Sentiment Treebank, EMNLP",
    version=1,
))

ALL_TASKS = [SST2]
