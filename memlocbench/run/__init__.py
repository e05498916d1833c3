"""One run: what a method or an analysis may use (``method_context``, ``analysis_context``), the method run
(``method_run``) and the analysis run (``analysis_run``), checks before training (``preflight``), the torch
device (``device``) and task summaries for ``memlocbench list``."""
