"""``python -m memlocbench.cli``: the ``memlocbench`` command."""

from memlocbench.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
