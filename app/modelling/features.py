"""Documents as model input: units (a Chinese character, a run of Latin letters or digits, any other visible
character), their token ids, the sliding windows that cover them, candidate spans and gold labels. Pure.

A unit is what the model tags: Chinese text is read character by character, as the task and the DocRED export
do; a Latin word stays one unit so that English text (Re-DocRED) is not ten times longer. Windows overlap by a
quarter, so every unit is read in at least one window with context on both sides unless it is at an edge; the
document is never truncated.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from app.modelling.data import Doc, Entity, Mention

# A unit longer than this many subword tokens keeps only its first ones (its vector is its first token's).
MAX_PIECES = 8
SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")


def _wordlike(ch: str) -> bool:
    # Letters and digits of the scripts before the CJK blocks join into words; CJK characters stand alone.
    return ch.isalnum() and ord(ch) < 0x2E80


def units(text: str) -> list[tuple[int, int]]:
    """Code-point spans of the units of a sentence, whitespace skipped."""
    out: list[tuple[int, int]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif _wordlike(ch):
            j = i + 1
            while j < n and _wordlike(text[j]):
                j += 1
            out.append((i, j))
            i = j
        else:
            out.append((i, i + 1))
            i += 1
    return out


@dataclass(frozen=True, slots=True)
class LabelSpace:
    """The label codes a model knows, taken from its train split."""

    entity_types: list[str]
    relation_types: list[str]
    # (head type, tail type, relation) seen in train: at prediction no other combination is proposed.
    type_pairs: list[tuple[str, str, str]]

    @classmethod
    def of(cls, docs: Sequence[Doc]) -> "LabelSpace":
        entity_types = sorted({e.type for d in docs for e in d.entities})
        relation_types = sorted({r.type for d in docs for r in d.relations})
        pairs = sorted({(d.entities[r.head].type, d.entities[r.tail].type, r.type) for d in docs for r in d.relations})
        return cls(entity_types, relation_types, pairs)


@dataclass(slots=True)
class EncodedDoc:
    """One document ready for the network. Unit indices are document-wide; spans are inclusive [start, end]."""

    doc: Doc
    unit_ids: list[list[int]]  # token ids of each unit
    unit_spans: list[tuple[int, int, int]]  # (sentence, start, end) in code points
    sentence_units: list[tuple[int, int]]  # [first, stop) unit range per sentence
    windows: list[tuple[int, int]]  # [first, stop) unit ranges
    span_starts: list[int] = field(default_factory=list)  # candidate spans, within one sentence
    span_ends: list[int] = field(default_factory=list)
    span_labels: list[int] = field(default_factory=list)  # 0 = no mention, else 1 + entity type index
    # Gold entities that kept at least one mention: (entity position in doc, type index, [(start, end) units]).
    entities: list[tuple[int, int, list[tuple[int, int]]]] = field(default_factory=list)
    # (head, tail) positions in `entities` → relation indices (1 + relation type index).
    relations: dict[tuple[int, int], list[int]] = field(default_factory=dict)

    def surface(self, start: int, end: int) -> str:
        sentence, a, _ = self.unit_spans[start]
        _, _, b = self.unit_spans[end]
        return self.doc.sentences[sentence][a:b]

    def mention(self, start: int, end: int) -> Mention:
        sentence, a, _ = self.unit_spans[start]
        return Mention(sentence, a, self.unit_spans[end][2])


def make_windows(counts: Sequence[int], budget: int) -> list[tuple[int, int]]:
    """Unit ranges whose token counts fit the budget, each overlapping the previous by about a quarter."""
    windows: list[tuple[int, int]] = []
    start, n = 0, len(counts)
    while start < n:
        stop, used = start, 0
        while stop < n and used + counts[stop] <= budget:
            used += counts[stop]
            stop += 1
        stop = max(stop, start + 1)
        windows.append((start, stop))
        if stop >= n:
            break
        start = max(start + 1, stop - (stop - start) // 4)
    return windows


def encode_doc(
    doc: Doc,
    token_ids: Callable[[str], list[int]],
    labels: LabelSpace,
    *,
    window: int,
    max_width: int,
) -> EncodedDoc:
    """Units, windows of at most `window` tokens (two of them special), candidate spans and gold labels."""
    unit_ids: list[list[int]] = []
    unit_spans: list[tuple[int, int, int]] = []
    sentence_units: list[tuple[int, int]] = []
    for s, sentence in enumerate(doc.sentences):
        first = len(unit_spans)
        for a, b in units(sentence):
            unit_spans.append((s, a, b))
            unit_ids.append(token_ids(sentence[a:b])[:MAX_PIECES])
        sentence_units.append((first, len(unit_spans)))
    encoded = EncodedDoc(
        doc, unit_ids, unit_spans, sentence_units, make_windows([len(u) for u in unit_ids], window - 2)
    )
    type_index = {t: i for i, t in enumerate(labels.entity_types)}
    relation_index = {r: i + 1 for i, r in enumerate(labels.relation_types)}
    gold_spans: dict[tuple[int, int], int] = {}
    kept: dict[int, int] = {}
    for position, entity in enumerate(doc.entities):
        spans = [span for m in entity.mentions if (span := _unit_span(encoded, m)) is not None]
        if not spans or entity.type not in type_index:
            continue
        for span in spans:
            if span[1] - span[0] < max_width:
                gold_spans.setdefault(span, 1 + type_index[entity.type])
        kept[position] = len(encoded.entities)
        encoded.entities.append((position, type_index[entity.type], sorted(set(spans))))
    for r in doc.relations:
        if r.head in kept and r.tail in kept and r.head != r.tail and r.type in relation_index:
            slot = encoded.relations.setdefault((kept[r.head], kept[r.tail]), [])
            if relation_index[r.type] not in slot:
                slot.append(relation_index[r.type])
    for first, stop in sentence_units:
        for start in range(first, stop):
            for end in range(start, min(stop, start + max_width)):
                encoded.span_starts.append(start)
                encoded.span_ends.append(end)
                encoded.span_labels.append(gold_spans.get((start, end), 0))
    return encoded


def _unit_span(encoded: EncodedDoc, mention: Mention) -> tuple[int, int] | None:
    """The units a mention covers (widened to whole units), or None when it covers none."""
    if not 0 <= mention.sentence < len(encoded.sentence_units):
        return None
    first, stop = encoded.sentence_units[mention.sentence]
    inside = [
        u
        for u in range(first, stop)
        if encoded.unit_spans[u][2] > mention.start and encoded.unit_spans[u][1] < mention.end
    ]
    return (inside[0], inside[-1]) if inside else None


def sentence_distance(a: Sequence[int], b: Sequence[int]) -> int:
    """The least distance in sentences between a mention of one and a mention of the other."""
    return min(abs(x - y) for x in a for y in b)


def entity_of(doc: Doc, entity_type: str, mentions: list[Mention]) -> Entity:
    return Entity(entity_type, sorted(set(mentions), key=lambda m: (m.sentence, m.start, m.end)))
