"""Wheel build hook: compile the message catalogs into the wheel (as Indico does).

A wheel gets ``survey/translations/<lang>/LC_MESSAGES/messages.mo`` compiled from the committed
``.po`` files, so an installed copy never writes into its own (possibly read-only) tree. An
editable install compiles them in place in the checkout, where the app keeps them fresh.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


def _catalogs_module(root: Path):
    # Load survey/catalogs.py on its own: importing the package would need Flask at build time.
    spec = importlib.util.spec_from_file_location("_survey_catalogs", root / "survey" / "catalogs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class CatalogBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        if self.target_name != "wheel":
            return
        root = Path(self.root)
        catalogs = _catalogs_module(root)
        source = root / "survey" / "translations"
        if version == "editable":
            catalogs.compile_catalogs(source, only_stale=False)
            return
        self._build_dir = Path(tempfile.mkdtemp(prefix="survey-catalogs-"))
        for mo in catalogs.compile_catalogs(source, self._build_dir):
            relative = mo.relative_to(self._build_dir).as_posix()
            build_data["force_include"][str(mo)] = f"survey/translations/{relative}"

    def finalize(self, version: str, build_data: dict, artifact_path: str) -> None:
        build_dir = getattr(self, "_build_dir", None)
        if build_dir is not None:
            shutil.rmtree(build_dir, ignore_errors=True)
