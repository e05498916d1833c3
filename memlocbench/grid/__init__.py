"""``memlocbench grid``: the experiment grid (tasks x models x seeds x trainings and methods) as
units keyed by the artefact store, run in dependency order by an executor (local or Ray).

- ``config``: the grid's settings (flags or a TOML file), pydantic-checked
- ``plan``: the units, their dependencies and their store keys (the keys ``memlocbench run`` uses)
- ``units``: how one unit runs, in any process (the registry of unit kinds)
- ``executors``: the ``Executor`` interface and the built-in ``local`` and ``ray`` executors
- ``estimate``: per-unit timing log in the store and the dry-run's compute estimate
- ``driver``: plan, skip what is done, execute, write the result files, report
"""
