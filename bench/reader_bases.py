"""What a reader built on each packaged encoder would cost per question: the forward pass of a
span-head model over 1 and 3 windows (the passages the answer step reads), at each precision the
reader offers, one thread (Config.torch_threads). Speed only: the span head is untrained, so
this says which bases fit the answer step's 60 ms budget, not how well they would read.

    .venv/bin/python -m bench.reader_bases
    .venv/bin/python -m bench.reader_bases --bases all-MiniLM-L6-v2 --repeats 21
"""
from __future__ import annotations

import argparse
import statistics
import time
import warnings

from embeddings.pooling import quiet_transformers
from embeddings.registry import MODELS, resolve_model_dir
from rag.reader import PRECISIONS, at_precision, autocast, model_inputs, segment_ids, windows

# A real window's length: the seed's flagship question against one of its 160-word passages.
QUESTION = "Who succeeded Stoltenberg as NATO secretary general?"
PASSAGE = " ".join(["NATO Secretary General Jens Stoltenberg has stepped down from the role and handed it over "
                    "to former Dutch Prime Minister Mark Rutte, who was prime minister of The Netherlands."] * 6)


def forward_ms(model, batch, precision: str, repeats: int) -> float:
    """Median wall time of one forward pass over `batch`."""
    import torch

    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        with torch.inference_mode(), autocast(precision):
            model(**batch)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times[1:])  # the first pass builds oneDNN's kernels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bases", nargs="+", default=sorted(MODELS), choices=sorted(MODELS))
    parser.add_argument("--repeats", type=int, default=11)
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    quiet_transformers()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message=".*(deprecated|pt2e).*")  # torch 2.13 on its int8 API
    default_engine = torch.backends.quantized.engine
    print("| base | parameters | precision | 1 window | 3 windows |")
    print("|---|---|---|---|---|")
    for name in args.bases:
        folder = resolve_model_dir(name)
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        enc = windows(tokenizer, [QUESTION] * 3, [PASSAGE] * 3)
        types = torch.tensor([segment_ids(enc, i) for i in range(len(enc["input_ids"]))])
        full = model_inputs(tokenizer, torch.tensor(enc["input_ids"]), types, torch.tensor(enc["attention_mask"]))
        base = AutoModelForQuestionAnswering.from_pretrained(str(folder), local_files_only=True).eval()
        params = sum(p.numel() for p in base.parameters())
        one = {key: value[:1] for key, value in full.items()}
        # int8 under torch's default quantized engine (what the reader's "int8" uses) and oneDNN's.
        for precision, engine in [(p, None) for p in PRECISIONS] + [("int8", "onednn")]:
            torch.backends.quantized.engine = engine or default_engine
            model = at_precision(base, precision)
            label = f"{precision} ({engine})" if engine else precision
            print(f"| {name} | {params / 1e6:.0f} M | {label} | {forward_ms(model, one, precision, args.repeats):.1f} ms "
                  f"| {forward_ms(model, full, precision, args.repeats):.1f} ms |", flush=True)
    print(f"\n{len(full['input_ids'][0])} word pieces a window, 1 thread.")


if __name__ == "__main__":
    main()
