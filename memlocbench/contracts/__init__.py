"""The plugin contracts: the hook specs, the five protocols, their pydantic metadata and what they return.

The lowest stage of the package: it imports nothing else from memlocbench but ``names``. Plugin authors
import these names from :mod:`memlocbench.api`."""
