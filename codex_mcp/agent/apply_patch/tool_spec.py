"""The apply_patch tool as offered to the model: a freeform (grammar) variant for models
that support custom tools, and a JSON function variant for the others."""

from __future__ import annotations

from typing import Any

TOOL_NAME = "apply_patch"

GRAMMAR = r"""start: "*** Begin Patch" NL operation+ "*** End Patch" NL?

operation: add_file | delete_file | update_file

add_file: "*** Add File: " REST NL new_line+
new_line: "+" REST? NL

delete_file: "*** Delete File: " REST NL

update_file: "*** Update File: " REST NL rename? edits?
rename: "*** Move to: " REST NL
edits: (anchor | edit_line)+ eof_marker?
anchor: "@@" NL
      | "@@ " REST NL
edit_line: (" " | "+" | "-") REST? NL
eof_marker: "*** End of File" NL

REST: /[^\n]+/
NL: "\n"
"""
"""Lark grammar of the patch language, used to constrain the freeform tool's input.

It is a little stricter than :func:`.parser.parse_patch`, which also accepts heredoc
wrappers, CRLF line ends and blank lines standing for empty context lines."""

CUSTOM_DESCRIPTION = (
    "Edit files by sending a patch in the apply_patch format: add, delete, update or "
    "rename files. The input is the raw patch text (no JSON, no code fences), starting "
    "with '*** Begin Patch' and ending with '*** End Patch'. Use paths relative to the "
    "working directory."
)

FUNCTION_DESCRIPTION = "\n".join(
    [
        "Edit files by applying a patch written in the apply_patch format.",
        "",
        "Pass the whole patch as the `input` string. A patch is an envelope around one or more "
        "file operations:",
        "",
        "*** Begin Patch",
        "<operations>",
        "*** End Patch",
        "",
        "Operations:",
        "- `*** Add File: <path>` creates a file. Every line of its content follows, each "
        "starting with `+` (write `+` alone for a blank line).",
        "- `*** Delete File: <path>` removes a file. Nothing follows it.",
        "- `*** Update File: <path>` edits a file in place. To rename it as well, put `*** Move "
        "to: <new path>` on the next line.",
        "",
        "An update consists of one or more sections. Each section starts with `@@`, optionally "
        "followed by a space and a line that identifies where the change is (for example a "
        "`class` or `def` line), and then lists lines:",
        "- ` ` (a space) then text: an unchanged line, shown for context;",
        "- `-` then text: a line to remove;",
        "- `+` then text: a line to add.",
        "",
        "Show about 3 unchanged lines before and after each change so the location is "
        "unambiguous. When those lines are not enough (the same code appears more than once), add"
        " one or more `@@ <line>` markers naming the enclosing class or function; each marker "
        "narrows the search to what follows it. A section that must match at the very end of the "
        "file ends with `*** End of File`.",
        "",
        "Example:",
        "",
        "*** Begin Patch",
        "*** Add File: notes/todo.md",
        "+# TODO",
        "+- write tests",
        "*** Update File: src/app.py",
        "*** Move to: src/main.py",
        "@@ def main():",
        "     args = parse_args()",
        '-    print("hi")',
        '+    print("hello")',
        "     return 0",
        "*** Delete File: scratch.txt",
        "*** End Patch",
        "",
        "Rules: paths must be relative to the working directory, never absolute; every added line"
        " needs the `+` prefix, also in new files; the patch must start with `*** Begin Patch` "
        "and end with `*** End Patch`.",
        "",
    ]
)

INPUT_DESCRIPTION = "The entire patch, from '*** Begin Patch' to '*** End Patch'."


def custom_tool_spec() -> dict[str, Any]:
    """The freeform tool: the model's output is constrained by :data:`GRAMMAR`."""
    return {
        "type": "custom",
        "name": TOOL_NAME,
        "description": CUSTOM_DESCRIPTION,
        "format": {"type": "grammar", "syntax": "lark", "definition": GRAMMAR},
    }


def function_tool_spec() -> dict[str, Any]:
    """The JSON function variant: the patch travels in the ``input`` argument."""
    return {
        "type": "function",
        "name": TOOL_NAME,
        "description": FUNCTION_DESCRIPTION,
        "strict": False,
        "parameters": {
            "type": "object",
            "properties": {"input": {"type": "string", "description": INPUT_DESCRIPTION}},
            "required": ["input"],
            "additionalProperties": False,
        },
    }
