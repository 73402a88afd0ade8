"""Small fixes to the HTML that Jupyter Book 1 writes, found by opening the book in a browser.

- sphinx-thebe and sphinx-togglebutton each register their inline configuration scripts twice
  (once with no file name, once with an empty one), so every page declared ``const THEBE_JS_URL``
  twice and threw "Identifier 'THEBE_JS_URL' has already been declared". Scripts are
  de-duplicated by what they load or contain.
"""
from __future__ import annotations


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        attributes = getattr(script, "attributes", {}) or {}
        key = (getattr(script, "filename", str(script)) or "", tuple(sorted(attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
