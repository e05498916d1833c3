"""``memlocbench leaderboard``, ``validate``, ``submit`` and ``verify``: the leaderboard page and the
submissions it is built from."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from memlocbench.cli import app
from memlocbench.cli.app import main
from memlocbench.cli.options import FOLDER, leaderboard_options
from memlocbench.registry import Plugins


def _existing_folders(submissions: Path, extra: list[Path]) -> None:
    """The folders a rebuild reads must exist: a mistyped path must not rewrite the page with no results
    (and delete every figure). Without submissions, local results (``--results``) alone make a preview."""
    from memlocbench.errors import InvalidInputError

    for d in extra:
        if not d.is_dir():
            raise InvalidInputError(f"--results {d}: no such folder; nothing was written")
    if not submissions.is_dir() and not extra:
        raise InvalidInputError(f"--submissions {submissions}: no such folder; nothing was written (the page is "
                                "built from the submission folders in it, e.g. leaderboard/submissions)")
    if not submissions.is_dir():
        click.echo(f"warning: --submissions {submissions}: no such folder; the page shows the --results only",
                   err=True)
    elif not extra and not any(p.is_dir() and not p.name.startswith(".") for p in submissions.iterdir()):
        raise InvalidInputError(f"--submissions {submissions} holds no submission folders; nothing was written "
                                "(a page without results would replace the current one and delete its figures)")


def _write_pages(collected, submissions: Path, out: Path, spec) -> int:
    """results.csv beside the page, and each submission's page in ``<page folder>/submissions/<slug>/``
    (with the default paths, the submission's own folder), keeping the notes of its README.md."""
    from memlocbench.leaderboard import relpath, results_csv, submission_pages
    from memlocbench.names import path_inside
    from memlocbench.store import atomic_write_text

    atomic_write_text(out.parent / "results.csv", results_csv(collected, relpath(submissions, out.parent)))
    pages = submission_pages(collected, submissions if submissions.is_dir() else None, spec.higher_layer_ties)
    for slug, text in pages.items():
        path = path_inside(out.parent / "submissions", slug) / "README.md"
        try:
            atomic_write_text(path, text)
        except OSError as exc:  # e.g. a folder named README.md: the page is skipped, nothing else
            click.echo(f"warning: could not write {path}: {exc}", err=True)
    return len(pages)


def _rebuild(submissions: Path, extra: list[Path], out: Path, figures: Path | None, plugins: Plugins) -> None:
    """Rebuild the page, results.csv, the submission pages and the figures from the submissions (and local
    results), every file through the checks of `validate` against ``plugins``; the page depends on the
    submissions alone (``page_spec``)."""
    from memlocbench.leaderboard import (LeaderboardSpec, MethodSpec, collect, model_tables, page_methods, page_spec,
                                         relpath, render, reproduced, write_analysis_figures, write_figures)
    from memlocbench.store import atomic_write_text

    _existing_folders(submissions, extra)
    collected = collect(submissions, extra, plugins=plugins)
    for p in collected.problems:
        click.echo(f"warning: not counted: {p}", err=True)
    rel = relpath(figures, out.parent) if figures is not None else None
    out.parent.mkdir(parents=True, exist_ok=True)
    spec = page_spec(collected, LeaderboardSpec.from_plugins(plugins))
    methods = page_methods(collected, MethodSpec.from_plugins(plugins))
    atomic_write_text(out, render(collected, figures_rel=rel, spec=spec, methods=methods))
    n_pages = _write_pages(collected, submissions, out, spec)
    n_fig = 0
    if figures is not None:
        counted = reproduced(collected)  # as on the page: failed verifications enter no figure
        tables = model_tables(counted.entries, spec.paper_methods)
        n_fig = len(write_figures(tables, figures)) + len(write_analysis_figures(counted, tables, figures, spec,
                                                                                    methods))
    analyses = f" and {len(collected.analyses)} analysis results" if collected.analyses else ""
    skipped = f"; {len(collected.problems)} problem(s), listed under 'Not counted'" if collected.problems else ""
    click.echo(f"wrote {out} ({len(collected.entries)} results{analyses}{skipped}), results.csv, {n_pages} "
               f"submission page(s) and {n_fig} figure(s)" + (f" in {figures}" if figures is not None else ""))


@main.command()
@leaderboard_options
@click.option("--results", "result_dirs", multiple=True, type=FOLDER,
              help="also include the result files of a local folder, searched recursively (repeatable)")
def leaderboard(submissions, out, figures, result_dirs) -> None:
    """Rebuild the leaderboard page, results.csv (every result file, one row each), the submission pages
    (submissions/<slug>/README.md beside the page, keeping the notes below their generated part) and the
    figures from the submissions (and local results)."""
    _rebuild(submissions, list(result_dirs), out, figures, app.cli_plugins())


def _print_checked(checked) -> int:
    from memlocbench.results.run_result import setup_label

    bad = 0
    for c in checked:
        for note in c.notes:
            click.echo(f"note: {note}", err=True)
        if c.problems:
            bad += 1
            for p in c.problems:
                click.echo(f"error: {p}", err=True)
        elif c.result is None and c.summary is None:
            click.echo(f"skipped: {c.path}")
        elif c.summary is not None:
            s = c.summary
            click.echo(f"ok: {c.path} (run summary: {s.task}, {s.model}, {len(s.mcog)} method(s), "
                       f"mean M-CoG {s.mean_mcog:.2f})")
        else:
            r = c.result
            if getattr(r, "kind", None) == "analysis":
                click.echo(f"ok: {c.path} ({r.task.name}, {r.model.name}, analysis {r.analysis.name})")
                continue
            setup = f", {setup_label(r)}" if r.control else ""
            click.echo(f"ok: {c.path} ({r.task.name}, {r.model.name}, {r.method.name}{setup}, M-CoG {r.mcog:.2f})")
    return bad


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def validate(files) -> None:
    """Check result files as `submit` would, without writing anything (exit status 2 if any fails).
    Run summaries (*.summary.json) are checked as summaries."""
    from memlocbench.leaderboard.submission import validate_files

    bad = _print_checked(validate_files(list(files), app.cli_plugins()))
    if bad:
        click.echo(f"{bad} of {len(files)} file(s) failed validation", err=True)
        sys.exit(2)
    click.echo(f"all {len(files)} file(s) valid")


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="team or method name, as shown on the leaderboard")
@click.option("--description", default="", help="how the results were produced (shown on the page)")
@click.option("--not-run", "not_run", multiple=True, metavar="TASK=REASON",
              help="a task left out and why (repeatable), shown in the tables")
@click.option("--force", is_flag=True, help="replace an existing submission of the same name")
@leaderboard_options
def submit(files, name, description, not_run, force, submissions, out, figures) -> None:
    """Validate result files and, only if all pass, add them to the leaderboard and rebuild it."""
    from memlocbench.leaderboard.submission import SubmissionError, check_writable, submit as file_submission

    reasons = {}
    for item in not_run:
        task, sep, why = item.partition("=")
        if not sep or not task.strip() or not why.strip():
            raise SubmissionError(f"--not-run {item!r}: expected TASK=REASON, e.g. boolq='no train split offline'")
        reasons[task.strip()] = why.strip()
    plugins = app.cli_plugins()
    check_writable(submissions, out.parent, *([figures] if figures is not None else []))
    dest, checked = file_submission(list(files), name, submissions, description=description, not_run=reasons,
                                    force=force, plugins=plugins)
    _print_checked(checked)
    click.echo(f"submitted {sum(c.result is not None for c in checked)} result(s) as {dest}")
    _rebuild(submissions, [], out, figures, plugins)


@main.command()
@click.argument("submission", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--sample", default=1, show_default=True, type=click.IntRange(min=1),
              help="how many of the submission's results to re-run")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="seed of the sample")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="MEMLOCBENCH_DATA_DIR",
              help="local mirror [env MEMLOCBENCH_DATA_DIR]; default: the hub")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), envvar="MEMLOCBENCH_CACHE_DIR",
              help="artefact store [env MEMLOCBENCH_CACHE_DIR]; default: the user cache directory")
@leaderboard_options
def verify(submission, sample, seed, data_dir, cache_dir, submissions, out, figures) -> None:
    """Re-run a sample of a submission's results (method and analysis results) from their recorded configs,
    compare them with the submitted numbers, record the outcome in SUBMISSION/verification.json and rebuild
    the page (exit status 1 if any result is outside the tolerance or could not be re-run)."""
    from memlocbench.leaderboard.verification import verify_submission
    from memlocbench.store import ArtefactStore

    plugins = app.cli_plugins()
    record = verify_submission(submission, plugins, sample=sample, seed=seed, data_dir=data_dir,
                               store=ArtefactStore(cache_dir), log=lambda msg: click.echo(msg, err=True))
    click.echo(f"tolerance: {record.tolerance.text()}")
    for c in record.checked:
        if not c.passed:
            click.echo(f"FAILED: {c.result}: {c.problem}")
        elif c.kind == "analysis":
            click.echo(f"ok: {c.result} (analysis: {len(c.rerun.summary)} summary number(s), largest difference "
                       f"{c.max_summary_diff:.4f})")
        else:
            click.echo(f"ok: {c.result} (M-CoG {c.submitted_mcog:.4f} submitted, {c.rerun_mcog:.4f} re-run)")
    click.echo(f"wrote {submission / 'verification.json'}")
    if submission.resolve().parent == submissions.resolve():
        _rebuild(submissions, [], out, figures, plugins)
    if not record.passed:
        sys.exit(1)
