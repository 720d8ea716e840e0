"""A project's documents as ingestion's deduplication sees them: text hashes and MinHash signatures.

Documents signed by an older MinHash scheme, which today's index cannot compare, are re-signed from their texts
once, on the way in.
"""

from sqlalchemy import update
from sqlmodel import Session, col, select

from app.models import Document
from app.webtext.dedup import is_current_signature, minhash_signature, signature_from_bytes, signature_to_bytes
from app.webtext.exact_duplicates import TextHashIds
from app.webtext.near_duplicates import NearDuplicateIndex

# Existing documents are loaded into the dedup state this many at a time, streamed rather than fetched whole.
LOAD_CHUNK = 4096
# Documents signed by an older MinHash scheme are re-signed from their texts this many at a time.
RESIGN_CHUNK = 256


def load_known_documents(session: Session, *, project_id: int, hashes: TextHashIds, index: NearDuplicateIndex) -> bool:
    """Fill `hashes` and `index` with the project's documents; True when stale signatures were re-signed (the
    caller commits them)."""
    rows = session.exec(
        select(Document.id, Document.text_hash, Document.minhash)
        .where(Document.project_id == project_id)
        .execution_options(yield_per=LOAD_CHUNK)
    )
    stale: list[int] = []
    num_perm = index.num_perm
    for chunk in rows.partitions():
        hashes.update([(digest, doc_id) for doc_id, digest, _ in chunk])
        signed = [(digest, minhash) for _, digest, minhash in chunk if is_current_signature(minhash, num_perm)]
        index.add_many([digest for digest, _ in signed], [signature_from_bytes(minhash) for _, minhash in signed])
        stale += [
            doc_id
            for doc_id, _, minhash in chunk
            if doc_id is not None and minhash and not is_current_signature(minhash, num_perm)
        ]
    if stale:
        _resign(session, index, stale)
    return bool(stale)


def _resign(session: Session, index: NearDuplicateIndex, doc_ids: list[int]) -> None:
    """Store and index today's signature for documents signed by an older scheme, which it cannot compare."""
    for start in range(0, len(doc_ids), RESIGN_CHUNK):
        rows = session.exec(
            select(Document.id, Document.text_hash, Document.text).where(
                col(Document.id).in_(doc_ids[start : start + RESIGN_CHUNK])
            )
        ).all()
        signatures = [minhash_signature(text) for _, _, text in rows]
        session.execute(
            update(Document),
            [
                {"id": doc_id, "minhash": signature_to_bytes(signature)}
                for (doc_id, _, _), signature in zip(rows, signatures, strict=True)
            ],
        )
        index.add_many([digest for _, digest, _ in rows], signatures)
