"""memlocbench: in which layers of a trained network does memorisation live?

The data path, module by module::

    task plugin ──► data.sources / data.noise ──► NoisyDataset
        ──► training.trainer (memorising model + clean twin, cached by store)
        ──► method plugin ──► layer_profile (per-layer weights, M-CoG)
        ──► results (pydantic JSON) ──► leaderboard
"""

__version__ = "0.1.0"

from memlocbench.contracts.hookspecs import hookimpl  # noqa: E402  (re-exported for plugin authors)

__all__ = ["__version__", "hookimpl"]
