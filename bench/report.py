"""Turn bench/run.py's results into the Markdown tables, the plot and the README section."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bench.query_latency import RETRIEVAL, STAGES

README_START = "<!-- bench:start (written by `make bench`) -->"
README_END = "<!-- bench:end -->"


@dataclass(frozen=True)
class Target:
    measure: str
    target: str
    measured: str
    met: bool | None  # None: not measured in this run


def _size(results: dict, n: int) -> dict | None:
    return results["sizes"].get(str(n))


def _default_row(ann: dict) -> dict:
    return next(r for r in ann["sweep"] if r["default"])


def targets(results: dict) -> list[Target]:
    out = []
    enc = results["encode"]
    out.append(Target("indexing throughput / raw encode throughput", ">= 0.9",
                      f"{enc['ratio']:.2f} ({enc['ours_passages_per_s']['overall']:.1f} vs "
                      f"{enc['raw_passages_per_s']['overall']:.1f} passages/s, {enc['passages']:,} passages)",
                      enc["ratio"] >= 0.9))
    for n, limit in ((100_000, 30.0), (1_000_000, 40.0)):
        size = _size(results, n)
        if size is None:
            out.append(Target(f"retrieval p50, {n:,} passages", f"<= {limit:.0f} ms", "not run (--quick)", None))
            continue
        p50 = size["query"]["retrieval_ms"]["median"]
        text, met = f"{p50:.1f} ms ({size['query']['index']})", p50 <= limit
        if "ann" in size:
            row = _default_row(size["ann"])
            text += f", recall@10 {row['recall_at_10']:.3f}"
            met = met and row["recall_at_10"] >= 0.95
        target = f"<= {limit:.0f} ms" + (", recall@10 >= 0.95" if n == 1_000_000 else "")
        out.append(Target(f"retrieval p50 ({' + '.join(RETRIEVAL)}), {n:,} passages", target, text, met))
    seed = results["seed"]["ask_ms"]["median"]
    read = results["seed"]["stages_ms"]["read"]["median"]
    out.append(Target("answer step p50 (the reader), seed index", "<= 60 ms", f"{read:.1f} ms", read <= 60))
    out.append(Target("full answer p50 (warm), seed index", "<= 100 ms", f"{seed:.1f} ms", seed <= 100))
    cold = results["cold_start"]["ask_s"]["median"]
    # 5 s before the reader (issue 7); loading it may add 0.5 s (issue 13).
    out.append(Target("cold `rag ask` wall time", "<= 5.5 s", f"{cold:.2f} s", cold <= 5.5))
    big = _size(results, 1_000_000)
    if big is None:
        out.append(Target("peak RSS at 1M passages (384-d)", "<= 2.5 GB", "not run (--quick)", None))
    else:
        rss = big["query"]["peak_rss_mb"] / 1024
        out.append(Target("peak RSS at 1M passages (384-d), querying", "<= 2.5 GB", f"{rss:.2f} GB", rss <= 2.5))
    inc = results.get("incremental")
    if inc and "add_one_document_s" in inc:
        out.append(Target(f"add one 20-passage document to {inc.get('passages', 0):,} passages", "<= 2 s",
                          f"{inc['add_one_document_s']:.2f} s, {inc.get('add_encoded')} encoded",
                          inc["add_one_document_s"] <= 2.0))
    return out


def _met(flag: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "–"}[flag]


def targets_table(results: dict) -> str:
    lines = ["| measure | target | measured | met |", "|---|---|---|---|"]
    lines += [f"| {t.measure} | {t.target} | {t.measured} | {_met(t.met)} |" for t in targets(results)]
    return "\n".join(lines)


def machine_line(results: dict) -> str:
    m = results["machine"]
    return (f"{m['cpu']}, {m['cores']} cores shared with other work (load average {m['load_average_at_start'][0]} "
            f"at the start), {m['ram_gb']} GB RAM, Python {m['python']}, torch {m['torch']} with "
            f"{m['torch_threads']} thread; run of {results['started']}, {results['minutes']} minutes.")


def stage_table(results: dict) -> str:
    tail = " | retrieval | whole ask | peak RSS | (peak − start RSS) / passage | disk / passage |"
    lines = ["| store | index | " + " | ".join(STAGES) + tail,
             "|---|---|" + "---|" * (len(STAGES) + 5)]
    rows = [(f"{int(n):,} synthetic", s["query"]) for n, s in results["sizes"].items()]
    rows.append((f"seed ({results['seed']['passages']} passages)", results["seed"]))
    for name, q in rows:
        cells = [f"{q['stages_ms'][s]['median']:.1f} / {q['stages_ms'][s]['p95']:.1f}" for s in STAGES]
        n = q["passages"]
        # Per passage only where passages outweigh the model and libraries (~0.5 GB).
        per = f"{(q['peak_rss_mb'] - q['rss_start_mb']) * 2**20 / n:,.0f} B" if n >= 10_000 else "–"
        disk = (q["store_bytes"] + q["faiss_bytes"]) / n
        lines.append(f"| {name} | {q['index']} | " + " | ".join(cells)
                     + f" | {q['retrieval_ms']['median']:.1f} / {q['retrieval_ms']['p95']:.1f}"
                     + f" | {q['ask_ms']['median']:.1f} / {q['ask_ms']['p95']:.1f}"
                     + f" | {q['peak_rss_mb'] / 1024:.2f} GB | {per} | {disk:,.0f} B |")
    return "\n".join(lines)


def ann_table(results: dict) -> str:
    blocks = [(f"{int(n):,} synthetic", s["ann"]) for n, s in results["sizes"].items() if "ann" in s]
    blocks.append(("SciFact", results["ann_scifact"]))
    lines = ["| corpus | index | nprobe | recall@10 | same top-10 | approximate p50 / p95 | exact p50 / p95 |",
             "|---|---|---|---|---|---|---|"]
    for name, ann in blocks:
        for r in ann["sweep"]:
            nlist = int(ann["index"].split(",")[0].removeprefix("IVF"))
            mark = (" (default" + (", all lists" if r["nprobe"] >= nlist else "") + ")") if r["default"] else ""
            lines.append(f"| {name} | {ann['index'].split(' ')[0]} | {r['nprobe']}{mark} | {r['recall_at_10']:.3f} | "
                         f"{r['same_top10']:.2f} | {r['approx_ms']['median']:.2f} / {r['approx_ms']['p95']:.2f} ms | "
                         + (f"{r['exact_ms']['median']:.2f} / {r['exact_ms']['p95']:.2f} ms |" if r["exact_ms"] else "– |"))
    return "\n".join(lines)


def other_table(results: dict) -> str:
    enc, cold = results["encode"], results["cold_start"]
    lines = ["| measure | value |", "|---|---|",
             f"| encode, our path (per chunk of {enc['chunk']}) | {enc['ours_passages_per_s']['median']:.1f} passages/s median, "
             f"{enc['ours_passages_per_s']['overall']:.1f} overall |",
             f"| encode, raw SentenceTransformer.encode | {enc['raw_passages_per_s']['median']:.1f} passages/s median, "
             f"{enc['raw_passages_per_s']['overall']:.1f} overall |",
             f"| cold `rag ask` / `rag --help` | {cold['ask_s']['median']:.2f} s (p95 {cold['ask_s']['p95']:.2f}) / "
             f"{cold['help_s']['median']:.2f} s |",
             "| slowest imports of `rag ask` | " + ", ".join(
                 f"{i['package']} {i['cumulative_ms'] / 1000:.1f} s" for i in cold["slowest_imports"][:5]) + " |"]
    for n, s in results["sizes"].items():
        b = s["build"]
        lines.append(f"| build {int(n):,}: write store / publish (cached = 0) | {b['write_s']:.0f} s / "
                     f"{b['publish_s']:.0f} s, peak RSS {b['peak_rss_mb'] / 1024:.2f} GB |")
    return "\n".join(lines)


def write_markdown(results: dict, path: Path) -> None:
    text = "\n\n".join([
        "# Benchmark results (`make bench`)", machine_line(results),
        "## Targets", targets_table(results),
        "## Query latency by stage (ms, median / p95) and memory", stage_table(results),
        "## Approximate vs exact dense search (top-50 search, recall of the exact top-10)", ann_table(results),
        "## Encoding, cold start, builds", other_table(results),
    ])
    path.write_text(text + "\n")


def readme_section(results: dict, readme: Path) -> None:
    """Replace the generated part of README's Performance section with this run's tables."""
    body = "\n\n".join([machine_line(results), targets_table(results), stage_table(results),
                        "![latency by stage and recall](bench/results/bench.png)"])
    text = readme.read_text()
    block = f"{README_START}\n{body}\n{README_END}"
    pattern = re.compile(re.escape(README_START) + ".*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"bench: {readme} has no {README_START} marker in its Performance section")
    readme.write_text(pattern.sub(lambda _: block, text))


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(f"{int(n) // 1000:,}k", s["query"]) for n, s in results["sizes"].items()]
    rows.append(("seed", results["seed"]))
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    bottom = [0.0] * len(rows)
    for stage in STAGES:
        values = [q["stages_ms"][stage]["median"] for _, q in rows]
        left.bar([name for name, _ in rows], values, bottom=bottom, label=stage)
        bottom = [b + v for b, v in zip(bottom, values)]
    left.set_ylabel("median ms per question")
    left.set_title("rag ask, by stage")
    # Outside the bars: nine stages would cover the shortest one (the seed's).
    left.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    blocks = [(f"{int(n) // 1000:,}k synthetic", s["ann"]) for n, s in results["sizes"].items() if "ann" in s]
    blocks.append(("SciFact (real vectors)", results["ann_scifact"]))
    for name, ann in blocks:
        xs = [r["approx_ms"]["median"] for r in ann["sweep"]]
        ys = [r["recall_at_10"] for r in ann["sweep"]]
        right.plot(xs, ys, marker="o", label=name)
        for r, x, y in zip(ann["sweep"], xs, ys):
            right.annotate(str(r["nprobe"]), (x, y), fontsize=7, textcoords="offset points", xytext=(3, -8))
    right.axhline(0.95, color="grey", linestyle="--", linewidth=0.8)
    right.set_xscale("log")
    right.set_xlabel("approximate search ms (median, log scale); labels: nprobe")
    right.set_ylabel("recall@10 vs exact")
    right.set_title("IVF recall vs latency")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
