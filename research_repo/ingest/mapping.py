"""Which columns of an export are text, which are metadata, and which identify a person.

``auto_mapping(columns)`` recognises the layouts of common help-desk and survey exports
(Zendesk, Freshdesk, ServiceNow, Salesforce Service Cloud, Jira Service Management, Qualtrics,
Medallia, Touchpoints) by their header names. Options or a mapping file override it. Columns
that identify a person are never stored; name columns are also handed to the de-identifier as
names known to appear in that record's text.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from .errors import UnreadableFile

# Metadata roles and where each is kept on the source.
META_ROLES = ("created", "closed", "channel", "service", "category", "csat", "journey_stage", "segment")
A11_DRIVERS = ("trust", "effectiveness", "ease", "efficiency", "transparency", "humanity",
               "employee helpfulness", "satisfaction")


def _norm(column: str) -> str:
    return " ".join(re.sub(r"[^0-9a-z]+", " ", re.sub(r"([a-z])([A-Z])", r"\1 \2", column).lower()).split())


def _set(*names: str) -> frozenset[str]:
    return frozenset(names)


TITLE = _set("subject", "summary", "short description", "title", "case subject", "topic title")
TEXT = _set(
    "description", "body", "comment", "comments", "message", "details", "detail", "feedback", "verbatim",
    "response", "response text", "open ended", "open end", "free text", "text", "problem", "issue description",
    "customer comment", "customer comments", "additional comments", "what could we do better",
    "please explain", "explain", "other comments", "question", "notes", "first comment", "initial message",
    "case description", "incident description", "ticket description", "survey comment", "why",
)
META = {
    "created": _set("created", "created at", "created date", "created time", "creation date", "date created",
                    "opened", "opened at", "date opened", "date time opened", "submitted", "submitted at",
                    "submission date", "start date", "received", "received at", "date", "timestamp",
                    "recorded date", "reported date", "date submitted"),
    "closed": _set("closed", "closed at", "closed date", "closed time", "date closed", "resolved", "resolved at",
                   "resolution date", "solved at", "solved", "end date", "completed at"),
    "channel": _set("channel", "via", "source", "origin", "case origin", "contact type", "medium",
                    "contact channel", "ticket channel", "distribution channel"),
    "service": _set("service", "program", "product", "queue", "group", "assignment group", "department",
                    "business service", "service area", "office", "agency component"),
    "category": _set("category", "type", "case type", "ticket type", "reason", "topic", "subcategory",
                     "sub category", "tags", "issue type", "request type", "contact reason", "ticket form"),
    "csat": _set("csat", "satisfaction", "satisfaction score", "satisfaction rating", "rating", "score",
                 "csat score", "overall satisfaction", "customer satisfaction"),
    "journey_stage": _set("journey stage", "stage", "lifecycle stage", "journey", "customer journey stage"),
    "segment": _set("segment", "customer type", "customer segment", "persona", "audience", "requester type",
                    "user type", "respondent type", "customer group"),
}
# Columns whose values are person names: dropped, and used as names known to be in the text.
NAMES = _set(
    "name", "full name", "first name", "last name", "given name", "surname", "family name", "requester",
    "requester name", "requestor", "requestor name", "contact", "contact name", "caller", "caller id",
    "caller name", "customer name", "customer", "submitter", "submitted by", "reporter", "opened by",
    "recipient first name", "recipient last name", "recipient name", "respondent name", "employee name",
    "assignee", "assigned to", "agent", "agent name", "owner", "case owner", "requester first name",
    "requester last name", "account name", "created by", "closed by", "resolved by", "updated by",
)
# Other columns that identify: never stored.
IDENTIFYING = _set(
    "email", "e mail", "email address", "requester email", "requestor email", "contact email", "recipient email",
    "customer email", "phone", "phone number", "telephone", "mobile", "cell", "contact phone", "requester phone",
    "address", "street", "street address", "mailing address", "city", "zip", "zip code", "postal code",
    "ip", "ip address", "ipaddress", "ssn", "social security number", "date of birth", "dob", "birth date",
    "claim number", "csa number", "csa", "retirement claim number", "employee id", "employee number",
    "external reference", "external data reference", "location latitude", "location longitude", "latitude",
    "longitude", "user agent", "recipient", "account number", "case contact", "contact id", "user id",
    "requester id", "organization", "company", "account",
)
IDS = _set("id", "ticket id", "ticket number", "ticket", "case number", "case id", "number", "response id",
           "incident number", "incident id", "key", "issue key", "record id", "conversation id", "request id")


KNOWN = TITLE | TEXT | NAMES | IDENTIFYING | IDS | frozenset().union(*META.values())


def known_column(column: str) -> bool:
    """A header of the layouts above ("Requester email", "Created at", "CSAT"): vocabulary, not
    something a person typed about a respondent."""
    key = _norm(column)
    return key in KNOWN or re.fullmatch(r"(?:a ?11 )?(" + "|".join(A11_DRIVERS) + r")(?: score| rating)?", key) is not None


@dataclass
class Mapping:
    text: list[str] = field(default_factory=list)  # in order: a title first, then the bodies
    meta: dict[str, str] = field(default_factory=dict)  # role -> column
    a11: dict[str, str] = field(default_factory=dict)  # driver -> column
    names: list[str] = field(default_factory=list)  # dropped; values are known names for the text
    dropped: list[str] = field(default_factory=list)  # identifying columns, never stored
    record_id: str | None = None  # dedupe key (stored only as a keyed hash)
    ignored: list[str] = field(default_factory=list)  # not recognised; not stored

    def as_dict(self) -> dict:
        return {"text": self.text, "meta": self.meta, "a11": self.a11, "names": self.names,
                "dropped": self.dropped, "record_id": self.record_id, "ignored": self.ignored}


def auto_mapping(columns: list[str]) -> Mapping:
    mapping = Mapping()
    titles, bodies = [], []
    for column in columns:
        key = _norm(column)
        a11 = re.fullmatch(r"(?:a ?11 )?(" + "|".join(A11_DRIVERS) + r")(?: score| rating)?", key)
        if key in NAMES:
            mapping.names.append(column)
        elif key in IDENTIFYING or re.search(r"\b(?:email|phone|ssn|address)\b", key):
            mapping.dropped.append(column)
        elif key in IDS and mapping.record_id is None:
            mapping.record_id = column
        elif key in TITLE:
            titles.append(column)
        elif key in TEXT:
            bodies.append(column)
        elif a11 and not (a11.group(1) == "satisfaction" and "csat" not in mapping.meta and key in META["csat"]):
            mapping.a11[a11.group(1).replace(" ", "_")] = column
        else:
            role = next((r for r, names in META.items() if key in names and r not in mapping.meta), None)
            if role:
                mapping.meta[role] = column
            else:
                mapping.ignored.append(column)
    mapping.text = titles[:1] + bodies + titles[1:]
    return mapping


def build_mapping(
    name: str,
    columns: list[str],
    *,
    text_columns: list[str] | None = None,
    meta: dict[str, str] | None = None,
    drop: list[str] | None = None,
    name_columns: list[str] | None = None,
    id_column: str | None = None,
    mapping_file: dict | None = None,
) -> Mapping:
    """The automatic mapping, overridden by a mapping file and then by explicit options."""
    spec = dict(mapping_file or {})
    text_columns = text_columns or spec.get("text")
    meta = {**spec.get("meta", {}), **(meta or {})}
    drop = list(spec.get("drop", [])) + list(drop or [])
    name_columns = list(spec.get("names", [])) + list(name_columns or [])
    id_column = id_column or spec.get("id")
    by_key = {c.casefold(): c for c in columns}

    def column(value: str, what: str) -> str:
        found = by_key.get(str(value).casefold())
        if found is None:
            raise UnreadableFile(
                name, f"{what} {value!r} is not a column of this file; its columns are: {', '.join(columns)}.")
        return found

    for role in meta:
        if role not in META_ROLES:
            raise UnreadableFile(name, f"unknown metadata role {role!r}; use one of {', '.join(META_ROLES)}.")
    mapping = auto_mapping(columns)
    chosen: set[str] = set()
    if text_columns:
        mapping.text = [column(c, "text column") for c in text_columns]
        chosen.update(mapping.text)
    for role, value in meta.items():
        mapping.meta[role] = column(value, f"{role} column")
        chosen.add(mapping.meta[role])
    if id_column:
        mapping.record_id = column(id_column, "id column")
        chosen.add(mapping.record_id)
    for value in name_columns:
        c = column(value, "name column")
        if c not in mapping.names:
            mapping.names.append(c)
    for value in drop:
        c = column(value, "dropped column")
        if c not in mapping.dropped:
            mapping.dropped.append(c)
    # An explicit choice wins over an automatic one; a column plays one part only.
    protected = set(mapping.names) | set(mapping.dropped)
    overlap = chosen & protected
    if overlap:
        raise UnreadableFile(name, f"column {sorted(overlap)[0]!r} identifies people and cannot be stored as text "
                                   "or metadata.")
    if not text_columns:
        mapping.text = [c for c in mapping.text if c not in chosen]
    mapping.meta = {r: c for r, c in mapping.meta.items() if c not in protected and (c not in mapping.text)}
    mapping.a11 = {d: c for d, c in mapping.a11.items() if c not in protected and c not in chosen}
    used = set(mapping.text) | set(mapping.meta.values()) | set(mapping.a11.values()) | protected
    if mapping.record_id:
        used.add(mapping.record_id)
    mapping.ignored = [c for c in columns if c not in used]
    if not mapping.text:
        raise UnreadableFile(
            name, "no text column was recognised; choose one (--text-column NAME, or the form's text columns). "
                  f"Its columns are: {', '.join(columns)}.")
    return mapping


def load_mapping_file(path_or_text: str, *, is_text: bool = False) -> dict:
    """A mapping file: {"text": [...], "meta": {"created": "Opened", ...}, "drop": [...],
    "names": [...], "id": "Case Number"}."""
    try:
        spec = json.loads(path_or_text if is_text else open(path_or_text, encoding="utf-8").read())
    except (OSError, json.JSONDecodeError) as exc:
        raise UnreadableFile("mapping file", f"could not be read ({type(exc).__name__}): it must be JSON.") from None
    if not isinstance(spec, dict) or not set(spec) <= {"text", "meta", "drop", "names", "id"}:
        raise UnreadableFile("mapping file", "must be a JSON object with keys among text, meta, drop, names, id.")
    return spec
