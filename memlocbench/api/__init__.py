"""The public plugin API: everything a task, model, method, analysis or executor plugin may import.

Names exported here are stable within a minor release; anything else in ``memlocbench`` is internal
and may move. The built-in plugins import only this module (import-linter holds them to it), so a
third-party package can do everything they do.

Contracts (what a plugin provides)
    ``hookimpl`` and the five protocols ``Task``, ``ModelAdapter``, ``LocalisationMethod``, ``Analysis``,
    ``Executor``; their metadata ``TaskMetadata``, ``ModelInfo``, ``MethodInfo``, ``AnalysisInfo``; what
    they return: ``TaskData``/``Examples``, ``LayerScores``, ``AnalysisOutput``.
What a plugin is handed
    ``MethodContext``, ``AnalysisContext`` (and ``Encoded``, ``NoisyDataset``, ``TrainedModels`` inside them).
Building blocks
    ``HubTask`` (a task from a hub dataset or its local mirror), ``task_from_file`` / ``FileTask`` /
    ``TaskFile`` (a task declared in a TOML file, no Python), ``HFAdapter`` / ``DecoderAdapter`` (a model
    adapter over a stock Hugging Face classifier); model mechanics (``run_layers``, ``logits_from``,
    ``ffn_projections``, ``scaled_neurons``, ``sentence_features`` ...); scoring helpers (``windows``,
    ``normalise``, ``neuron_layer_shares`` ...); training helpers (``train_classifier``, ``predict``,
    ``autocast`` ...); what several methods and analyses share: the seeded ``clean_sample``, the
    neuron-method machinery (``neuron_groups``, ``neuron_params``, ``weighted_batches``, ``neuron_output`` ...)
    and the stacked-probe engine (``fit_probes``, ``PROBE_DEFAULTS``).
Suites
    ``suite_members(plugins, suite)``: the registered methods of a suite (``MethodInfo.suites``), in order.
Errors
    ``MemlocbenchError`` and its subclasses: raise ``InvalidInputError`` for a bad parameter or input.
"""

from memlocbench.config.compute import autocast, training_batches
from memlocbench.config.profiles import ComputeConfig, RunConfig, TrainUntilFit
from memlocbench.contracts.hookspecs import hookimpl
from memlocbench.contracts.protocols import (Analysis, AnalysisInfo, AnalysisOutput, Executor, LayerScores,
                                             LocalisationMethod, Measure, MethodInfo, ModelAdapter, ModelInfo, Task,
                                             TaskMetadata)
from memlocbench.contracts.task_data import Examples, TaskData
from memlocbench.data.clean_sample import clean_sample
from memlocbench.data.encoding import Encoded, encode
from memlocbench.data.hub import HubTask
from memlocbench.data.noisy_dataset import NoisyDataset
from memlocbench.data.task_file import FileTask, TaskFile, task_from_file
from memlocbench.grid.units import run_unit
from memlocbench.errors import (DataUnavailableError, InvalidDataError, InvalidInputError, MemlocbenchError,
                                ModelUnavailableError)
from memlocbench.models.hf_adapter import DecoderAdapter, HFAdapter, hub_unreachable
from memlocbench.models.neuron_masks import ffn_projections, ffn_shape, recorded_neurons, scaled_neurons
from memlocbench.models.neuron_scoring import (NEURON_METHOD_DEFAULTS, NeuronGroups, log_probs_from_layer,
                                               log_probs_with_scaled_layer, neuron_groups, neuron_output,
                                               neuron_params, target_log_probs, weighted_batches)
from memlocbench.models.partial_forward import (all_layer_inputs, cache_per_example, layer_output, logits_from,
                                                pad_hidden, run_layers)
from memlocbench.models.sentence_features import sentence_features
from memlocbench.run.analysis_context import AnalysisContext
from memlocbench.run.method_context import MethodContext
from memlocbench.run.method_suites import DEFAULT_SUITE, method_suites, suite_members
from memlocbench.scoring.layer_weights import (layer_ranking, layer_weights_from_windows, mcog, mcog_bounds,
                                               neuron_layer_shares, normalise, top_neuron_count,
                                               top_neuron_indices, window_key, windows)
from memlocbench.scoring.metrics import accuracy, chance_corrected, f1_per_class, label_prior_agreement, macro_f1
from memlocbench.training.stacked_probes import PROBE_DEFAULTS, fit_probes, positive_class_f1, split_indices
from memlocbench.training.trained_models import TRAINING_CODE_VERSION, TrainedModels
from memlocbench.training.trainer import predict, set_trainable, train_classifier

__all__ = [
    # contracts
    "hookimpl", "Task", "ModelAdapter", "LocalisationMethod", "Analysis", "Executor",
    "TaskMetadata", "ModelInfo", "MethodInfo", "AnalysisInfo", "Measure", "TaskData", "Examples", "LayerScores",
    "AnalysisOutput",
    # what a plugin is handed
    "MethodContext", "AnalysisContext", "Encoded", "NoisyDataset", "TrainedModels", "RunConfig", "ComputeConfig",
    "TrainUntilFit",
    # building blocks
    "run_unit", "HubTask", "FileTask", "TaskFile", "task_from_file", "HFAdapter", "DecoderAdapter", "hub_unreachable", "encode",
    "run_layers", "logits_from", "all_layer_inputs", "layer_output", "pad_hidden", "cache_per_example",
    "ffn_projections", "ffn_shape", "scaled_neurons", "recorded_neurons", "sentence_features",
    "windows", "window_key", "layer_weights_from_windows", "normalise", "mcog", "mcog_bounds", "layer_ranking",
    "neuron_layer_shares", "top_neuron_count", "top_neuron_indices",
    "accuracy", "f1_per_class", "macro_f1", "chance_corrected", "label_prior_agreement",
    "train_classifier", "predict", "set_trainable", "autocast", "training_batches", "TRAINING_CODE_VERSION",
    # shared by several methods and analyses
    "clean_sample",
    "NEURON_METHOD_DEFAULTS", "NeuronGroups", "neuron_params", "neuron_groups", "weighted_batches",
    "target_log_probs", "log_probs_from_layer", "log_probs_with_scaled_layer", "neuron_output",
    "PROBE_DEFAULTS", "fit_probes", "split_indices", "positive_class_f1",
    # suites
    "DEFAULT_SUITE", "suite_members", "method_suites",
    # errors
    "MemlocbenchError", "InvalidInputError", "InvalidDataError", "DataUnavailableError", "ModelUnavailableError",
]
