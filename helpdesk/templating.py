"""Every Jinja2 template is loaded here: the shipped ones, each replaceable file by file by one of
the same name in the operator's folder (setting `templates_dir`)."""

from __future__ import annotations

from pathlib import Path

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateSyntaxError,
    Undefined,
)

_PACKAGE = Path(__file__).resolve().parent


def shipped_dir() -> Path:
    """The templates this version ships. An installed wheel has them as `helpdesk/templates`; a
    checkout (editable install, PYTHONPATH) has them at the top level, next to `helpdesk/`. The
    package's own folder is asked first, since other distributions may install a top-level
    `templates` folder into site-packages."""
    candidates = (_PACKAGE / "templates", _PACKAGE.parent / "templates")
    for folder in candidates:
        if folder.is_dir():
            return folder
    raise FileNotFoundError(
        f"helpdesk's templates are missing: no folder {' or '.join(map(str, candidates))}"
    )


def shipped_names() -> list[str]:
    """Every shipped template, as the name it is loaded by (`telegram/message.html`)."""
    root = shipped_dir()
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def override_errors(folder: Path) -> list[str]:
    """What is wrong in the operator's replacements of shipped templates, one line each, so a
    typo stops start-up instead of failing each message that uses the template."""
    checker = Environment()
    errors: list[str] = []
    for name in shipped_names():
        path = folder / name
        if not path.is_file():
            continue
        try:
            checker.parse(path.read_text(encoding="utf-8"), name, str(path))
        except UnicodeDecodeError as exc:
            errors.append(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})")
        except TemplateSyntaxError as exc:
            errors.append(f"{path}, line {exc.lineno}: {exc.message}")
    return errors


class Templates:
    """Environments over one search path: the operator's folder first, then the shipped one."""

    def __init__(self, override_dir: Path | None = None) -> None:
        shipped = FileSystemLoader(shipped_dir())
        self.loader: BaseLoader = (
            shipped
            if override_dir is None
            else ChoiceLoader([FileSystemLoader(override_dir), shipped])
        )
        self._environments: dict[tuple[bool, bool, bool], Environment] = {}

    def environment(
        self, *, autoescape: bool, strict: bool = False, keep_trailing_newline: bool = False
    ) -> Environment:
        """One environment per choice of options, shared by its users so each template is
        compiled once. `autoescape` applies to every template whatever its extension."""
        key = (autoescape, strict, keep_trailing_newline)
        if key not in self._environments:
            undefined: type[Undefined] = StrictUndefined if strict else Undefined
            self._environments[key] = Environment(
                loader=self.loader,
                autoescape=autoescape,
                undefined=undefined,
                keep_trailing_newline=keep_trailing_newline,
            )
        return self._environments[key]
