"""Conformance checks a plugin's own tests can call, in the spirit of scikit-learn's ``check_estimator``.

Each check exercises a plugin object the way memlocbench uses it and raises ``AssertionError`` with a
message naming the object and what is wrong, so a plain pytest test is one line::

    from memlocbench.testing import check_method, check_task, tiny_method_context

    def test_my_task_conforms(tmp_path):
        check_task(MY_TASK, data_dir=None)                   # None: the task's own source

    def test_my_method_conforms(tmp_path):
        from memlocbench.registry import load_plugins         # the installed plugins, as the CLI loads them
        adapter = load_plugins().models.get("minilm-l6")     # or any small model adapter
        check_method(MyMethod(), tiny_method_context(adapter, tmp_path))

``check_model_adapter`` (weights identical under the seed, partial forward = full forward, parameter
groups, feed-forward neurons), ``check_task`` (metadata, TaskData, determinism), ``check_method``
(a valid LayerScores on a tiny trained model pair), ``check_executor`` (the same unit outcomes and
result files as the ``local`` executor on a tiny grid).
"""

from memlocbench.testing.executors import check_executor
from memlocbench.testing.methods import check_method, tiny_method_context
from memlocbench.testing.models import check_model_adapter
from memlocbench.testing.tasks import check_task

__all__ = ["check_model_adapter", "check_task", "check_method", "tiny_method_context", "check_executor"]
