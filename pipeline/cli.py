"""The `qualidoc` command: parse arguments, call the library, turn errors into exit codes.

Exit codes: 0 success; 1 content errors, documents that failed, or (check) RNQ errors; 2 usage errors;
3 (check only) content that cannot be read, so that the RNQ could not be checked.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from pathlib import Path

from pipeline import __version__
from pipeline.errors import ContentError, QualidocError, ToolError, UserError

EXIT_OK, EXIT_CONTENT, EXIT_USAGE, EXIT_UNREADABLE = 0, 1, 2, 3


def main(argv: list[str] | None = None) -> int:
    """Run qualidoc with command-line arguments; return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(message)s")
    try:
        return args.run(args)
    except ContentError as e:
        _print_problems(e)
        return EXIT_CONTENT
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_CONTENT
    except ToolError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_CONTENT
    except KeyboardInterrupt:
        print("\ninterrupted: documents already written are complete; run the build again to finish",
              file=sys.stderr)
        return 130
    except QualidocError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_CONTENT


def run() -> None:
    """The console command: run, then end the process at once.

    A one-shot command runs without Python's cycle collector (loading the content makes it pass over
    every object again and again: a tenth of a second, for cycles freed at exit anyway); `watch` keeps
    it. Tearing down the interpreter (freeing the content model, the typst compilers' caches, the
    modules) takes another tenth of a second and serves nothing: every file is written and closed by then.
    """
    if "watch" not in sys.argv[1:]:
        gc.disable()
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:  # `qualidoc fields course | head`: the reader has what it wanted
        code = EXIT_OK
    try:
        sys.stderr.flush()
    except BrokenPipeError:
        pass
    os._exit(code)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qualidoc", description="Qualiopi documents from YAML content.")
    parser.add_argument("--version", action="version", version=f"qualidoc {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show debugging details")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = commands.add_parser("build", help="build the documents that changed")
    _project_options(build)
    build.add_argument("--force", action="store_true", help="rebuild every document")
    build.add_argument("--explain", action="store_true", help="say why each rebuilt document was stale")
    build.add_argument("--jobs", "-j", type=_positive, default=0, help="parallel jobs (default: all cores)")
    build.add_argument("--strict", action="store_true",
                       help="do not build the documents whose content has RNQ errors (see `qualidoc check`)")
    build.set_defaults(run=_build)

    watch = commands.add_parser("watch", help="build, then rebuild on every change to content/ or templates/")
    _project_options(watch)
    watch.add_argument("--poll", action="store_true",
                       help="poll for changes (Docker volumes, network shares: where file events do not arrive)")
    watch.add_argument("--jobs", "-j", type=_positive, default=0, help="parallel jobs (default: all cores)")
    watch.set_defaults(run=_watch)

    check = commands.add_parser("check", help="check the content against the Référentiel national qualité")
    check.add_argument("--content", type=Path, help="content folder (default: ./content)")
    check.add_argument("--strict", action="store_true", help="count warnings as errors")
    check.add_argument("--format", choices=["text", "json"], default="text", help="output format")
    check.add_argument("--summary", action="store_true", help="print only the summary line")
    check.add_argument("--as-of", type=_date, help="check as on this date (YYYY-MM-DD; default: today)")
    check.add_argument("--staged", action="store_true",
                       help="check the content staged for commit; fail only on errors it adds (pre-commit hook)")
    check.set_defaults(run=_check)

    setup = commands.add_parser("git-setup", help="readable git diff of DOCX/PDF files and a pre-commit check")
    setup.set_defaults(run=_git_setup)

    textconv = commands.add_parser("textconv", help="print the text of a DOCX or PDF (git diff driver)")
    textconv.add_argument("file", type=Path)
    textconv.add_argument("--kind", choices=["docx", "pdf"], help="file type (default: from the extension)")
    textconv.set_defaults(run=_textconv)

    diff = commands.add_parser("diff", help="what changed in the content between two git revisions")
    diff.add_argument("revisions", nargs="*", metavar="REV",
                      help="BASE [HEAD], or BASE..HEAD (default: HEAD against the working tree)")
    diff.add_argument("--content", type=Path, help="content folder (default: ./content)")
    diff.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    diff.set_defaults(run=_diff)

    fields = commands.add_parser("fields", help="list the keys of a content file with their French description")
    fields.add_argument("kind", choices=["organisation", "course", "trainer", "improvement"])
    fields.set_defaults(run=_fields)
    return parser


def _project_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--content", type=Path, help="content folder (default: ./content)")
    parser.add_argument("--out", type=Path, help="output folder (default: ./build)")


def _date(text: str):  # type: ignore[no-untyped-def]
    import datetime as dt

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a date YYYY-MM-DD") from None


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _project(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from pipeline.project import Project

    return Project.at(Path.cwd(), args.content, args.out)


def _build(args: argparse.Namespace) -> int:
    from pipeline.build import build

    project = _project(args)
    report = build(project, force=args.force, jobs=args.jobs, progress=_progress_bar(), strict=args.strict)
    _clear_progress()
    if args.explain:
        for path in report.rebuilt + list(report.failed):
            print(f"  {path}: {report.reasons.get(path, '')}")
    for line in _failure_lines(report.failed):
        print(f"error: {line}", file=sys.stderr)
    print(report.summary())
    return EXIT_CONTENT if report.failed else EXIT_OK


def _failure_lines(failed: dict[str, str]) -> list[str]:
    """A line per failed document; documents failing for the same reason (a broken template) share one."""
    by_reason: dict[str, list[str]] = {}
    for path, reason in sorted(failed.items()):
        by_reason.setdefault(reason, []).append(path)
    lines = []
    for reason, paths in by_reason.items():
        if len(paths) <= 2:
            lines += [f"{path}: {reason}" for path in paths]
        else:
            shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
            lines.append(f"{len(paths)} documents ({shown}): {reason}")
    return lines


def _watch(args: argparse.Namespace) -> int:
    import threading

    from pipeline.watch import Watcher

    project = _project(args)
    stop = threading.Event()
    watcher = Watcher(project, poll=args.poll, jobs=args.jobs, on_rebuild=_print_rebuild)
    folders = ", ".join(project.shown(p) + "/" for p in (project.content, project.templates))
    print(f"watching {folders} ({'polling' if args.poll else 'file events'}); Ctrl-C to stop", flush=True)
    try:
        watcher.run(stop)
    except KeyboardInterrupt:
        stop.set()
        print("\nstopped watching", flush=True)
    return EXIT_OK


def _print_rebuild(rebuild) -> None:  # type: ignore[no-untyped-def]
    import time

    stamp = time.strftime("%H:%M:%S")
    changed = ", ".join(rebuild.changed) if rebuild.changed else "first build"
    if rebuild.error is not None:
        if isinstance(rebuild.error, ContentError):
            for problem in rebuild.error.problems:
                print(f"  {problem}", flush=True)
        else:
            print(f"  error: {rebuild.error}", flush=True)
        print(f"[{stamp}] {changed}: not built, the last good documents stay in place; fix and save to rebuild",
              flush=True)
        return
    report = rebuild.report
    done = ", ".join(report.rebuilt[:6]) + (f" and {len(report.rebuilt) - 6} more" if len(report.rebuilt) > 6 else "")
    what = f"rebuilt {done}" if report.rebuilt else "no document affected"
    extra = "".join(f"; removed {path}" for path in report.removed)
    extra += "".join(f"; FAILED {line}" for line in _failure_lines(report.failed))
    print(f"[{stamp}] {changed} → {what}{extra} ({report.seconds:.1f} s)", flush=True)


def _check(args: argparse.Namespace) -> int:
    import datetime as dt

    from pipeline.content import load_catalogue
    from pipeline.plan import check_project
    from pipeline.rules import describe_result

    project = _project(argparse.Namespace(content=args.content, out=None))
    today = args.as_of or dt.date.today()
    if args.staged:
        return _check_staged(project, today)
    try:
        catalogue = load_catalogue(project.content, project.root)
    except ContentError as e:
        return _unreadable(e, today, args.format, args.summary)
    result = check_project(project, catalogue, today)
    if args.format == "json":
        _print_json(today, result.referential.version, [], result.findings, len(result.errors(args.strict)))
    else:
        lines = describe_result(result, strict=args.strict)
        print("\n".join(lines[-1:] if args.summary else lines))
    return EXIT_CONTENT if result.errors(strict=args.strict) else EXIT_OK


def _unreadable(error: ContentError, today, output: str, summary: bool) -> int:  # type: ignore[no-untyped-def]
    """Report content that cannot be read: load problems, kept apart from RNQ findings (exit 3)."""
    count = len(error.problems)
    if output == "json":
        _print_json(today, None, error.problems, [], 0)
    else:
        if not summary:
            print(f"Contenu illisible : {count} problème{'s' if count > 1 else ''} à corriger avant le contrôle "
                  "RNQ", file=sys.stderr)
            for problem in error.problems:
                print(f"  {problem}", file=sys.stderr)
        print(f"Contrôle RNQ impossible : {count} problème{'s' if count > 1 else ''} de lecture du contenu "
              "(`qualidoc check` les détaille)")
    return EXIT_UNREADABLE


def _print_json(today, version, problems, findings, errors: int) -> None:  # type: ignore[no-untyped-def]
    """Print the check's result as JSON on stdout, whether or not the content could be read."""
    import json

    report = {
        "as_of": today.isoformat(), "referential": version, "loaded": not problems,
        "load_problems": [{"kind": "load", "file": p.file, "line": p.line, "field": p.field, "message": p.message}
                          for p in problems],
        "findings": [{"kind": "rnq", **f.as_dict()} for f in findings],
        "summary": {"load_problems": len(problems), "errors": errors, "warnings": len(findings) - errors},
    }
    print(json.dumps(report, ensure_ascii=False, indent=1))


def _check_staged(project, today) -> int:  # type: ignore[no-untyped-def]
    from pipeline.gitsetup import staged_errors

    added, total = staged_errors(project, today)
    if not added:
        print(f"qualidoc check: the staged content adds no RNQ error ({total} already known)")
        return EXIT_OK
    print("qualidoc check: this commit adds errors against the RNQ:", file=sys.stderr)
    for error in added:
        print(f"  {error}", file=sys.stderr)
    print("Fix them, or commit anyway with `git commit --no-verify`.", file=sys.stderr)
    return EXIT_CONTENT


def _git_setup(args: argparse.Namespace) -> int:
    from pipeline.gitsetup import setup

    for line in setup(_project(argparse.Namespace(content=None, out=None))):
        print(f"configured {line}")
    return EXIT_OK


def _textconv(args: argparse.Namespace) -> int:
    from pipeline.gitsetup import textconv

    kind = args.kind or args.file.suffix.lower().lstrip(".")
    if kind not in ("docx", "pdf"):
        raise UserError(f"{args.file}: expected a .docx or .pdf file")
    sys.stdout.write(textconv(args.file, kind))
    return EXIT_OK


def _diff(args: argparse.Namespace) -> int:
    from pipeline.diff import diff_revisions, format_json, format_markdown, format_text

    revisions = list(args.revisions)
    if len(revisions) == 1 and ".." in revisions[0]:
        revisions = revisions[0].split("..", 1)
    if len(revisions) > 2:
        raise UserError("give at most two revisions: BASE [HEAD]")
    base = revisions[0] if revisions else None
    head = revisions[1] if len(revisions) == 2 else None
    project = _project(argparse.Namespace(content=args.content, out=None))
    result = diff_revisions(project, base, head)
    print({"text": format_text, "markdown": format_markdown, "json": format_json}[args.format](result))
    return EXIT_OK


def _fields(args: argparse.Namespace) -> int:
    from pydantic import BaseModel

    from pipeline.model import Course, ImprovementEntry, Organisation, Trainer
    from pipeline.schema import describe_fields

    models: dict[str, type[BaseModel]] = {"organisation": Organisation, "course": Course, "trainer": Trainer,
                                          "improvement": ImprovementEntry}
    model = models[args.kind]
    print(describe_fields(model))
    return EXIT_OK


def _progress_bar():  # type: ignore[no-untyped-def]
    """Show progress on a terminal during long builds; stay silent in logs and pipes."""
    if not sys.stderr.isatty() or os.environ.get("CI"):
        return None

    def show(done: int, total: int) -> None:
        print(f"\r  rendering {done}/{total}…", end="", file=sys.stderr, flush=True)

    return show


def _clear_progress() -> None:
    if sys.stderr.isatty() and not os.environ.get("CI"):
        print("\r\033[K", end="", file=sys.stderr, flush=True)


def _print_problems(error: ContentError) -> None:
    for problem in error.problems:
        print(problem, file=sys.stderr)
    count = len(error.problems)
    print(f"{count} problème{'s' if count > 1 else ''} dans le contenu : rien n'a été construit, "
          "les documents déjà présents dans le dossier de sortie sont inchangés", file=sys.stderr)
