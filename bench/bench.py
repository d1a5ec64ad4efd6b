"""Benchmark qualidoc on synthetic catalogues (`make bench`; `make bench ARGS="--sizes 20"`).

For each size N: N courses (8 objectives, 6 modules each), N/4 trainers, 2N improvement entries.
Measures the whole `qualidoc build` command (Python start-up included): cold build, no-op rebuild,
rebuild after editing one course; watch latency from a file write to the updated PDF on disk; peak
RSS; and the naive route (one pandoc process per conversion) on the same documents. Each time is the
median of several runs (3 up to N=100, 1 above; 5 for watch): this machine's speed varies by 20 %.
Prints a table and writes the results to bench/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import typst
import yaml

REPO = Path(__file__).resolve().parent.parent
TARGETS = {"cold_s": 10.0, "noop_s": 0.5, "one_course_s": 1.0, "watch_latency_s": 1.0, "peak_rss_mb": 400.0}


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


def _dump(path: Path, data: dict) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def run_command(root: Path, *args: str) -> tuple[float, float]:
    """Run `qualidoc ARGS` in a project; return (seconds, peak RSS in MB of it and its children)."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "pipeline", *args], cwd=root, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    output = process.stdout.read().decode() + process.stderr.read().decode()  # type: ignore[union-attr]
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"qualidoc {' '.join(args)} failed:\n{output}")
    return seconds, usage.ru_maxrss / 1024


def edit_course(root: Path, number: int, price: int) -> Path:
    path = root / f"content/courses/formation-{number:03d}.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r"amount: \d+", f"amount: {price}", text, count=1), encoding="utf-8")
    return path


def machine_speed() -> float:
    """Seconds for a fixed pure-Python loop: this machine's speed varies by 20 % from hour to hour, so
    the figures of two runs compare only with this number beside them."""
    started = time.perf_counter()
    sum(i * i for i in range(10**7))
    return time.perf_counter() - started


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def watch_latency(root: Path, rounds: int = 5) -> float:
    """Median seconds from a course file write to its updated PDF on disk, with `qualidoc watch` running."""
    process = subprocess.Popen([sys.executable, "-m", "pipeline", "watch"], cwd=root, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        for line in process.stdout:  # type: ignore[union-attr]
            if "première construction" in line:
                break
        samples = []
        for k in range(rounds):
            pdf = root / "build/programmes/formation-001.pdf"
            before = pdf.stat().st_ino, pdf.stat().st_mtime_ns
            started = time.perf_counter()
            edit_course(root, 1, 900 + k)
            while (pdf.stat().st_ino, pdf.stat().st_mtime_ns) == before:
                if time.perf_counter() - started > 60:
                    raise SystemExit("watch did not rebuild within 60 s")
                time.sleep(0.005)
            samples.append(time.perf_counter() - started)
            process.stdout.readline()  # type: ignore[union-attr]  # the rebuild line
            time.sleep(0.3)
        return _median(samples)
    finally:
        process.terminate()
        process.wait(10)


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


def measure(n: int, naive: bool, repeat: int) -> dict[str, float]:
    """Each time is the median of `repeat` runs (the machine's speed varies from one second to the next)."""
    with tempfile.TemporaryDirectory(prefix=f"qualidoc-bench-{n}-") as tmp:
        root = Path(tmp)
        make_catalogue(root, n)
        colds = []
        for _ in range(repeat):
            shutil.rmtree(root / "build", ignore_errors=True)
            colds.append(run_command(root, "build"))
        noops = [run_command(root, "build") for _ in range(repeat)]
        ones = []
        for k in range(repeat):
            edit_course(root, 0, 990 + k)
            ones.append(run_command(root, "build"))
        cold, noop, one = (_median([seconds for seconds, _ in runs]) for runs in (colds, noops, ones))
        rss = max(mb for runs in (colds, noops, ones) for _, mb in runs)
        latency = watch_latency(root)
        documents = len(list((root / "build").rglob("*.pdf")))
        files = sum(1 for _ in (root / "content").rglob("*.yaml"))
        result = {"n": n, "documents": documents, "content_files": files, "cold_s": cold, "noop_s": noop,
                  "one_course_s": one, "watch_latency_s": latency, "peak_rss_mb": rss, "runs": repeat}
        if naive:
            naive_seconds, _ = naive_route(root)
            result["naive_s"] = naive_seconds
            result["naive_over_cold"] = naive_seconds / cold
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 100, 500])
    parser.add_argument("--no-naive", action="store_true", help="skip the naive route")
    parser.add_argument("--repeat", type=int, default=0,
                        help="runs per measure, median kept (default: 3 up to N=100, 1 above)")
    parser.add_argument("--out", type=Path, default=REPO / "bench/results.json")
    args = parser.parse_args()
    results = []
    speed_before = _median([machine_speed() for _ in range(3)])
    print(f"{'N':>5} {'docs':>5} {'cold s':>8} {'no-op s':>8} {'1 edit s':>8} {'watch s':>8} {'RSS MB':>7} "
          f"{'naive s':>8} {'naive/cold':>10}")
    for n in args.sizes:
        r = measure(n, not args.no_naive, args.repeat or (3 if n <= 100 else 1))
        results.append(r)
        print(f"{r['n']:>5} {r['documents']:>5} {r['cold_s']:>8.2f} {r['noop_s']:>8.2f} {r['one_course_s']:>8.2f} "
              f"{r['watch_latency_s']:>8.2f} {r['peak_rss_mb']:>7.0f} {r.get('naive_s', float('nan')):>8.2f} "
              f"{r.get('naive_over_cold', float('nan')):>10.1f}", flush=True)
    by_n = {r["n"]: r for r in results}
    if 100 in by_n and 500 in by_n:
        print(f"cold build N=500 / N=100: {by_n[500]['cold_s'] / by_n[100]['cold_s']:.2f}× (target ≤ 5.5×)")
    if 100 in by_n:
        misses = [k for k, limit in TARGETS.items() if by_n[100][k] > limit]
        print("targets at N=100: " + ("all met" if not misses else "missed: " + ", ".join(misses)))
    speed = (speed_before, _median([machine_speed() for _ in range(3)]))
    print(f"machine speed: {speed[0]:.2f} s then {speed[1]:.2f} s for the reference loop (lower is faster)")
    machine = {"python": platform.python_version(), "cpus": os.cpu_count(), "machine": platform.machine(),
               "reference_loop_s": speed}
    args.out.write_text(json.dumps({"machine": machine, "targets_n100": TARGETS, "results": results}, indent=2))
    print(f"results written to {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")


if __name__ == "__main__":
    main()
