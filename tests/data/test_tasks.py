"""The 12 built-in tasks, loaded offline from the local mirror (``../shared/data`` next to the repo).

Every expected number below was derived by hand from the mirror's jsonl files and the procedure,
not copied from the code's output:

* class counts: counted directly in ``<task>/<split>.jsonl`` (a json one-liner; they also agree
  with the tables in each task's SOURCE.md);
* noisy examples per class: floor(0.15 * n_class) over the training classes (data seed 1, full
  train set);
* validation / test: the evaluation split of n rows is halved by ``train_test_split(test_size=0.5)``,
  whose "test" part has ceil(n / 2) rows (our test) and whose "train" part floor(n / 2) (our
  validation);
* tasks with only a train split (stormfront, implicithate): ``train_test_split(test_size=0.2)``
  holds out ceil(0.2 * n) rows as evaluation data; which rows is fixed by numpy's
  ``default_rng(seed).permutation(n)`` (the first ceil(0.2 n) indices are held out), so the class
  counts of the remaining train rows were computed with that permutation on the label column.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from functools import lru_cache
from pathlib import Path

import pytest

from memlocbench.data.noisy_dataset import build_noisy_dataset
from memlocbench.errors import DataUnavailableError
from memlocbench.config.profiles import DataConfig
from memlocbench_tasks.catalogue import ALL_TASKS

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
SEP = "[SEP]"
TASKS = {t.metadata.name: t for t in ALL_TASKS}

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"no local data mirror at {DATA}")


@lru_cache(maxsize=None)
def noisy(name: str, seed: int = 1):
    return build_noisy_dataset(TASKS[name], DataConfig(seed=seed, train_size=None), DATA, SEP)


@lru_cache(maxsize=None)
def loaded(name: str, seed: int = 1):
    return TASKS[name].load(DATA, seed, SEP)


def jsonl(task: str, split: str) -> list[dict]:
    with open(DATA / task / f"{split}.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


# name -> (train size, validation size, test size,
#          {class id: training examples}, {class id: noisy examples})
EXPECTED = {
    # train 3668 = 1194 not_equivalent + 2474 equivalent; validation 408 -> 204 / 204
    # noisy: floor(.15*1194)=floor(179.1)=179, floor(.15*2474)=floor(371.1)=371 (550)
    "mrpc": (3668, 204, 204, {0: 1194, 1: 2474}, {0: 179, 1: 371}),
    # train 5428 = 2714 + 2714; validation 638 -> 319 / 319
    # noisy: floor(.15*2714)=floor(407.1)=407 each (814)
    "wic": (5428, 319, 319, {0: 2714, 1: 2714}, {0: 407, 1: 407}),
    # train 2490 = 1249 entailment + 1241 not_entailment; validation 277 -> floor 138 / ceil 139
    # noisy: floor(187.35)=187, floor(186.15)=186 (373)
    "rte": (2490, 138, 139, {0: 1249, 1: 1241}, {0: 187, 1: 186}),
    # train 8551 = 2528 unacceptable + 6023 acceptable; validation 1043 -> 521 / 522
    # noisy: floor(379.2)=379, floor(903.45)=903 (1282)
    "cola": (8551, 521, 522, {0: 2528, 1: 6023}, {0: 379, 1: 903}),
    # train 6920 = 3310 negative + 3610 positive; validation 872 -> 436 / 436
    # noisy: floor(496.5)=496, floor(541.5)=541 (1037)
    "sst2": (6920, 436, 436, {0: 3310, 1: 3610}, {0: 496, 1: 541}),
    # train 8544 = 1092 / 2218 / 1624 / 2322 / 1288 (very negative .. very positive); validation 1101 -> 550 / 551
    # noisy: floor(163.8)=163, floor(332.7)=332, floor(243.6)=243, floor(348.3)=348, floor(193.2)=193 (1279)
    "sst5": (8544, 550, 551, {0: 1092, 1: 2218, 2: 1624, 3: 2322, 4: 1288},
             {0: 163, 1: 332, 2: 243, 3: 348, 4: 193}),
    # train 16000 = sadness 4666, joy 5362, love 1304, anger 2159, fear 1937, surprise 572; validation 2000 -> 1000 / 1000
    # noisy: floor(699.9)=699, floor(804.3)=804, floor(195.6)=195, floor(323.85)=323, floor(290.55)=290,
    #        floor(85.8)=85 (2396)
    "emotion": (16000, 1000, 1000, {0: 4666, 1: 5362, 2: 1304, 3: 2159, 4: 1937, 5: 572},
                {0: 699, 1: 804, 2: 195, 3: 323, 4: 290, 5: 85}),
    # train 5452 = ABBR 86, ENTY 1250, DESC 1162, HUM 1223, LOC 835, NUM 896; evaluation = test 500 -> 250 / 250
    # noisy: floor(12.9)=12, floor(187.5)=187, floor(174.3)=174, floor(183.45)=183, floor(125.25)=125,
    #        floor(134.4)=134 (815)
    "trec": (5452, 250, 250, {0: 86, 1: 1250, 2: 1162, 3: 1223, 4: 835, 5: 896},
             {0: 12, 1: 187, 2: 174, 3: 183, 4: 125, 5: 134}),
    # Single-topic train documents per topic: earn 2840, acq 1596, crude 253, trade 251, money-fx 206,
    # interest 190, money-supply 123, ship 108 | sugar 97, ... -> the 8 classes, sorted:
    # 0 acq, 1 crude, 2 earn, 3 interest, 4 money-fx, 5 money-supply, 6 ship, 7 trade.
    # Keeping single-topic documents of those classes with a non-empty body whose text did not occur
    # earlier in the raw split leaves (counted with a plain loop over train.jsonl):
    # acq 1433, crude 216, earn 2680, interest 134, money-fx 169, money-supply 78, ship 107, trade 214 = 5031;
    # test.jsonl the same way: 2012 -> validation 1006 / test 1006.
    # noisy: floor(214.95)=214, floor(32.4)=32, floor(402.0)=402, floor(20.1)=20, floor(25.35)=25,
    #        floor(11.7)=11, floor(16.05)=16, floor(32.1)=32 (752)
    "reuters": (5031, 1006, 1006, {0: 1433, 1: 216, 2: 2680, 3: 134, 4: 169, 5: 78, 6: 107, 7: 214},
                {0: 214, 1: 32, 2: 402, 3: 20, 4: 25, 5: 11, 6: 16, 7: 32}),
    # 10944 rows, minus idk/skip 73 and relation 168 -> n = 9507 noHate + 1196 hate = 10703.
    # evaluation = ceil(0.2*10703) = ceil(2140.6) = 2141 -> validation 1070 / test 1071; train 8562.
    # default_rng(1).permutation(10703)[2141:] holds 7591 noHate + 971 hate.
    # noisy: floor(1138.65)=1138, floor(145.65)=145 (1283)
    "stormfront": (8562, 1070, 1071, {0: 7591, 1: 971}, {0: 1138, 1: 145}),
    # 6346 rows; evaluation = ceil(0.2*6346) = ceil(1269.2) = 1270 -> 635 / 635; train 5076.
    # Labels sorted: 0 incitement, 1 inferiority, 2 irony, 3 other, 4 stereotypical, 5 threatening,
    # 6 white_grievance. default_rng(1).permutation(6346)[1270:] holds 1020 / 697 / 629 / 58 / 906 / 519 / 1247.
    # noisy: floor(153.0)=153, floor(104.55)=104, floor(94.35)=94, floor(8.7)=8, floor(135.9)=135,
    #        floor(77.85)=77, floor(187.05)=187 (758)
    "implicithate": (5076, 635, 635, {0: 1020, 1: 697, 2: 629, 3: 58, 4: 906, 5: 519, 6: 1247},
                     {0: 153, 1: 104, 2: 94, 3: 8, 4: 135, 5: 77, 6: 187}),
}


def test_catalogue_has_the_papers_twelve_tasks():
    assert sorted(TASKS) == sorted(
        ["mrpc", "wic", "rte", "cola", "boolq", "sst2", "sst5", "emotion", "trec", "reuters", "stormfront",
         "implicithate"]
    )
    for task in ALL_TASKS:
        meta = task.metadata
        assert meta.version == 1
        assert set(meta.splits) <= {"train", "evaluation"} and "train" in meta.splits
        if "evaluation" not in meta.splits:
            assert task.eval_fraction_of_train == 0.2


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sizes_and_noisy_counts_for_data_seed_1(name):
    n_train, n_val, n_test, train_classes, noisy_per_class = EXPECTED[name]
    nd = noisy(name)
    assert (nd.train_size, len(nd.validation), len(nd.test)) == (n_train, n_val, n_test)
    assert nd.original_train_size == n_train
    assert dict(Counter(nd.original_labels)) == train_classes
    assert dict(Counter(nd.original_labels[i] for i in nd.noisy_idx)) == noisy_per_class
    assert len(nd.noisy_idx) == sum(noisy_per_class.values())
    # the noisy examples, and only those, carry another label
    changed = [i for i, (a, b) in enumerate(zip(nd.original_labels, nd.noisy_labels)) if a != b]
    assert changed == nd.noisy_idx
    assert all(0 <= y < nd.num_labels for y in nd.noisy_labels + nd.validation.labels + nd.test.labels)


def test_boolq_offline_names_the_missing_train_split_and_the_hub_call():
    with pytest.raises(DataUnavailableError) as info:
        TASKS["boolq"].load(DATA, 1, SEP)
    msg = str(info.value)
    assert "'boolq'" in msg
    assert "lacks the split(s) train" in msg
    assert "it has: validation" in msg
    assert "datasets.load_dataset('aps/super_glue', 'boolq')" in msg


# -- input strings ------------------------------------------------------------------------------

def test_single_field_input_is_the_text_as_is():
    assert loaded("cola").train.texts[0] == "Our friends won't buy this analysis, let alone the next one we propose."
    assert loaded("cola").train.labels[0] == 1


def test_pair_input_is_joined_with_the_separator():
    first = jsonl("mrpc", "train")[0]
    expected = (
        'Amrozi accused his brother , whom he called " the witness " , of deliberately distorting his evidence .'
        ' [SEP] '
        'Referring to him as only " the witness " , Amrozi accused his brother of deliberately distorting his evidence .'
    )
    assert f"{first['sentence1']} [SEP] {first['sentence2']}" == expected
    assert loaded("mrpc").train.texts[0] == expected
    assert loaded("mrpc").train.labels[0] == 1


def test_wic_input_is_word_sentence1_sentence2():
    assert loaded("wic").train.texts[0] == (
        "place [SEP] Do you want to come over to my place later? [SEP] "
        "A political system with no place for the less prominent groups."
    )
    assert loaded("wic").train.labels[0] == 0


def test_boolq_input_is_question_then_passage():
    # the formatting code is the same for every task; boolq's rows exist offline for validation only
    row = jsonl("boolq", "validation")[0]
    task = TASKS["boolq"]
    text = task.format_input(task.fields_of(row), SEP)
    assert text == f"{row['question']} [SEP] {row['passage']}"
    assert text.startswith("does ethanol take more energy make that produces [SEP] Ethanol fuel -- ")


def test_separator_comes_from_the_caller():
    assert loaded("wic", 1).train.texts[0] != TASKS["wic"].load(DATA, 1, "</s>").train.texts[0]
    assert TASKS["wic"].load(DATA, 1, "</s>").train.texts[0].startswith("place </s> Do you want")


# -- task-specific preprocessing ------------------------------------------------------------------

def test_string_labels_map_to_sorted_indices():
    meta = TASKS["implicithate"].metadata
    assert list(meta.label_names) == sorted(meta.label_names)
    row = jsonl("implicithate", "train")[3]  # ": hunt for white women : black racist serial killer ..."
    assert row["implicit_class"] == "stereotypical"
    assert TASKS["implicithate"].label_of(row) == 4
    assert list(TASKS["reuters"].metadata.label_names) == sorted(TASKS["reuters"].metadata.label_names)


def test_emotion_and_sst5_keep_the_hubs_integer_ids():
    # the hub's ids are already integers; the paper's sorted mapping of them is the identity
    row = jsonl("sst5", "train")[0]
    assert (row["label"], row["label_text"]) == (4, "very positive")
    assert TASKS["sst5"].metadata.label_names[TASKS["sst5"].label_of(row)] == "very positive"
    assert TASKS["emotion"].metadata.label_names == ("sadness", "joy", "love", "anger", "fear", "surprise")
    assert loaded("emotion").train.labels[0] == 0  # "i didnt feel humiliated" -> sadness


def test_reuters_keeps_single_topic_non_empty_unique_documents():
    data = loaded("reuters")
    for split in (data.train, data.validation, data.test):
        assert all(t.strip() for t in split.texts)
        assert len(set(split.texts)) == len(split.texts)
    # evaluation = the 2012 kept test documents: acq 621, crude 100, earn 1044, interest 55, money-fx 69,
    # money-supply 17, ship 35, trade 71 (counted in test.jsonl the same way as train)
    assert dict(Counter(data.validation.labels + data.test.labels)) == {
        0: 621, 1: 100, 2: 1044, 3: 55, 4: 69, 5: 17, 6: 35, 7: 71}


def test_stormfront_keeps_hate_and_nohate_only():
    data = loaded("stormfront")
    # 9507 noHate + 1196 hate in all; train holds 7591 + 971, so evaluation holds 1916 + 225
    assert dict(Counter(data.validation.labels + data.test.labels)) == {0: 1916, 1: 225}


def test_implicithate_evaluation_is_the_rest_of_train():
    data = loaded("implicithate")
    # totals 1269 / 863 / 797 / 80 / 1133 / 666 / 1538 minus the train counts above
    assert dict(Counter(data.validation.labels + data.test.labels)) == {
        0: 249, 1: 166, 2: 168, 3: 22, 4: 227, 5: 147, 6: 291}
    texts = data.train.texts + data.validation.texts + data.test.texts
    assert Counter(texts) == Counter(r["post"] for r in jsonl("implicithate", "train"))


def test_evaluation_halves_partition_the_evaluation_split():
    data = loaded("trec")
    assert sorted(data.validation.texts + data.test.texts) == sorted(r["text"] for r in jsonl("trec", "test"))
    assert not set(data.validation.texts) & set(data.test.texts)


# -- determinism ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["rte", "implicithate"])
def test_same_seed_same_data_other_seed_other_noise(name):
    task = TASKS[name]
    a = build_noisy_dataset(task, DataConfig(seed=1, train_size=None), DATA, SEP)
    b = build_noisy_dataset(task, DataConfig(seed=1, train_size=None), DATA, SEP)
    assert a.fingerprint() == b.fingerprint()
    assert (a.noisy_idx, a.noisy_labels, a.validation, a.test) == (b.noisy_idx, b.noisy_labels, b.validation, b.test)

    c = noisy(name, 2)
    assert c.train_size == a.train_size
    assert len(c.noisy_idx) == len(a.noisy_idx)  # rte: 373; implicithate: 758 with seed 2 as well
    assert c.fingerprint() != a.fingerprint()
    assert set(c.validation.texts) != set(a.validation.texts)
    if name == "rte":  # same train rows in the same order: only the noise differs
        assert c.train_texts == a.train_texts
        assert c.noisy_idx != a.noisy_idx
    else:  # another 80/20 split of train
        assert set(c.train_texts) != set(a.train_texts)
