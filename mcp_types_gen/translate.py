"""Translate the schema's `definitions` into declarations (models, aliases) and method tables.

The result (`Module`) is plain data; `emit.py` turns it into source text. Rules, in brief:

* an object with `properties` becomes a model; inline ones are named `<Parent><Prop>`
  (`CallToolRequestParams`, `ToolInputSchema`), array items `<Parent><Prop>Item`, typed map values
  `<Parent><Prop>Value`;
* an object without properties becomes `dict[str, T]` (`T` from `additionalProperties`, else `Any`);
* `const` and one-value `enum` become a `Literal` with that value as default; `enum` a `Literal`;
* a list of types becomes a union of strict types (so `True` is never taken for the id `1`);
* `anyOf` becomes a union, discriminated on `type` or `method` when every member is a model with a
  distinct required constant there; `allOf` of objects becomes one model with their merged properties;
* `"null"` in a list of types makes the field nullable (a required nullable field is written as null);
* `format` is ignored (`uri`, `byte` stay `str`); `minimum`/`maximum` become `ge`/`le`;
* request/notification params models lacking `_meta` get the one of the base `Request`/`Notification`
  params (`_inherit_params_meta`), and `WIDEN` lists the other deliberate departures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mcp_types_gen.naming import method_constant, pascal_case, snake_case
from mcp_types_gen.schema import SchemaError

_DISCRIMINATORS = ("method", "type")
_SCALARS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}
_STRICT_SCALARS = {
    "string": "StrictStr",
    "integer": "StrictInt",
    "number": "float",
    "boolean": "StrictBool",
    "null": "None",
}

# Deliberate departures from the schema, keyed by (model, wire property): extra union members.
# ElicitResult.content has no "number" (2025-06-18 and 2025-11-25) although NumberSchema fields can be
# elicited; accepting floats keeps such answers from failing validation.
WIDEN: dict[tuple[str, str], tuple[str, ...]] = {("ElicitResult", "content"): ("float",)}


@dataclass(frozen=True)
class Type:
    """A Python annotation plus the generated names it refers to."""

    text: str
    deps: frozenset[str] = frozenset()


@dataclass(frozen=True)
class FieldDecl:
    py_name: str
    wire_name: str
    annotation: str
    required: bool
    default: str | None  # Python source of the default, or None for "required, no default"
    constraints: tuple[tuple[str, str], ...] = ()


@dataclass
class ModelDecl:
    name: str
    origin: str  # "CallToolRequest" for a definition, "CallToolRequest.params" for an inline object
    fields: list[FieldDecl] = field(default_factory=list)
    deps: set[str] = field(default_factory=set)
    method: str | None = None  # the `method` const of a request/notification


@dataclass
class AliasDecl:
    name: str
    origin: str
    annotation: str
    deps: set[str] = field(default_factory=set)


Decl = ModelDecl | AliasDecl


@dataclass(frozen=True)
class MethodEntry:
    method: str
    constant: str
    message: str  # the request/notification model
    params: str | None  # its params model, if the params are a model
    result: str | None = None  # requests only


@dataclass
class Module:
    definitions: list[str]  # every schema definition name, sorted
    decls: dict[str, Decl]
    requests: list[MethodEntry]
    notifications: list[MethodEntry]
    method_sets: dict[str, list[str]]  # e.g. "ClientRequest" -> its members' methods


def _literal(values: list[Any]) -> str:
    return "Literal[" + ", ".join(_py_literal(v) for v in values) + "]"


def _py_literal(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool | int | float) or value is None:
        return repr(value)
    raise SchemaError(f"unsupported constant {value!r}")


def _union(types: list[Type]) -> Type:
    texts: list[str] = []
    for t in types:
        if t.text not in texts:
            texts.append(t.text)
    deps: frozenset[str] = frozenset().union(*(t.deps for t in types))
    return Type(" | ".join(texts), deps)


class Translator:
    def __init__(self, definitions: dict[str, Any], ref_prefix: str = "#/definitions/") -> None:
        self.defs = definitions
        self.ref_prefix = ref_prefix
        self.decls: dict[str, Decl] = {}

    def _ref_name(self, ref: str) -> str:
        if not ref.startswith(self.ref_prefix):
            raise SchemaError(f"unsupported $ref {ref!r} (only {self.ref_prefix}<Name> is handled)")
        return ref[len(self.ref_prefix) :]

    # -- entry point -------------------------------------------------------------------------

    def run(self) -> Module:
        names = sorted(self.defs)
        for name in names:
            self._definition(name, self.defs[name])
        self._inherit_params_meta(names)
        requests, notifications = self._method_tables(names)
        method_sets: dict[str, list[str]] = {}
        for union in ("ClientRequest", "ServerRequest", "ClientNotification", "ServerNotification"):
            members = self.defs.get(union, {}).get("anyOf")
            if isinstance(members, list):
                found = [self._method_of(self._ref_name(m.get("$ref", ""))) for m in members]
                method_sets[union] = sorted(m for m in found if m is not None)
        return Module(names, self.decls, requests, notifications, method_sets)

    # -- definitions -------------------------------------------------------------------------

    def _add(self, decl: Decl) -> None:
        if decl.name in self.decls:
            raise SchemaError(f"two generated declarations are named {decl.name}")
        if decl.name != decl.origin and decl.name in self.defs:
            raise SchemaError(f"synthesized name {decl.name} ({decl.origin}) collides with a definition")
        self.decls[decl.name] = decl

    def _definition(self, name: str, schema: Any) -> None:
        if not isinstance(schema, dict):
            raise SchemaError(f"definition {name} is not an object")
        if "allOf" in schema:
            schema = self._merge_all_of(schema, name)
        if schema.get("type") == "object" and schema.get("properties"):
            self._model(name, name, schema)
            return
        t = self._type(schema, name, None)
        self._add(AliasDecl(name, name, t.text, set(t.deps)))

    def _model(self, name: str, origin: str, schema: dict[str, Any]) -> ModelDecl:
        model = ModelDecl(name, origin)
        self._add(model)
        required = set(schema.get("required", []))
        seen: dict[str, str] = {}
        for wire, prop in schema["properties"].items():
            if not isinstance(prop, dict):
                raise SchemaError(f"{origin}.{wire}: property schema is not an object")
            py = snake_case(wire)
            if py in seen:
                raise SchemaError(f"{origin}: properties {seen[py]!r} and {wire!r} both map to {py!r}")
            seen[py] = wire
            t = self._type(prop, name, wire)
            widen = WIDEN.get((name, wire))
            if widen:
                t = self._widen(t, widen)
            model.deps |= t.deps
            const = self._constant(prop)
            constraints = tuple(
                (kw, repr(prop[key])) for key, kw in (("minimum", "ge"), ("maximum", "le")) if key in prop
            )
            if const is not None:
                model.fields.append(FieldDecl(py, wire, t.text, True, _py_literal(const), constraints))
                if wire == "method" and isinstance(const, str):
                    model.method = const
            elif wire in required:
                model.fields.append(FieldDecl(py, wire, t.text, True, None, constraints))
            else:
                nullable = t.text == "None" or t.text.endswith(" | None")
                annotation = t.text if nullable else f"{t.text} | None"
                model.fields.append(FieldDecl(py, wire, annotation, False, "None", constraints))
        return model

    def _merge_all_of(self, schema: dict[str, Any], owner: str) -> dict[str, Any]:
        """One object schema with the properties and required names of every `allOf` member.

        MCP uses `allOf` only to extend an object (`GetTaskResult` = `Result` + `Task`); a later
        member's property replaces an earlier one of the same name (`code` narrowed to a const).
        """
        parts: list[dict[str, Any]] = []
        for member in [*schema["allOf"], {k: v for k, v in schema.items() if k != "allOf"}]:
            if not isinstance(member, dict):
                raise SchemaError(f"{owner}: allOf member is not an object")
            if "$ref" in member:
                target = self._ref_name(member["$ref"])
                if not isinstance(self.defs.get(target), dict):
                    raise SchemaError(f"{owner}: allOf $ref to unknown definition {target}")
                member = self.defs[target]
            if "allOf" in member:
                member = self._merge_all_of(member, owner)
            if member.get("type", "object") != "object" or "anyOf" in member:
                raise SchemaError(f"{owner}: allOf is only supported over object schemas")
            parts.append(member)
        merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        for part in parts:
            merged["properties"].update(part.get("properties", {}))
            merged["required"] += [r for r in part.get("required", []) if r not in merged["required"]]
            if "additionalProperties" in part:
                merged.setdefault("additionalProperties", part["additionalProperties"])
        return merged

    @staticmethod
    def _widen(t: Type, extra: tuple[str, ...]) -> Type:
        prefix, suffix = "dict[str, ", "]"
        if t.text.startswith(prefix) and t.text.endswith(suffix):
            inner = t.text[len(prefix) : -len(suffix)]
            return Type(prefix + " | ".join([inner, *extra]) + suffix, t.deps)
        return Type(" | ".join([t.text, *extra]), t.deps)

    @staticmethod
    def _constant(schema: dict[str, Any]) -> Any:
        if "const" in schema:
            return schema["const"]
        enum = schema.get("enum")
        if isinstance(enum, list) and len(enum) == 1:
            return enum[0]
        return None

    # -- types ---------------------------------------------------------------------------------

    def _type(self, schema: dict[str, Any], owner: str, prop: str | None, suffix: str = "") -> Type:
        """The annotation for `schema`, found at property `prop` of `owner` (None: a definition)."""
        if "allOf" in schema:
            schema = self._merge_all_of(schema, f"{owner}.{prop}")
        if "$ref" in schema:
            target = self._ref_name(schema["$ref"])
            if target not in self.defs:
                raise SchemaError(f"{owner}: $ref to unknown definition {target}")
            return Type(target, frozenset({target}))
        if "anyOf" in schema:
            members = [
                self._type(m, owner, prop, f"{suffix}Option{i}") for i, m in enumerate(schema["anyOf"], 1)
            ]
            union = _union(members)
            disc = self._discriminator(schema["anyOf"])
            if disc is None:
                return union
            return Type(f'Annotated[{union.text}, Field(discriminator="{disc}")]', union.deps)
        const = self._constant(schema)
        if const is not None:
            return Type(_literal([const]))
        if "enum" in schema:
            return Type(_literal(list(schema["enum"])))
        kind = schema.get("type")
        if isinstance(kind, list):
            try:
                return Type(" | ".join(_STRICT_SCALARS[k] for k in kind))
            except KeyError as exc:
                raise SchemaError(f"{owner}.{prop}: unsupported type list {kind}") from exc
        if kind in _SCALARS:
            return Type(_SCALARS[kind])
        if kind == "array":
            items = schema.get("items")
            if not isinstance(items, dict):
                return Type("list[Any]")
            inner = self._type(items, owner, prop, suffix + "Item")
            return Type(f"list[{inner.text}]", inner.deps)
        if kind == "object":
            if schema.get("properties"):
                if prop is None:
                    raise SchemaError(f"{owner}: nested definition object without a name")
                name = owner + pascal_case(prop) + suffix
                self._model(name, f"{self._origin(owner)}.{prop}", schema)
                return Type(name, frozenset({name}))
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict) and extra:
                value = self._type(extra, owner, prop, suffix + "Value")
                return Type(f"dict[str, {value.text}]", value.deps)
            return Type("dict[str, Any]")
        if kind is None:
            return Type("Any")
        raise SchemaError(f"{owner}.{prop}: unsupported type {kind!r}")

    def _origin(self, name: str) -> str:
        decl = self.decls.get(name)
        return decl.origin if decl is not None else name

    def _discriminator(self, members: list[Any]) -> str | None:
        """A property every member model requires with a distinct constant, if there is one."""
        targets: list[dict[str, Any]] = []
        for m in members:
            if not isinstance(m, dict) or "$ref" not in m:
                return None
            target = self.defs.get(self._ref_name(m["$ref"]))
            if not isinstance(target, dict) or not target.get("properties"):
                return None
            targets.append(target)
        for prop in _DISCRIMINATORS:
            values = []
            for target in targets:
                spec = target["properties"].get(prop)
                value = self._constant(spec) if isinstance(spec, dict) else None
                if value is None or prop not in target.get("required", []):
                    break
                values.append(value)
            else:
                if len(set(values)) == len(values):
                    return prop
        return None

    def _inherit_params_meta(self, names: list[str]) -> None:
        """Give every request/notification params model the `_meta` of the `Request`/`Notification` base.

        The TypeScript source has every message extend `Request`/`Notification`, whose `params._meta`
        carries e.g. `progressToken`; the JSON schema flattens that away for most messages
        (`CallToolRequest.params` has no `_meta`), so it is added back here.
        """
        for name in names:
            decl = self.decls[name]
            if not isinstance(decl, ModelDecl) or decl.method is None:
                continue
            base_name = next((b for b in ("Request", "Notification") if name.endswith(b)), None)
            params = self._params_model(decl)
            base = self.decls.get(f"{base_name}Params") if base_name else None
            target = self.decls.get(params) if params else None
            if not isinstance(base, ModelDecl) or not isinstance(target, ModelDecl):
                continue
            inherited = next((f for f in base.fields if f.wire_name == "_meta"), None)
            if inherited is None or any(f.wire_name == "_meta" for f in target.fields):
                continue
            target.fields.insert(0, inherited)
            target.deps |= base.deps & {inherited.annotation.removesuffix(" | None")}

    # -- method tables -------------------------------------------------------------------------

    def _method_of(self, name: str) -> str | None:
        decl = self.decls.get(name)
        return decl.method if isinstance(decl, ModelDecl) else None

    def _params_model(self, decl: ModelDecl) -> str | None:
        for f in decl.fields:
            if f.wire_name == "params":
                candidate = f.annotation.removesuffix(" | None")
                if isinstance(self.decls.get(candidate), ModelDecl):
                    return candidate
        return None

    def _method_tables(self, names: list[str]) -> tuple[list[MethodEntry], list[MethodEntry]]:
        requests: list[MethodEntry] = []
        notifications: list[MethodEntry] = []
        for name in names:
            decl = self.decls[name]
            if not isinstance(decl, ModelDecl) or decl.method is None:
                continue
            constant = method_constant(decl.method)
            params = self._params_model(decl)
            if name.endswith("Request"):
                result = name.removesuffix("Request") + "Result"
                if result not in self.defs:
                    result = "Result"
                requests.append(MethodEntry(decl.method, constant, name, params, result))
            elif name.endswith("Notification"):
                notifications.append(MethodEntry(decl.method, constant, name, params))
        for entries in (requests, notifications):
            methods = [e.method for e in entries]
            if len(set(methods)) != len(methods):
                raise SchemaError("a method name is defined by two messages")
        return requests, notifications


def translate(definitions: dict[str, Any], ref_prefix: str = "#/definitions/") -> Module:
    return Translator(definitions, ref_prefix).run()
