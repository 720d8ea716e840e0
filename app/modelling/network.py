"""The joint network: an encoder read in sliding windows, a span classifier for mentions (nested spans allowed),
and an ATLOP-style relation classifier over entity pairs (log-sum-exp pooled mentions, grouped bilinear, an
adaptive threshold class for "no relation")."""

from collections.abc import Sequence

import torch
import torch.nn.functional as F  # torch's own convention
from torch import Tensor, nn

from app.modelling.data import Doc, Entity, Relation
from app.modelling.encoder import TokenSource
from app.modelling.features import EncodedDoc, LabelSpace, sentence_distance

WIDTH_DIM = 32
DISTANCES = 8  # sentence distance buckets 0..6, 7+
MAX_LABELS = 4  # relation types proposed for one pair at most
WINDOWS_PER_PASS = 16
POSITIVE_WEIGHT = 10.0  # encoder windows per forward pass (bounds memory on long documents)

Spans = list[tuple[int, int]]


def _block(hidden: int) -> int:
    """The grouped bilinear's group size: ATLOP's 64 for a 768-wide encoder, smaller ones for small encoders
    (at least eight groups, so that the pair features stay a few thousand wide)."""
    return next(b for b in (64, 32, 16, 8, 4, 2, 1) if (hidden % b == 0 and hidden // b >= 8) or b == 1)


class JointModel(nn.Module):
    def __init__(
        self,
        encoder: nn.Module,
        hidden: int,
        labels: LabelSpace,
        max_width: int,
        dropout: float,
        *,
        unit_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        # In training, this share of units reads as [UNK], so that units never seen in training have a vector
        # that means something (the from-scratch vocabulary is the train split's).
        self.unit_dropout = unit_dropout
        n_types, n_relations = len(labels.entity_types), len(labels.relation_types)
        self.encoder = encoder
        self.max_width = max_width
        self.dropout = nn.Dropout(dropout)
        self.width = nn.Embedding(max_width, WIDTH_DIM)
        self.span_head = nn.Sequential(
            nn.Linear(3 * hidden + WIDTH_DIM, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, n_types + 1)
        )
        self.mention = nn.Linear(2 * hidden, hidden)
        self.entity_type = nn.Embedding(max(n_types, 1), hidden)
        self.distance = nn.Embedding(DISTANCES, WIDTH_DIM)
        self.block = _block(hidden)
        self.head_proj = nn.Linear(hidden + WIDTH_DIM, hidden)
        self.tail_proj = nn.Linear(hidden + WIDTH_DIM, hidden)
        self.classifier = nn.Linear(hidden * self.block, n_relations + 1)
        types = {t: i for i, t in enumerate(labels.entity_types)}
        relations = {r: i + 1 for i, r in enumerate(labels.relation_types)}
        allowed = torch.zeros(max(n_types, 1), max(n_types, 1), n_relations + 1, dtype=torch.bool)
        allowed[:, :, 0] = True
        for h, t, r in labels.type_pairs:
            allowed[types[h], types[t], relations[r]] = True
        self.allowed: Tensor
        self.register_buffer("allowed", allowed, persistent=False)
        self.labels = labels

    # Encoding

    def unit_states(self, docs: Sequence[EncodedDoc], tokens: TokenSource) -> list[Tensor]:
        """One vector per unit of each document: the mean of its first token's vectors over the windows that
        read it."""
        device = self.allowed.device
        rows: list[tuple[int, int, list[int], list[int]]] = []  # (doc, first unit, token ids, unit positions)
        for d, doc in enumerate(docs):
            for first, stop in doc.windows:
                ids, positions = [tokens.cls_id], []
                for u in range(first, stop):
                    positions.append(len(ids))
                    ids.extend(doc.unit_ids[u])
                ids.append(tokens.sep_id)
                rows.append((d, first, ids, positions))
        hidden = int(self.encoder.hidden_size)  # type: ignore[arg-type]
        sums = [torch.zeros(len(doc.unit_ids), hidden, device=device) for doc in docs]
        counts = [torch.zeros(len(doc.unit_ids), device=device) for doc in docs]
        for at in range(0, len(rows), WINDOWS_PER_PASS):
            chunk = rows[at : at + WINDOWS_PER_PASS]
            length = max(len(ids) for _, _, ids, _ in chunk)
            ids_t = torch.full((len(chunk), length), tokens.pad_id, dtype=torch.long)
            mask = torch.zeros(len(chunk), length, dtype=torch.bool)
            for k, (_, _, ids, _) in enumerate(chunk):
                ids_t[k, : len(ids)] = torch.tensor(ids)
                mask[k, : len(ids)] = True
            if self.training and self.unit_dropout:
                dropped = (torch.rand(ids_t.shape) < self.unit_dropout) & mask
                dropped[:, 0] = False
                ids_t = ids_t.masked_fill(dropped & (ids_t != tokens.sep_id), tokens.unk_id)
            states = self.encoder(ids_t.to(device), mask.to(device))
            for k, (d, first, _, positions) in enumerate(chunk):
                where = torch.arange(first, first + len(positions), device=device)
                sums[d] = sums[d].index_add(0, where, states[k, torch.tensor(positions, device=device)])
                counts[d] = counts[d].index_add(0, where, torch.ones(len(positions), device=device))
        return [self.dropout(s / c.clamp(min=1).unsqueeze(1)) for s, c in zip(sums, counts, strict=True)]

    # Mentions

    def span_logits(self, doc: EncodedDoc, states: Tensor) -> Tensor:
        device = states.device
        starts = torch.tensor(doc.span_starts, dtype=torch.long, device=device)
        ends = torch.tensor(doc.span_ends, dtype=torch.long, device=device)
        # The span's two ends, the mean of its units, its width.
        running = torch.cat([torch.zeros_like(states[:1]), states.cumsum(dim=0)])
        means = (running[ends + 1] - running[starts]) / (ends - starts + 1).unsqueeze(1)
        features = torch.cat([states[starts], states[ends], means, self.width(ends - starts)], dim=-1)
        return self.span_head(features)  # type: ignore[no-any-return]

    # Relations

    def entity_vectors(self, states: Tensor, entities: Sequence[tuple[int, Spans]]) -> Tensor:
        """(type index, mention unit spans) → one vector each: log-sum-exp over its mentions, plus its type."""
        vectors = []
        for _, spans in entities:
            starts = torch.tensor([s for s, _ in spans], device=states.device)
            ends = torch.tensor([e for _, e in spans], device=states.device)
            mentions = self.mention(torch.cat([states[starts], states[ends]], dim=-1))
            vectors.append(torch.logsumexp(mentions, dim=0))
        types = torch.tensor([t for t, _ in entities], device=states.device)
        out: Tensor = torch.stack(vectors) + self.entity_type(types)
        return out

    def pair_logits(
        self, doc: EncodedDoc, states: Tensor, entities: Sequence[tuple[int, Spans]]
    ) -> tuple[list[tuple[int, int]], Tensor]:
        pairs = [(h, t) for h in range(len(entities)) for t in range(len(entities)) if h != t]
        vectors = self.entity_vectors(states, entities)
        sentences = [[doc.unit_spans[s][0] for s, _ in spans] for _, spans in entities]
        device = states.device
        distance = torch.tensor(
            [min(sentence_distance(sentences[h], sentences[t]), DISTANCES - 1) for h, t in pairs], device=device
        )
        heads = torch.tensor([h for h, _ in pairs], device=device)
        tails = torch.tensor([t for _, t in pairs], device=device)
        d = self.distance(distance)
        vectors = self.dropout(vectors)
        zh = torch.tanh(self.head_proj(torch.cat([vectors[heads], d], dim=-1)))
        zt = torch.tanh(self.tail_proj(torch.cat([vectors[tails], d], dim=-1)))
        b1 = zh.view(len(pairs), -1, self.block)
        b2 = zt.view(len(pairs), -1, self.block)
        grouped = (b1.unsqueeze(3) * b2.unsqueeze(2)).reshape(len(pairs), -1)
        return pairs, self.classifier(grouped)

    # Training

    def loss(self, docs: Sequence[EncodedDoc], tokens: TokenSource) -> Tensor:
        """Mention loss (cross-entropy over candidate spans) plus relation loss (adaptive threshold), per
        document, averaged."""
        total = torch.zeros((), device=self.allowed.device)
        for doc, states in zip(docs, self.unit_states(docs, tokens), strict=True):
            if doc.span_starts:
                labels = torch.tensor(doc.span_labels, device=states.device)
                losses = F.cross_entropy(self.span_logits(doc, states), labels, reduction="none")
                # About one candidate span in a hundred is a mention: unweighted, the classifier learns "no mention"
                # and stays there for many epochs. Mentions weigh POSITIVE_WEIGHT times as much.
                weights = 1.0 + (POSITIVE_WEIGHT - 1.0) * (labels > 0).float()
                total = total + (losses * weights).sum() / weights.sum()
            if len(doc.entities) >= 2:
                entities = [(t, spans) for _, t, spans in doc.entities]
                pairs, logits = self.pair_logits(doc, states, entities)
                target = torch.zeros_like(logits)
                for k, pair in enumerate(pairs):
                    for r in doc.relations.get(pair, ()):
                        target[k, r] = 1.0
                total = total + threshold_loss(logits, target)
        return total / len(docs)

    # Prediction

    @torch.no_grad()
    def predict(self, docs: Sequence[EncodedDoc], tokens: TokenSource) -> list[Doc]:
        out = []
        for doc, states in zip(docs, self.unit_states(docs, tokens), strict=True):
            out.append(self._decode(doc, states))
        return out

    def _decode(self, doc: EncodedDoc, states: Tensor) -> Doc:
        if not doc.span_starts:
            return Doc(doc.doc.title, doc.doc.sentences)
        scores, labels = F.softmax(self.span_logits(doc, states), dim=-1).max(dim=-1)
        found = [
            (float(scores[i]), doc.span_starts[i], doc.span_ends[i], int(labels[i]) - 1)
            for i in torch.nonzero(labels > 0).flatten().tolist()
        ]
        kept: list[tuple[int, int, int]] = []
        for _, start, end, entity_type in sorted(found, reverse=True):
            # Nested spans are allowed; spans that cross (overlap without one holding the other) are not.
            if not any(a < start <= b < end or start < a <= end < b for a, b, _ in kept):
                kept.append((start, end, entity_type))
        clusters: dict[tuple[int, str], Spans] = {}
        for start, end, entity_type in sorted(kept):
            clusters.setdefault((entity_type, doc.surface(start, end)), []).append((start, end))
        entities = [(t, spans) for (t, _), spans in clusters.items()]
        relations: list[Relation] = []
        if len(entities) >= 2:
            pairs, logits = self.pair_logits(doc, states, entities)
            heads = torch.tensor([entities[h][0] for h, _ in pairs], device=states.device)
            tails = torch.tensor([entities[t][0] for _, t in pairs], device=states.device)
            logits = logits.masked_fill(~self.allowed[heads, tails], float("-inf"))
            for k, (h, t) in enumerate(pairs):
                above = [(float(logits[k, r]), r) for r in range(1, logits.shape[1]) if logits[k, r] > logits[k, 0]]
                for _, r in sorted(above, reverse=True)[:MAX_LABELS]:
                    relation_type = self.labels.relation_types[r - 1]
                    relations.append(Relation(h, t, relation_type, _evidence(doc, entities[h][1], entities[t][1])))
        return Doc(
            doc.doc.title,
            doc.doc.sentences,
            [Entity(self.labels.entity_types[t], [doc.mention(s, e) for s, e in spans]) for t, spans in entities],
            relations,
        )


def _evidence(doc: EncodedDoc, head: Spans, tail: Spans) -> list[int]:
    """Sentences holding both entities; else the closest sentence of each."""
    hs = {doc.unit_spans[s][0] for s, _ in head}
    ts = {doc.unit_spans[s][0] for s, _ in tail}
    if hs & ts:
        return sorted(hs & ts)
    a, b = min(((x, y) for x in hs for y in ts), key=lambda p: (abs(p[0] - p[1]), p))
    return sorted({a, b})


def threshold_loss(logits: Tensor, target: Tensor) -> Tensor:
    """ATLOP's adaptive-threshold loss: class 0 is the threshold; each true class must rank above it, and it
    above every false class. target has 1 where a pair holds a relation type (column 0 unused)."""
    target = target.clone()
    target[:, 0] = 0.0
    threshold = torch.zeros_like(target)
    threshold[:, 0] = 1.0
    positive_mask = target + threshold
    negative_mask = 1 - target
    above = logits - (1 - positive_mask) * 1e30
    loss_above = -(F.log_softmax(above, dim=-1) * target).sum(1)
    below = logits - (1 - negative_mask) * 1e30
    loss_below = -(F.log_softmax(below, dim=-1) * threshold).sum(1)
    return (loss_above + loss_below).mean()
