"""`make bench`: the course's performance goals, each a ratio measured in this one run.

Prints one table (median, min, max of several runs) and writes
``bench/out/latest.json`` with the keys ``course_vs_floor``,
``autograde_speedup``, ``slider_ms_median``, ``keras_speedup``,
``cluster_overhead`` (``autograde --cluster`` on a loopback Dask cluster of 2
one-thread workers ÷ ``--jobs 2``, same class, one run), the scaling rows
(the cluster's for 10 and 40 students; ``--cluster-160`` adds 160),
``recording_students_per_s`` (the cluster's results entered in bulk, 240 of
them) and the cluster's students graded per second on 1, 2 and 4 workers.  Run a
part alone with ``--only NAME`` (repeatable).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"

GOALS = {  # key: (goal, "higher" or "lower" is better)
    "course_vs_floor": (1.5, "lower"),
    "autograde_speedup": (3.0, "higher"),
    "slider_ms_median": (50.0, "lower"),
    "keras_speedup": (30.0, "higher"),
    "sandbox_overhead": (1.05, "lower"),
    "course_autograde_speedup": (3.0, "higher"),
    "verdict_overhead": (1.10, "lower"),
    "recording_students_per_s": (20.0, "higher"),
    "cluster_overhead": (1.15, "lower"),
}


def _parts(runs: int, students: int, cluster_sizes=(10, 40)):
    from bench import autograde, cost, first_contact, keras_path, notebooks_floor, recording, sandbox, scaling, slider, verdicts

    return {
        "keras": lambda: keras_path.measure(runs),
        "slider": lambda: _slider(slider),
        "notebooks": lambda: notebooks_floor.measure(runs),
        "autograde": lambda: autograde.measure(students=students, runs=max(1, runs - 1)),
        "course_autograde": lambda: cost.measure_course(students=10),
        "grading_breakdown": lambda: cost.breakdown(students=4),
        "grading_breakdown_keras": lambda: cost.breakdown(students=4, assignment="04_keras_sequential",
                                                          key="grading_breakdown_keras"),
        "scaling": lambda: scaling.measure(runs),
        "sandbox": lambda: sandbox.measure(students=students, runs=max(1, runs - 1)),
        "class_scaling": lambda: autograde.class_scaling(sizes=(10, 20, 40)),
        "cluster": lambda: autograde.cluster_overhead(students=students),
        "cluster_scaling": lambda: autograde.cluster_scaling(sizes=cluster_sizes),
        "recording": lambda: recording.measure(students=240),
        "cluster_throughput": lambda: autograde.cluster_throughput(workers=(1, 2, 4), students=students),
        "first_contact": lambda: first_contact.measure(),
        "verdicts": lambda: verdicts.measure(students=students, runs=1),
    }


def _slider(slider) -> dict:
    result = slider.measure_slider_latency(n=1000, epochs=2000, moves=60)
    result["slider_ms_median"] = result["median_ms"]
    result["slider_vs_floor"] = result["median_ms"] / result["floor_median_ms"]
    return result


def _print_rows(rows):
    print(f"{'measurement':<64} {'median':>10} {'min':>10} {'max':>10} {'runs':>5}")
    for r in rows:
        unit = r["unit"]
        print(f"{r['name']:<64} {r['median']:>8.3f}{unit:>2} {r['min']:>8.3f}{unit:>2} {r['max']:>8.3f}{unit:>2} {r['runs']:>5}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="repetitions of each measurement")
    parser.add_argument("--students", type=int, default=20, help="class size for the autograde goal")
    parser.add_argument("--only", action="append", help="run only these parts (keras, slider, notebooks, autograde, course_autograde, grading_breakdown, grading_breakdown_keras, "
                             "scaling, sandbox, class_scaling, cluster, cluster_scaling, recording, cluster_throughput, first_contact, verdicts)")
    parser.add_argument("--cluster-160", action="store_true",
                        help="add a 160-student class to cluster_scaling (about 10 more minutes on 2 cores)")
    args = parser.parse_args(argv)

    from course.reference import quiet_tensorflow

    quiet_tensorflow()
    parts = _parts(args.runs, args.students, (10, 40, 160) if args.cluster_160 else (10, 40))
    chosen = args.only or list(parts)
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
              "rows": []}
    for name in chosen:
        start = time.perf_counter()
        print(f"\n== {name} ==", flush=True)
        result = parts[name]()
        rows = result.pop("rows", [])
        _print_rows(rows)
        report["rows"].extend(rows)
        for key, value in result.items():
            report[key] = value
            if key in GOALS:
                goal, better = GOALS[key]
                ok = value <= goal if better == "lower" else value >= goal
                print(f"{key} = {value:.3g}  (goal {'≤' if better == 'lower' else '≥'} {goal:g}: {'met' if ok else 'NOT met'})")
            elif not isinstance(value, (list, dict)):
                print(f"{key} = {value}")
            else:
                print(f"{key} = {json.dumps(value)}")
        print(f"({name} took {time.perf_counter() - start:.0f} s)")

    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    latest = out / "latest.json"
    if args.only and latest.exists():  # a partial run updates the figures it measured
        previous = json.loads(latest.read_text())
        previous_rows = [r for r in previous.get("rows", []) if r["name"] not in {r2["name"] for r2 in report["rows"]}]
        previous.update({k: v for k, v in report.items() if k != "rows"})
        previous["rows"] = previous_rows + report["rows"]
        report = previous
    latest.write_text(json.dumps(report, indent=2, default=float))
    print(f"\nwrote {latest.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
