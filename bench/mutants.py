"""Mutation testing of the safeguards (``make mutants``): plant one small bug at a time in a copy
of the package with mutmut and see whether a test fails.

    .venv/bin/python bench/mutants.py [SCOPE ...] [--max-children N] [--time-cap S]
    .venv/bin/python bench/mutants.py policy --resume NAME ...   # re-run some mutants only
    .venv/bin/python bench/mutants.py evidence-media --no-postgres  # SQLite alone: faster

Scopes (default: these, in this order): policy, audit, services, security, evidence; one file
(or a file split in two) with its own tests: services-access, services-auth, services-retention,
services-watchlists, services-events, audit-chain, audit-keys, cadence, face-stage, evidence-redact,
evidence-export, evidence-assemble, evidence-pipeline, evidence-media (``services`` and
``evidence`` are their unions).  Each runs
in its own copy, ``bench/out/mutants/<scope>/`` (the working tree is never touched: mutmut
writes its mutated package under ``mutants/`` there), against the tests that are meant to
guard it.  The report goes to ``bench/out/mutants.md`` and ``bench/out/mutants.json``: killed,
survived, timed out and untested mutants per file, and every survivor's diff.  A survivor is
either a missing test or an equivalent mutant; ``docs/mutation.md`` lists the equivalent ones.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
MUTMUT = Path(sys.executable).with_name("mutmut")
PKG = "src/citywatch"


@dataclass(frozen=True)
class Scope:
    mutate: tuple[str, ...]  # globs, relative to the repository
    tests: tuple[str, ...]  # the test folders or files that guard them


def _service(name: str) -> str:
    return f"{PKG}/services/{name}.py"


# What a camera's pipeline is built from and what it does to plate evidence (real
# build_pipeline, fake models): the assemble and pipeline scopes share these.
_PIPELINE_TESTS = (
    "tests/accountability/test_plate_evidence_blur.py",
    "tests/accountability/test_privacy_masks.py",
    "tests/accountability/test_gate.py",
    "tests/accountability/test_discard.py",
    "tests/engine/test_camera_factory.py",
    "tests/engine/test_assemble_exact.py",
)

# Per-file scopes (each file with the tests that guard it, so that one run stays short on two
# shared cores); ``services`` and ``evidence`` are their unions.
FILE_SCOPES: dict[str, Scope] = {
    "services-access": Scope(
        (_service("access_requests"),),
        (
            "tests/services/test_access_requests.py",
            "tests/services/test_access_exact.py",
            "tests/services/test_safeguards.py",
            "tests/api/test_access.py",
            "tests/api/test_access_cases.py",
        ),
    ),
    "services-auth": Scope(
        (_service("authorisations"),),
        (
            "tests/services/test_authorisations.py",
            "tests/services/test_authorisations_exact.py",
            "tests/cli/test_authorisation_cmds.py",
        ),
    ),
    "services-retention": Scope(
        (_service("retention"),),
        (
            "tests/services/test_retention.py",
            "tests/services/test_retention_outage.py",
            "tests/services/test_retention_exact.py",
            "tests/cli/test_retention.py",
        ),
    ),
    "services-watchlists": Scope(
        (_service("watchlists"), _service("enrolment")),
        (
            "tests/services/test_watchlists.py",
            "tests/services/test_watchlists_exact.py",
            "tests/services/test_safeguards.py",
            # two enrolments at once (the row lock under the size limit): PostgreSQL only
            "tests/services/test_watchlists_race.py",
        ),
    ),
    "services-events": Scope(
        (_service("events"), _service("recorder_base")),
        (
            "tests/services/test_events.py",
            "tests/services/test_events_exact.py",
            "tests/services/test_events_replays.py",
            "tests/services/test_safeguards.py",
        ),
    ),
    "evidence-redact": Scope(
        (f"{PKG}/vision/redact.py",),
        (
            "tests/vision/test_redact.py",
            "tests/accountability/test_plate_evidence_blur.py",
        ),
    ),
    # the hash chain itself (also in ``audit``: a scope of its own so that one run fits)
    "audit-chain": Scope((f"{PKG}/audit/chain.py",), ("tests/audit",)),
    # the signing keys (also in ``audit``), with the API test that fetches the published key
    "audit-keys": Scope((f"{PKG}/audit/keys.py",), ("tests/audit", "tests/api/test_playback.py")),
    # how often a stage searches while it finds nothing (issue 18): a bug there costs recall
    "cadence": Scope(
        (f"{PKG}/vision/cadence.py",),
        ("tests/vision/test_cadence.py", "tests/engine/test_search_health.py"),
    ),
    # the face stage: the search cadence, and the windows around tracked faces between
    # whole-frame searches
    "face-stage": Scope(
        (f"{PKG}/vision/faces/stage.py",),
        (
            "tests/vision/faces/test_face_windows.py",
            "tests/vision/faces/test_stage.py",
            "tests/vision/test_cadence.py",
        ),
    ),
    # signed exports of recorded footage, checked offline (also in ``audit``, with all of
    # tests/audit)
    "evidence-export": Scope(
        (f"{PKG}/audit/evidence_export.py",),
        (
            "tests/audit/test_evidence_export.py",
            "tests/audit/test_evidence_export_exact.py",
            "tests/services/test_playback_export.py",
            "tests/cli/test_recordings_export.py",
            "tests/cli/test_recordings_verify.py",
        ),
    ),
    # the evidence path: which stages a camera gets and the redactor of its plate evidence
    # (assemble), the pipeline that blurs the faces in that evidence, the files it is kept in
    "evidence-assemble": Scope((f"{PKG}/engine/assemble.py",), _PIPELINE_TESTS),
    "evidence-pipeline": Scope(
        (f"{PKG}/engine/pipeline.py",), (*_PIPELINE_TESTS, "tests/engine/test_pipeline_exact.py")
    ),
    "evidence-media": Scope(
        (f"{PKG}/store/media.py",),
        (
            "tests/store/test_media.py",
            "tests/store/test_media_exact.py",
            "tests/services/test_evidence_faults.py",
            "tests/services/test_orphans.py",
            "tests/services/test_clips.py",
        ),
    ),
}


def _union(
    *names: str, extra_mutate: tuple[str, ...] = (), extra_tests: tuple[str, ...] = ()
) -> Scope:
    mutate = [m for n in names for m in FILE_SCOPES[n].mutate] + list(extra_mutate)
    tests = [t for n in names for t in FILE_SCOPES[n].tests] + list(extra_tests)
    return Scope(tuple(dict.fromkeys(mutate)), tuple(dict.fromkeys(tests)))


SCOPES: dict[str, Scope] = {
    "policy": Scope((f"{PKG}/policy/*",), ("tests/policy",)),
    "audit": Scope((f"{PKG}/audit/*",), ("tests/audit",)),
    "services": _union(
        "services-access",
        "services-auth",
        "services-retention",
        "services-watchlists",
        "services-events",
        extra_tests=("tests/services", "tests/accountability"),
    ),
    # the tests that exercise the credential and CSRF checks, not the whole of tests/api (every
    # API test passes through ``requires``: each mutant would run them all)
    "security": Scope(
        (f"{PKG}/api/security.py",),
        (
            "tests/api/test_auth.py",
            "tests/api/test_routes_declare_permissions.py",
            "tests/api/test_security_exact.py",
            # Principal.may decides what a page offers (the review form: operators only)
            "tests/api/test_console_pages.py::"
            "test_the_review_page_escapes_and_offers_review_to_operators_only",
        ),
    ),
    "evidence": _union(
        "evidence-redact",
        "evidence-export",
        "evidence-assemble",
        "evidence-pipeline",
        "evidence-media",
    ),
    **FILE_SCOPES,
}
MAIN_SCOPES = ("policy", "audit", "services", "security", "evidence")


def status_of(code: int | None) -> str:
    """mutmut's verdict for a mutant's exit code (killed, survived, timeout, no tests, ...)."""
    from mutmut.stats import status_by_exit_code

    return "not run" if code is None else str(status_by_exit_code[code])


def mutmut_config(scope: Scope) -> str:
    def toml_list(items: tuple[str, ...] | list[str]) -> str:
        return "[" + ", ".join(json.dumps(i) for i in items) + "]"

    # a test file not written yet is left out (``path::test`` names one test of a file)
    tests = [t for t in scope.tests if (REPO / t.split("::")[0]).exists()]

    return (
        "\n\n[tool.mutmut]\n"
        'source_paths = ["src/"]\n'
        f"only_mutate = {toml_list(scope.mutate)}\n"
        'pytest_add_cli_args = ["-p", "no:randomly", "-p", "no:cacheprovider", "-q"]\n'
        f"pytest_add_cli_args_test_selection = {toml_list(tests)}\n"
        "use_git_change_detection = false\n"
        # two cores shared with other work: a mutant is "timed out" only well past the clean
        # run's time, not when a neighbour's load slowed it down
        "timeout_multiplier = 30.0\n"
        "timeout_constant = 10.0\n"
    )


def prepare(name: str, scope: Scope, resume: bool) -> Path:
    """A copy of src/, tests/ and pyproject.toml (with the scope's mutmut settings)."""
    work = OUT / "mutants" / name
    if work.exists() and not resume:
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    for part in ("src", "tests"):
        if (work / part).exists():
            shutil.rmtree(work / part)
        shutil.copytree(
            REPO / part, work / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    if resume and (work / "mutants" / "tests").exists():
        shutil.rmtree(work / "mutants" / "tests")  # mutmut copies the tests afresh
    pyproject = (REPO / "pyproject.toml").read_text()
    (work / "pyproject.toml").write_text(pyproject + mutmut_config(scope))
    # The tests look for var/models and ../shared beside the repository they run from
    # (mutants/ inside the copy): point both at the real ones.
    (work / "mutants").mkdir(exist_ok=True)
    for link, target in (
        (work / "mutants" / "var", REPO / "var"),
        (work / "shared", REPO.parent / "shared"),
    ):
        if not link.exists() and target.exists():
            link.symlink_to(target)
    return work


def run_mutmut(
    work: Path, names: list[str], max_children: int, cap: float | None, postgres: bool = True
) -> bool:
    """Run mutmut in ``work``; True when it finished before ``cap`` seconds.  ``postgres``
    False: the tests run on SQLite alone (see ``--no-postgres``)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CITYWATCH_CONFIG")}
    if not postgres:
        # libpq then asks the test server for SSL, which it does not offer: the tests' probe
        # finds no PostgreSQL and their PostgreSQL half is skipped (never under STRICT)
        env["PGSSLMODE"] = "require"
        env.pop("CITYWATCH_STRICT", None)
    cmd = [str(MUTMUT), "run", "--max-children", str(max_children), *names]
    with (work / "mutmut.log").open("w") as log:
        proc = subprocess.Popen(
            cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            proc.wait(timeout=cap)
            return True
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            return False


def diff_of(mutant: str, source: str) -> str:
    """The mutant's changed lines (mutmut's own diff; call with the copy as the working dir)."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    try:
        shown = get_diff_for_mutant(mutant, path=source)
    except Exception as e:  # a report without one diff beats no report
        return f"(no diff: {e})"
    lines = shown.splitlines()
    return "\n".join(ln for ln in lines if ln[:1] in "+-" and not ln.startswith(("+++", "---")))


def collect(name: str, work: Path) -> dict[str, object]:
    """Per file: counts by verdict; every survivor (and timeout) with its diff."""
    files: dict[str, dict[str, int]] = {}
    survivors: list[dict[str, str]] = []
    here = Path.cwd()
    os.chdir(work)
    try:
        _collect(work, files, survivors)
    finally:
        os.chdir(here)
    return {"scope": name, "files": files, "survivors": survivors}


def _collect(work: Path, files: dict[str, dict[str, int]], survivors: list[dict[str, str]]) -> None:
    for meta in sorted((work / "mutants").rglob("*.py.meta")):
        source = str(meta.relative_to(work / "mutants"))[: -len(".meta")]
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        counts = Counter(status_of(c) for c in codes.values())
        files[source] = dict(sorted(counts.items()))
        for mutant, code in sorted(codes.items()):
            if status_of(code) not in ("killed", "caught by type check", "skipped", "not run"):
                survivors.append(
                    {"mutant": mutant, "status": status_of(code), "diff": diff_of(mutant, source)}
                )


def score(counts: dict[str, int]) -> tuple[int, int, float]:
    killed = counts.get("killed", 0) + counts.get("caught by type check", 0)
    tested = sum(n for status, n in counts.items() if status not in ("skipped", "not run"))
    return killed, tested, (killed / tested if tested else 1.0)


def markdown(results: list[dict[str, object]]) -> str:
    cols = ("killed", "survived", "timeout", "no tests", "not run")
    out = ["# Mutation testing (bench/mutants.py)", ""]
    out += ["| scope | file | " + " | ".join(cols) + " | score |", "|---" * (len(cols) + 3) + "|"]
    for res in results:
        files = res["files"]
        assert isinstance(files, dict)
        for source, counts in files.items():
            killed, tested, ratio = score(counts)
            cells = [str(killed), *(str(counts.get(c, 0)) for c in cols[1:])]
            shown = f"{ratio:.1%}" if tested else "-"
            out.append(f"| {res['scope']} | {source} | {' | '.join(cells)} | {shown} |")
        if not res.get("finished", True):
            out.append(f"| {res['scope']} | (time cap reached: partial) |" + " |" * (len(cols) + 1))
    for res in results:
        survivors = res["survivors"]
        assert isinstance(survivors, list)
        if survivors:
            out += ["", f"## {res['scope']}: survivors", ""]
            for s in survivors:
                out += [f"- `{s['mutant']}` ({s['status']})", "", "```diff", s["diff"], "```"]
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("scopes", nargs="*", metavar="SCOPE", help=", ".join(SCOPES))
    ap.add_argument("--max-children", type=int, default=2)
    ap.add_argument("--time-cap", type=float, default=None, help="seconds per scope")
    ap.add_argument(
        "--resume",
        nargs="*",
        metavar="MUTANT",
        default=None,
        help="keep the scope's earlier results; re-run only these mutants (none: all)",
    )
    ap.add_argument(
        "--no-postgres",
        action="store_true",
        help="run the tests on SQLite alone: for files whose code does not depend on the\n"
        "database kind (each mutant then skips making a PostgreSQL database)",
    )
    ap.add_argument(
        "--report-only", action="store_true", help="write the report from the last runs' results"
    )
    args = ap.parse_args()
    unknown = [s for s in args.scopes if s not in SCOPES]
    if unknown:
        ap.error(f"unknown scope {', '.join(unknown)}: expected some of {', '.join(SCOPES)}")
    for name in args.scopes or list(MAIN_SCOPES):
        t0 = time.monotonic()
        if args.report_only:
            work, last = OUT / "mutants" / name, OUT / f"mutants-{name}.json"
            before = json.loads(last.read_text()) if last.exists() else {}
            finished, seconds = before.get("finished", True), before.get("seconds", 0)
        else:
            work = prepare(name, SCOPES[name], resume=args.resume is not None)
            finished = run_mutmut(
                work, args.resume or [], args.max_children, args.time_cap, not args.no_postgres
            )
            seconds = round(time.monotonic() - t0)
        res = collect(name, work) | {"finished": finished, "seconds": seconds}
        (OUT / f"mutants-{name}.json").write_text(json.dumps(res, indent=1))
        totals: Counter[str] = Counter()
        for counts in res["files"].values():  # type: ignore[attr-defined]
            totals.update(counts)
        killed, tested, ratio = score(dict(totals))
        state = "" if finished else " (time cap reached: partial)"
        print(f"{name}: {killed}/{tested} killed ({ratio:.1%}) in {res['seconds']} s{state}")
    # the report covers every scope that has a result, this run's and earlier ones
    every = [json.loads(p.read_text()) for p in sorted(OUT.glob("mutants-*.json"))]
    order = {n: i for i, n in enumerate(SCOPES)}
    every.sort(key=lambda r: order.get(r["scope"], 99))
    (OUT / "mutants.md").write_text(markdown(every))
    (OUT / "mutants.json").write_text(json.dumps(every, indent=1))
    print(f"report: {OUT / 'mutants.md'}")


if __name__ == "__main__":
    main()
