"""Independent reference implementations, written the way the papers' code computes things (one
example, one window, one neuron or one step at a time, whole-network forward passes), which the tests
and ``benchmarks/`` compare memlocbench's fast paths with.

They import neither the fast paths nor their helpers (only memlocbench's public API, ``memlocbench.api``,
and the model adapters under test), so that a shared mistake cannot make both sides agree. Tests import
them as ``references.<module>``: pytest puts ``tests/`` on ``sys.path`` (``rootdir`` conftest), and the
benchmarks add it themselves.

Modules: ``layer_swapping`` (window swaps by copying weights), ``gradient_attribution`` (per-example
gradients), ``layer_retraining`` (the paper's retraining loop and heat map), ``probing`` (the paper's
probes), ``centroids`` (the centroid analysis' loop), ``neurons`` (the neuron-level methods, MemPi's way,
and the stand-ins those comparisons run the methods with), ``masks`` (slimming and hard-concrete mask
training, MemPi's way).
"""
