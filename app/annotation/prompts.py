"""Versioned prompts: the closed label set with definitions, numbered sentences, JSON output contract v1."""

import hashlib
import json
from dataclasses import dataclass

from app.annotation.contract import JsonSchema
from app.project.label_schema import LabelSchema

TEMPLATE_VERSION = "annotate-v1"
AUGMENT_TEMPLATE_VERSION = "augment-v1"
VERIFY_TEMPLATE_VERSION = "verify-v1"
RECHECK_TEMPLATE_VERSION = "recheck-v2"

SYSTEM = """\
You are an expert annotator for document-level entity and relation extraction (DocRED style).
Annotate only what the document states. Use only the entity and relation types listed. Answer with one JSON
object and nothing else (no prose, no markdown)."""

INSTRUCTIONS = """\
Entity types:
{entity_types}

Relation types (head → tail; "any" means any entity type):
{relation_types}
{guidelines}
Output JSON (contract v1):
{{"entities": [{{"id": "E1", "type": "<entity type code>", "name": "<canonical name>",
  "mentions": ["<every surface string in the text that refers to it>"]}}],
 "relations": [{{"head": "E1", "tail": "E2", "type": "<relation type code>", "evidence": [<sentence numbers>]}}]}}
Rules: mentions are exact substrings of the document, never offsets or paraphrases; an entity is a cluster of
all its mentions across the document; relations hold at the document level and may span sentences; evidence
lists the numbers of the sentences needed to support the relation; for symmetric types give one direction.

Document title: {title}
Sentences:
{sentences}"""

AUGMENT_SYSTEM = "You find relations the document states between given entities. Answer with JSON only."
RECHECK_SYSTEM = "Type the names and relate the pairs as the document states. JSON only."

AUGMENT_INSTRUCTIONS = """\
Relation types (head → tail):
{relation_types}
Entities:
{entities}
Pairs (head → tail):
{pairs}
Sentences:
{sentences}
List only the pairs with a relation the sentences state:
{{"pairs": [{{"pair": 1, "type": "<relation type code>", "evidence": [<sentence numbers>]}}]}}"""

# The blind second opinion, mixed with augmentation: entities come without types and pairs without any sign of who
# proposed what, so the model cannot tell the disputed pairs from new candidates. Compact on both sides (pairs grouped
# by head, an answer keyed by the entities' labels, a relation as one short string): the second look is paid twice.
RECHECK_INSTRUCTIONS = """\
Entity types:
{entity_types}
Relation types:
{relation_types}
Entities:
{entities}
Pairs (head → tails):
{pairs}
Sentences:
{sentences}
Type every entity (NONE if none of these); list the pairs above the sentences relate, with evidence:
{{"types": {{"E1": "<type>"}}, "relations": ["E1 <relation type> E2 <sentence numbers>"]}}"""

VERIFY_INSTRUCTIONS = """\
Another annotator proposed the numbered statements below about this document. For each, answer true only if
the document supports it (head → relation → tail), false otherwise. Answer with one JSON object:
{{"votes": [{{"item": 1, "verdict": true}}]}}

Relation types:
{relation_types}

Statements:
{statements}

Sentences:
{sentences}"""

REPAIR = """\
Your previous answer was not valid JSON for the required format ({problem}). Answer again with only the JSON
object, following the format exactly."""


def prompt_version(schema: LabelSchema, guidelines: str, template: str = TEMPLATE_VERSION) -> str:
    """Template version plus a digest of what the prompt contains: a changed prompt never reuses old results."""
    payload = json.dumps(
        [
            schema.model_dump(mode="json"),
            guidelines,
            SYSTEM,
            INSTRUCTIONS,
            AUGMENT_SYSTEM,
            AUGMENT_INSTRUCTIONS,
            RECHECK_SYSTEM,
            RECHECK_INSTRUCTIONS,
            VERIFY_INSTRUCTIONS,
        ]
    )
    return f"{template}+{hashlib.sha256(payload.encode()).hexdigest()[:10]}"


def _entity_lines(schema: LabelSchema) -> str:
    return "\n".join(f"- {t.code}: {t.name}. {t.description}".rstrip() for t in schema.entity_types)


def _relation_lines(schema: LabelSchema, codes: list[str] | None = None, *, brief: bool = False) -> str:
    lines = []
    for r in schema.relation_types:
        if codes is not None and r.code not in codes:
            continue
        head = "/".join(r.head_types) or "any"
        tail = "/".join(r.tail_types) or "any"
        sym = " (symmetric)" if r.symmetric else ""
        name = "" if brief and r.name == r.code else f": {r.name}"
        described = "" if brief else f". {r.description}"
        sep = ":" if brief else ";"
        lines.append(f"- {r.code}{name}{sym}{sep} {head} → {tail}{described}".rstrip())
    return "\n".join(lines)


def _relation_names(schema: LabelSchema, codes: list[str]) -> str:
    """Code and name of each relation type, one line each (the blind recheck: the pairs already fit them)."""
    lines = []
    for r in schema.relation_types:
        if r.code in codes:
            sym = " (symmetric)" if r.symmetric else ""
            lines.append(f"{r.code}{sym}" if r.name == r.code else f"{r.code}: {r.name}{sym}")
    return "\n".join(lines)


def numbered_sentences(text: str, sentences: list[tuple[int, int]], ids: list[int] | None = None) -> str:
    chosen = range(len(sentences)) if ids is None else ids
    return "\n".join(f"[{i}] {text[sentences[i][0] : sentences[i][1]]}" for i in chosen)


@dataclass(frozen=True)
class Prompt:
    system: str
    user: str
    json_schema: JsonSchema


def annotation_prompt(
    schema: LabelSchema, guidelines: str, *, title: str, text: str, sentences: list[tuple[int, int]], ids: list[int]
) -> Prompt:
    """The prompt for one window (a list of sentence ids; numbers are the document's sentence numbers)."""
    extra = f"\nGuidelines:\n{guidelines.strip()}\n" if guidelines.strip() else ""
    user = INSTRUCTIONS.format(
        entity_types=_entity_lines(schema),
        relation_types=_relation_lines(schema) or "(none)",
        guidelines=extra,
        title=title or "(untitled)",
        sentences=numbered_sentences(text, sentences, ids),
    )
    return Prompt(SYSTEM, user, annotation_json_schema(schema))


def augmentation_prompt(
    schema: LabelSchema,
    *,
    text: str,
    sentences: list[tuple[int, int]],
    ids: list[int],
    entities: list[tuple[str, str]],
    pairs: list[tuple[int, int]],
    relation_codes: list[str],
) -> Prompt:
    """Ask about numbered pairs of the listed (name, type) entities, with only the relation types they allow.

    Kept small on purpose: entities are named once and pairs refer to them, relation types come without
    descriptions, and only the sentences given are shown.
    """
    entity_lines = "\n".join(f"E{i + 1} {name} ({kind})" for i, (name, kind) in enumerate(entities))
    pair_lines = "\n".join(f"{n}. E{h + 1} → E{t + 1}" for n, (h, t) in enumerate(pairs, start=1))
    user = AUGMENT_INSTRUCTIONS.format(
        relation_types=_relation_lines(schema, relation_codes, brief=True),
        entities=entity_lines,
        pairs=pair_lines,
        sentences=numbered_sentences(text, sentences, ids),
    )
    return Prompt(AUGMENT_SYSTEM, user, augmentation_json_schema(schema, relation_codes))


def recheck_prompt(
    schema: LabelSchema,
    *,
    text: str,
    sentences: list[tuple[int, int]],
    ids: list[int],
    entities: list[str],
    pairs: list[tuple[int, int]],
    relation_codes: list[str],
) -> Prompt:
    """Ask for the type of each named entity and the relation of each numbered pair, saying nothing of who proposed
    what: the names carry no type, the pairs no proposed relation."""
    entity_lines = "\n".join(f"E{i + 1} {name}" for i, name in enumerate(entities))
    tails: dict[int, list[int]] = {}
    for h, t in pairs:  # grouped by head in the order the pairs come, each head's tails in that order too
        tails.setdefault(h, []).append(t)
    pair_lines = "\n".join(f"E{h + 1} → " + " ".join(f"E{t + 1}" for t in ts) for h, ts in tails.items())
    user = RECHECK_INSTRUCTIONS.format(
        entity_types="\n".join(f"{t.code}: {t.name}" for t in schema.entity_types),
        relation_types=_relation_names(schema, relation_codes) or "(none)",
        entities=entity_lines or "(none)",
        pairs=pair_lines or "(none)",
        sentences=numbered_sentences(text, sentences, ids),
    )
    return Prompt(RECHECK_SYSTEM, user, recheck_json_schema(schema, len(entities)))


def recheck_json_schema(schema: LabelSchema, n_entities: int) -> JsonSchema:
    """A type (or NONE) for each of E1..En, all required; relations as strings, read and checked one by one."""
    labels = [f"E{i}" for i in range(1, n_entities + 1)]
    kind = {"type": "string", "enum": [*schema.entity_codes(), "NONE"]}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["types", "relations"],
        "properties": {
            "types": {
                "type": "object",
                "additionalProperties": False,
                "required": labels,
                "properties": dict.fromkeys(labels, kind),
            },
            "relations": {"type": "array", "items": {"type": "string"}},
        },
    }


def annotation_json_schema(schema: LabelSchema) -> JsonSchema:
    """Strict JSON schema of contract v1 for this label set (OpenAI json_schema / Gemini response schema)."""
    entity = {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "type", "name", "mentions"],
        "properties": {
            "id": {"type": "string"},
            "type": {"type": "string", "enum": [t.code for t in schema.entity_types]},
            "name": {"type": "string"},
            "mentions": {"type": "array", "items": {"type": "string"}},
        },
    }
    relation_codes = [r.code for r in schema.relation_types] or ["NA"]
    relation = {
        "type": "object",
        "additionalProperties": False,
        "required": ["head", "tail", "type", "evidence"],
        "properties": {
            "head": {"type": "string"},
            "tail": {"type": "string"},
            "type": {"type": "string", "enum": relation_codes},
            "evidence": {"type": "array", "items": {"type": "integer"}},
        },
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["entities", "relations"],
        "properties": {
            "entities": {"type": "array", "items": entity},
            "relations": {"type": "array", "items": relation},
        },
    }


def augmentation_json_schema(schema: LabelSchema, relation_codes: list[str] | None = None) -> JsonSchema:
    codes = relation_codes if relation_codes is not None else [r.code for r in schema.relation_types]
    answer = {
        "type": "object",
        "additionalProperties": False,
        "required": ["pair", "type", "evidence"],
        "properties": {
            "pair": {"type": "integer"},
            "type": {"type": "string", "enum": [*codes, "NA"]},
            "evidence": {"type": "array", "items": {"type": "integer"}},
        },
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["pairs"],
        "properties": {"pairs": {"type": "array", "items": answer}},
    }


def verification_prompt(
    schema: LabelSchema,
    *,
    text: str,
    sentences: list[tuple[int, int]],
    ids: list[int],
    statements: list[tuple[str, str, str, str, str]],
) -> Prompt:
    """Ask for a true/false vote on numbered (head, head type, relation, tail, tail type) statements."""
    lines = "\n".join(f"{n}. {h} ({ht}) → {r} → {t} ({tt})" for n, (h, ht, r, t, tt) in enumerate(statements, start=1))
    user = VERIFY_INSTRUCTIONS.format(
        relation_types=_relation_lines(schema), statements=lines, sentences=numbered_sentences(text, sentences, ids)
    )
    vote = {
        "type": "object",
        "additionalProperties": False,
        "required": ["item", "verdict"],
        "properties": {"item": {"type": "integer"}, "verdict": {"type": "boolean"}},
    }
    json_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["votes"],
        "properties": {"votes": {"type": "array", "items": vote}},
    }
    return Prompt(SYSTEM, user, json_schema)
