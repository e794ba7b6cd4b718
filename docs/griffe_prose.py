"""A griffe extension for the API reference (mkdocs.yml: mkdocstrings' `extensions`): the project's
docstrings are prose, in which `outputs/<task>-<arch>/` or `conf/arch/<name>.yaml` are paths, not HTML
tags. Markdown would pass `<task>` to the browser as an unknown tag, which shows nothing; outside code
spans this escapes such placeholders so that the page shows them as written."""

import re

from griffe import Extension, Object

CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)
PLACEHOLDER = re.compile(r"<([A-Za-z_][\w .,|=-]*)>")


def escaped(text: str) -> str:
    parts, last = [], 0
    for span in CODE_SPAN.finditer(text):
        parts += [PLACEHOLDER.sub(r"&lt;\1&gt;", text[last : span.start()]), span.group(0)]
        last = span.end()
    parts.append(PLACEHOLDER.sub(r"&lt;\1&gt;", text[last:]))
    return "".join(parts)


class ProseDocstrings(Extension):
    def on_object(self, *, obj: Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = escaped(obj.docstring.value)
