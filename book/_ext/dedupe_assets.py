"""Sphinx extension: each page lists every script and stylesheet once.

Scripts that extensions add after the builder has started (sphinx-thebe's and
sphinx-togglebutton's inline configuration) reach Jupyter Book 1.0.4's pages twice, and the
second copy of sphinx-thebe's ``const THEBE_JS_URL`` throws "Identifier 'THEBE_JS_URL' has
already been declared" in the browser console on every page. This drops repeated entries,
keeping the first.
"""


def _key(asset):
    attributes = getattr(asset, "attributes", {}) or {}
    # the same inline script arrives once with filename None and once with ""
    filename = getattr(asset, "filename", asset) or ""
    return (str(filename), tuple(sorted((k, str(v)) for k, v in attributes.items())))


def _dedupe(app, pagename, templatename, context, doctree):
    for name in ("script_files", "css_files"):
        assets = context.get(name)
        if not assets:
            continue
        seen, kept = set(), []
        for asset in assets:
            key = _key(asset)
            if key not in seen:
                seen.add(key)
                kept.append(asset)
        context[name] = kept


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
