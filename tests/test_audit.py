"""The audit log is append-only and holds ids, never free text."""
from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from research_repo.models import AuditEvent
from research_repo.services import audit


def test_audit_events_cannot_be_changed_or_deleted(db):
    with db.writing() as s:
        event = audit.record(s, None, "study.create", study_id=1, object_type="study", object_id=1)
    for change in (lambda e: setattr(e, "action", "forged"), lambda e: None):
        with pytest.raises(IntegrityError, match="append-only"), db.writing() as s:
            row = s.get(AuditEvent, event.id)
            change(row)
            if row.action != "forged":
                s.delete(row)
    with db.read_session() as s:
        assert s.get(AuditEvent, event.id).action == "study.create"


@pytest.mark.parametrize("value", ["Maria Alvarez said hello", "maria@example.com", "x" * 61, {"a": 1}])
def test_free_text_is_refused_in_details(db, value):
    with db.writing() as s, pytest.raises(TypeError, match="not free text"):
        audit.record(s, None, "x", note=value)
