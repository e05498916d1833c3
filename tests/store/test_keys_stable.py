"""Store keys and result config hashes do not change when the code is reorganised.

An existing artefact store must keep serving: a trained model, a method's layer scores or an
analysis' output is found by the sha256 of the spec that determines it, and a result file names its
config by ``config_hash``. This test computes those for a fixed set of configs and roles (SST-2 x
MiniLM-L6, 300 training rows, the standard roles, every control role of the pair, single-layer and
neuron tracks, layer swapping and gradient attribution on the standard and a control setup, every
built-in analysis over model seeds 1-3) and compares them with literals.

How the literals were made: ``compute_keys`` below was first run on commit 0551170 (the last commit
before the restructure into subpackages), and the restructure kept every value. Issue 33 then changed
keys once, on purpose (key version 2): a trained model's key holds the digest of the model its adapter
builds (``memlocbench.models.model_digest``) and the torch thread count that trains it (here
``THREADS``), layer-score and analysis keys hold the thread count too, and ``--epochs N`` sets the
control models' epochs (the ``cpu-small-epochs`` config); the trivial baselines joined the built-in
methods, which changes the keys of analyses that read every method's scores (``neuron-ablation``). The
literals were recomputed then, with the
built-in plugins only (``MEMLOCBENCH_LOAD_PLUGINS`` empty) on the data mirror in ``$MEMLOCBENCH_DATA_DIR``.

A failure here means a change alters keys: every model, score and analysis in existing stores would
be recomputed. If that is intended (a new training code version, a method's new version), update the
literals in the same commit and say so in its message.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

TASK, MODEL, ROWS, SEEDS, NUM_LAYERS = "sst2", "minilm-l6", 300, (1, 2, 3), 6
#: the torch thread count the keys are computed for (part of every key since key version 2)
THREADS = 2
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
                             progress=False, providers=api.model_providers(plugins, TASK, MODEL),
                             threads=THREADS), dataset


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


PINNED: dict[str, str] = {  # compute_keys after key version 2 (see the module docstring)
    "config_hash/cpu": "ed4db834da96473c1c89d864b43f4a847ac8c174429c36b3653af878a3149e62",
    "config_hash/cpu-300": "2f5dae697d199921dfb7e5a5283da138aa3d5527a3867c2de8feef77e45636de",
    "config_hash/cpu-fast": "460a5a73a20c95ec130536c47e70b6ceb296743da3e58be73ffeec346b3ba0bc",
    "config_hash/cpu-fast-300": "5b23b4ca78ae0ea7ce736be8fb64265cbfb890ae3e3856b5a38dcae2afa92c85",
    "config_hash/cpu-fast-control": "f36f0b07cbc3b1494ece9b8b186efb5ac1af242616aa6e72a5486cf3248abcd9",
    "config_hash/cpu-params": "00d866d730293a0ec869aebd478f2302056fe1ec865a14cccaa6806c0ef8a9e9",
    "config_hash/cpu-small-epochs": "46ad4138b1dcbcfcd62c9beb561168e1aa2d9ebb4f3ae98d5a8aa735ac5fb07b",
    "cpu-300/analysis/centroids": "fb3686caa10e54c24c65f76d10bc55a98bce9975c36a78ee1c1606822d2ece20",
    "cpu-300/analysis/memorisation-map": "490ceb120a6cf00a2794fa54d3328299cf35319d13aff41c3228322fc0da9c46",
    "cpu-300/analysis/neuron-ablation": "d0d22265cfbd2e3b02554b6cb3fe0b0f05c532bf35e7cca301fc5b700a5ffe66",
    "cpu-300/analysis/probing-events": "18714a5852b06b01e4ef12daabe04605f401855f88a9c1a600b5ac629eff63d2",
    "cpu-300/model/classifier-only": "5f2b156566cb5912eea182461052762635037a1b5310b48d00574f7992f57c32",
    "cpu-300/model/clean": "e77e656daf73aa88503fb0aca6ee1997c872bff0c17779db47645cad5eba95cc",
    "cpu-300/model/control-0-0": "b0f1aa78ac7b91be294e30b3c31d3da1106a778faef1aba06edae6baaf58667e",
    "cpu-300/model/control-0-0-clean": "4f63b68468d75b0ccae70a4b6b4c2787b5cd691de3836a3b66d991e4eaac3168",
    "cpu-300/model/control-0-1": "60740566db3f08ac82317004e0d21c41ce14d16b0462a88414288da45a044941",
    "cpu-300/model/control-0-1-clean": "3a19afde9b098a7035b052d575067172db3320f30711497df4abe2cc12584485",
    "cpu-300/model/control-1-1": "e95b429cf7832ad50d3fa356269bfd76b7fa3c1ec0ee6cd2df4da0ef79b0476f",
    "cpu-300/model/control-1-1-clean": "e6a917d00a0c70a5a03b19d4e71027f82fc2995c52e0088f8bb9f2eb27947ffe",
    "cpu-300/model/control-2-2": "49c94e99d714ccca6f75cd2f0aa24661c3c2adf59c2510ff0e0a75fa56ffbfed",
    "cpu-300/model/control-2-2-clean": "bf25e202270362f10c523fd3f1f1f290f70b32492d392ccd3fa4577b3d469752",
    "cpu-300/model/control-2-3": "a7fd00d8f3859577069250d87aaac73642800a9fefa66d47beef68cb4ebcccc2",
    "cpu-300/model/control-2-3-clean": "391a2d73485f4feb48ebe830ff226aac9690f74c8b2ed91db0ab46097e3a8d56",
    "cpu-300/model/control-3-3": "23d686c435074c2455bba269ab4f9e6b7daca11be7edc7f8f0c273c6b38ac981",
    "cpu-300/model/control-3-3-clean": "6d676ebf7c754fae8b6949b30e51a12c7c2879bbb7d31f3b2d459005d7af2d57",
    "cpu-300/model/control-4-4": "935c61294b8de214d46dfba73a974d6610094b6f5cc20256e320b85c5c5d17be",
    "cpu-300/model/control-4-4-clean": "66ade0510a3ff3fd0031f4f709ddd8f22c47c5152086ae8b2cb165cbcfa9d28c",
    "cpu-300/model/control-4-5": "da5be5f85563542a31c48be09e4ddf5cca6635ec2280aee17aef4d2735c2d171",
    "cpu-300/model/control-4-5-clean": "769343dea35f35f0f991ae00369398bc88575ac65394cbe535c03642f145dba2",
    "cpu-300/model/control-5-5": "cd087bf8138dc637f36f83fda0578b936315e51c156cd056941d528c90fd1ff6",
    "cpu-300/model/control-5-5-clean": "8ab03cff4a0cdbf72a3306c4d30dffa447c87876135f754e1057e334e036f7b4",
    "cpu-300/model/control-none": "3e2061e5e1cb52eac59103edf2cc5f0dd8a23f4f4848f92d1e64dbff46a4bd6a",
    "cpu-300/model/memorising": "6dd94ffbdce3b9678e6cb9317f9f1b0239af0d0e08f6a8784e2050922a5abaf4",
    "cpu-300/model/planted-neurons": "5f36a6a08d6c6bfe93759f4ed3f18b784929a446d18fa6700ae12011480d8149",
    "cpu-300/model/planted-neurons-clean": "7800182832fd87391cad4897bfe26c37db92c9bf3b5fe8b209037fcf3dae93a6",
    "cpu-300/scores/neurons-None/zero-out": "2c5e7ac383668f03586ee1344adf8adea1486763b70572aff4d00547988ac066",
    "cpu-300/scores/pair-(0, 1)/gradient-attribution":
        "3bcc44dbd2050fedc8a08e845fae44e9b4a497b85faf3dfbd8e9217a1e6d87b4",
    "cpu-300/scores/pair-(0, 1)/layer-swapping": "e7a0c331e8c68c4ca4aa34b8780ac913f78940341435fc011e2939ba71b62d62",
    "cpu-300/scores/pair-(2, 3)/gradient-attribution":
        "c25037caa6e36e92dcebe97fc69ec9df8be9319a1edaa91445ab62da33a852f8",
    "cpu-300/scores/pair-(2, 3)/layer-swapping": "161b494bdb101b320c25d2bdbcd7d434ae496a96b842c767e1e261fff69efe11",
    "cpu-300/scores/standard/gradient-attribution": "8f94ee4d325ca7336bf48e809450351f5d1cfd4f802df50ce82b1dd69d58507a",
    "cpu-300/scores/standard/layer-swapping": "fe49c3419c8fc03984b2f5d1a26c7487f2eeca21728cb67f58f18ed508278f38",
    "cpu-fast-300/analysis/centroids": "880a2d74eff7c29c8133f55b53478d0575c46ee2c40fd27c6b24b7cabdac62de",
    "cpu-fast-300/analysis/memorisation-map": "88521fa4033566755428e797573482143d33bad81aaa49cd1cb10bdd5e3de019",
    "cpu-fast-300/analysis/neuron-ablation": "d33c851c1e66ebbda0e281f5b9051a17df339e117c6d494017a48fd5c42fa1d9",
    "cpu-fast-300/analysis/probing-events": "32a613e7bce3a44970ca3ace92decff03f778e235ad0a7316eadad27ce91306a",
    "cpu-fast-300/model/classifier-only": "e49a57a3c0208d95d95428641b020ce0f9f0a17f7f23d30e8babae5a235f10bd",
    "cpu-fast-300/model/clean": "2ab82c86def0894d7ac291a34bc37621c21ff559b40e63327968a04fab000ce3",
    "cpu-fast-300/model/control-0-0": "39c78e3941de01ae901e41352faf8f510d8699c5d1aad719d66bc79ac5cfb4a6",
    "cpu-fast-300/model/control-0-0-clean": "9cd7134013e71023c646c1054384cbe9a159a4f63cbc4a8639ccc67112067d92",
    "cpu-fast-300/model/control-0-1": "a8eb312e69497e76291143c2ad1a76cd76f32c05365d7c99e35cbbd6dfa68290",
    "cpu-fast-300/model/control-0-1-clean": "1c5374b19d37815be77119e78d08ba35cc3467e0a46642d180816661e19fb986",
    "cpu-fast-300/model/control-1-1": "754ad79e9ec8e11071a8ac7ab37209d9dac803c5cb25f9b22b56c8e09def07b7",
    "cpu-fast-300/model/control-1-1-clean": "f13e71ae0aa2c4b6d4e08f6b9ba113cf9de7b5e8be3abcb179d4bf16f463a760",
    "cpu-fast-300/model/control-2-2": "0fa890710304e65fd302b9463661437260f903eebaa7693e9a678e6550456b1a",
    "cpu-fast-300/model/control-2-2-clean": "be38464d01df77fa8c996d33afee62260dd77a5751ce01ca8695fc8f9446dd7a",
    "cpu-fast-300/model/control-2-3": "0144ee7790fb2caa0b053c0695bd5a15e6a44b08a4faf018bb89a2edeee4574a",
    "cpu-fast-300/model/control-2-3-clean": "28e2573bd84312cb10fbf03f986869afd936b58d3a9bd688d7e1bcd741849550",
    "cpu-fast-300/model/control-3-3": "6a095702342a53f3225d7d926dea0e512fa4f86b8c4a3c2c765270502ffa40c6",
    "cpu-fast-300/model/control-3-3-clean": "fd24202ceae325b9f4b3b8150e909f13043762f407db500e14c124647a65ef02",
    "cpu-fast-300/model/control-4-4": "7c3dd332c9294bbc35b8b7d9553e6506a79c0c63aa4d4329c6c867878402188f",
    "cpu-fast-300/model/control-4-4-clean": "1d73790bf1612a945a061e6647e8d0394af3b9b2fce648d02933efafc34d47a9",
    "cpu-fast-300/model/control-4-5": "043271ca1bfdf72d0f1a96aa8194bf3341488845f0e40e03b61149a944f5c3cd",
    "cpu-fast-300/model/control-4-5-clean": "0c899b4629cc8892ca23d37fd7838730743f561f27e9ca1591e586a621ffef4e",
    "cpu-fast-300/model/control-5-5": "390b02827d128b66efbb8dcb6a4c99363f16bfcc00c1a9384abd01d4861660bc",
    "cpu-fast-300/model/control-5-5-clean": "da1bfbc22cd228d555a6713209930996762c0ef7820dbb61f747581a70b34518",
    "cpu-fast-300/model/control-none": "d3e73dd5f8890e7e15dc2db94ce45a58eee461272800e43c3fa0cc6fc9fa7ef8",
    "cpu-fast-300/model/memorising": "bf9b8ae73444fc4b9c72cfb385ecbcd3bb975026f6c84208f37fb93355352a31",
    "cpu-fast-300/model/planted-neurons": "e4eb70d1f1fad44ef5d4a2b8d3f0451081e322e64f5309340698edb8c037f403",
    "cpu-fast-300/model/planted-neurons-clean": "79e5907b61e7c33313482eb29f599aaba833d4151aa613c5e1d7c1cc6bc61f7c",
    "cpu-fast-300/scores/neurons-None/zero-out": "eec423ea04eaf08eb727df8ffe016ff3ac1ca499ec0208d1230ab03cc0e2bdd6",
    "cpu-fast-300/scores/pair-(0, 1)/gradient-attribution":
        "3df886bae3a8e910ce3020333401fd3dca3f657d6dc8dbafc0559e75c689e218",
    "cpu-fast-300/scores/pair-(0, 1)/layer-swapping":
        "dcaa24a3fdecc50534442a8a4a3a784b3f3c7df565d031ab35c7bd16bc0dbb7a",
    "cpu-fast-300/scores/pair-(2, 3)/gradient-attribution":
        "394488dc5523d685c1152083b2016001beb9402a4ea9eb236b4310c669da410a",
    "cpu-fast-300/scores/pair-(2, 3)/layer-swapping":
        "b5ac34008860b8a0c632e45f3ae8f466ad6fb558409425601c0d646bc476cff5",
    "cpu-fast-300/scores/standard/gradient-attribution":
        "168a986b8a44833f708dcc89fbd2f4fd7196aa4b106838effa6391b1d02f211c",
    "cpu-fast-300/scores/standard/layer-swapping": "c3ec488de00bb84e19bd4cb2987d8ef101a00e471c60aec72c86597f09f13a90",
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


def test_keys_and_config_hashes_equal_the_pinned_ones(keys):
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
