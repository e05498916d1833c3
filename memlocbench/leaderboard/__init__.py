"""From submitted result files to ``leaderboard/README.md``: validate and submit, verify by re-running,
collect, aggregate and render the page with its figures.

Modules, each importing only those before it: ``markdown`` (escaping, tables, number formats),
``jsonfile`` (reading an untrusted JSON file), ``spec`` and ``method_spec`` (the plugins' declarations as
data), ``filing`` (``submission.json`` and what binds a folder to it), ``verification_record`` (the record
of `verify`, the comparison with a re-run, the verified mark), ``validation`` (the checks of `validate`), ``collect``
(reading submissions through those checks), ``aggregate`` (the numbers), ``figure_files``, ``sections``
(one module per page section), ``render`` (the page), ``results_csv`` (``results.csv``: every result file),
``submission_pages`` (a page per submission), ``figures`` and ``analysis_figures`` (PNG files); beside them
``submission`` and ``verification``. The names below are the package's public surface::

    collected = collect(submissions_dir, plugins=plugins)       # every check of `validate`
    spec = page_spec(collected, LeaderboardSpec.from_plugins(plugins))  # the declarations of what has results
    methods = page_methods(collected, MethodSpec.from_plugins(plugins))  # the methods' declarations, likewise
    page = render(collected, figures_rel="figures", spec=spec, methods=methods)
    csv_text = results_csv(collected)                            # leaderboard/results.csv
    pages = submission_pages(collected, submissions_dir, spec.higher_layer_ties)  # slug -> its README.md
    tables = model_tables(collected.entries, spec.paper_methods)
    write_figures(tables, figures_dir)
    write_analysis_figures(collected, tables, figures_dir, spec, methods)
"""

from memlocbench.leaderboard.aggregate.agreement import (agreement, agreement_matrix, pearson, pooled_agreement,
                                                          spearman, spearman_p)
from memlocbench.leaderboard.aggregate.analyses import correlation, task_measures
from memlocbench.leaderboard.aggregate.control import ControlRow, control_rows
from memlocbench.leaderboard.aggregate.flags import Flag, call_flags, cell_flags, unflagged
from memlocbench.leaderboard.aggregate.guard import excluded, failed_verification, memorised, reproduced
from memlocbench.leaderboard.aggregate.neurons import NeuronRow, neuron_rows
from memlocbench.leaderboard.aggregate.seeds import complete_seeds, over_seeds, seeds_text
from memlocbench.leaderboard.aggregate.tables import Cell, ModelTable, model_tables, setting_hash
from memlocbench.leaderboard.analysis_figures import write_analysis_figures
from memlocbench.leaderboard.collect import AnalysisEntry, Collected, Entry, collect, result_files
from memlocbench.leaderboard.filing import SUBMISSION_META, SubmissionMeta, read_filing_record, read_meta
from memlocbench.leaderboard.figure_files import figure_paths
from memlocbench.leaderboard.figures import write_figures
from memlocbench.leaderboard.markdown import file_slug, md_escape, relpath
from memlocbench.leaderboard.method_spec import MethodSpec
from memlocbench.leaderboard.render import page_methods, page_spec, render
from memlocbench.leaderboard.results_csv import results_csv
from memlocbench.leaderboard.spec import MEAN_MCOG, PAPER_SUITE, DeclaredMeasure, LeaderboardSpec
from memlocbench.leaderboard.submission import SubmissionError, check_writable, slugify, submit
from memlocbench.leaderboard.submission_pages import NOTES_MARK, read_notes, submission_page, submission_pages
from memlocbench.leaderboard.validation import Checked, validate_file, validate_files
from memlocbench.leaderboard.verification import verify_submission
from memlocbench.leaderboard.verification_record import (STANDARD, VERIFICATION, AnalysisRerun, MethodRerun, Tolerance,
                                                         VerificationRecord, VerifiedResult)

__all__ = [
    "AnalysisEntry", "AnalysisRerun", "Cell", "Checked", "Collected", "ControlRow", "DeclaredMeasure", "Entry",
    "Flag", "LeaderboardSpec", "MEAN_MCOG", "MethodRerun", "MethodSpec", "ModelTable", "NOTES_MARK", "NeuronRow",
    "PAPER_SUITE", "STANDARD", "SUBMISSION_META", "SubmissionError", "SubmissionMeta", "Tolerance", "VERIFICATION",
    "VerificationRecord", "VerifiedResult", "agreement", "agreement_matrix", "call_flags", "cell_flags",
    "check_writable", "collect", "complete_seeds", "control_rows", "correlation", "excluded", "failed_verification",
    "figure_paths", "file_slug", "md_escape", "memorised", "model_tables", "neuron_rows", "over_seeds",
    "page_methods", "page_spec", "pearson", "pooled_agreement", "read_filing_record", "read_meta", "read_notes",
    "relpath", "render", "reproduced", "result_files", "results_csv", "seeds_text", "setting_hash", "slugify",
    "spearman", "spearman_p", "submission_page", "submission_pages", "submit", "task_measures", "validate_file",
    "unflagged", "validate_files", "verify_submission", "write_analysis_figures", "write_figures",
]
