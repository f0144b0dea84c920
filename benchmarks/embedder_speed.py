"""Chunks per second of the local embedder on ~200-token chunks, batch 32.

    .venv/bin/python benchmarks/embedder_speed.py [--rounds 3] [--chunks 64]
        [--torch-python /tmp/refvenv/bin/python]

Rows:
* ``local (numpy, N threads x BLAS 1)``: ``LocalEmbedder`` as shipped: each batch
  split across one thread per core, BLAS held to one thread each.
* ``local, workers=1``: the same on one core only.
* ``numpy, 1 thread x BLAS N``: the same forward pass in one thread, BLAS using
  every core; elementwise work (GELU, softmax, layer norm) then runs on one core.
* ``sentence-transformers (torch)``: the reference, run in the interpreter given
  by ``--torch-python`` (a throwaway venv made as in make_reference_vectors.py),
  or in this one if torch imports here; skipped with a note otherwise.
* ``onnxruntime``: the variant considered instead of numpy; same interpreter as
  torch, when ``pip install onnx onnxruntime`` was run there. The graph is
  exported by torch into a temporary folder, mean pooling done in numpy.

Rounds alternate between rows (one torch process per round) so that load from
other processes on a shared machine hits every row alike; the table gives the
best and the median round. The load average is recorded: above the core count,
figures are not comparable with a quiet machine's.
Writes benchmarks/results/embedder_speed.md and .json with machine and BLAS info.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RESULTS = REPO / "benchmarks" / "results"
CHUNK_TOKENS = 200  # a typical qmdr chunk: the chunker's default budget is a few hundred wordpieces
BATCH_SIZE = 32  # sentence-transformers' default batch size
DEFAULT_CHUNKS = 64  # two batches: enough to average over, short enough to repeat on a shared machine
DEFAULT_ROUNDS = 3
SEED = 20240314
DEFAULT_TORCH_PYTHON = Path("/tmp/refvenv/bin/python")
BLAS_FIELDS = ("internal_api", "version", "architecture", "num_threads", "threading_layer")


def make_chunks(count: int, tokens: int = CHUNK_TOKENS) -> list[str]:
    """Deterministic prose-like chunks of (just under) ``tokens`` wordpieces, from the model's vocabulary."""
    from providers.local.model_files import find_model_dir
    from providers.local.tokenizer import WordpieceTokenizer

    folder = find_model_dir()
    tokenizer = WordpieceTokenizer(folder / "tokenizer.json")
    vocab = (folder / "vocab.txt").read_text(encoding="utf-8").split()
    words = [w for w in vocab[2000:] if w.isalpha() and len(w) > 2]
    rng = np.random.default_rng(SEED)
    # The BERT pre-tokenizer splits on spaces and punctuation, so a chunk's length is the sum of its words'.
    pieces: dict[str, int] = {}
    chunks = []
    for _ in range(count):
        picked: list[str] = []
        total = 0
        while True:
            word = words[int(rng.integers(len(words)))] + ("." if rng.random() < 0.08 else "")
            if word not in pieces:
                pieces[word] = tokenizer.count(word)
            if total + pieces[word] > tokens:
                break
            picked.append(word)
            total += pieces[word]
        chunks.append(" ".join(picked))
    return chunks


def time_call(encode: Callable[[Sequence[str]], object], chunks: Sequence[str]) -> tuple[float, float]:
    """(chunks per second of wall time, CPU milliseconds of this process per chunk) for one call.

    CPU time per chunk is the steadier figure on a shared machine: other processes
    slow the wall clock but hardly change the work done (spin-waiting threads count).
    """
    cpu_start = _cpu_seconds()
    start = time.perf_counter()
    encode(chunks)
    wall = time.perf_counter() - start
    return len(chunks) / wall, (_cpu_seconds() - cpu_start) * 1000 / len(chunks)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def numpy_rows() -> dict[str, Callable[[Sequence[str]], object]]:
    """The in-process variants, each warmed up by the caller before timing."""
    from providers.local import LocalEmbedder, bert
    from providers.local.tokenizer import pad_batch

    cores = len(os.sched_getaffinity(0))
    split = LocalEmbedder()
    single = LocalEmbedder(workers=1)
    weights = split._weights  # the same arrays, read-only

    def one_thread_all_blas(chunks: Sequence[str]) -> None:
        """The forward pass with no thread split: BLAS parallel, elementwise work on one core."""
        ids = sorted(split._tokenizer.encode(chunks), key=len)
        for start in range(0, len(ids), BATCH_SIZE):
            bert.encode(weights, *pad_batch(ids[start : start + BATCH_SIZE]))

    return {
        f"local (numpy, {cores} threads x BLAS 1)": lambda c: split.embed_sync(c, batch_size=BATCH_SIZE),
        "local, workers=1 (numpy, 1 thread x BLAS 1)": lambda c: single.embed_sync(c, batch_size=BATCH_SIZE),
        f"numpy, 1 thread x BLAS {cores}": one_thread_all_blas,
    }


def torch_child(chunks_file: Path, rounds: int) -> None:
    """Run in the torch interpreter: print JSON with chunks/s per round for each row it can run."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    payload = json.loads(chunks_file.read_text(encoding="utf-8"))
    model = SentenceTransformer(payload["model_dir"], device="cpu")
    model.max_seq_length = 256
    chunks = payload["chunks"]
    rows = {
        f"sentence-transformers (torch {torch.__version__}, {torch.get_num_threads()} threads)": lambda c: model.encode(
            c, batch_size=BATCH_SIZE
        )
    }
    ort_row = _onnxruntime_row(model, chunks_file.parent / "minilm.onnx")
    if ort_row is not None:
        rows[ort_row[0]] = ort_row[1]
    speeds: dict[str, list[tuple[float, float]]] = {name: [] for name in rows}
    for encode in rows.values():
        encode(chunks[:BATCH_SIZE])  # warm-up
    for _ in range(rounds):
        for name, encode in rows.items():
            speeds[name].append(time_call(encode, chunks))
    print(json.dumps(speeds))


def _onnxruntime_row(model, onnx_path: Path) -> tuple[str, Callable[[Sequence[str]], object]] | None:
    """ONNX Runtime on the same weights (graph exported by torch), when onnxruntime imports here."""
    try:
        import onnxruntime
    except ImportError:
        return None
    import torch

    transformer = model[0].auto_model
    tokenizer = model.tokenizer

    class LastHidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = transformer

        def forward(self, input_ids, attention_mask):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    sample = tokenizer(["export sample", "a second sample"], padding=True, return_tensors="pt")
    dynamic = {0: "batch", 1: "seq"}
    torch.onnx.export(
        LastHidden().eval(),
        (sample["input_ids"], sample["attention_mask"]),
        str(onnx_path),
        input_names=["input_ids", "attention_mask"],
        output_names=["hidden"],
        opset_version=17,
        dynamic_axes={"input_ids": dynamic, "attention_mask": dynamic, "hidden": dynamic},
        dynamo=False,
    )
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = len(os.sched_getaffinity(0))
    session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])

    def encode(chunks: Sequence[str]) -> None:
        for start in range(0, len(chunks), BATCH_SIZE):
            batch = tokenizer(
                list(chunks[start : start + BATCH_SIZE]),
                padding=True,
                truncation=True,
                max_length=256,
                return_tensors="np",
            )
            hidden = session.run(
                None,
                {
                    "input_ids": batch["input_ids"].astype(np.int64),
                    "attention_mask": batch["attention_mask"].astype(np.int64),
                },
            )[0]
            mask = batch["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(1) / mask.sum(1)
            pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)

    threads = options.intra_op_num_threads
    return f"onnxruntime {onnxruntime.__version__} fp32 (torch-exported graph, {threads} threads)", encode


def run_torch(python: Path, chunks: list[str], rounds: int) -> dict[str, list[list[float]]] | None:
    """Measure the torch-side rows in ``python``; None when that interpreter has no torch."""
    from providers.local.model_files import find_model_dir

    with tempfile.TemporaryDirectory() as tmp:
        chunks_file = Path(tmp) / "chunks.json"
        chunks_file.write_text(json.dumps({"chunks": chunks, "model_dir": str(find_model_dir())}))
        done = subprocess.run(
            [str(python), __file__, "--torch-child", str(chunks_file), "--rounds", str(rounds)],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            check=False,
        )
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def machine_info() -> dict:
    """Cores, CPU, numpy and BLAS (which OpenBLAS kernel runs) for the results file."""
    from threadpoolctl import threadpool_info

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpu": cpu,
        "cores_available": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": [
            {key: lib.get(key) for key in BLAS_FIELDS} for lib in threadpool_info() if lib.get("user_api") == "blas"
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--chunks", type=int, default=DEFAULT_CHUNKS)
    parser.add_argument("--torch-python", type=Path, default=DEFAULT_TORCH_PYTHON)
    parser.add_argument("--torch-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.torch_child:
        torch_child(args.torch_child, args.rounds)
        return

    info = machine_info()  # before the runs: its load average is the other processes' load
    chunks = make_chunks(args.chunks)
    rows = numpy_rows()
    for encode in rows.values():  # warm-up: first calls page in weights and start threads
        encode(chunks[:BATCH_SIZE])
    speeds: dict[str, list[tuple[float, float]]] = {name: [] for name in rows}
    notes: list[str] = []
    torch_python = args.torch_python if args.torch_python.exists() else Path(sys.executable)
    for _ in range(args.rounds):
        for name, encode in rows.items():
            speeds[name].append(time_call(encode, chunks))
        # One torch round per numpy round, so a change of load on a shared machine hits both alike.
        torch_result = run_torch(torch_python, chunks, rounds=1)
        for name, values in (torch_result or {}).items():
            speeds.setdefault(name, []).extend(values)
    if not any(name.startswith("sentence-transformers") for name in speeds):
        notes.append(f"sentence-transformers row skipped: torch not importable in {torch_python}")
    if not any(name.startswith("onnxruntime") for name in speeds):
        notes.append(f"onnxruntime row skipped: onnxruntime not importable in {torch_python}")

    table = ["| embedder | best chunks/s | median chunks/s | CPU ms per chunk (best) |", "|---|---:|---:|---:|"]
    table += [
        f"| {name} | {max(r[0] for r in runs):.1f} | {statistics.median(r[0] for r in runs):.1f} "
        f"| {min(r[1] for r in runs):.0f} |"
        for name, runs in speeds.items()
    ]
    info["load_average_at_end"] = os.getloadavg()
    header = (
        f"{args.chunks} chunks of {CHUNK_TOKENS} wordpieces, batch {BATCH_SIZE}, {args.rounds} rounds; "
        f"{info['cores_available']} cores ({info['cpu']}); numpy {info['numpy']}; BLAS "
        + ", ".join(f"{b['internal_api']} {b['version']} ({b['architecture']} kernel)" for b in info["blas"])
        + f"; load average {info['load_average_at_start'][0]:.2f} at start, "
        f"{info['load_average_at_end'][0]:.2f} at end"
    )
    text = "\n".join(["# Embedder speed", "", header, "", *table, "", *notes]).rstrip() + "\n"
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "embedder_speed.md").write_text(text, encoding="utf-8")
    (RESULTS / "embedder_speed.json").write_text(
        json.dumps(
            {
                "chunk_tokens": CHUNK_TOKENS,
                "batch_size": BATCH_SIZE,
                "chunks": args.chunks,
                "rounds": args.rounds,
                "machine": info,
                "runs_chunks_per_second_and_cpu_ms_per_chunk": speeds,
                "notes": notes,
            },
            indent=1,
        )
        + "\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
