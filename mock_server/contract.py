"""Request validation compiled once from ``openapi.yaml``.

The create body's schema is a ``oneOf`` with a discriminator on ``model``; we
follow the discriminator ourselves and keep one compiled validator per model,
so a bad field is reported against the right model's rules rather than as a
``oneOf`` failure. Failures become messages that name the field and the rule.
Fields a schema does not know are collected as warnings (the API ignores them).
"""
from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml

from .errors import ApiError, excerpt, invalid_request
from .resources import admin_contract_path, contract_path

_MAX_MESSAGES = 3
_FALLBACK_QUOTED = 200  # characters of a validator message the rules above do not word
_TOO_DEEP = "the request body is nested too deeply"
_TYPE_NAMES = {"integer": "an integer", "string": "a string", "boolean": "a boolean",
               "number": "a number", "object": "an object", "array": "an array", "null": "null"}


def load_yaml(path: Path) -> dict[str, Any]:
    """Parse a YAML document (a mapping) with the C loader when available."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, "rb") as fh:
        document = yaml.load(fh, Loader=loader)
    if not isinstance(document, dict):
        raise ValueError(f"{path}: not a YAML mapping")
    return document


@dataclass(frozen=True)
class FieldTree:
    """The property names a schema knows, nested, for unknown-field warnings."""

    props: Mapping[str, FieldTree] | None = None
    items: FieldTree | None = None
    nested: frozenset[str] = frozenset()  # the properties whose own tree has something to check

    @property
    def leaf(self) -> bool:
        return self.props is None and self.items is None

    @classmethod
    def of(cls, schema: Any) -> FieldTree:
        if not isinstance(schema, Mapping):  # ``false``: a field the model refuses
            return cls()
        props: dict[str, FieldTree] = {}
        open_object = False
        for part in (schema, *schema.get("allOf", ())):
            if "properties" in part:
                open_object = True
                for name, sub in part["properties"].items():
                    props.setdefault(name, cls.of(sub))
        items = cls.of(schema["items"]) if isinstance(schema.get("items"), Mapping) else None
        nested = frozenset(name for name, tree in props.items() if not tree.leaf)
        return cls(props if open_object else None, items, nested)

    def split(self, value: Any, unknown: list[str], path: str = "") -> Any:
        """``value`` without the fields this tree does not know; their paths go to ``unknown``."""
        if isinstance(value, dict) and self.props is not None:
            if value.keys() <= self.props.keys() and self.nested.isdisjoint(value):
                return value  # the common case: nothing unknown, nothing nested to look into
            kept = {}
            for key, sub in value.items():
                where = f"{path}.{key}" if path else str(key)
                tree = self.props.get(key)
                if tree is None:
                    unknown.append(where)
                else:
                    kept[key] = tree.split(sub, unknown, where)
            return kept
        if isinstance(value, list) and self.items is not None:
            return [self.items.split(sub, unknown, f"{path}[{i}]") for i, sub in enumerate(value)]
        return value


@dataclass(frozen=True)
class Violation:
    """One broken schema rule: where, which keyword, in words, and the value sent."""

    field: str  # dotted path, "" for the body itself
    rule: str  # the JSON Schema keyword (``type``, ``maximum``, ``required`` ...)
    message: str
    value: Any


class BodySchema:
    """One compiled request-body schema (for one model, or one admin route)."""

    def __init__(self, name: str, schema: Mapping[str, Any], *, subject: str | None = None,
                 model_ids: tuple[str, ...] = ()) -> None:
        self.name = name
        self.subject = subject
        self.schema = schema
        self.model_ids = model_ids or (name,)  # a model schema: its id, then its aliases
        self.fields = FieldTree.of(schema)
        self.defaults = {key: sub["default"] for key, sub in schema.get("properties", {}).items()
                         if isinstance(sub, Mapping) and "default" in sub}

    @functools.cached_property
    def validator(self) -> Any:
        """The compiled validator (compiled on first use: start-up stays quick with every model)."""
        return jsonschema_rs.validator_for(dict(self.schema))

    def violations(self, body: Any) -> list[Violation]:
        """Every broken rule, in schema order, without duplicates."""
        if self._valid(body):
            return []
        found: dict[str, Violation] = {}
        try:
            for error in self.validator.iter_errors(body):
                message = describe(error, self.schema, self.subject)
                path, value = list(error.instance_path), error.instance
                if error.kind.name == "required":  # the field is the missing one, and nothing was sent
                    path, value = [*path, error.kind.as_dict()["property"]], None
                found.setdefault(message, Violation(_field(path), error.kind.name, message, value))
        except ValueError:  # the validator refuses to recurse into absurd nesting
            raise invalid_request(_TOO_DEEP) from None
        return list(found.values())

    def _valid(self, body: Any) -> bool:
        """``is_valid``, with absurd nesting (which the validator refuses to recurse into) a 400."""
        try:
            return bool(self.validator.is_valid(body))
        except ValueError:
            raise invalid_request(_TOO_DEEP) from None

    def check(self, body: Any) -> None:
        """Raise a 400 naming each broken field and rule (up to three)."""
        if self._valid(body):
            return
        messages = [v.message for v in self.violations(body)]
        shown = "; ".join(messages[:_MAX_MESSAGES])
        if len(messages) > _MAX_MESSAGES:
            shown += f" (and {len(messages) - _MAX_MESSAGES} more)"
        raise invalid_request(shown)

    def known_fields(self, body: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """``(body as the model reads it, dotted paths of the ignored fields)``."""
        unknown: list[str] = []
        return self.fields.split(body, unknown), unknown


def _field(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _node(schema: Mapping[str, Any], schema_path: Any) -> Mapping[str, Any]:
    """The schema object holding the keyword that failed."""
    node: Any = schema
    for part in list(schema_path)[:-1]:
        node = node[part]
    return node if isinstance(node, Mapping) else {}


def _rule_message(schema: Mapping[str, Any], schema_path: Any) -> str | None:
    """The ``x-message`` of the conditional rule (``then``/``else`` branch) the failing keyword sits in."""
    node: Any = schema
    found, inside = None, False
    for part in list(schema_path)[:-1]:
        node = node[part] if isinstance(node, (Mapping, list)) else None
        inside = inside or part in ("then", "else")
        if inside and isinstance(node, Mapping) and "x-message" in node:
            found = node["x-message"]  # the deepest wins
    return found


def _shown(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{excerpt(value)}"'
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "an array"
    return str(value)


def _choices(values: Any) -> str:
    return ", ".join(_shown(v) for v in values)


def describe(error: Any, schema: Mapping[str, Any], subject: str | None = None) -> str:
    """Turn one JSON Schema error into ``<field> <rule>`` prose."""
    kind = error.kind.name
    path = list(error.instance_path)
    field = _field(path)
    node = _node(schema, error.schema_path)
    detail = error.kind.as_dict()
    custom = node.get("x-message")
    rule = None if custom or kind == "minLength" else _rule_message(schema, error.schema_path)
    suffix = f" for {subject}" if subject else ""
    if rule is not None:
        return rule
    if custom and kind in ("const", "enum", "maximum", "minimum", "maxItems", "minItems"):
        return custom if field in custom else f"{field} {custom}"
    if kind == "falseSchema":
        return f"{field} is not accepted{suffix}"
    if kind == "required":
        name = _field([*path, detail["property"]])
        if list(error.schema_path)[-1:] == ["dependentRequired"]:
            trigger = next((k for k, deps in node["dependentRequired"].items()
                            if detail["property"] in deps and k in error.instance), "another field")
            return f"{name} is required when {_field([*path, trigger])} is given"
        return custom or f"{name} is required"
    if custom and kind in ("anyOf", "oneOfNotValid", "pattern", "format", "not"):
        return f"{field} {custom}" if field else custom
    value = error.instance
    if kind == "type":
        wanted = " or ".join(_TYPE_NAMES.get(t, t) for t in detail["types"])
        return f"{field} must be {wanted} (got {_shown(value)})"
    if kind in ("minimum", "maximum"):
        low, high = node.get("minimum"), node.get("maximum")
        if low is not None and high is not None:
            return f"{field} must be between {low} and {high}{suffix} (got {_shown(value)})"
        bound = "at least" if kind == "minimum" else "at most"
        return f"{field} must be {bound} {detail['limit']} (got {_shown(value)})"
    if kind == "enum":
        return f"{field} must be one of {_choices(detail['options'])}{suffix} (got {_shown(value)})"
    if kind == "const":
        return f"{field} must be {_shown(detail['expected_value'])} (got {_shown(value)})"
    if kind == "minLength":
        limit = detail["limit"]
        return f"{field} must not be empty" if limit == 1 else f"{field} must be at least {limit} characters"
    if kind == "maxLength":
        return f"{field} must be at most {detail['limit']} characters (got {len(value)})"
    if kind == "minItems":
        return f"{field} must have at least {detail['limit']} item(s)"
    if kind == "maxItems":
        return f"{field} must have at most {detail['limit']} items (got {len(value)})"
    if kind == "additionalProperties":
        names = ", ".join(str(name) for name in detail["unexpected"])
        return f"{field or 'the body'} has unknown field(s): {names}"
    if kind == "pattern":
        return f"{field} must match {detail['pattern']} (got {_shown(value)})"
    # the validator's own words quote the value whole (as compact JSON): quote it as the others do, and bound the rest
    whole = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return f"{field or 'body'}: {excerpt(error.message.replace(whole, _shown(value)), _FALLBACK_QUOTED)}"


class ApiContract:
    """The public contract: per-model create validators and the route facts.

    ``schemas`` holds every component schema with its references inlined.
    """

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.spec = spec
        inlined = jsonschema_rs.dereference(dict(spec))
        schemas = self.schemas = inlined["components"]["schemas"]
        request = spec["components"]["schemas"]["VideoGenerationRequest"]
        mapping = request["discriminator"]["mapping"]
        by_ref: dict[str, list[str]] = {}
        for model, ref in mapping.items():
            by_ref.setdefault(ref, []).append(model)
        self.models: dict[str, BodySchema] = {}  # model id -> its schema
        self.aliases: dict[str, BodySchema] = {}  # a documented alias -> its model's schema
        for ref, ids in by_ref.items():
            body = BodySchema(ids[0], schemas[ref.rsplit("/", 1)[-1]], subject=ids[0], model_ids=tuple(ids))
            self.models[ids[0]] = body
            self.aliases.update(dict.fromkeys(ids[1:], body))
        #: Ids EvoLink retired -> the id that replaced them (None: no successor).
        self.retired: dict[str, str | None] = dict(request.get("x-evolink-retired") or {})
        self.task_id = jsonschema_rs.validator_for(schemas["TaskId"])
        self.task_error_codes: tuple[str, ...] = tuple(schemas["TaskErrorCode"]["enum"])

    def model_schema(self, body: Any) -> BodySchema:
        """Follow the discriminator: the schema of ``body["model"]``, or a 400."""
        if not isinstance(body, dict):
            raise invalid_request(f"the request body must be a JSON object (got {_shown(body)})")
        if "model" not in body:
            count, first = len(self.models), next(iter(self.models))
            raise invalid_request(f"model is required: one of the {count} model ids GET /_mock/models lists, "
                                  f"e.g. {first}")
        model = body["model"]
        if not isinstance(model, str):
            raise invalid_request(f"model must be a string (got {_shown(model)})")
        schema = self.models.get(model) or self.aliases.get(model)
        if schema is None:
            if model in self.retired:
                successor = self.retired[model]
                hint = f"; use {successor}" if successor else ""
                raise invalid_request(f"model {_shown(model)} was retired by EvoLink and is no longer served{hint}")
            raise invalid_request(f"model {_shown(model)} is not supported; see GET /_mock/models for the "
                                  f"{len(self.models)} models and their aliases")
        return schema

    def check_task_id(self, task_id: str) -> None:
        """400 ``invalid_task_id`` unless the id has the ``task-unified-...`` shape."""
        if not self.task_id.is_valid(task_id):
            raise ApiError(400, "invalid_task_id",
                           f"task_id {_shown(task_id)} is malformed: expected task-unified-<epoch>-<suffix>",
                           "invalid_request_error")


class QueryParameters:
    """An operation's query parameters: parsed from strings to their schema's type, then validated."""

    def __init__(self, name: str, parameters: list[Mapping[str, Any]]) -> None:
        self.types = {p["name"]: p["schema"].get("type", "string") for p in parameters}
        self.defaults = {p["name"]: p["schema"]["default"] for p in parameters if "default" in p["schema"]}
        self.schema = BodySchema(name, {"type": "object", "properties": {p["name"]: p["schema"] for p in parameters}})

    def parse(self, query: Mapping[str, str]) -> dict[str, Any]:
        """Typed values of the declared parameters (defaults filled in); 400 naming a bad one."""
        values: dict[str, Any] = dict(self.defaults)
        for name, kind in self.types.items():
            if name not in query:
                continue
            raw = query[name]
            try:
                if kind in ("integer", "number") and not raw.isascii():
                    raise ValueError(raw)
                values[name] = int(raw) if kind == "integer" else float(raw) if kind == "number" else raw
                if kind == "number" and not math.isfinite(values[name]):
                    raise ValueError(raw)
            except ValueError:
                raise invalid_request(f"{name} must be {_TYPE_NAMES.get(kind, kind)} (got {_shown(raw)})") from None
        self.schema.check(values)
        return values


def _fill_values(node: Any, values: Mapping[str, list[str]]) -> Any:
    """Replace ``x-values: <name>`` placeholders with a string enum of those values."""
    if isinstance(node, dict):
        filled = {k: _fill_values(v, values) for k, v in node.items() if k != "x-values"}
        if "x-values" in node:
            filled.update(type="string", enum=list(values[node["x-values"]]))
        return filled
    if isinstance(node, list):
        return [_fill_values(item, values) for item in node]
    return node


class AdminContract:
    """The admin API's document, its lists filled from the public contract, compiled once.

    ``bodies`` and ``queries`` are keyed by operationId; ``document`` is the YAML served
    at ``/_mock/openapi.yaml``.
    """

    def __init__(self, spec: Mapping[str, Any], api: ApiContract) -> None:
        self.spec = _fill_values(spec, {"models": list(api.models), "task_error_codes": list(api.task_error_codes)})
        self.document = yaml.safe_dump(self.spec, sort_keys=False, allow_unicode=True).encode()
        inlined = jsonschema_rs.dereference(dict(self.spec))
        operations = [(item.get("parameters", []), op) for item in inlined["paths"].values()
                      for op in item.values() if isinstance(op, Mapping) and "operationId" in op]
        self.bodies: dict[str, BodySchema] = {
            op["operationId"]: BodySchema(op["operationId"], op["requestBody"]["content"]["application/json"]["schema"])
            for _, op in operations if "requestBody" in op
        }
        self.queries: dict[str, QueryParameters] = {
            op["operationId"]: QueryParameters(op["operationId"],
                                               [p for p in (*shared, *op.get("parameters", ())) if p["in"] == "query"])
            for shared, op in operations
        }


@functools.cache
def admin_contract() -> AdminContract:
    """The admin contract compiled from ``admin_openapi.yaml`` (once per process)."""
    return AdminContract(load_yaml(admin_contract_path()), api_contract())


@functools.cache
def api_contract(path: Path | None = None) -> ApiContract:
    """The contract compiled from ``openapi.yaml`` (once per process)."""
    return ApiContract(load_yaml(path or contract_path()))
