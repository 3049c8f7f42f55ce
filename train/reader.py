"""Train the reader: all-MiniLM-L6-v2 + a start/end span head on SQuAD-format data.

    python -m train.reader --out models/reader            # the shipped model (see MODEL_CARD.md)
    python -m train.reader --max-steps 4 --limit 40 ...   # wiring check (tests/test_train_reader.py)

Resumable: every `--checkpoint-minutes` the model, optimiser, scheduler and step go to
`--work DIR/checkpoint.pt` (written to a temp file and renamed, so a kill never leaves half a
checkpoint); running the same command again continues from it. The example order is a pure
function of `--seed`, so a resumed run sees exactly the examples the uninterrupted one would.

Data (`--data DIR`): every *.json / *.json.gz file in SQuAD format. Questions marked
`is_impossible` are no-answer examples; so are questions paired with another paragraph of the
same article that does not contain their answer (`--negatives` of them per answerable one),
and windows of a long paragraph that miss the answer. Articles whose title hashes into the
`--val-share` are held out for validation and never trained on.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import os
import random
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parent / "data"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "models" / "reader"


@dataclass(frozen=True)
class Example:
    title: str
    context: str
    question: str
    answers: tuple[tuple[int, str], ...]  # (char start, text); empty: no answer in this context


def _open(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def load_squad(data_dir: Path, only: str | None = None) -> list[Example]:
    """Every question of every SQuAD-format file in `data_dir` (or of the file named `only`), in file order."""
    files = sorted(p for p in data_dir.iterdir() if p.name.endswith((".json", ".json.gz")) and only in (None, p.name))
    if not files:
        raise SystemExit(f"error: no *.json or *.json.gz files in {data_dir}")
    examples: list[Example] = []
    for path in files:
        with _open(path) as fh:
            articles = json.load(fh)["data"]
        for article in articles:
            title = article.get("title", "")
            for para in article["paragraphs"]:
                context = para["context"]
                for qa in para["qas"]:
                    answers = () if qa.get("is_impossible") else tuple(
                        (a["answer_start"], a["text"]) for a in qa["answers"]
                        if context[a["answer_start"] : a["answer_start"] + len(a["text"])] == a["text"]
                    )
                    if not answers and not qa.get("is_impossible"):
                        continue  # an answer that is not where the file says: skip, don't guess
                    examples.append(Example(title, context, qa["question"], answers))
    return _dedupe(examples)


def _dedupe(examples: list[Example]) -> list[Example]:
    """SQuAD 2.0's answerable questions repeat SQuAD 1.1's: keep one of each."""
    seen: set[tuple[str, str]] = set()
    out = []
    for ex in examples:
        key = (ex.context, ex.question)
        if key not in seen:
            seen.add(key)
            out.append(ex)
    return out


def held_out(title: str, share: float) -> bool:
    return int(hashlib.sha1(title.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < share


def with_negatives(examples: list[Example], per_answerable: float, rng: random.Random) -> list[Example]:
    """Add no-answer examples: a question read against another paragraph of its own article
    (same topic, same names, so the model must learn that the answer is missing, not that
    the subject changed) that does not contain any of its answers."""
    by_title: dict[str, list[str]] = {}
    for ex in examples:
        paras = by_title.setdefault(ex.title, [])
        if not paras or paras[-1] != ex.context:
            paras.append(ex.context)
    out = list(examples)
    for ex in examples:
        if not ex.answers or rng.random() >= per_answerable:
            continue
        others = [p for p in by_title[ex.title] if p != ex.context and not any(t in p for _, t in ex.answers)]
        if others:
            out.append(Example(ex.title, rng.choice(others), ex.question, ()))
    return out


def featurize(tokenizer, examples: list[Example], max_tokens: int, stride: int):
    """Windows with start/end token labels (0 = [CLS] = no answer in this window)."""
    from rag.reader import segment_ids, windows

    enc = windows(tokenizer, [e.question for e in examples], [e.context for e in examples], max_tokens, stride)
    features = []
    for i, ids in enumerate(enc["input_ids"]):
        ex = examples[enc["overflow_to_sample_mapping"][i]]
        seq = enc.sequence_ids(i)
        offsets = enc["offset_mapping"][i]
        ctx = [j for j, s in enumerate(seq) if s == 1]
        start_tok = end_tok = 0
        if ex.answers:
            a_start, a_text = ex.answers[0]
            a_end = a_start + len(a_text)
            if offsets[ctx[0]][0] <= a_start and offsets[ctx[-1]][1] >= a_end:
                start_tok = next(j for j in ctx if offsets[j][1] > a_start)
                end_tok = next(j for j in reversed(ctx) if offsets[j][0] < a_end)
        features.append((ids, segment_ids(enc, i), start_tok, end_tok))
    return features


def batches(features, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Shuffled batches of similar length (less padding: ~30% less compute than padding every
    batch to the window), a pure function of (seed, epoch) so a resumed run replays it."""
    rng = random.Random(f"{seed}-{epoch}")
    order = list(range(len(features)))
    rng.shuffle(order)
    chunk = batch_size * 50
    out = []
    for c in range(0, len(order), chunk):
        part = sorted(order[c : c + chunk], key=lambda i: len(features[i][0]))
        out.extend(part[b : b + batch_size] for b in range(0, len(part), batch_size))
    rng.shuffle(out)
    return out


def collate(features, idx: list[int], pad_id: int):
    import torch

    # Widths rounded up to a multiple of 16: a few distinct shapes instead of ~190, so oneDNN's
    # per-shape kernels are reused (the first run's memory grew ~0.2 GB a minute without it).
    width = -(-max(len(features[i][0]) for i in idx) // 16) * 16
    ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
    types = torch.zeros((len(idx), width), dtype=torch.long)
    mask = torch.zeros((len(idx), width), dtype=torch.long)
    for row, i in enumerate(idx):
        n = len(features[i][0])
        ids[row, :n] = torch.tensor(features[i][0])
        types[row, :n] = torch.tensor(features[i][1])
        mask[row, :n] = 1
    starts = torch.tensor([features[i][2] for i in idx])
    ends = torch.tensor([features[i][3] for i in idx])
    return ids, types, mask, starts, ends


def _save_atomic(obj, path: Path) -> None:
    import torch

    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def export(model, tokenizer, out: Path, meta: dict) -> None:
    """float16 safetensors + tokenizer + config + training metadata, written beside and renamed in."""
    import torch

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(out.name + f".tmp-{os.getpid()}")
    if staging.exists():
        shutil.rmtree(staging)
    half = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    model.save_pretrained(staging, state_dict=half, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    (staging / "training.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    for path in staging.iterdir():
        path.chmod(0o644)  # safetensors writes 0600; the shipped files are for everyone to read
    if out.exists():
        old = out.with_name(out.name + f".old-{os.getpid()}")
        os.replace(out, old)
        os.replace(staging, out)
        shutil.rmtree(old)
    else:
        os.replace(staging, out)


def log(fh, **fields) -> None:
    line = json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), **fields})
    print(line, file=fh, flush=True)
    if fh is not sys.stdout:
        print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m train.reader", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of SQuAD-format *.json[.gz]")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the trained model is written")
    ap.add_argument("--work", type=Path, default=Path(".train/reader"), help="checkpoints and log (git-ignored)")
    ap.add_argument("--base", default="all-MiniLM-L6-v2", help="packaged encoder to start from")
    ap.add_argument("--init", type=Path, default=None,
                    help="start from a reader this script exported (e.g. models/reader) instead of --base; with the "
                         "same data and --seed its data order goes on after the steps it was trained for")
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... (nothing needs a GPU)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--max-tokens", type=int, default=192)
    ap.add_argument("--stride", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1.5e-4)
    ap.add_argument("--warmup", type=float, default=0.06, help="share of steps with a rising learning rate")
    ap.add_argument("--max-steps", type=int, default=0, help="0: --epochs over all windows")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--negatives", type=float, default=0.25, help="other-paragraph no-answer examples per answerable one")
    ap.add_argument("--val-share", type=float, default=0.03, help="share of articles held out (by title hash)")
    ap.add_argument("--limit", type=int, default=0, help="train on the first N examples only (wiring checks)")
    ap.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                    help="bfloat16 autocast (default: on for CUDA and CPUs with avx512_bf16)")
    ap.add_argument("--checkpoint-minutes", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--reschedule", action="store_true",
                    help="resume with another --max-steps: the learning rate then decays to 0 at the new total "
                         "(to shorten a run that would not finish in time)")
    ap.add_argument("--export-only", action="store_true",
                    help="write --out from the last checkpoint now (e.g. to try a run that is still going)")
    args = ap.parse_args(argv)

    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from embeddings.registry import resolve_model_dir
    from rag.reader import model_inputs

    hf_logging.set_verbosity_error()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    logf = open(args.work / "train.log", "a", encoding="utf-8")

    base_dir = resolve_model_dir(args.base)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    ckpt_path = args.work / "checkpoint.pt"
    if args.export_only:
        if not ckpt_path.exists():
            raise SystemExit(f"error: no checkpoint in {args.work} to export")
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        model = AutoModelForQuestionAnswering.from_pretrained(base_dir)
        model.load_state_dict(ckpt["model"])
        export(model.eval(), tokenizer, args.out, {"base": args.base, "steps": ckpt["step"], "of_steps": ckpt["total"],
                                                    "args": {k: str(v) for k, v in vars(args).items()}})
        log(logf, event="exported", out=str(args.out), step=ckpt["step"], of=ckpt["total"])
        return 0
    examples = load_squad(args.data)
    rng = random.Random(args.seed)
    train = [e for e in examples if not held_out(e.title, args.val_share)]
    val = [e for e in examples if held_out(e.title, args.val_share)]
    if args.limit:
        train = train[: args.limit]
    train = with_negatives(train, args.negatives, rng)
    t0 = time.perf_counter()
    features = featurize(tokenizer, train, args.max_tokens, args.stride)
    no_answer = sum(1 for f in features if f[2] == 0)
    log(logf, event="data", examples=len(train), windows=len(features), no_answer_windows=no_answer,
        val_examples=len(val), featurize_s=round(time.perf_counter() - t0, 1))

    per_epoch = math.ceil(len(features) / args.batch_size)
    total = args.max_steps or max(1, int(per_epoch * args.epochs))
    device = torch.device(args.device)
    bf16 = args.bf16 if args.bf16 is not None else (device.type == "cuda" or _cpu_has_bf16())
    model = AutoModelForQuestionAnswering.from_pretrained(args.init or base_dir).float().to(device)
    data_offset = _steps_already_seen(args.init, len(features), args) if args.init else 0
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warm = max(1, int(total * args.warmup))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))
    )
    step = 0
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=False)
        if ckpt["windows"] != len(features) or (ckpt["total"] != total and not args.reschedule):
            raise SystemExit(f"error: {ckpt_path} is from a run with other settings "
                             f"({ckpt['total']} steps over {ckpt['windows']} windows, now {total} over "
                             f"{len(features)}); delete it or use another --work folder")
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        step = ckpt["step"]
        log(logf, event="resumed", step=step, total=total, checkpoint_total=ckpt["total"])
    log(logf, event="start", step=step, total=total, data_offset=data_offset, device=str(device), bf16=bf16, threads=args.threads,
        args={k: str(v) for k, v in vars(args).items()})

    model.train()
    last_ckpt = time.monotonic()
    started, done_since = time.monotonic(), 0
    loss_sum, loss_n = 0.0, 0
    for batch_idx in _schedule(features, args.batch_size, args.seed, data_offset + step) if step < total else ():
        ids, types, mask, starts, ends = (t.to(device) for t in collate(features, batch_idx, tokenizer.pad_token_id))
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = model(**model_inputs(tokenizer, ids, types, mask), start_positions=starts, end_positions=ends)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        done_since += len(batch_idx)
        loss_sum, loss_n = loss_sum + out.loss.item(), loss_n + 1
        if step % 50 == 0 or step == total:
            rate = done_since / (time.monotonic() - started)
            log(logf, event="progress", step=step, total=total, loss=round(loss_sum / loss_n, 4),
                lr=round(sched.get_last_lr()[0], 7), windows_per_s=round(rate, 1),
                eta_min=round((total - step) * args.batch_size / rate / 60, 1))
            loss_sum, loss_n = 0.0, 0
        if step == total or time.monotonic() - last_ckpt > args.checkpoint_minutes * 60:
            _save_atomic({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                          "step": step, "total": total, "windows": len(features)}, ckpt_path)
            last_ckpt = time.monotonic()
            log(logf, event="checkpoint", step=step)
        if step >= total:
            break

    model.eval()
    meta = {"base": args.base, "steps": step, "data_offset": data_offset, "windows": len(features), "examples": len(train),
            "args": {k: str(v) for k, v in vars(args).items() if k not in ("work",)},
            "max_tokens": args.max_tokens, "stride": args.stride}
    export(model.float().cpu(), tokenizer, args.out, meta)
    log(logf, event="exported", out=str(args.out), step=step)
    return 0


def _steps_already_seen(init: Path, windows: int, args) -> int:
    """How many batches of this run's data order the --init model was trained on: its steps when it saw
    the same windows in the same order (so a continued run reads what it has not seen yet), else 0."""
    try:
        meta = json.loads((init / "training.json").read_text())
    except (OSError, ValueError):
        return 0
    seen = meta.get("args", {})
    same = (meta.get("windows") == windows and seen.get("seed") == str(args.seed)
            and seen.get("batch_size") == str(args.batch_size))
    return int(meta.get("data_offset", 0)) + int(meta.get("steps", 0)) if same else 0


def _schedule(features, batch_size: int, seed: int, start_step: int) -> Iterator[list[int]]:
    """Batches from step `start_step` on, epoch after epoch."""
    epoch, skip = 0, start_step
    while True:
        plan = batches(features, batch_size, seed, epoch)
        if skip >= len(plan):
            skip -= len(plan)
        else:
            yield from plan[skip:]
            skip = 0
        epoch += 1


def _cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


if __name__ == "__main__":
    sys.exit(main())
