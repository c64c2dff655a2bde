"""Pure catalogue logic: compile a catalogue file into forms, merge bundle forms, validate values.

No I/O here. A published catalogue version never changes, so publishing.py caches its compiled form
per process (safe with any number of replicas).
"""

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from shared.problems import FieldError
from shared.validators import VALIDATORS, check_id_number

SIMPLE_TYPES = ("string", "text", "integer", "decimal", "date", "boolean")
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
MAX_STRING = 200
MAX_TEXT = 4000


def type_problem(type_: str) -> str | None:
    """None if ``type_`` is a known field type (``enum:a,b`` and ``multi:a,b`` carry their options)."""
    if type_ in SIMPLE_TYPES:
        return None
    kind, _, options = type_.partition(":")
    if kind in ("enum", "multi"):
        opts = [o for o in options.split(",") if o]
        if not opts:
            return f"{kind} needs options, e.g. {kind}:a,b"
        if len(set(opts)) != len(opts):
            return f"{kind} options repeat"
        return None
    return f"unknown type {type_!r} (string, text, integer, decimal, date, boolean, enum:a,b, multi:a,b)"


@dataclass(frozen=True)
class FieldDef:
    """An entry of the field dictionary (表单字段库) or a matter-specific field."""

    key: str
    label_zh: str
    label_en: str
    type: str
    validator: str | None
    sensitivity: str

    @property
    def options(self) -> list[str]:
        return [o for o in self.type.partition(":")[2].split(",") if o] if ":" in self.type else []

    def check(self, value: Any) -> str | None:
        """None if ``value`` is valid for this field, else why not (value is not empty)."""
        kind = self.type.partition(":")[0]
        if kind in ("string", "text"):
            if not isinstance(value, str):
                return "must be text"
            if len(value) > (MAX_TEXT if kind == "text" else MAX_STRING):
                return f"is longer than {MAX_TEXT if kind == 'text' else MAX_STRING} characters"
        elif kind == "integer":
            if isinstance(value, bool) or not (
                isinstance(value, int) or (isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value))
            ):
                return "must be a whole number"
        elif kind == "decimal":
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                return "must be a number"
            try:
                number = Decimal(str(value))
            except InvalidOperation:
                return "must be a number"
            if not number.is_finite():
                return "must be a number"
        elif kind == "date":
            if not isinstance(value, str):
                return "must be a date (YYYY-MM-DD)"
            try:
                date.fromisoformat(value)
            except ValueError:
                return "must be a date (YYYY-MM-DD)"
        elif kind == "boolean":
            if not isinstance(value, bool):
                return "must be true or false"
        elif kind == "enum":
            if value not in self.options:
                return f"must be one of: {', '.join(self.options)}"
        elif kind == "multi":
            if not isinstance(value, list) or not value:
                return "must be a non-empty list"
            bad = [v for v in value if v not in self.options]
            if bad:
                return f"must be chosen from: {', '.join(self.options)}"
            if len(set(value)) != len(value):
                return "lists an option twice"
        if self.validator:
            return VALIDATORS[self.validator](value)
        return None


@dataclass(frozen=True)
class TemplateField:
    """A field as a form asks for it."""

    definition: FieldDef
    required: bool

    @property
    def key(self) -> str:
        return self.definition.key


@dataclass(frozen=True)
class MaterialItem:
    """A material as a form asks for it."""

    code: str
    name: str
    required: bool
    tolerable_missing: bool
    licence_type: str | None
    # In a bundle form: the earlier member whose result licence provides it (not asked of the applicant).
    produced_by: str | None = None


@dataclass(frozen=True)
class Form:
    """The form of a matter or bundle: fields in template order, each once; materials each once."""

    code: str
    name: str
    kind: str  # matter | bundle
    department: str
    applicant_type: str
    matters: list[str]
    fields: list[TemplateField]
    materials: list[MaterialItem]

    def field(self, key: str) -> TemplateField | None:
        return next((f for f in self.fields if f.key == key), None)


@dataclass
class Compiled:
    """A catalogue version ready to answer: dictionary, materials, matter and bundle forms."""

    version: int
    content: dict[str, Any]
    fields: dict[str, FieldDef] = field(default_factory=dict)
    materials: dict[str, dict[str, Any]] = field(default_factory=dict)
    matters: dict[str, dict[str, Any]] = field(default_factory=dict)
    bundles: dict[str, dict[str, Any]] = field(default_factory=dict)
    departments: dict[str, str] = field(default_factory=dict)
    # department code -> False when it has no approvers in the hall (a liaison officer carries its files)
    resident_approvers: dict[str, bool] = field(default_factory=dict)
    forms: dict[str, Form] = field(default_factory=dict)
    # bundle code -> its members in order, with what each needs from an earlier member (bundle_members)
    bundle_members: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def form(self, *, matter: str | None = None, bundle: str | None = None) -> Form | None:
        """The form of ``matter`` or ``bundle`` (None if this version has no such code)."""
        if matter is not None:
            return self.forms.get(f"matter:{matter}")
        return self.forms.get(f"bundle:{bundle}")


def _field_def(entry: dict[str, Any]) -> FieldDef:
    return FieldDef(
        key=entry["key"],
        label_zh=entry.get("label_zh") or entry["key"],
        label_en=entry.get("label_en") or "",
        type=entry.get("type") or "string",
        validator=entry.get("validator"),
        sensitivity=entry.get("sensitivity") or "public",
    )


def check_catalog(content: dict[str, Any]) -> list[FieldError]:
    """Cross-reference checks of a catalogue file: every code unique, every reference resolvable."""
    errors: list[FieldError] = []

    def err(path: str, message: str) -> None:
        errors.append(FieldError(field=path, message=message, type="catalog"))

    def unique(section: str, attr: str) -> set[str]:
        seen: set[str] = set()
        for i, item in enumerate(content.get(section, [])):
            if item[attr] in seen:
                err(f"{section}[{i}].{attr}", f"{item[attr]!r} appears twice")
            seen.add(item[attr])
        return seen

    field_keys = unique("fields", "key")
    material_codes = unique("materials", "code")
    matter_codes = unique("matters", "code")
    unique("bundles", "code")
    departments = unique("departments", "code")
    licence_types = unique("licence_types", "code")
    categories = unique("categories", "code")
    for i, f in enumerate(content.get("fields", [])):
        if not KEY_PATTERN.match(f["key"]):
            err(f"fields[{i}].key", "must be lower-case dotted, e.g. person.name")
        if problem := type_problem(f["type"]):
            err(f"fields[{i}].type", problem)
        if f.get("validator") and f["validator"] not in VALIDATORS:
            err(f"fields[{i}].validator", f"unknown validator {f['validator']!r}")
    for i, m in enumerate(content.get("materials", [])):
        lt = m.get("satisfied_by_licence_type")
        if lt and licence_types and lt not in licence_types:
            err(f"materials[{i}].satisfied_by_licence_type", f"unknown licence type {lt!r}")
    for i, m in enumerate(content.get("matters", [])):
        where = f"matters[{i}]"
        if departments and m["department"] not in departments:
            err(f"{where}.department", f"unknown department {m['department']!r}")
        if categories and m["category"] not in categories:
            err(f"{where}.category", f"unknown category {m['category']!r}")
        if m["promised_limit_working_days"] > m["legal_limit_working_days"]:
            err(f"{where}.promised_limit_working_days", "cannot exceed the legal limit")
        lt = m.get("result_licence_type")
        if lt and licence_types and lt not in licence_types:
            err(f"{where}.result_licence_type", f"unknown licence type {lt!r}")
        seen: set[str] = set()
        for j, entry in enumerate(m["fields"]):
            key = entry if isinstance(entry, str) else entry["key"]
            if key in seen:
                err(f"{where}.fields[{j}]", f"{key!r} appears twice")
            seen.add(key)
            if isinstance(entry, str):
                if key not in field_keys:
                    err(f"{where}.fields[{j}]", f"{key!r} is not in the field dictionary")
                continue
            if key not in field_keys:  # a matter-specific field defines itself
                if not KEY_PATTERN.match(key):
                    err(f"{where}.fields[{j}].key", "must be lower-case dotted, e.g. matter.item")
                if not entry.get("label_zh") or not entry.get("type"):
                    err(f"{where}.fields[{j}]", "a matter-specific field needs label_zh and type")
            if entry.get("type") and (problem := type_problem(entry["type"])):
                err(f"{where}.fields[{j}].type", problem)
            if entry.get("validator") and entry["validator"] not in VALIDATORS:
                err(f"{where}.fields[{j}].validator", f"unknown validator {entry['validator']!r}")
        seen_materials: set[str] = set()
        for j, mat in enumerate(m["materials"]):
            if mat["code"] not in material_codes:
                err(f"{where}.materials[{j}].code", f"{mat['code']!r} is not in the materials library")
            if mat["code"] in seen_materials:
                err(f"{where}.materials[{j}].code", f"{mat['code']!r} appears twice")
            seen_materials.add(mat["code"])
    for i, b in enumerate(content.get("bundles", [])):
        for j, code in enumerate(b["matters"]):
            if code not in matter_codes:
                err(f"bundles[{i}].matters[{j}]", f"unknown matter {code!r}")
        if len(set(b["matters"])) != len(b["matters"]):
            err(f"bundles[{i}].matters", "a matter appears twice")
        if departments and b["lead_department"] not in departments:
            err(f"bundles[{i}].lead_department", f"unknown department {b['lead_department']!r}")
        for j, code in enumerate(b.get("parallel") or []):
            if code not in b["matters"]:
                err(f"bundles[{i}].parallel[{j}]", f"{code!r} is not a member of the bundle")
            elif code == b["matters"][0]:
                err(f"bundles[{i}].parallel[{j}]", "the first member waits for nothing")
    return errors


def bundle_members(
    bundle: dict[str, Any], *, matters: dict[str, dict[str, Any]], materials: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """The bundle's members in order, each with what it needs from an earlier member.

    A later member's material whose ``satisfied_by_licence_type`` is an earlier member's
    ``result_licence_type`` is produced inside the bundle (e.g. 企业开办: SCJG-002 issues the BIZ_LICENCE
    that GA-001, SWJ-001... ask for): derived from the catalogue, never listed by hand. ``parallel``
    (the bundle's ``parallel`` list) means the member's task starts at once instead of waiting.
    """
    producers: dict[str, str] = {}  # licence type -> the first member producing it
    parallel = set(bundle.get("parallel") or [])
    out: list[dict[str, Any]] = []
    for position, code in enumerate(bundle["matters"]):
        matter = matters[code]
        needs = []
        for m in matter["materials"]:
            licence_type = materials.get(m["code"], {}).get("satisfied_by_licence_type")
            if licence_type and licence_type in producers:
                needs.append(
                    {"material": m["code"], "from_matter": producers[licence_type], "licence_type": licence_type}
                )
        out.append(
            {"matter": code, "position": position, "needs": needs, "parallel": code in parallel and bool(needs)}
        )
        if matter.get("result_licence_type"):
            producers.setdefault(matter["result_licence_type"], code)
    return out


def compile_catalog(version: int, content: dict[str, Any]) -> Compiled:
    """Forms of every matter and bundle of a (checked) catalogue file."""
    compiled = Compiled(version=version, content=content)
    compiled.fields = {f["key"]: _field_def(f) for f in content.get("fields", [])}
    compiled.materials = {m["code"]: m for m in content.get("materials", [])}
    compiled.departments = {d["code"]: d["name"] for d in content.get("departments", [])}
    compiled.resident_approvers = {
        d["code"]: bool(d.get("resident_approvers", True)) for d in content.get("departments", [])
    }
    for matter in content.get("matters", []):
        compiled.matters[matter["code"]] = matter
        fields: list[TemplateField] = []
        for entry in matter["fields"]:
            if isinstance(entry, str):
                fields.append(TemplateField(compiled.fields[entry], True))
                continue
            base = compiled.fields.get(entry["key"])
            merged = {**(base.__dict__ if base else {}), **{k: v for k, v in entry.items() if v is not None}}
            fields.append(TemplateField(_field_def(merged), bool(entry.get("required", True))))
        materials = [
            MaterialItem(
                code=m["code"],
                name=compiled.materials[m["code"]]["name"],
                required=m.get("required", True),
                tolerable_missing=m.get("tolerable_missing", False),
                licence_type=compiled.materials[m["code"]].get("satisfied_by_licence_type"),
            )
            for m in matter["materials"]
        ]
        compiled.forms[f"matter:{matter['code']}"] = Form(
            code=matter["code"],
            name=matter["name"],
            kind="matter",
            department=matter["department"],
            applicant_type=matter["applicant_type"],
            matters=[matter["code"]],
            fields=fields,
            materials=materials,
        )
    for bundle in content.get("bundles", []):
        compiled.bundles[bundle["code"]] = bundle
        members = [compiled.forms[f"matter:{code}"] for code in bundle["matters"]]
        compiled.bundle_members[bundle["code"]] = bundle_members(
            bundle, matters=compiled.matters, materials=compiled.materials
        )
        produced = {
            member["matter"]: {need["material"]: need["from_matter"] for need in member["needs"]}
            for member in compiled.bundle_members[bundle["code"]]
        }
        compiled.forms[f"bundle:{bundle['code']}"] = merge_bundle(bundle, members, produced=produced)
    return compiled


def merge_bundle(
    bundle: dict[str, Any], members: list[Form], *, produced: dict[str, dict[str, str]] | None = None
) -> Form:
    """A bundle's form: the union of member forms, each field and material asked once, in member order.

    ``produced`` (member -> material -> producing member): a material an earlier member produces is not
    asked for on that member's behalf; it stays required only if a member needs it on its own.
    """
    produced = produced or {}
    fields: dict[str, TemplateField] = {}
    materials: dict[str, MaterialItem] = {}
    for form in members:
        for f in form.fields:
            known = fields.get(f.key)
            fields[f.key] = f if known is None else TemplateField(known.definition, known.required or f.required)
        for m in form.materials:
            if (producer := produced.get(form.code, {}).get(m.code)) is not None:
                m = MaterialItem(m.code, m.name, False, False, m.licence_type, producer)
            known_m = materials.get(m.code)
            if known_m is None:
                materials[m.code] = m
                continue
            required = known_m.required or m.required
            # tolerable only if every member that requires it tolerates it missing
            tolerable = (known_m.tolerable_missing or not known_m.required) and (m.tolerable_missing or not m.required)
            by = None if required else (known_m.produced_by or m.produced_by)
            materials[m.code] = MaterialItem(m.code, m.name, required, tolerable and required, m.licence_type, by)
    applicant_types = {f.applicant_type for f in members}
    return Form(
        code=bundle["code"],
        name=bundle["name"],
        kind="bundle",
        department=bundle["lead_department"],
        applicant_type=applicant_types.pop() if len(applicant_types) == 1 else "legal_person",
        matters=list(bundle["matters"]),
        fields=list(fields.values()),
        materials=list(materials.values()),
    )


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def validate_values(form: Form, values: dict[str, Any], *, partial: bool = False) -> list[FieldError]:
    """Field-level errors of ``values`` against ``form``: unknown keys, missing required, wrong values."""
    errors: list[FieldError] = []
    for key in values:
        if form.field(key) is None:
            errors.append(FieldError(field=f"values.{key}", message=f"is not a field of {form.code}", type="unknown_field"))
    for f in form.fields:
        value = values.get(f.key)
        if is_empty(value):
            if f.required and not partial:
                errors.append(FieldError(field=f"values.{f.key}", message=f"{f.definition.label_zh} is required", type="missing"))
            continue
        if problem := f.definition.check(value):
            errors.append(FieldError(field=f"values.{f.key}", message=f"{f.definition.label_zh}: {problem}", type="invalid"))
    return errors


def identity_values(applicant_id: str, applicant_type: str) -> dict[str, Any]:
    """What the applicant's identifier itself tells: the ID number, birth date and gender; or the credit code."""
    if applicant_type == "legal_person":
        return {"entity.uscc": applicant_id}
    values: dict[str, Any] = {"person.id_number": applicant_id}
    if check_id_number(applicant_id) is None:
        values["person.birth_date"] = f"{applicant_id[6:10]}-{applicant_id[10:12]}-{applicant_id[12:14]}"
        values["person.gender"] = "男" if int(applicant_id[16]) % 2 else "女"
    return values


def applicant_type_of(applicant_id: str) -> str:
    """natural_person for a resident ID number, legal_person for anything else (credit codes)."""
    return "natural_person" if check_id_number(applicant_id) is None else "legal_person"
