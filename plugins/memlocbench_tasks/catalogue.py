"""The 12 tasks of Dankers & Titov (2024), with their hub sources and preprocessing.

Every task is a :class:`~memlocbench.data.hub.HubTask`; the shared procedure (evaluation split
halved into validation and test with the data seed, or 20% of train held out where the hub has only
train; multi-field inputs joined as ``a SEP b``) lives there. Only three tasks need their own
preprocessing: ``reuters`` (single-topic documents of the 8 most frequent single-topic classes,
no empty bodies, no repeated texts), ``stormfront`` (hate / noHate only) and, through its string
labels, ``implicithate``. See docs/tasks.md for every choice and every deviation from the paper.

Hub ids are the datasets' current namespaced repositories (the paper's code used the legacy short
names: ``glue``, ``super_glue``, ``trec``, ``reuters21578``, ``hate_speech18``, which redirect there
or, for ``super_glue``, no longer resolve).
"""

from __future__ import annotations

from collections import Counter

from memlocbench.api import HubTask
from memlocbench.api import DataUnavailableError
from memlocbench.api import TaskMetadata

_GLUE = "Wang et al. (2019), GLUE: A Multi-Task Benchmark and Analysis Platform for Natural Language Understanding, ICLR"
_SUPERGLUE = ("Wang et al. (2019), SuperGLUE: A Stickier Benchmark for General-Purpose Language Understanding "
              "Systems, NeurIPS")

# -- GLUE / SuperGLUE ----------------------------------------------------------------------------

MRPC = HubTask(TaskMetadata(
    name="mrpc",
    description="Microsoft Research Paraphrase Corpus (GLUE): are two news sentences paraphrases?",
    hub_id="nyu-mll/glue",
    hub_config="mrpc",
    splits={"train": "train", "evaluation": "validation"},
    text_fields=("sentence1", "sentence2"),
    label_field="label",
    label_names=("not_equivalent", "equivalent"),
    license="unknown (Microsoft Research Paraphrase Corpus; research use)",
    citation="Dolan & Brockett (2005), Automatically Constructing a Corpus of Sentential Paraphrases, "
             f"IWP; {_GLUE}",
    version=1,
))

WIC = HubTask(TaskMetadata(
    name="wic",
    description="Word-in-Context (SuperGLUE): is the target word used with the same sense in both sentences?",
    hub_id="aps/super_glue",
    hub_config="wic",
    splits={"train": "train", "evaluation": "validation"},
    text_fields=("word", "sentence1", "sentence2"),  # -> "word SEP sentence1 SEP sentence2"
    label_field="label",
    label_names=("False", "True"),
    license="CC BY-NC 4.0",
    citation="Pilehvar & Camacho-Collados (2019), WiC: the Word-in-Context Dataset for Evaluating "
             f"Context-Sensitive Meaning Representations, NAACL; {_SUPERGLUE}",
    version=1,
))

RTE = HubTask(TaskMetadata(
    name="rte",
    description="Recognising Textual Entailment (GLUE): does sentence1 entail sentence2?",
    hub_id="nyu-mll/glue",
    hub_config="rte",
    # the hub's test split is unlabelled (label -1): evaluation data is the validation split
    splits={"train": "train", "evaluation": "validation"},
    text_fields=("sentence1", "sentence2"),
    label_field="label",
    label_names=("entailment", "not_entailment"),
    license="unknown (RTE1-3 and RTE5 challenge data; research use)",
    citation="Dagan et al. (2006); Bar Haim et al. (2006); Giampiccolo et al. (2007); Bentivogli et al. (2009), "
             f"the PASCAL/TAC Recognising Textual Entailment challenges; {_GLUE}",
    version=1,
))

COLA = HubTask(TaskMetadata(
    name="cola",
    description="Corpus of Linguistic Acceptability (GLUE): is the sentence grammatically acceptable?",
    hub_id="nyu-mll/glue",
    hub_config="cola",
    splits={"train": "train", "evaluation": "validation"},
    text_fields=("sentence",),
    label_field="label",
    label_names=("unacceptable", "acceptable"),
    license="unknown (CoLA; research use)",
    citation=f"Warstadt, Singh & Bowman (2019), Neural Network Acceptability Judgments, TACL; {_GLUE}",
    version=1,
))

BOOLQ = HubTask(TaskMetadata(
    name="boolq",
    description="BoolQ (SuperGLUE): yes/no question about a Wikipedia passage",
    hub_id="aps/super_glue",
    hub_config="boolq",
    splits={"train": "train", "evaluation": "validation"},
    text_fields=("question", "passage"),  # -> "question SEP passage"
    label_field="label",
    label_names=("False", "True"),
    license="CC BY-SA 3.0",
    citation="Clark et al. (2019), BoolQ: Exploring the Surprising Difficulty of Natural Yes/No Questions, "
             f"NAACL; {_SUPERGLUE}",
    version=1,
))

# -- sentiment, emotion, question type ------------------------------------------------------------

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

SST5 = HubTask(TaskMetadata(
    name="sst5",
    description="Stanford Sentiment Treebank, five-way sentence-level sentiment",
    hub_id="SetFit/sst5",
    splits={"train": "train", "evaluation": "validation"},
    text_fields=("text",),
    # the hub's integer ids (an ordinal scale); the paper's sorted-label mapping is the identity on them
    label_field="label",
    label_names=("very negative", "negative", "neutral", "positive", "very positive"),
    license="unknown (SST; research use)",
    citation="Socher et al. (2013), Recursive Deep Models for Semantic Compositionality Over a Sentiment Treebank, EMNLP",
    version=1,
))

EMOTION = HubTask(TaskMetadata(
    name="emotion",
    description="English Twitter messages labelled with one of six basic emotions (CARER)",
    hub_id="dair-ai/emotion",
    splits={"train": "train", "evaluation": "validation"},
    text_fields=("text",),
    # the hub's ClassLabel order; the paper's sorted-label mapping is the identity on these integer ids
    label_field="label",
    label_names=("sadness", "joy", "love", "anger", "fear", "surprise"),
    license="other (educational and research use only)",
    citation="Saravia et al. (2018), CARER: Contextualized Affect Representations for Emotion Recognition, EMNLP",
    version=1,
))

TREC = HubTask(TaskMetadata(
    name="trec",
    description="TREC question classification, six coarse answer types",
    hub_id="CogComp/trec",
    splits={"train": "train", "evaluation": "test"},  # the hub has no validation split
    text_fields=("text",),
    label_field="coarse_label",
    label_names=("ABBR", "ENTY", "DESC", "HUM", "LOC", "NUM"),
    license="unknown (CogComp; research use)",
    citation="Li & Roth (2002), Learning Question Classifiers, COLING; Hovy et al. (2001), Toward Semantics-Based "
             "Answer Pinpointing, HLT",
    version=1,
))


# -- tasks with their own preprocessing -----------------------------------------------------------

class ReutersTask(HubTask):
    """Reuters-21578 (ModApte) reduced to 8 single-topic classes, as in the paper's code.

    The classes are the 8 most frequent topics among the *training* documents that have exactly one
    topic (earn, acq, crude, trade, money-fx, interest, money-supply, ship: note that this is not the
    standard R8, which has grain instead of money-supply). In each split a document is kept if

    * it has exactly one topic, and that topic is one of the 8 classes;
    * its body text is not empty (BRIEF items are headline-only: the hub gives them ``text == ""``);
    * its text does not occur in any earlier document of the same split (any document, kept or
      not, as the paper's code compares against the whole raw split).

    Labels are the classes in sorted order.
    """

    NUM_CLASSES = 8

    def top_classes(self, train) -> list[str]:
        counts = Counter(t[0] for t in train["topics"] if len(t) == 1)
        ranked = counts.most_common()
        if len(ranked) > self.NUM_CLASSES and ranked[self.NUM_CLASSES - 1][1] == ranked[self.NUM_CLASSES][1]:
            raise DataUnavailableError(
                f"task {self.metadata.name!r}: the 8th and 9th most frequent single-topic classes tie "
                f"({ranked[self.NUM_CLASSES - 1]}, {ranked[self.NUM_CLASSES]}); this copy of the data is not ModApte"
            )
        return sorted(c for c, _ in ranked[: self.NUM_CLASSES])

    @staticmethod
    def kept_indices(texts: list[str], topics: list[list[str]], classes: set[str]) -> list[int]:
        seen: set[str] = set()
        keep = []
        for i, (text, tops) in enumerate(zip(texts, topics)):
            if len(tops) == 1 and tops[0] in classes and text.strip() and text not in seen:
                keep.append(i)
            seen.add(text)
        return keep

    def preprocess(self, raw):
        train = raw[self.metadata.splits["train"]]
        classes = self.top_classes(train)
        if tuple(classes) != self.metadata.label_names:
            raise DataUnavailableError(
                f"task {self.metadata.name!r}: the 8 most frequent single-topic classes of this train split are "
                f"{classes}, not {list(self.metadata.label_names)}; this copy of the data is not ModApte"
            )
        wanted = set(classes)
        for split in list(raw):
            ds = raw[split]
            raw[split] = ds.select(self.kept_indices(ds["text"], ds["topics"], wanted))
        return raw

    def label_of(self, row: dict) -> int:
        return self.metadata.label_names.index(row["topics"][0])


REUTERS = ReutersTask(TaskMetadata(
    name="reuters",
    description="Reuters-21578 (ModApte) newswire, single-topic documents of the 8 most frequent single-topic classes",
    hub_id="ucirvine/reuters21578",
    hub_config="ModApte",
    hub_revision="refs/convert/parquet",  # script dataset: datasets>=4 reads the hub's parquet export
    splits={"train": "train", "evaluation": "test"},  # ModApte has train / test / unused
    text_fields=("text",),
    label_field="topics",
    label_names=("acq", "crude", "earn", "interest", "money-fx", "money-supply", "ship", "trade"),
    license="other (Reuters-21578 Distribution 1.0: free for research use, with acknowledgement)",
    citation="Lewis (1997), Reuters-21578 Text Categorization Test Collection, Distribution 1.0; Apté, Damerau & "
             "Weiss (1994), Automated Learning of Decision Rules for Text Categorization, ACM TOIS (ModApte split)",
    version=1,
))


class StormfrontTask(HubTask):
    """hate_speech18 with only its hate / noHate sentences (the paper drops idk/skip and relation)."""

    eval_fraction_of_train = 0.2
    KEEP = (0, 1)

    def preprocess(self, raw):
        for split in list(raw):
            ds = raw[split]
            raw[split] = ds.select([i for i, y in enumerate(ds[self.metadata.label_field]) if y in self.KEEP])
        return raw


STORMFRONT = StormfrontTask(TaskMetadata(
    name="stormfront",
    description="Sentences from the Stormfront white-supremacist forum, hate speech or not (hate_speech18)",
    hub_id="odegiber/hate_speech18",
    hub_revision="refs/convert/parquet",  # script dataset: datasets>=4 reads the hub's parquet export
    splits={"train": "train"},  # no evaluation split on the hub: 20% of train is held out
    text_fields=("text",),
    label_field="label",
    label_names=("noHate", "hate"),
    license="CC BY-SA 3.0 ES",
    citation="de Gibert et al. (2018), Hate Speech Dataset from a White Supremacy Forum, ALW2",
    version=1,
))

IMPLICITHATE = HubTask(TaskMetadata(
    name="implicithate",
    description="Implicit hate speech tweets, seven implicit-hate categories (Latent Hatred, stage 2)",
    hub_id="SALT-NLP/ImplicitHate",
    splits={"train": "train"},  # no evaluation split on the hub: 20% of train is held out
    text_fields=("post",),
    label_field="implicit_class",  # strings -> their index in the sorted label names
    label_names=("incitement", "inferiority", "irony", "other", "stereotypical", "threatening", "white_grievance"),
    license="CC BY 4.0",
    citation="ElSherief et al. (2021), Latent Hatred: A Benchmark for Understanding Implicit Hate Speech, EMNLP",
    version=1,
), eval_fraction_of_train=0.2)

ALL_TASKS = [MRPC, WIC, RTE, COLA, BOOLQ, SST2, SST5, EMOTION, TREC, REUTERS, STORMFRONT, IMPLICITHATE]
