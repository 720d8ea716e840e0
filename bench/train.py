"""Training: what the from-scratch model learns from a dataset and what it costs on CPU, beside a majority-class
baseline scored in the same run by the same code (app.modelling.scoring, i.e. `concord evaluate`'s scorer).

Datasets, each split 60/20/20 (seeded) into train, dev and test:
- zh: generated Chinese news-style documents, the generator of bench/curation.py (entities and relations known by
  construction, every occurrence of a name a gold mention);
- docred: Re-DocRED dev documents from ../shared/fixtures/docred (English, 96 relation types), read by the
  product's own split reader (app.modelling.load_split).

Model: app.modelling.train with the from-scratch encoder (no backbone), on the CPU, best epoch on dev relation F1,
scored on test. Each dataset trains in a fresh spawned process, which reports its peak RSS (VmHWM).

Baseline (majority class, no learning beyond counting the train split): entities by lexicon — every train mention
string with its most frequent type, found in the test text (longest first, no overlaps), clustered by string and
type; relations — for every ordered pair of those entities that share a sentence, the most frequent relation type
of the train split for that (head type, tail type), if the train split has one.

Printed: per dataset, documents, epochs, seconds per epoch, peak RSS, and test entity F1, relation F1 and intra- /
inter-sentence relation F1, model beside baseline. Target: model relation F1 > baseline relation F1.

Run: .venv/bin/python bench/train.py [--quick] [--seed 13] [--threads N] [--epochs N]
(full: 240 zh + 500 Re-DocRED documents, ~15 minutes on 2 cores; --quick: 60 zh documents with a smaller encoder,
and one epoch on 30 Re-DocRED documents for its cost only, about 25 CPU-seconds.)
"""

import argparse
import multiprocessing
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))  # bench/curation.py holds the Chinese generator

from app.modelling import Doc, Entity, Mention, Relation, TrainConfig, load_split  # noqa: E402
from app.modelling.scoring import score_predictions  # noqa: E402
from app.project.presets import PRESETS  # noqa: E402

DOCRED_PATH = ROOT.parent / "shared" / "fixtures" / "docred" / "redocred_dev.json"


def zh_docs(n: int, seed: int) -> list[Doc]:
    from curation import zh_documents  # imports the database layers; only needed here

    schema = PRESETS["zh-general"][1]
    symmetric = frozenset(r["code"] for r in schema["relation_types"] if r.get("symmetric"))
    out = []
    for gold in zh_documents(n, seed, symmetric):
        sentences = [gold.text[a:b] for a, b in gold.sentences]

        def mention(start: int, end: int, spans: list[tuple[int, int]] = gold.sentences) -> Mention:
            i = next(k for k, (a, b) in enumerate(spans) if a <= start < b)
            return Mention(i, start - spans[i][0], end - spans[i][0])

        entities = [Entity(e.type, [mention(s, t) for s, t in e.mentions]) for e in gold.entities]
        relations = [Relation(r.head, r.tail, r.type, list(r.evidence)) for r in gold.relations]
        out.append(Doc(gold.title, sentences, entities, relations))
    return out


def docred_docs(n: int, seed: int) -> list[Doc]:
    docs = load_split(DOCRED_PATH)
    picked = sorted(random.Random(seed).sample(range(len(docs)), min(n, len(docs))))
    return [docs[i] for i in picked]


def split(docs: Sequence[Doc], seed: int) -> tuple[list[Doc], list[Doc], list[Doc]]:
    order = list(docs)
    random.Random(seed).shuffle(order)
    a, b = int(len(order) * 0.6), int(len(order) * 0.8)
    return order[:a], order[a:b], order[b:]


# --- The majority-class baseline -----------------------------------------------------------------------------------


def baseline(train: Sequence[Doc], test: Sequence[Doc]) -> list[Doc]:
    types: dict[str, Counter[str]] = {}
    for doc in train:
        for entity in doc.entities:
            for m in entity.mentions:
                name = doc.mention_text(m)
                if name.strip():
                    types.setdefault(name, Counter())[entity.type] += 1
    lexicon = sorted(((name, c.most_common(1)[0][0]) for name, c in types.items()), key=lambda x: -len(x[0]))
    pair_types: dict[tuple[str, str], Counter[str]] = {}
    for doc in train:
        for r in doc.relations:
            key = (doc.entities[r.head].type, doc.entities[r.tail].type)
            pair_types.setdefault(key, Counter())[r.type] += 1
    majority = {key: c.most_common(1)[0][0] for key, c in pair_types.items()}
    return [_baseline_doc(doc, lexicon, majority) for doc in test]


def _baseline_doc(doc: Doc, lexicon: list[tuple[str, str]], majority: dict[tuple[str, str], str]) -> Doc:
    clusters: dict[tuple[str, str], list[Mention]] = {}
    for s, sentence in enumerate(doc.sentences):
        taken = [False] * len(sentence)
        for name, entity_type in lexicon:
            start = sentence.find(name)
            while start >= 0:
                end = start + len(name)
                if not any(taken[start:end]) and _word_edges(sentence, start, end):
                    taken[start:end] = [True] * len(name)
                    clusters.setdefault((name, entity_type), []).append(Mention(s, start, end))
                start = sentence.find(name, start + 1)
    entities = [Entity(t, mentions) for (_, t), mentions in clusters.items()]
    relations = []
    for h, head in enumerate(entities):
        for t, tail in enumerate(entities):
            shared = {m.sentence for m in head.mentions} & {m.sentence for m in tail.mentions}
            relation_type = majority.get((head.type, tail.type))
            if h != t and shared and relation_type:
                relations.append(Relation(h, t, relation_type, sorted(shared)))
    return Doc(doc.title, doc.sentences, entities, relations)


def _word_edges(text: str, start: int, end: int) -> bool:
    """A Latin name must not start or end inside a word (Chinese has no such edges)."""
    before = text[start - 1] if start else " "
    after = text[end] if end < len(text) else " "
    return not (before.isascii() and before.isalnum() and text[start].isascii()) and not (
        after.isascii() and after.isalnum() and text[end - 1].isascii()
    )


# --- One dataset, in its own process -------------------------------------------------------------------------------


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return float(line.split()[1]) / 1024
    return 0.0


def run_dataset(name: str, docs: list[Doc], seed: int, config: TrainConfig) -> dict[str, Any]:
    from app.modelling import train

    train_docs, dev_docs, test_docs = split(docs, seed)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        result = train(train_docs, dev_docs, config, Path(tmp) / "model", test_docs=test_docs)
    seconds = time.monotonic() - started
    return {
        "dataset": name,
        "documents": (len(train_docs), len(dev_docs), len(test_docs)),
        "epochs": len(result.metrics["epochs"]),
        "best_epoch": result.best_epoch,
        "seconds_per_epoch": sum(e["seconds"] for e in result.metrics["epochs"]) / len(result.metrics["epochs"]),
        "seconds": seconds,
        "peak_rss_mb": _peak_rss_mb(),
        "model": result.metrics["test"],
        "baseline": score_predictions(test_docs, baseline(train_docs, test_docs)),
    }


def _in_child(name: str, docs: list[Doc], seed: int, config: TrainConfig) -> dict[str, Any]:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(run_dataset, (name, docs, seed, config))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--epochs", type=int, default=None)
    args = parser.parse_args()
    if args.quick:
        plan = {"zh": (60, 10), "docred": (30, 1)}
        sizes: dict[str, Any] = {"hidden_size": 64, "layers": 1, "max_window": 128, "learning_rate": 5e-3}
    else:
        plan = {"zh": (240, 12), "docred": (500, 6)}
        sizes = {"hidden_size": 128, "layers": 2, "max_window": 256, "learning_rate": 3e-3}
    sizes |= {"heads": 4, "batch_size": 2}
    print(f"bench/train.py {'--quick ' if args.quick else ''}seed {args.seed}, from-scratch encoder {sizes}, CPU")
    rows = []
    for name, (n, epochs) in plan.items():
        config = TrainConfig(device="cpu", epochs=args.epochs or epochs, seed=args.seed, threads=args.threads, **sizes)
        docs = zh_docs(n, args.seed) if name == "zh" else docred_docs(n, args.seed)
        row = _in_child(name, docs, args.seed, config)
        rows.append(row)
        _print_row(row)
    print("\nTargets (model relation F1 > majority-class baseline relation F1, on test):")
    ok = True
    for row in rows:
        if args.quick and row["dataset"] == "docred":
            print("  docred  (--quick trains one short epoch: cost figures only, no target)")
            continue
        model, base = row["model"]["relations"]["f1"], row["baseline"]["relations"]["f1"]
        passed = model > base
        ok &= passed
        print(f"  {row['dataset']:7s} {model:.3f} > {base:.3f}  {'PASS' if passed else 'FAIL'}")
    return 0 if ok else 1


def _print_row(row: dict[str, Any]) -> None:
    tr, dv, te = row["documents"]
    print(
        f"\n{row['dataset']}: {tr}/{dv}/{te} documents (train/dev/test), {row['epochs']} epochs "
        f"(best {row['best_epoch']}), {row['seconds_per_epoch']:.1f} s per epoch (training only), "
        f"{row['seconds']:.0f} s in all, "
        f"peak RSS {row['peak_rss_mb']:.0f} MB"
    )
    print(f"  {'test':24s} {'model P/R/F1':>22s}   {'baseline P/R/F1':>22s}")
    for key, label in [
        ("entities", "entities"),
        ("relations", "relations"),
        ("intra_sentence", "relations, intra-sentence"),
        ("inter_sentence", "relations, inter-sentence"),
    ]:
        m, b = row["model"][key], row["baseline"][key]
        print(f"  {label:24s} {_prf(m):>22s}   {_prf(b):>22s}")


def _prf(score: dict[str, Any]) -> str:
    return f"{score['precision']:.3f}/{score['recall']:.3f}/{score['f1']:.3f}"


if __name__ == "__main__":
    sys.exit(main())
