"""Benchmark qualidoc on synthetic catalogues (`make bench`; `make bench ARGS="--sizes 20"`).

For each size N: N courses (8 objectives, 6 modules each), N/4 trainers, 2N improvement entries.
Measures the whole `qualidoc build` command (Python start-up included): cold build (with and without
the user cache, ~/.cache/qualidoc, which `make clean` keeps), no-op rebuild, rebuild after editing one
course's summary (its programme, the conformity matrix, its web page) and one course's title (also the
log and the skills matrix, which name it), and `qualidoc check --summary`, which `make build` runs after the
build (no target); watch latency from a file write to the updated PDF on disk
(and to its DOCX, which may come after), for those two edits and for a new log entry; peak RSS; and the
naive route (one pandoc process per conversion) on the same documents. Then the no-op, the two edits and the
check again, handed to the resident builder that a build from a terminal leaves (pipeline/resident.py), and
that resident's peak RSS (with its layout processes', if any); the other figures are fresh processes'. Last, up
to N=100, the project is made a git repository with 1000 commits of its content, not packed (as an organisation's
repository is between two of git's packings), and the title edit is measured again, as a command and in watch.
Each time is the median of several runs (5 up to N=100, 1 above; as many for watch, 3 at least): this machine's
speed varies by 20 %, and a median of 3 put figures near their target on either side of it.
Prints each figure beside its target (issue 17) and writes the results to bench/results.json.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import typst
import yaml

REPO = Path(__file__).resolve().parent.parent
# The targets of the performance issue (17), at N = 100; N = 1000 has its own.
TARGETS = {"cold_s": 5.0, "cold_empty_cache_s": 5.0, "noop_s": 0.15, "summary_edit_s": 0.5, "title_edit_s": 0.6,
           "watch_summary_s": 0.4, "watch_title_s": 0.4, "watch_log_entry_s": 0.4, "watch_summary_all_s": 0.4,
           "watch_title_all_s": 0.4, "watch_log_entry_all_s": 0.4, "peak_rss_mb": 250.0,
           "git_title_edit_s": 0.6, "git_watch_title_all_s": 0.4}
GIT_COMMITS = 1000  # the content's history of the repository measured last (git_history), objects not packed
TARGETS_N1000 = {"cold_s": 60.0, "cold_empty_cache_s": 60.0, "peak_rss_mb": 600.0}
LABELS = {"cold_s": "cold build (make clean)", "cold_empty_cache_s": "cold build, empty user cache",
          "noop_s": "no-op", "summary_edit_s": "edit one course's summary", "title_edit_s": "edit one course's title",
          "check_summary_s": "check --summary (make build)",
          "watch_summary_s": "watch: summary edit → PDF", "watch_summary_docx_s": "  … and its DOCX",
          "watch_summary_all_s": "  … every PDF it changes", "watch_summary_all_docx_s": "  … every DOCX",
          "watch_title_s": "watch: title edit → PDF", "watch_title_docx_s": "  … and its DOCX",
          "watch_title_all_s": "  … every PDF it changes", "watch_title_all_docx_s": "  … every DOCX",
          "watch_log_entry_s": "watch: new log entry → PDF", "watch_log_entry_docx_s": "  … and its DOCX",
          "watch_log_entry_all_s": "  … every PDF it changes", "watch_log_entry_all_docx_s": "  … every DOCX",
          "peak_rss_mb": "peak RSS (MB)",
          "git_title_edit_s": f"title edit, git ({GIT_COMMITS} commits)",
          "git_watch_title_all_s": "  … in watch, every PDF",
          "resident_noop_s": "no-op", "resident_summary_edit_s": "edit one course's summary",
          "resident_title_edit_s": "edit one course's title", "resident_check_summary_s": "check --summary",
          "resident_rss_mb": "peak RSS of the resident"}
# The same commands handed to the resident builder a first build leaves (pipeline/resident.py), same targets
RESIDENT_TARGETS = {"resident_noop_s": "noop_s", "resident_summary_edit_s": "summary_edit_s",
                    "resident_title_edit_s": "title_edit_s", "resident_check_summary_s": "check_summary_s",
                    "resident_rss_mb": "peak_rss_mb"}


def make_catalogue(root: Path, n: int) -> None:
    """Write a synthetic project with N courses, N/4 trainers and 2N improvement entries."""
    shutil.copytree(REPO / "templates", root / "templates")
    (root / "content/assets").mkdir(parents=True)
    shutil.copy(REPO / "content/organisation.yaml", root / "content/organisation.yaml")
    shutil.copy(REPO / "content/assets/logo-formavenir.png", root / "content/assets/logo-formavenir.png")
    seed = yaml.safe_load((REPO / "content/courses/excel-perfectionnement.yaml").read_text(encoding="utf-8"))
    trainer = yaml.safe_load((REPO / "content/trainers/claire-martin.yaml").read_text(encoding="utf-8"))
    entry = yaml.safe_load((REPO / "content/improvements/2026-03-ecrans-salle-2.yaml").read_text(encoding="utf-8"))
    trainers = max(1, n // 4)
    for folder in ("courses", "trainers", "improvements"):
        (root / "content" / folder).mkdir()
    for t in range(trainers):
        data = {**trainer, "name": f"Formateur {t:03d}", "email": f"formateur{t}@example.org"}
        _dump(root / f"content/trainers/formateur-{t:03d}.yaml", data)
    for c in range(n):
        objectives = [f"{o} (module {c})" for o in seed["objectives"]]
        objectives += [f"Appliquer la méthode {k} sur un cas réel du service {c}" for k in range(3)]
        modules = [{"title": f"Séquence {m + 1} de la formation {c}", "hours": 14 / 6,
                    "contents": [f"Point {k + 1} de la séquence {m + 1}" for k in range(3)]} for m in range(6)]
        data = {**seed, "title": f"Formation n° {c:03d} : {seed['title']}", "reference": f"BEN-{c:04d}",
                "objectives": objectives[:8], "modules": modules, "trainers": [f"formateur-{c % trainers:03d}"]}
        data["duration"] = {"hours": 14, "days": 2}
        _dump(root / f"content/courses/formation-{c:03d}.yaml", data)
    for e in range(2 * n):
        description = f"Constat n° {e} : {entry['description']}"
        data = {**entry, "courses": [f"formation-{e % n:03d}"], "description": description}
        _dump(root / f"content/improvements/entree-{e:04d}.yaml", data)


def git_history(root: Path, commits: int) -> None:
    """Make the project a git repository (build/ ignored) whose content has `commits` commits, their objects
    not packed: as in an organisation's repository between two of git's own packings (at 6,700 loose objects,
    some 1,300 commits of one file), which every build reads (the documents' version stamps, history.py)."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "Banc", "GIT_AUTHOR_EMAIL": "banc@example.org",
           "GIT_COMMITTER_NAME": "Banc", "GIT_COMMITTER_EMAIL": "banc@example.org"}

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)

    (root / ".gitignore").write_text("build/\n", encoding="utf-8")
    git("init", "-q")
    git("config", "gc.auto", "0")  # packed by nobody during the bench
    git("add", "-A")
    git("commit", "-qm", "Catalogue")
    courses = len(list((root / "content/courses").glob("formation-*.yaml")))
    for k in range(commits):
        edit_course(root, k % courses, k, "summary")
        git("commit", "-qam", f"Révision {k}")


def _dump(path: Path, data: dict) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def run_command(root: Path, *args: str, env: dict[str, str] | None = None,
                codes: tuple[int, ...] = (0,)) -> tuple[float, float]:
    """Run `qualidoc ARGS` in a project, which must end with one of `codes`; return (seconds, peak RSS in MB
    of it and its children)."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "pipeline", *args], cwd=root, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env={**os.environ, **(env or {})})
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    output = process.stdout.read().decode() + process.stderr.read().decode()  # type: ignore[union-attr]
    if os.waitstatus_to_exitcode(status) not in codes:
        raise SystemExit(f"qualidoc {' '.join(args)} failed:\n{output}")
    return seconds, usage.ru_maxrss / 1024


def edit_course(root: Path, number: int, round_: int, field: str = "summary") -> Path:
    """Change one course's summary or title (a new value each round); return the PDF that must change."""
    path, text = course_edit(root, number, round_, field)
    path.write_text(text, encoding="utf-8")
    return root / f"build/programmes/formation-{number:03d}.pdf"


def course_edit(root: Path, number: int, round_: int, field: str = "summary") -> tuple[Path, str]:
    """The file and the new text of edit_course, not written yet (watch's latency runs from the save)."""
    path = root / f"content/courses/formation-{number:03d}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data[field] = f"{data[field].split(' – ')[0]} – version {round_}"
    return path, yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def new_log_entry(root: Path, round_: int) -> Path:
    """Add an improvement entry; return the log's PDF, which must change."""
    path, text = log_entry(root, round_)
    path.write_text(text, encoding="utf-8")
    return root / "build/amelioration/registre-amelioration.pdf"


def log_entry(root: Path, round_: int) -> tuple[Path, str]:
    """The file and the text of new_log_entry, not written yet."""
    data = yaml.safe_load((root / "content/improvements/entree-0000.yaml").read_text(encoding="utf-8"))
    data["description"] = f"Nouveau constat {round_} : {data['description']}"
    return root / f"content/improvements/nouvelle-{round_:03d}.yaml", yaml.safe_dump(data, allow_unicode=True,
                                                                                       sort_keys=False)


def machine_speed() -> float:
    """Seconds for a fixed pure-Python loop: this machine's speed varies by 20 % from hour to hour, so
    the figures of two runs compare only with this number beside them."""
    started = time.perf_counter()
    sum(i * i for i in range(10**7))
    return time.perf_counter() - started


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def watch_latencies(root: Path, rounds: int = 3, env: dict[str, str] | None = None) -> dict[str, float]:
    """Median seconds from a file write to the PDF it changes on disk, with `qualidoc watch` running, for a
    summary edit, a title edit and a new log entry: the PDF named (the course's programme, the log), and
    every PDF the edit changes (`_all_s`: a title is in the log and the skills matrix too). The clock starts
    when the file is written, its new text ready (as an editor saves it)."""
    process = subprocess.Popen([sys.executable, "-m", "pipeline", "watch"], cwd=root, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})})
    edits = {"watch_summary_s": (root / "build/programmes/formation-001.pdf",
                                 lambda k: course_edit(root, 1, 100 + k, "summary")),
             "watch_title_s": (root / "build/programmes/formation-002.pdf",
                               lambda k: course_edit(root, 2, 200 + k, "title")),
             "watch_log_entry_s": (root / "build/amelioration/registre-amelioration.pdf",
                                   lambda k: log_entry(root, k))}
    try:
        for line in process.stdout:  # type: ignore[union-attr]
            if "première construction" in line:
                break
        latencies: dict[str, float] = {}
        for name, (target, edit) in edits.items():
            samples: list[float] = []
            docx_samples: list[float] = []
            every_pdf: list[float] = []
            every_docx: list[float] = []
            for k in range(rounds):
                docx = target.with_suffix(".docx")
                before = target.stat().st_ino, target.stat().st_mtime_ns
                before_docx = docx.stat().st_ino, docx.stat().st_mtime_ns
                files = _document_files(root)
                path, text = edit(k)
                started, started_ns = time.perf_counter(), time.time_ns()
                path.write_text(text, encoding="utf-8")
                while (target.stat().st_ino, target.stat().st_mtime_ns) == before:
                    if time.perf_counter() - started > 120:
                        process.terminate()
                        said = process.communicate(timeout=10)[0][-2000:]
                        raise SystemExit(f"watch did not rebuild {target.name} within 120 s; it said:\n{said}")
                    time.sleep(0.005)
                samples.append(time.perf_counter() - started)
                while (docx.stat().st_ino, docx.stat().st_mtime_ns) == before_docx:  # the DOCX may come after
                    if time.perf_counter() - started > 120:
                        raise SystemExit(f"watch did not rebuild {docx.name} within 120 s")
                    time.sleep(0.005)
                docx_samples.append(time.perf_counter() - started)
                process.stdout.readline()  # type: ignore[union-attr]  # the rebuild line
                # Every document the edit changed (a title: the log and the skills matrix too), by the time
                # its last file was written.
                changed = {path: mtime for path, (inode, mtime) in _document_files(root).items()
                           if files.get(path) != (inode, mtime)}
                for kind, kind_samples in ((".pdf", every_pdf), (".docx", every_docx)):
                    times = [mtime for path, mtime in changed.items() if path.endswith(kind)]
                    kind_samples.append((max(times) - started_ns) / 1e9 if times else float("nan"))
                latencies[name.removesuffix("_s") + "_documents"] = sum(path.endswith(".pdf") for path in changed)
                time.sleep(0.5)
            latencies[name] = _median(samples)
            latencies[name.removesuffix("_s") + "_docx_s"] = _median(docx_samples)
            latencies[name.removesuffix("_s") + "_all_s"] = _median(every_pdf)
            latencies[name.removesuffix("_s") + "_all_docx_s"] = _median(every_docx)
        return latencies
    finally:
        process.terminate()
        process.wait(10)


def resident_measures(root: Path, env: dict[str, str], repeat: int) -> dict[str, float]:
    """The same commands, from the second on, handed to the resident builder the first one leaves (as in a
    terminal); its peak RSS, with its layout processes' if any. The resident is stopped at the end."""
    from pipeline import handover

    run_command(root, "build", env=env)  # leaves the resident, which gets ready (then writes its pid file)
    path = handover.socket_path(root, env)
    assert path is not None
    pid_file = path.with_suffix(".pid")
    deadline = time.monotonic() + 300
    while not pid_file.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"no resident builder got ready; its log:\n{path.with_suffix('.log').read_text()}")
        time.sleep(0.05)
    pid = int(pid_file.read_text())
    try:
        noops = [run_command(root, "build", env=env)[0] for _ in range(repeat)]
        summaries, titles = [], []
        for k in range(repeat):
            edit_course(root, 1, k, "summary")
            summaries.append(run_command(root, "build", env=env)[0])
            edit_course(root, 1, k, "title")
            titles.append(run_command(root, "build", env=env)[0])
        checks = [run_command(root, "check", "--summary", env=env, codes=(0, 1))[0] for _ in range(repeat)]
        rss = sum(_peak_rss_mb(p) for p in [pid, *_children(pid)])
        log = path.with_suffix(".log").read_text()
        if log.count("qualidoc build : code 0") != 3 * repeat or log.count("check --summary : code") != repeat:
            raise SystemExit(f"the resident builder did not serve every command; its log:\n{log}")
    finally:
        os.kill(pid, signal.SIGTERM)
        while Path(f"/proc/{pid}").exists() and "zombie" not in _status(pid):
            time.sleep(0.05)
    return {"resident_noop_s": _median(noops), "resident_summary_edit_s": _median(summaries),
            "resident_title_edit_s": _median(titles), "resident_check_summary_s": _median(checks),
            "resident_rss_mb": rss}


def _status(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return ""


def _peak_rss_mb(pid: int) -> float:
    """A running process's peak resident memory (VmHWM) in MB; 0 where it has ended."""
    for line in _status(pid).splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _document_files(root: Path) -> dict[str, tuple[int, int]]:
    """Each document's PDF and DOCX (not the web pages), with its inode and modification time."""
    found = {}
    for path in (root / "build").rglob("*"):
        if path.suffix in (".pdf", ".docx") and "site" not in path.parts and not path.name.startswith("."):
            stat = path.stat()
            found[path.relative_to(root).as_posix()] = (stat.st_ino, stat.st_mtime_ns)
    return found


def naive_route(root: Path) -> tuple[float, int]:
    """Render the same documents the naive way: one pandoc process per conversion, typst once per document."""
    sys.path.insert(0, str(REPO))
    from pipeline.content import load_catalogue
    from pipeline.docx_finish import finish_docx
    from pipeline.pandoc_adapter import READER
    from pipeline.plan import plan_project
    from pipeline.project import Project
    from pipeline.render import Renderer
    from pipeline.tools import pandoc_path
    from pipeline.typst_adapter import typst_source

    project = Project.at(root)
    started = time.perf_counter()
    catalogue = load_catalogue(project.content, project.root)
    documents = plan_project(project, catalogue)
    renderer = Renderer(project, catalogue, 1)
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp)
        shutil.copy(project.templates / "style.typ", stage / "style.typ")
        shutil.copy(catalogue.logo, stage / "logo.png")  # type: ignore[arg-type]
        for index, document in enumerate(documents):
            md = stage / f"d{index}.md"
            md.write_text(renderer.markdown(document), encoding="utf-8")
            subprocess.run([pandoc_path(), "-f", READER, str(md), "-o", str(stage / f"d{index}.docx"),
                            "--reference-doc", str(project.templates / "reference.docx")], cwd=stage, check=True)
            body = subprocess.run([pandoc_path(), "-f", READER, "-t", "typst", str(md)], cwd=stage, check=True,
                                  capture_output=True, text=True).stdout
            finish_docx((stage / f"d{index}.docx").read_bytes(), {}, document.title, "", document.version)
            meta = {"title": document.title, "organisation": "", "header_left": "", "header_right": "",
                    "footer_left": ""}
            source = typst_source(meta, body)
            (stage / f"d{index}.typ").write_text(source, encoding="utf-8")
            typst.compile(str(stage / f"d{index}.typ"), root=str(stage), ignore_system_fonts=True)
    return time.perf_counter() - started, len(documents)


def measure(n: int, naive: bool, repeat: int, watch: bool = True) -> dict[str, float]:
    """Each time is the median of `repeat` runs (the machine's speed varies from one second to the next)."""
    with tempfile.TemporaryDirectory(prefix=f"qualidoc-bench-{n}-") as tmp, \
            tempfile.TemporaryDirectory(prefix="qualidoc-bench-cache-") as cache:
        root = Path(tmp)
        make_catalogue(root, n)
        # The user cache of this catalogue (~/.cache/qualidoc on a user's machine), not left behind.
        # Every command in a fresh process: no resident builder (pipeline/resident.py) left or used.
        env = {"XDG_CACHE_HOME": cache, "QUALIDOC_RESIDENT": "0"}
        colds, empties = [], []
        for _ in range(repeat):
            # With no user cache at all (a first build on this machine): nothing parsed, no part kept.
            shutil.rmtree(root / "build", ignore_errors=True)
            shutil.rmtree(cache, ignore_errors=True)
            Path(cache).mkdir()
            empties.append(run_command(root, "build", env=env))
        for _ in range(repeat):
            # `make clean` then `make build`: the user cache the last build left is still there.
            shutil.rmtree(root / "build", ignore_errors=True)
            colds.append(run_command(root, "build", env=env))
        noops = [run_command(root, "build", env=env) for _ in range(repeat)]
        summaries, titles = [], []
        for k in range(repeat):
            edit_course(root, 0, k, "summary")
            summaries.append(run_command(root, "build", env=env))
            edit_course(root, 0, k, "title")
            titles.append(run_command(root, "build", env=env))
        # `make build` ends with this check (a synthetic catalogue has RNQ errors: exit 1)
        checks = [run_command(root, "check", "--summary", env=env, codes=(0, 1)) for _ in range(repeat)]
        cold, noop, summary, title, check = (_median([seconds for seconds, _ in runs])
                                             for runs in (colds, noops, summaries, titles, checks))
        documents = len([p for p in (root / "build").rglob("*.pdf") if "site" not in p.parts])
        files = sum(1 for _ in (root / "content").rglob("*.yaml"))
        result = {"n": n, "documents": documents, "content_files": files, "cold_s": cold,
                  "cold_empty_cache_s": _median([seconds for seconds, _ in empties]), "noop_s": noop,
                  "summary_edit_s": summary, "title_edit_s": title, "check_summary_s": check,
                  "peak_rss_mb": max(mb for runs in (empties, colds, noops, summaries, titles) for _, mb in runs),
                  "peak_rss_cold_mb": max(mb for _, mb in [*colds, *empties]),
                  "peak_rss_title_mb": max(mb for _, mb in titles),
                  "runs": repeat}
        if watch:
            result.update(watch_latencies(root, rounds=max(3, repeat), env=env))
        result.update(resident_measures(root, {**env, "QUALIDOC_RESIDENT": "1"}, repeat))
        if n <= 100 and watch:
            # The project in a git repository with a history, as an organisation's is: then the title edit again.
            for added in (root / "content/improvements").glob("nouvelle-*.yaml"):
                added.unlink()  # watch's new entries, which it adds again below
            git_history(root, GIT_COMMITS)
            run_command(root, "build", env=env)  # every document's version stamp is now a commit
            titles = []
            for k in range(repeat):
                edit_course(root, 0, 100 + k, "title")
                titles.append(run_command(root, "build", env=env)[0])
            result["git_title_edit_s"] = _median(titles)
            latencies = watch_latencies(root, rounds=max(3, repeat), env=env)
            result["git_watch_title_all_s"] = latencies["watch_title_all_s"]
            result["git_watch_title_documents"] = latencies["watch_title_documents"]
        if naive:
            naive_seconds, _ = naive_route(root)
            result["naive_s"] = naive_seconds
            result["naive_over_cold"] = naive_seconds / cold
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 100, 1000])
    parser.add_argument("--no-naive", action="store_true", help="skip the naive route")
    parser.add_argument("--repeat", type=int, default=0,
                        help="runs per measure, median kept (default: 5 up to N=100, 1 above)")
    parser.add_argument("--out", type=Path, default=REPO / "bench/results.json")
    args = parser.parse_args()
    # qualidoc's modules compiled, as `make` does first (`make bytecode`): where PYTHONDONTWRITEBYTECODE is
    # set, a module changed since its last compile was compiled again by every command (60 ms at N = 100).
    compileall.compile_dir(REPO / "pipeline", quiet=1)
    results = []
    speed_before = _median([machine_speed() for _ in range(3)])
    for n in args.sizes:
        r = measure(n, not args.no_naive and n <= 500, args.repeat or (5 if n <= 100 else 1), watch=n <= 500)
        results.append(r)
        targets = TARGETS if n == 100 else TARGETS_N1000 if n == 1000 else {}
        print(f"N = {n}: {r['documents']} documents, {r['content_files']} content files")
        for key in [*LABELS, "naive_s"]:
            if key not in r or key in RESIDENT_TARGETS:
                continue
            value = r[key]
            target = targets.get(key)
            verdict = "" if target is None else f"  target ≤ {target:g}  {'met' if value <= target else 'MISSED'}"
            shown = f"{value:>8.0f} MB" if key.endswith("_mb") else f"{value:>8.2f} s "
            label = LABELS.get(key, "naive route")
            if key.endswith("_all_s"):
                label += f" ({r[key.removesuffix('_all_s') + '_documents']})"
            print(f"  {label:<32} {shown}{verdict}", flush=True)
        if "resident_noop_s" in r:
            print("  the same commands handed to the resident builder (from a terminal):")
            for key, target_key in RESIDENT_TARGETS.items():
                value, target = r[key], targets.get(target_key)
                verdict = "" if target is None else f"  target ≤ {target:g}  {'met' if value <= target else 'MISSED'}"
                shown = f"{value:>8.0f} MB" if key.endswith("_mb") else f"{value:>8.2f} s "
                print(f"    {LABELS[key]:<30} {shown}{verdict}", flush=True)
        if "peak_rss_cold_mb" in r:
            rss = f"{r['peak_rss_cold_mb']:.0f} / {r['peak_rss_title_mb']:.0f}"
            print(f"  {'peak RSS cold / title edit (MB)':<32} {rss:>8}")
    by_n = {r["n"]: r for r in results}
    for big in (500, 1000):
        if 100 in by_n and big in by_n:
            ratio = by_n[big]["cold_s"] / by_n[100]["cold_s"]
            print(f"cold build N={big} / N=100: {ratio:.2f}× (linear: {big / 100:.0f}×)")
    speed = (speed_before, _median([machine_speed() for _ in range(3)]))
    print(f"machine speed: {speed[0]:.2f} s then {speed[1]:.2f} s for the reference loop (lower is faster)")
    machine = {"python": platform.python_version(), "cpus": os.cpu_count(), "machine": platform.machine(),
               "reference_loop_s": speed}
    args.out.write_text(json.dumps({"machine": machine, "targets_n100": TARGETS, "targets_n1000": TARGETS_N1000,
                                    "results": results}, indent=2))
    print(f"results written to {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")


if __name__ == "__main__":
    main()
