"""The datasheet tally, a pure core: literal documents in, counts out."""

from app.dataset.datasheet import DatasheetTally
from app.evaluation.records import ExportDocument, ExportEntity, ExportMention, ExportRelation, ItemProvenance


def _entity(index: int, agreement: str, start: int) -> ExportEntity:
    return ExportEntity(
        index, "PER", "张伟", [ExportMention(start, start + 2, "张伟", 0)], ItemProvenance("accepted", agreement)
    )


def test_every_agreement_class_is_tallied_by_its_code() -> None:
    doc = ExportDocument(
        id="1",
        title="t",
        text="张伟和张伟和张伟。",
        sentences=[(0, 9)],
        entities=[_entity(0, "confirmed", 0), _entity(1, "disputed", 3), _entity(2, "agreed", 6)],
        relations=[
            ExportRelation(0, 1, "同事", [0], ItemProvenance("accepted", "confirmed")),
            ExportRelation(1, 2, "同事", [0], ItemProvenance("accepted", "disputed")),
            ExportRelation(0, 2, "同事", [0], ItemProvenance("accepted", "confirmed")),
        ],
    )
    tally = DatasheetTally()
    tally.add(doc, "train")
    classes = tally.result().agreement_classes
    assert classes.entities == {"agreed": 1, "confirmed": 1, "disputed": 1}
    assert classes.relations == {"confirmed": 2, "disputed": 1}
