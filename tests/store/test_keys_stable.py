"""Store keys and result config hashes do not change when the code is reorganised.

An existing artefact store must keep serving: a trained model, a method's layer scores or an
analysis' output is found by the sha256 of the spec that determines it, and a result file names its
config by ``config_hash``. This test computes those for a fixed set of configs and roles (SST-2 x
MiniLM-L6, 300 training rows, the standard roles, every control role of the pair, single-layer and
neuron tracks, layer swapping and gradient attribution on the standard and a control setup, every
built-in analysis over model seeds 1-3) and compares them with literals.

How the literals were made: ``compute_keys`` below was run on commit 0551170 (the last commit before
the restructure into subpackages) with the functions of that tree's modules (``memlocbench.profiles``,
``memlocbench.pipeline``, ``memlocbench.analysis_pipeline``, ``memlocbench.plugins``), the built-in
plugins loaded from that tree's entry points with ``MEMLOCBENCH_LOAD_PLUGINS`` empty (providers
``memlocbench 0.1.0``, as installed), on the data mirror in ``$MEMLOCBENCH_DATA_DIR``. Only the
import paths differ between the two runs: the computation is this file's ``compute_keys``.

A failure here means a change alters keys: every model, score and analysis in existing stores would
be recomputed. If that is intended (a new training code version, a method's new version), update the
literals in the same commit and say so in its message.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

TASK, MODEL, ROWS, SEEDS, NUM_LAYERS = "sst2", "minilm-l6", 300, (1, 2, 3), 6
#: (profile, overrides) of the configs whose hash is pinned; the first two are the key configs below
CONFIGS = {
    "cpu-300": ("cpu", {"data": {"train_size": ROWS}}),
    "cpu-fast-300": ("cpu-fast", {"data": {"train_size": ROWS}}),
    "cpu": ("cpu", {}),
    "cpu-fast": ("cpu-fast", {}),
    "cpu-small-epochs": ("cpu", {"data": {"train_size": 32, "max_length": 16}, "train": {"epochs": 1}}),
    "cpu-params": ("cpu", {"train": {"seed": 2}, "methods": {"layer-swapping": {"eval_batch_size": 8}},
                           "analyses": {"centroids": {"threshold": 0.4}}}),
    "cpu-fast-control": ("cpu-fast", {"control": {"epochs": 3}, "guard": {"min_noisy_fit": 0.5}}),
}


def new_api() -> SimpleNamespace:
    """The functions ``compute_keys`` needs, from their homes in this tree."""
    from memlocbench.run.settings import profile_config
    from memlocbench.data.noisy_dataset import build_noisy_dataset
    from memlocbench.registry import load_plugins
    from memlocbench.run.analysis_run import analysis_spec
    from memlocbench.run.method_run import layer_scores_spec, model_providers, model_setups, provider_of
    from memlocbench.store import ArtefactStore
    from memlocbench.training.trained_models import TrainedModels

    return SimpleNamespace(profile_config=profile_config, build_noisy_dataset=build_noisy_dataset,
                           load_plugins=load_plugins, analysis_spec=analysis_spec,
                           layer_scores_spec=layer_scores_spec, model_providers=model_providers,
                           provider_of=provider_of, model_setups=model_setups, ArtefactStore=ArtefactStore,
                           TrainedModels=TrainedModels)


def _models(api, plugins, store, config, data_dir):
    """The ``TrainedModels`` of one seed's config, built as the grid planner builds it (no weights)."""
    adapter = plugins.models.get(MODEL)
    task = plugins.tasks.get(TASK)
    dataset = api.build_noisy_dataset(task, config.data, data_dir, adapter.separator(adapter.load_tokenizer()))
    return api.TrainedModels(store, adapter, MODEL, TASK, task.metadata.version, dataset, None, None, config,
                             progress=False, providers=api.model_providers(plugins, TASK, MODEL)), dataset


def _model_and_score_keys(api, plugins, store, name, config, data_dir) -> dict[str, str]:
    models, _ = _models(api, plugins, store, config, data_dir)
    out = {f"{name}/model/{role}": models.key(role) for role in ("memorising", "clean", "classifier-only")}
    setups = [("standard", aliases) for aliases, _ in api.model_setups(TASK, config, NUM_LAYERS, False)]
    # (the planted track was called "neurons" when these keys were pinned; its labels keep that name)
    for track, label in (("pair", "pair"), ("single", "single"), ("planted", "neurons")):
        for aliases, placement in api.model_setups(TASK, config, NUM_LAYERS, True, track=track):
            setups.append((f"{label}-{placement}", aliases))
            out.update({f"{name}/model/{role}": models.key(role) for role in aliases.values()})
    # the standard setup and two control placements (layer methods), the planted neurons (a neuron method)
    scored = [(setup, aliases, ("layer-swapping", "gradient-attribution")) for setup, aliases in setups[:3]]
    scored += [(setup, aliases, ("zero-out",)) for setup, aliases in setups if setup.startswith("neurons")]
    for setup, aliases, methods in scored:
        view = models.for_setup(aliases)
        for method in methods:
            m = plugins.methods.get(method)
            spec = api.layer_scores_spec(m, config, view, api.provider_of(plugins, "method", method))
            out[f"{name}/scores/{setup}/{method}"] = store.key(spec)
    return out


def _analysis_keys(api, plugins, store, name, base, data_dir) -> dict[str, str]:
    """Every registered analysis over ``SEEDS``, keyed as the grid planner and ``memlocbench analyse`` key it."""
    config = base.with_seed(SEEDS[0]).model_copy(update={"seeds": list(SEEDS)})
    per_seed = {s: _models(api, plugins, store, base.with_seed(s), data_dir) for s in SEEDS}
    dataset = per_seed[SEEDS[0]][1]
    task_meta = plugins.tasks.get(TASK).metadata
    version = plugins.models.get(MODEL).info.version
    out = {}
    for analysis_name in plugins.analyses.names():
        spec = api.analysis_spec(plugins.analyses.get(analysis_name), task_meta, MODEL, version, config, dataset,
                                 {s: m for s, (m, _) in per_seed.items()}, plugins)
        out[f"{name}/analysis/{analysis_name}"] = store.key(spec)
    return out


def compute_keys(api, data_dir, store_root) -> dict[str, str]:
    """Label -> pinned value: config hashes, model keys, layer-score keys, analysis keys, providers."""
    plugins = api.load_plugins()
    store = api.ArtefactStore(store_root)
    out = {"provider/method/layer-swapping": str(plugins.methods.provider("layer-swapping")),
           "provider/model/minilm-l6": str(plugins.models.provider(MODEL)),
           "provider/task/sst2": str(plugins.tasks.provider(TASK))}
    configs = {name: api.profile_config(profile, plugins=plugins, **over) for name, (profile, over) in CONFIGS.items()}
    out.update({f"config_hash/{name}": cfg.hash() for name, cfg in configs.items()})
    for name in ("cpu-300", "cpu-fast-300"):
        out.update(_model_and_score_keys(api, plugins, store, name, configs[name], data_dir))
        out.update(_analysis_keys(api, plugins, store, name, configs[name], data_dir))
    return out


PINNED: dict[str, str] = {  # compute_keys on commit 0551170 (see the module docstring)
    "config_hash/cpu": "ed4db834da96473c1c89d864b43f4a847ac8c174429c36b3653af878a3149e62",
    "config_hash/cpu-300": "2f5dae697d199921dfb7e5a5283da138aa3d5527a3867c2de8feef77e45636de",
    "config_hash/cpu-fast": "460a5a73a20c95ec130536c47e70b6ceb296743da3e58be73ffeec346b3ba0bc",
    "config_hash/cpu-fast-300": "5b23b4ca78ae0ea7ce736be8fb64265cbfb890ae3e3856b5a38dcae2afa92c85",
    "config_hash/cpu-fast-control": "f36f0b07cbc3b1494ece9b8b186efb5ac1af242616aa6e72a5486cf3248abcd9",
    "config_hash/cpu-params": "00d866d730293a0ec869aebd478f2302056fe1ec865a14cccaa6806c0ef8a9e9",
    "config_hash/cpu-small-epochs": "6e739c1875530a4ce1d8c8a017335c7d3a359b14c86c3d5ff5e6ca3e38bb84bd",
    "cpu-300/analysis/centroids": "607804462c779f59ecd2d369062e21a084449f3087d6cba909d4699b225a7ac7",
    "cpu-300/analysis/memorisation-map": "b3a21ae95ad4581bd16a831dd10531f7afb1f0c4e504e7b577782911f599fbb5",
    "cpu-300/analysis/neuron-ablation": "472c2120c06b581b826fac172e0e93865a2a370997a3d96e1224cee7fc2c2c1c",
    "cpu-300/analysis/probing-events": "6efbfb7132f2f1b9b47f7f40a1f1c9d2ae88de56d23e7f83deec0e63e761fbb9",
    "cpu-300/model/classifier-only": "327ca7bbbac76da644b722cdc424659fa203e727f83ba7daf60f63542bbb398c",
    "cpu-300/model/clean": "57aa4070f1294962171f1fae00f9e5fdc54313e50e84bb61195f00538ea40bf2",
    "cpu-300/model/control-0-0": "73e88d2a6a5307543186ac40408c614077078f7cb559648edbba62674ccaddcf",
    "cpu-300/model/control-0-0-clean": "917280fcdb80181232b64df60d9d231ec24ff3c90aaf104c910e1480c34b62f1",
    "cpu-300/model/control-0-1": "18a18e18a3a5a95e8a0cb804a6207875b9332ad774c124b47a305fc158dff3d1",
    "cpu-300/model/control-0-1-clean": "382dfc4bb444ac8a42aab65b2a69d02ad111e2cf8c2705bc849bf0b02a3ac651",
    "cpu-300/model/control-1-1": "47e31b0d6bf8bc98885bd9273dc2da563e9defb9ee11e9550f24aa3eeab034a5",
    "cpu-300/model/control-1-1-clean": "28120dc4a591d34082f06ed0d388213c507c164dcda7cb226a936874b7342e5c",
    "cpu-300/model/control-2-2": "2b41b0c3f56f43d732317575d424c948d5cbefea99f7a681ff5d8838b2297541",
    "cpu-300/model/control-2-2-clean": "12847ed355eac1e1709d84185973545c3cde4e8814bc77fcba41bc31c598e856",
    "cpu-300/model/control-2-3": "f2804443b036870abb9500ff34d17dd8f1e87d0fe268a7e291a001cf517a76ac",
    "cpu-300/model/control-2-3-clean": "de60cc466ea694391f4bfa588cf70d67a7417ef972a769daae08070e35c4c630",
    "cpu-300/model/control-3-3": "28419e5e6235522ca8d37c79430e8d783f7eb90837a85f60956be8063e9e13bc",
    "cpu-300/model/control-3-3-clean": "33bba64899834364adb6eb2a8922a2b03ada0eed4312aa32ab5f1bb4c07ed28e",
    "cpu-300/model/control-4-4": "17f7999818898adc2a7d6da518d0c808442166efbb011c17dd7636b5b0e62551",
    "cpu-300/model/control-4-4-clean": "3a70da00674d75a90edb3444d879e5606649a61d3ce35b4fc5520f985afd0b7c",
    "cpu-300/model/control-4-5": "d014d32eb157c680bd68cb4a18142e01bfc75e7bb1c4d3cc040967cd5d70da8c",
    "cpu-300/model/control-4-5-clean": "8f4b7116a53bda6dc0a34356a643ad6a43bbd0008da236a9d24d4c2a8962e88b",
    "cpu-300/model/control-5-5": "f44e39fce02e9ed49b26a63d4d9d417f42e8e3889d4ea60c4e6ee8d5a5524c23",
    "cpu-300/model/control-5-5-clean": "0248a79bf2a7c11a708c0cb64abc8b36d80a8e7002d3a7938509b897106257a9",
    "cpu-300/model/control-none": "0e560631ce52ce859b4235ae6fc8c0b0249d72e6c3cb65cfdf7665b7796c47de",
    "cpu-300/model/memorising": "f206dec6f37fd7a5270c9f4b857af90c23e9c342b8e2d798cd8aff6372b07646",
    "cpu-300/model/planted-neurons": "d68295ab3c277f70011e8a7e7022db5bb5208ebd5ac77b0eac593c0ed28c718a",
    "cpu-300/model/planted-neurons-clean": "185c26df66c147d53c68ab95d068a18ff61c1daec50af0b03599876ce3f2b388",
    "cpu-300/scores/neurons-None/zero-out": "9a6fb0c13a911370bdbd8b19237c599579c80c2fd5ef8cd5cd3536d63506d5e6",
    "cpu-300/scores/pair-(0, 1)/gradient-attribution":
        "da13d743554dc3f3cdfa7ef5228f9d29d7b97c782e3dfcfb26c545b89199022b",
    "cpu-300/scores/pair-(0, 1)/layer-swapping": "4d1521b5251bfa0018b9cb9e5c03fc47dc6675ecd83679a5125433c11834bdc2",
    "cpu-300/scores/pair-(2, 3)/gradient-attribution":
        "acfeced9b98fb20163000dae1786cd1db86921cb44859143e607d6bdf5b38651",
    "cpu-300/scores/pair-(2, 3)/layer-swapping": "3cc4cbae7e56f23fe64f051b199c7254953ee9bd7319db3f015fbf30c0a93a6b",
    "cpu-300/scores/standard/gradient-attribution":
        "b204a069197322c061254ccbf86bf6ca0c0723622b7cdb7a5f2f1d701db6a219",
    "cpu-300/scores/standard/layer-swapping": "aaa73f876a063557b3d53e0163eae62062384ef473d884d04a966990272be2d7",
    "cpu-fast-300/analysis/centroids": "70925af4a76e4799e4abd6fe54a82895d2b1db1c30625f377a5f7840b8060e22",
    "cpu-fast-300/analysis/memorisation-map": "2ea66a6bbc74ee28f1162c5cd921499326cec61b0b586321e595d36acb6ce7b1",
    "cpu-fast-300/analysis/neuron-ablation": "df66c6d26ca663f2666591964661f3b2a0090ef65f75e129d7c87f5853096649",
    "cpu-fast-300/analysis/probing-events": "f19ac17f3ec063d1b6eea5cc9c1ae537e09c8d4ccccc3008b6249d71705e0536",
    "cpu-fast-300/model/classifier-only": "07cd19284cf51587a1f7d931612012a53c3c85b4f7ffbfd232735d87009d03b1",
    "cpu-fast-300/model/clean": "e2615598139eea0eb5546f05ea10841e9a6b8691d9374bff201b1a63f0466c62",
    "cpu-fast-300/model/control-0-0": "d4553e4661d4e86d02ef777f75c81943707fc8d248479de5d53bffcbc94181bf",
    "cpu-fast-300/model/control-0-0-clean": "c9ee90f0f9aa99a42b9eb42d683e212e9dbfae899aac30af42773d4cbd5141ad",
    "cpu-fast-300/model/control-0-1": "a5cd0285b9767e9c1d4d49ef70ccbe430342de21bf030c90769c4d1e611263ad",
    "cpu-fast-300/model/control-0-1-clean": "a9aed1a42cc70d96997565946403bc66ed61120af775c5265feb51d4c9dc340d",
    "cpu-fast-300/model/control-1-1": "955493f98d349da8f8c88abb32e1ac375fbffa070d2d20161e6718ce6c674dc3",
    "cpu-fast-300/model/control-1-1-clean": "9e96a2a486238eeb583cb273bcdf19cb26f8ec70d7e7761f8df94da93b063a66",
    "cpu-fast-300/model/control-2-2": "d416945207b05cb8bef0f83343c8222456d6f55028747be54b5dc1c66bef94e6",
    "cpu-fast-300/model/control-2-2-clean": "ad863899f5d9ed74b165912cfd4ce21be94742b8eae1898de2e3df4d075028bc",
    "cpu-fast-300/model/control-2-3": "53490abb779bda5c30c8992974056588c17be7a38750a7192c93e2d29abfd9b2",
    "cpu-fast-300/model/control-2-3-clean": "70612dee4a710a9c22414a3a626c2a10c617ea5d3c65ac59cb11e251ae2f9a3b",
    "cpu-fast-300/model/control-3-3": "b7a4d394ab8697f71eef5866159ab114406f666c3f40a72d552f909572b61879",
    "cpu-fast-300/model/control-3-3-clean": "662b9c12affde7645b47a6b29e78ece165dc72ca4935474082dc03faf068664a",
    "cpu-fast-300/model/control-4-4": "d7c5ece2c4044812cba7028726ddfa29c4513dd2aa5598302fbd3aa5e79ae2b1",
    "cpu-fast-300/model/control-4-4-clean": "61fcc44e6707e18a33406e6b5fc1ac11846c6791100e46e1b73bdb92de128257",
    "cpu-fast-300/model/control-4-5": "73deb130fbe940bb62013cd057a3cdfd8c14d672dc3dfb11a9a125b7dbcaf232",
    "cpu-fast-300/model/control-4-5-clean": "5e4e6614dbbd6b76224c38d4a7de45aa55314a1de0ff577f65e5b43129b4a65b",
    "cpu-fast-300/model/control-5-5": "a098e7c1815c61d0765201a97a19c626fba0533abbd98e78000cbd04f8f54e54",
    "cpu-fast-300/model/control-5-5-clean": "3ee0de28a8575b8481b1a58f3ebae4da50158cc15896b617624d6fcff9ded54a",
    "cpu-fast-300/model/control-none": "991cc070a46d746b1af76e789574adf42dd84d5fd749bdf514e7699e64771b1d",
    "cpu-fast-300/model/memorising": "83b4924183d8b4a493bc113f86c0b67e822db6d052049c43c29b8ad52abfed73",
    "cpu-fast-300/model/planted-neurons": "ddc04177e65707831f257fa5cf87bdf6586bb06e29e58f31f53a5e9bc00b4511",
    "cpu-fast-300/model/planted-neurons-clean": "4ccbfbacdf7e049f078a36dbcea89f1b3f4f0d2b6bc4fb0ba3fa588c19dde136",
    "cpu-fast-300/scores/neurons-None/zero-out": "576be53133502122cf7dd8494e2403916ca765be10bc9a2189ce0e397a6d5e47",
    "cpu-fast-300/scores/pair-(0, 1)/gradient-attribution":
        "25c0b8bf70fa91a7dadeee6def8d164734ad81e7081240e212788b6742af23c0",
    "cpu-fast-300/scores/pair-(0, 1)/layer-swapping":
        "237c199370424f85ac46b15d2760bce56947dfb96b64c1acf1634f3d355e8602",
    "cpu-fast-300/scores/pair-(2, 3)/gradient-attribution":
        "9187c88d6fb5ef27d9533e7c0f3b5f4c2765f504023dcdfbeaf8950547e2618d",
    "cpu-fast-300/scores/pair-(2, 3)/layer-swapping":
        "1a4d313e536e02a5eae9c3e2cdc6bebda38ff69512f3a4a79b61e5e90cf1c122",
    "cpu-fast-300/scores/standard/gradient-attribution":
        "f5694e88f85280dab52417d03ec7d29fa73fb1807b090054b46a8bc80b67f2cf",
    "cpu-fast-300/scores/standard/layer-swapping": "7958f75a349241ec24ff385edc182561631c5b34f782d91e4a79d748d39bddef",
    "provider/method/layer-swapping": "memlocbench 0.1.0",
    "provider/model/minilm-l6": "memlocbench 0.1.0",
    "provider/task/sst2": "memlocbench 0.1.0",
}


@pytest.fixture(scope="module")
def keys(mirror, tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv("MEMLOCBENCH_LOAD_PLUGINS", "")  # the built-ins only, as pinned
    return compute_keys(new_api(), mirror, tmp_path_factory.mktemp("keys-store"))


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_the_same_things_are_keyed(keys):
    assert sorted(keys) == sorted(PINNED)


def test_keys_and_config_hashes_equal_those_before_the_restructure(keys):
    changed = {label: (PINNED[label], got) for label, got in keys.items() if PINNED.get(label) != got}
    assert not changed, "store keys or config hashes changed (existing stores would recompute): " + \
        ", ".join(f"{label}: {old} -> {new}" for label, (old, new) in sorted(changed.items()))


def test_keys_do_not_depend_on_the_store_location(mirror, tmp_path, keys, monkeypatch):
    """The store root is not part of any key: another store finds the same entries."""
    monkeypatch.setenv("MEMLOCBENCH_LOAD_PLUGINS", "")
    api = new_api()
    plugins = api.load_plugins()
    profile, overrides = CONFIGS["cpu-300"]
    config = api.profile_config(profile, plugins=plugins, **overrides)
    models, _ = _models(api, plugins, api.ArtefactStore(tmp_path / "elsewhere"), config, mirror)
    assert models.key("memorising") == keys["cpu-300/model/memorising"]
