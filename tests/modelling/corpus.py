"""A tiny Chinese corpus in DocRED format, written here so the tests know every answer."""

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.modelling import Doc, Entity, Mention, Relation

PEOPLE = ["张伟", "李娜", "王强", "刘洋", "陈静", "杨帆", "赵磊", "孙丽"]
SCHOOLS = ["清华大学", "北京大学", "复旦大学"]
COMPANIES = ["华为公司", "腾讯公司", "小米集团"]
PLACES = ["北京", "上海", "深圳"]


def tiny_doc(i: int) -> Doc:
    """Three sentences: a person's school, the person's employer, where the employer is."""
    person, school = PEOPLE[i % len(PEOPLE)], SCHOOLS[i % len(SCHOOLS)]
    company, place = COMPANIES[(i + 1) % len(COMPANIES)], PLACES[(i + 2) % len(PLACES)]
    sentences = [f"{person}毕业于{school}。", f"后来{person}加入{company}。", f"{company}位于{place}。"]

    def at(sentence: int, name: str) -> Mention:
        start = sentences[sentence].index(name)
        return Mention(sentence, start, start + len(name))

    entities = [
        Entity("PER", [at(0, person), at(1, person)]),
        Entity("ORG", [at(0, school)]),
        Entity("ORG", [at(1, company), at(2, company)]),
        Entity("LOC", [at(2, place)]),
    ]
    relations = [Relation(0, 1, "毕业于", [0]), Relation(0, 2, "任职于", [1]), Relation(2, 3, "位于", [2])]
    return Doc(f"doc-{i}", sentences, entities, relations)


def tiny_docs(n: int, start: int = 0) -> list[Doc]:
    return [tiny_doc(i) for i in range(start, start + n)]


def docred_record(doc: Doc) -> dict[str, Any]:
    """The DocRED record of a Doc, one token per character (as snapshots write Chinese)."""
    return {
        "title": doc.title,
        "sents": [list(s) for s in doc.sentences],
        "vertexSet": [
            [
                {"name": doc.mention_text(m), "pos": [m.start, m.end], "sent_id": m.sentence, "type": e.type}
                for m in e.mentions
            ]
            for e in doc.entities
        ],
        "labels": [{"h": r.head, "t": r.tail, "r": r.type, "evidence": r.evidence} for r in doc.relations],
    }


def write_docred(path: Path, docs: Sequence[Doc]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([docred_record(d) for d in docs], ensure_ascii=False), encoding="utf-8")
    return path
