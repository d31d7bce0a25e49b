"""YAML data files validated into Pydantic models; an error names the file, the line and the field."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
Loc = tuple[int | str, ...]


class DataFileError(ValueError):
    """A data file that does not hold what it must; says where and why."""

    def __init__(self, path: Path, line: int | None, field: str, reason: str) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {field}: {reason}")
        self.path, self.line, self.field, self.reason = path, line, field, reason


def _line_of(node: yaml.Node | None, loc: Loc) -> int | None:
    """The 1-based line of the node at `loc`, or of its nearest existing ancestor."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            node = None
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def _compose(path: Path) -> yaml.Node | None:
    return yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)


def line_at(source: Path | yaml.Node | None, loc: Loc) -> int | None:
    """The line of the value at `loc` in a file (or a composed YAML root); its nearest ancestor's when absent."""
    if isinstance(source, Path):
        try:
            source = _compose(source)
        except (OSError, yaml.YAMLError):
            return None  # the file changed under us; the error still names file and field
    return _line_of(source, loc)


def field_name(loc: Loc) -> str:
    """`('steps', 0, 'due')` → `steps.0.due`; the empty location is the whole document. A bad mapping
    key is named by the key itself (pydantic adds a `[key]` part after it)."""
    return ".".join(str(part) for part in loc if part != "[key]") or "document"


def error_at(path: Path, loc: Loc, reason: str, *, root: yaml.Node | None = None) -> DataFileError:
    """A DataFileError for the value at `loc` of `path` (pass the composed `root` to skip reading it again)."""
    return DataFileError(path, line_at(root if root is not None else path, loc), field_name(loc), reason)


def validate_all(path: Path, model: type[M]) -> tuple[M | None, list[DataFileError]]:
    """Read `path` as YAML and validate it as `model`: the model, or None and every error, each at its line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return None, [DataFileError(path, None, "file", f"cannot be read ({exc.strerror or exc})")]
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return None, [DataFileError(path, mark.line + 1 if mark else None, "yaml", str(getattr(exc, "problem", exc)))]
    try:
        return model.model_validate(data if data is not None else {}), []
    except ValidationError as exc:
        return None, [error_at(path, tuple(e["loc"]), e["msg"], root=root) for e in exc.errors()]


def load_model(path: Path, model: type[M]) -> M:
    """Read `path` as YAML and validate it as `model`, or raise DataFileError naming the first bad spot."""
    loaded, errors = validate_all(path, model)
    if loaded is None:
        raise errors[0]
    return loaded
