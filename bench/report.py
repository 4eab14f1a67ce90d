"""The bench's table, its Markdown record (with the machine) and its plot."""

from __future__ import annotations

from pathlib import Path

COLUMNS = (
    "pods",
    "floor s",
    "start-up s",
    "opscheck -n0 s / MB",
    "-n2 s / MB",
    "requests -n0 / -n2",
    "kubectl s",
    "baseline s / MB",
    "opscheck / (start-up + floor)",
    "kubectl / opscheck",
    "baseline / opscheck",
    "counts correct -n0 / -n2",
)


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "-"


def _correct(row: dict, run: str) -> str:
    """ "yes (19)": every one of the 19 counts compared (bench/verify.py) agrees."""
    result = (row.get("correct") or {}).get(run)
    if result is None:
        return "-"
    wrong = len(result["mismatches"])
    return f"yes ({result['compared']})" if not wrong else f"NO ({wrong} of {result['compared']})"


def table(rows: list[dict]) -> str:
    """A Markdown table, one row per size. Start-up is opscheck's -n 0 wall time at 0 pods:
    its fixed cost. A run without a 0-pod row (e.g. --keep-cluster on a grown cluster) has
    no start-up, and no ratio against it."""
    startup = rows[0]["n0"]["wall_s"] if rows and rows[0]["pods"] == 0 else None
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        n0, n2, fl, base = r["n0"], r["n2"], r["floor"], r["baseline"]
        best = min(n0["wall_s"], n2["wall_s"])
        cells = [
            f"{r['pods']:,}",
            f"{fl['wall_s']:.2f}",
            f"{startup:.1f}" if startup is not None else "not measured",
            f"{n0['wall_s']:.1f} / {n0['peak_mb']}",
            f"{n2['wall_s']:.1f} / {n2['peak_mb']}",
            f"{n0['requests']} / {n2['requests']}",
            f"{r['kubectl']['wall_s']:.1f}",
            f"{base['wall_s']:.1f} / {base['peak_mb']}" if base else "not run",
            _ratio(n0["wall_s"], startup + fl["wall_s"]) if startup is not None else "-",
            _ratio(r["kubectl"]["wall_s"], best),
            _ratio(base["wall_s"], best) if base else "-",
            " / ".join(_correct(r, f"n{w}") for w in (0, 2)),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_markdown(path: Path, table_text: str, rows: list[dict], info: dict[str, str]) -> None:
    out = [f"# opscheck bench, {path.stem}", "", table_text, ""]
    out += [
        "Seconds are wall time; MB the highest peak RSS (VmHWM) of any one process of the run;",
        "requests: the audit log's requests by opscheck's identity during the run; the floor is",
        "one raw paginated LIST (limit 500) + json parse of every collection the -n 0 run listed;",
        "kubectl/baseline ratios are against opscheck's faster of -n 0 and -n 2.",
        "",
        "## Per size",
        "",
    ]
    for r in rows:
        out.append(
            f"- {r['pods']:,} pods (populated in {r.get('populate_s', '?')} s): "
            f"-n0 {r['n0']['outcomes']}, peak in {r['n0']['peak_process']}; "
            f"-n2 peak in {r['n2']['peak_process']}; requests -n0 {r['n0']['requests_by_verb']}; "
            f"floor {r['floor']['lists']} LISTs, {r['floor']['pages']} pages, {r['floor']['objects']:,} objects"
        )
    wrong = [
        (r["pods"], run, m) for r in rows for run, res in (r.get("correct") or {}).items() for m in res["mismatches"]
    ]
    if wrong:
        out += ["", "Counts that differ from the raw LISTs (bench/verify.py):", ""]
        out += [f"- {pods:,} pods, {run}: {m}" for pods, run, m in wrong]
    if rows:
        out += ["", "Collections the daily run lists (from the audit log):", ""]
        out += [f"- `{p}`" for p in rows[-1]["kinds"]]
    out += ["", "## Machine", ""] + [f"- {k}: {v}" for k, v in info.items()]
    path.write_text("\n".join(out) + "\n")


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pods = [r["pods"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    series = {
        "floor (LIST + parse)": [r["floor"]["wall_s"] for r in rows],
        "opscheck -n 0": [r["n0"]["wall_s"] for r in rows],
        "opscheck -n 2": [r["n2"]["wall_s"] for r in rows],
        "seeds' kubectl lines": [r["kubectl"]["wall_s"] for r in rows],
        "typed-client pytest": [r["baseline"]["wall_s"] if r["baseline"] else None for r in rows],
    }
    for label, values in series.items():
        if None not in values:  # a part not run (--no-baseline) is left out
            left.plot(pods, values, marker="o", label=label)
    left.set(xlabel="pods", ylabel="wall time (s)", title="daily checklist: time")
    left.legend()
    memory = {
        "opscheck -n 0": [r["n0"]["peak_mb"] for r in rows],
        "opscheck -n 2": [r["n2"]["peak_mb"] for r in rows],
        "typed-client pytest": [r["baseline"]["peak_mb"] if r["baseline"] else None for r in rows],
    }
    for label, values in memory.items():
        if None not in values:
            right.plot(pods, values, marker="o", label=label)
    right.axhline(300, color="grey", linestyle="--", label="target: 300 MB")
    right.set(xlabel="pods", ylabel="peak RSS of one process (MB)", title="daily checklist: memory")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
