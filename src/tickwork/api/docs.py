"""``/api/docs``: a plain HTML reference rendered on the server from the OpenAPI document.

No scripts and no external assets (the API's Content-Security-Policy is ``default-src
'self'``, and servers often have no internet access); the stylesheet is ``/api/docs.css``.
"""

from __future__ import annotations

from html import escape
from typing import Any

DOCS_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; color: #222; }
h1 small { color: #666; font-weight: normal; }
section.op { border: 1px solid #ddd; border-radius: 6px; margin: 1rem 0; padding: .5rem 1rem; }
.method { display: inline-block; min-width: 4.5rem; font-weight: bold; text-transform: uppercase; }
.get { color: #1a6; } .post { color: #15a; } .put, .patch { color: #a60; } .delete { color: #b22; }
code, pre { background: #f5f5f5; padding: 0 .2rem; }
table { border-collapse: collapse; margin: .3rem 0; }
td, th { border-bottom: 1px solid #eee; padding: .2rem .6rem; text-align: left; }
nav a { margin-right: 1rem; }
"""


def _type_of(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(_type_of(s) for s in schema["anyOf"])
    kind = str(schema.get("type", "any"))
    if kind == "array":
        return f"array of {_type_of(schema.get('items', {}))}"
    if "enum" in schema:
        return " | ".join(repr(v) for v in schema["enum"])
    return kind


def _operation(path: str, method: str, op: dict[str, Any]) -> str:
    parts = [
        f'<section class="op" id="{escape(op.get("operationId", path + method))}">',
        f'<h3><span class="method {method}">{method}</span> <code>{escape(path)}</code></h3>',
    ]
    if op.get("summary"):
        parts.append(f"<p><strong>{escape(op['summary'])}</strong></p>")
    if op.get("description"):
        parts.append(f"<p>{escape(op['description'])}</p>")
    params = op.get("parameters", [])
    if params:
        parts.append("<table><tr><th>parameter</th><th>in</th><th>type</th><th></th></tr>")
        for p in params:
            required = "required" if p.get("required") else ""
            parts.append(
                f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p.get('in', ''))}</td>"
                f"<td>{escape(_type_of(p.get('schema', {})))}</td><td>{required}</td></tr>"
            )
        parts.append("</table>")
    body = op.get("requestBody", {}).get("content", {}).get("application/json")
    if body:
        parts.append(f"<p>Body: <code>{escape(_type_of(body.get('schema', {})))}</code></p>")
    codes = ", ".join(escape(str(code)) for code in op.get("responses", {}))
    parts.append(f"<p>Responses: {codes}</p></section>")
    return "\n".join(parts)


def _schema(name: str, schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    rows = "".join(
        f"<tr><td><code>{escape(prop)}</code></td><td>{escape(_type_of(sub))}</td>"
        f"<td>{'required' if prop in required else ''}</td>"
        f"<td>{escape(str(sub.get('description', '')))}</td></tr>"
        for prop, sub in schema.get("properties", {}).items()
    )
    return f'<h3 id="schema-{escape(name)}">{escape(name)}</h3><table>{rows}</table>'


def render_docs(openapi: dict[str, Any], openapi_url: str) -> str:
    info = openapi.get("info", {})
    title = escape(str(info.get("title", "API")))
    version = escape(str(info.get("version", "")))
    ops = [
        _operation(path, method, op)
        for path, methods in sorted(openapi.get("paths", {}).items())
        for method, op in methods.items()
        if isinstance(op, dict)
    ]
    schemas = [
        _schema(name, schema)
        for name, schema in sorted(openapi.get("components", {}).get("schemas", {}).items())
    ]
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{title} API</title>"
        '<link rel="stylesheet" href="/api/docs.css"></head><body>'
        f"<h1>{title} API <small>{version}</small></h1>"
        f'<nav><a href="{escape(openapi_url)}">OpenAPI document</a>'
        '<a href="#schemas">Schemas</a></nav>'
        "<p>Authenticate with <code>Authorization: Bearer tw_&lt;id&gt;_&lt;secret&gt;</code>."
        " Errors are <code>{&quot;error&quot;: {&quot;code&quot;, &quot;message&quot;,"
        " &quot;field&quot;?}}</code>.</p>"
        + "\n".join(ops)
        + '<h2 id="schemas">Schemas</h2>'
        + "\n".join(schemas)
        + "</body></html>"
    )
