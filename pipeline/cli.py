"""The `qualidoc` command: parse arguments, call the library, turn errors into exit codes.

Exit codes: 0 success; 1 content errors, documents that failed, or (check) RNQ errors; 2 usage errors;
3 (check only) content that cannot be read, so that the RNQ could not be checked; 70 a bug of qualidoc.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from pathlib import Path

from pipeline import __version__
from pipeline.errors import ContentError, QualidocError, ToolError, UserError, cause

EXIT_OK, EXIT_CONTENT, EXIT_USAGE, EXIT_UNREADABLE = 0, 1, 2, 3
EXIT_INTERNAL = 70  # a bug of qualidoc (sysexits' EX_SOFTWARE)
INTERRUPTED = "interrompu : les documents déjà écrits sont complets ; relancez la construction pour finir"

# argparse's own words (usage, option groups, its errors), in French: argparse looks each one up through
# gettext when it needs it, so the lookup is pointed here. A message missing below stays as argparse has it.
ARGPARSE_FR = {
    "usage: ": "utilisation : ",
    "positional arguments": "arguments",
    "options": "options",
    "optional arguments": "options",
    "show this help message and exit": "afficher cette aide et quitter",
    "show program's version number and exit": "afficher la version de qualidoc et quitter",
    "%(prog)s: error: %(message)s\n": "%(prog)s : erreur : %(message)s\n",
    "the following arguments are required: %s": "arguments obligatoires manquants : %s",
    "unrecognized arguments: %s": "arguments inconnus : %s",
    "invalid choice: %(value)r (choose from %(choices)s)": "choix invalide : %(value)r (choisir parmi %(choices)s)",
    "argument %(argument_name)s: %(message)s": "argument %(argument_name)s : %(message)s",
    "invalid %(type)s value: %(value)r": "valeur invalide : %(value)r",
    "expected one argument": "une valeur est attendue",
    "expected at most one argument": "une valeur au plus est attendue",
    "expected at least one argument": "au moins une valeur est attendue",
    "ambiguous option: %(option)s could match %(matches)s": "option ambiguë : %(option)s peut désigner %(matches)s",
    "not allowed with argument %s": "incompatible avec l'argument %s",
    "one of the arguments %s is required": "l'un des arguments %s est obligatoire",
    "ignored explicit argument %r": "argument explicite ignoré : %r",
}


def _french(message: str) -> str:
    return ARGPARSE_FR.get(message, message)


def _french_plural(singular: str, plural: str, count: int) -> str:
    if singular == "expected %s argument":
        return "%s valeur attendue" if count == 1 else "%s valeurs attendues"
    return _french(singular if count == 1 else plural)


argparse._ = _french  # type: ignore[attr-defined]
argparse.ngettext = _french_plural  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    """Run qualidoc with command-line arguments; return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    # force: the resident builder runs commands one after the other, each with its own -v
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(message)s", force=True)
    try:
        return args.run(args)
    except ContentError as e:
        _print_problems(e)
        return EXIT_CONTENT
    except (UserError, ToolError, QualidocError) as e:
        print(f"erreur : {e}", file=sys.stderr)
        return EXIT_CONTENT
    except KeyboardInterrupt:
        print(f"\n{INTERRUPTED}", file=sys.stderr)
        return 130
    except Exception as e:  # a bug of qualidoc, not the user's mistake: one line, the details on request
        if isinstance(e, BrokenPipeError) and _output_gone():
            raise  # `qualidoc fields course | head`: the reader has what it wanted (see run), no error
        if args.verbose:
            raise
        print(f"erreur interne de qualidoc : {type(e).__name__} : {e}\n"
              "les documents déjà écrits sont complets et les précédents sont intacts ; relancez la commande, "
              "et si l'erreur revient, signalez-la avec ce que montre `qualidoc -v` suivi de la même commande",
              file=sys.stderr)
        return EXIT_INTERNAL


def _output_gone() -> bool:
    """Whether the standard output's reader has gone (`| head`), not some other pipe (pandoc's).

    What stdout still holds cannot be written then; but the write that failed may have emptied its buffer,
    and a flush may succeed (1 run in 40 of `fields course | head -n 2`): the pipe itself is asked too (on
    Linux and macOS, a pipe whose reader has gone polls as an error).
    """
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        return True
    except (OSError, ValueError):
        pass
    try:
        import select

        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(event & select.POLLERR for _, event in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows), no file descriptor (a test's StringIO)
        return False


def run() -> None:
    """The console command: run, then end the process at once.

    A one-shot command runs without Python's cycle collector (loading the content makes it pass over
    every object again and again: a tenth of a second, for cycles freed at exit anyway); `watch` keeps
    it. Tearing down the interpreter (freeing the content model, the typst compilers' caches, the
    modules) takes another tenth of a second and serves nothing: every file is written and closed by then.
    A build or a check is handed to this folder's resident builder when there is one; a build leaves one
    when run from a terminal (resident.py).
    """
    from pipeline import handover

    argv, environ = sys.argv[1:], dict(os.environ)
    building = handover.is_build(argv)
    code = handover.hand_over(argv) if handover.is_served(argv) else None  # this folder's resident, if any
    if code is not None:
        os._exit(code)
    if "watch" not in argv and "serve" not in argv:
        gc.disable()
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:  # `qualidoc fields course | head`: the reader has what it wanted
        code = EXIT_OK
    if building and code in (EXIT_OK, EXIT_CONTENT) and handover.wanted() and handover.start(argv, environ):
        minutes = handover.idle_seconds() / 60
        shown = f"{minutes:.0f} min" if minutes >= 1 else f"{minutes * 60:.0f} s"
        print(f"(qualidoc reste prêt en arrière-plan jusqu'à {shown} sans construction ni modification du "
              "contenu : la prochaine construction de ce dossier sera plus rapide ; QUALIDOC_RESIDENT=0 pour "
              "s'en passer)", file=sys.stderr)
    try:
        sys.stderr.flush()
    except BrokenPipeError:
        pass
    os._exit(code)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qualidoc", description="Documents Qualiopi (DOCX et PDF) à partir du contenu YAML du dossier courant.",
        epilog="Aide d'une commande : qualidoc COMMANDE --help")
    parser.add_argument("--version", action="version", version=f"qualidoc {__version__}",
                        help="afficher la version de qualidoc et quitter")
    parser.add_argument("-v", "--verbose", action="store_true", help="afficher les détails de débogage")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMANDE", title="commandes")

    init = commands.add_parser("init", help="créer un nouveau projet prêt à construire",
                               description="Crée un projet qualidoc : contenu d'exemple commenté, .gitignore, "
                                           "fichiers d'intégration continue, schémas pour l'éditeur. Ne remplace "
                                           "jamais un fichier existant. Sur un terminal, pose les questions qui "
                                           "manquent ; avec --sans-questions ou hors terminal, n'en pose aucune.")
    init.add_argument("dir", nargs="?", type=Path, default=Path("."), metavar="DOSSIER",
                      help="dossier du projet (par défaut : le dossier courant)")
    from pipeline.starter import QUESTIONS

    for question in QUESTIONS:
        init.add_argument(f"--{question.option}", dest=question.option.replace("-", "_"), metavar="VALEUR",
                          help=question.label)
    init.add_argument("--sans-questions", "--no-input", dest="no_input", action="store_true",
                      help="ne poser aucune question (les réponses absentes restent à compléter)")
    init.set_defaults(run=_init)

    build = commands.add_parser("build", help="construire les documents dont le contenu a changé",
                                description="Construit les documents (DOCX et PDF) dont une source a changé "
                                            "depuis la dernière construction.")
    _project_options(build)
    build.add_argument("--force", action="store_true", help="reconstruire tous les documents")
    build.add_argument("--explain", action="store_true", help="dire pourquoi chaque document a été reconstruit")
    build.add_argument("--jobs", "-j", type=_positive, default=0, metavar="N",
                       help="tâches en parallèle (par défaut : tous les cœurs)")
    build.add_argument("--strict", action="store_true",
                       help="ne pas construire les documents dont le contenu a des erreurs RNQ (voir `qualidoc check`)")
    _pdfa_option(build)
    build.set_defaults(run=_build)

    watch = commands.add_parser("watch", help="construire, puis reconstruire à chaque enregistrement",
                                description="Construit, puis reconstruit à chaque modification de content/ ou "
                                            "templates/ ; Ctrl-C pour arrêter.")
    _project_options(watch)
    _watch_options(watch)
    watch.set_defaults(run=_watch)

    serve = commands.add_parser("serve", help="servir le catalogue web en local, rechargé après chaque construction",
                                description="Construit, sert build/site/ sur cette machine (http://127.0.0.1:PORT/) "
                                            "et recharge les pages ouvertes après chaque reconstruction ; "
                                            "Ctrl-C pour arrêter.")
    _project_options(serve)
    serve.add_argument("--port", type=_port, default=8000, metavar="PORT", help="port local (par défaut : 8000)")
    _watch_options(serve)
    serve.set_defaults(run=_serve)

    check = commands.add_parser("check", help="contrôler le contenu au regard du Référentiel national qualité",
                                description="Contrôle le contenu au regard du RNQ : erreurs (non-conformités "
                                            "probables) et avertissements, avec fichier, ligne et champ.")
    check.add_argument("--content", type=Path, metavar="DOSSIER", help="dossier du contenu (par défaut : ./content)")
    check.add_argument("--strict", action="store_true", help="compter les avertissements comme des erreurs")
    check.add_argument("--format", choices=["text", "json"], default="text",
                       help="format de sortie : text (par défaut) ou json")
    check.add_argument("--summary", action="store_true", help="n'afficher que la ligne de bilan")
    check.add_argument("--as-of", type=_date, metavar="AAAA-MM-JJ",
                       help="contrôler à cette date (par défaut : aujourd'hui)")
    check.add_argument("--staged", action="store_true",
                       help="contrôler le contenu indexé pour le commit ; n'échouer que sur les erreurs qu'il "
                            "ajoute (crochet pre-commit)")
    check.set_defaults(run=_check)

    diff = commands.add_parser("diff", help="ce que change le contenu entre deux révisions git",
                               description="Montre, champ par champ, ce qui change dans le contenu entre deux "
                                           "révisions git, et les documents concernés.")
    diff.add_argument("revisions", nargs="*", metavar="RÉVISION",
                      help="BASE [HEAD], ou BASE..HEAD (par défaut : HEAD comparé à la copie de travail)")
    diff.add_argument("--content", type=Path, metavar="DOSSIER", help="dossier du contenu (par défaut : ./content)")
    diff.add_argument("--format", choices=["text", "markdown", "json"], default="text",
                      help="format de sortie : text (par défaut), markdown (commentaire de revue) ou json")
    diff.set_defaults(run=_diff)

    publish = commands.add_parser(
        "publish", help="produire les documents d'un commit, datés de ce commit",
        description="Construit les documents du contenu tel qu'il est dans un commit (par défaut : HEAD), "
                    "datés et identifiés par ce commit, dans un dossier à publier ou à valider dans git. "
                    "Les fichiers de suivi de la construction n'y sont pas écrits.")
    publish.add_argument("revision", nargs="?", default="HEAD", metavar="RÉVISION",
                         help="commit, branche ou étiquette (par défaut : HEAD)")
    publish.add_argument("--out", type=Path, default=Path("publication"), metavar="DOSSIER",
                         help="dossier des documents publiés (par défaut : ./publication)")
    _pdfa_option(publish)
    publish.set_defaults(run=_publish)

    lheo = commands.add_parser("lheo", help="afficher l'export LHÉO d'une formation",
                               description="Affiche l'export LHÉO 2.3 (format d'échange des Carif-Oref) d'une "
                                           "formation, validé par le schéma officiel, ou ce qui l'en empêche. "
                                           "`qualidoc build` écrit l'export de toutes les formations dans "
                                           "build/lheo/offre-lheo.xml.")
    lheo.add_argument("course", metavar="FORMATION", help="identifiant de la formation (nom de son fichier)")
    lheo.add_argument("--content", type=Path, metavar="DOSSIER", help="dossier du contenu (par défaut : ./content)")
    lheo.add_argument("--as-of", type=_date, metavar="AAAA-MM-JJ",
                      help="sessions à venir à cette date (par défaut : aujourd'hui)")
    lheo.set_defaults(run=_lheo)

    schema = commands.add_parser("schema", help="écrire les schémas JSON du contenu (complétion dans l'éditeur)",
                                 description="Écrit un schéma JSON par type de fichier de contenu, avec les "
                                             "titres, descriptions, exemples et valeurs permises en français, "
                                             "pour la complétion et le contrôle dans l'éditeur (VS Code : "
                                             "extension YAML de Red Hat).")
    schema.add_argument("--out", type=Path, default=Path("schemas"), metavar="DOSSIER",
                        help="dossier des schémas (par défaut : ./schemas)")
    schema.set_defaults(run=_schema)

    fields = commands.add_parser("fields", help="lister les clés d'un fichier de contenu avec leur description",
                                 description="Liste les clés d'un type de fichier de contenu, avec leur "
                                             "description et si elles sont obligatoires.")
    fields.add_argument("kind", choices=["organisation", "course", "trainer", "improvement"], metavar="TYPE",
                        help="organisation, course (formation), trainer (intervenant) ou improvement (amélioration)")
    fields.set_defaults(run=_fields)

    setup = commands.add_parser("git-setup", help="diff lisible des DOCX et PDF dans git, et contrôle avant commit",
                                description="Configure ce clone git : `git diff` montre le texte des DOCX et PDF, "
                                            "et un crochet pre-commit refuse un commit qui ajoute des erreurs RNQ.")
    setup.set_defaults(run=_git_setup)

    textconv = commands.add_parser("textconv", help="afficher le texte d'un DOCX ou d'un PDF (pilote de diff git)",
                                   description="Affiche le texte d'un DOCX ou d'un PDF ; git l'appelle pour "
                                               "montrer les différences entre deux versions d'un document.")
    textconv.add_argument("file", type=Path, metavar="FICHIER", help="fichier DOCX ou PDF")
    textconv.add_argument("--kind", choices=["docx", "pdf"], help="type de fichier (par défaut : selon l'extension)")
    textconv.set_defaults(run=_textconv)
    return parser


def _watch_options(parser: argparse.ArgumentParser) -> None:
    """The options of the commands that rebuild on every save (watch, serve)."""
    parser.add_argument("--poll", action="store_true",
                        help="surveiller par interrogation régulière (volumes Docker, partages réseau : là où les "
                             "événements de fichiers n'arrivent pas)")
    parser.add_argument("--jobs", "-j", type=_positive, default=0, metavar="N",
                        help="tâches en parallèle (par défaut : tous les cœurs)")
    _pdfa_option(parser)


def _pdfa_option(parser: argparse.ArgumentParser) -> None:
    from pipeline.project import PDF_ARCHIVE_LEVELS

    parser.add_argument("--pdfa", nargs="?", const="2a", choices=PDF_ARCHIVE_LEVELS, metavar="NIVEAU",
                        help="PDF d'archivage PDF/A : 2a (par défaut, structure balisée conservée), 2u ou 2b ; "
                             "remplace `pdf_archive` de organisation.yaml")


def _project_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--content", type=Path, metavar="DOSSIER", help="dossier du contenu (par défaut : ./content)")
    parser.add_argument("--out", type=Path, metavar="DOSSIER", help="dossier de sortie (par défaut : ./build)")


def _date(text: str):  # type: ignore[no-untyped-def]
    import datetime as dt

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("date attendue sous la forme AAAA-MM-JJ") from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"nombre entier attendu, pas « {text} »") from None
    if value < 1:
        raise argparse.ArgumentTypeError("1 au moins")
    return value


def _port(text: str) -> int:
    value = _positive(text)
    if value > 65535:
        raise argparse.ArgumentTypeError("numéro de port attendu, de 1 à 65535")
    return value


def _project(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from pipeline.project import Project

    return Project.at(Path.cwd(), args.content, args.out, pdf_archive=getattr(args, "pdfa", None))


def _build(args: argparse.Namespace) -> int:
    from pipeline.build import build

    project = _project(args)
    report = build(project, force=args.force, jobs=args.jobs, progress=_progress_bar(), strict=args.strict)
    _clear_progress()
    if args.explain:
        for path in report.rebuilt + report.site + list(report.failed):
            print(f"  {path} : {report.reasons.get(path, '')}")
    for line in _failure_lines(report.failed):
        print(f"erreur : {line}", file=sys.stderr)
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
            lines += [f"{path} : {reason}" for path in paths]
        else:
            shown = ", ".join(paths[:3]) + (f" et {len(paths) - 3} autres" if len(paths) > 3 else "")
            lines.append(f"{len(paths)} documents ({shown}) : {reason}")
    return lines


def _watch(args: argparse.Namespace) -> int:
    import threading

    from pipeline.watch import Watcher

    project = _project(args)
    stop = threading.Event()
    watcher = Watcher(project, poll=args.poll, jobs=args.jobs, on_rebuild=_print_rebuild)
    folders = ", ".join(project.shown(p) + "/" for p in (project.content, *project.template_folders[:-1]))
    how = "par interrogation régulière" if args.poll else "par événements de fichiers"
    print(f"surveillance de {folders} ({how}) ; Ctrl-C pour arrêter", flush=True)
    try:
        watcher.run(stop)
    except KeyboardInterrupt:
        stop.set()
        print("\nsurveillance arrêtée", flush=True)
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    import threading

    from pipeline.serve import serve

    project = _project(args)
    stop = threading.Event()

    def ready(url: str) -> None:
        print(f"catalogue web : {url} (rechargé après chaque construction) ; Ctrl-C pour arrêter", flush=True)

    try:
        serve(project, port=args.port, poll=args.poll, jobs=args.jobs, on_rebuild=_print_rebuild, on_ready=ready,
              stop=stop)
    except OSError as e:
        raise UserError(f"impossible de servir sur le port {args.port} : {cause(e)} "
                        f"(essayez --port {args.port + 1})") from e
    except KeyboardInterrupt:
        stop.set()
        print("\nserveur arrêté", flush=True)
    return EXIT_OK


def _print_rebuild(rebuild) -> None:  # type: ignore[no-untyped-def]
    import time

    stamp = time.strftime("%H:%M:%S")
    changed = ", ".join(rebuild.changed) if rebuild.changed else "première construction"
    if rebuild.error is not None:
        if isinstance(rebuild.error, ContentError):
            for problem in rebuild.error.problems:
                print(f"  {problem}", flush=True)
        else:
            print(f"  erreur : {rebuild.error}", flush=True)
        print(f"[{stamp}] {changed} : rien n'est construit, les derniers bons documents restent en place ; "
              "corrigez et enregistrez pour reconstruire", flush=True)
        return
    report = rebuild.report
    done = ", ".join(report.rebuilt[:6]) + (f" et {len(report.rebuilt) - 6} autres" if len(report.rebuilt) > 6 else "")
    what = f"reconstruit : {done}" if report.rebuilt else "aucun document concerné"
    extra = "".join(f" ; supprimé : {path}" for path in report.removed)
    extra += "".join(f" ; ÉCHEC : {line}" for line in _failure_lines(report.failed))
    seconds = f"{report.seconds:.1f}".replace(".", ",")
    print(f"[{stamp}] {changed} → {what}{extra} ({seconds} s)", flush=True)


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
        # The files parsed by the last build or check, kept in the user cache: a check after `make build`
        # (which runs one) parses again only the files edited since (at N = 100, 0.1 s less).
        catalogue = load_catalogue(project.content, project.root, cache=project.cache_dir / "parsed.json")
    except ContentError as e:
        return _unreadable(e, today, args.format, args.summary)
    result = check_project(project, catalogue, today)
    from pipeline import lheo

    exported = lheo.check(catalogue, today)
    if args.format == "json":
        _print_json(today, result.referential.version, [], result.findings, len(result.errors(args.strict)),
                    exported)
    else:
        lines = describe_result(result, strict=args.strict)
        lines[-1:-1] = lheo.describe(exported, len(catalogue.courses))
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
        # `check --summary` (make build) gives the count only; `check` has just listed them
        where = "`qualidoc check` les détaille" if summary else "ci-dessus"
        print(f"Contrôle RNQ impossible : {count} problème{'s' if count > 1 else ''} de lecture du contenu ({where})")
    return EXIT_UNREADABLE


def _print_json(today, version, problems, findings, errors: int,  # type: ignore[no-untyped-def]
                exported: list | None = None) -> None:
    """Print the check's result as JSON on stdout, whether or not the content could be read."""
    import json

    report = {
        "as_of": today.isoformat(), "referential": version, "loaded": not problems,
        "load_problems": [{"kind": "load", "file": p.file, "line": p.line, "field": p.field, "message": p.message}
                          for p in problems],
        "findings": [{"kind": "rnq", **f.as_dict()} for f in findings],
        "lheo": [{"kind": "lheo", **f} for f in exported or []],
        "summary": {"load_problems": len(problems), "errors": errors, "warnings": len(findings) - errors},
    }
    print(json.dumps(report, ensure_ascii=False, indent=1))


def _check_staged(project, today) -> int:  # type: ignore[no-untyped-def]
    from pipeline.gitsetup import staged_errors

    added, total = staged_errors(project, today)
    if not added:
        print(f"qualidoc check : le contenu indexé n'ajoute aucune erreur RNQ ({total} déjà connue"
              f"{'s' if total > 1 else ''})")
        return EXIT_OK
    print("qualidoc check : ce commit ajoute des erreurs au regard du RNQ :", file=sys.stderr)
    for error in added:
        print(f"  {error}", file=sys.stderr)
    print("Corrigez-les, ou validez malgré tout avec `git commit --no-verify`.", file=sys.stderr)
    return EXIT_CONTENT


def _git_setup(args: argparse.Namespace) -> int:
    from pipeline.gitsetup import setup

    for line in setup(_project(argparse.Namespace(content=None, out=None))):
        print(f"configuré : {line}")
    return EXIT_OK


def _textconv(args: argparse.Namespace) -> int:
    from pipeline.gitsetup import textconv

    kind = args.kind or args.file.suffix.lower().lstrip(".")
    if kind not in ("docx", "pdf"):
        raise UserError(f"{args.file} : fichier .docx ou .pdf attendu")
    sys.stdout.write(textconv(args.file, kind))
    return EXIT_OK


def _diff(args: argparse.Namespace) -> int:
    from pipeline.diff import diff_revisions, format_json, format_markdown, format_text

    revisions = list(args.revisions)
    if len(revisions) == 1 and ".." in revisions[0]:
        revisions = revisions[0].split("..", 1)
    if len(revisions) > 2:
        raise UserError("donnez au plus deux révisions : BASE [HEAD]")
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


def _init(args: argparse.Namespace) -> int:
    from pipeline.starter import QUESTIONS, ask_missing, create_project

    answers = {q.option: getattr(args, q.option.replace("-", "_")) for q in QUESTIONS}
    if not args.no_input and sys.stdin.isatty() and not any(answers.values()):
        answers = ask_missing(answers)
    for line in create_project(args.dir, answers):
        print(line)
    return EXIT_OK


def _publish(args: argparse.Namespace) -> int:
    from pipeline.publish import publish

    project = _project(argparse.Namespace(content=None, out=None, pdfa=args.pdfa))
    for line in publish(project, args.revision, args.out.resolve() if args.out.is_absolute()
                        else (Path.cwd() / args.out).resolve(), progress=_progress_bar()):
        print(line)
    _clear_progress()
    return EXIT_OK


def _lheo(args: argparse.Namespace) -> int:
    import datetime as dt

    from pipeline.content import load_catalogue
    from pipeline.lheo import export
    from pipeline.site import base_url

    project = _project(argparse.Namespace(content=args.content, out=None))
    catalogue = load_catalogue(project.content, project.root)
    course = catalogue.courses.get(args.course)
    if course is None:
        known = ", ".join(sorted(catalogue.courses)) or "aucune"
        raise UserError(f"aucune formation « {args.course} » dans {project.shown(project.content)}/courses/ "
                        f"(formations : {known})")
    data, left_out = export([(args.course, course)], catalogue.organisation, args.as_of or dt.date.today(),
                            base_url(catalogue.organisation))
    if data is None:
        print(f"{args.course} ne peut pas être exportée en LHÉO :", file=sys.stderr)
        for reason in left_out.get(args.course, []):
            print(f"  {reason}", file=sys.stderr)
        print("(`qualidoc check` indique le fichier et la ligne de chaque point)", file=sys.stderr)
        return EXIT_CONTENT
    sys.stdout.write(data.decode("utf-8"))
    return EXIT_OK


def _schema(args: argparse.Namespace) -> int:
    from pipeline.schema import write_schemas

    for path in write_schemas(args.out):
        print(f"écrit : {path}")
    return EXIT_OK


def _progress_bar():  # type: ignore[no-untyped-def]
    """Show progress on a terminal during long builds; stay silent in logs and pipes."""
    if not sys.stderr.isatty() or os.environ.get("CI"):
        return None

    def show(done: int, total: int) -> None:
        print(f"\r  rendu {done}/{total}…", end="", file=sys.stderr, flush=True)

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
