"""A small Python API over the same flows the CLI uses (the seed's ``teach_workflow`` among them)."""

from __future__ import annotations

from pathlib import Path

from workflow_agent.core.settings import load_settings
from workflow_agent.core.types import Workflow


def teach_workflow(
    name: str,
    description: str,
    *,
    interactive: bool = False,
    model: str | None = None,
    home: Path | None = None,
    yes: bool = False,
) -> Workflow:
    """Teach a workflow from a sentence and save it; returns the saved workflow.

    Non-interactive (the default), a script the safety check allows is saved, one it asks
    about is saved only with ``yes=True``, and a denied one is never saved (SafetyRefusal).
    """
    from workflow_agent.agents.coder import Coder
    from workflow_agent.app.teach import TeachUI, Unattended, teach
    from workflow_agent.commands.teach import TerminalUI, model_errors, recorder
    from workflow_agent.models import resolve_model
    from workflow_agent.storage.history import HistoryStore
    from workflow_agent.storage.workflows import WorkflowStore

    settings = load_settings() if home is None else load_settings({"WORKFLOW_HOME": str(home)})
    resolved = resolve_model(model, home=settings.home)
    ui: TeachUI = TerminalUI(name) if interactive else Unattended(yes=yes)
    with HistoryStore(settings.history_path) as history, model_errors(resolved):
        coder = Coder(resolved.model, on_call=recorder(history, name, resolved))
        return teach(WorkflowStore(settings.home), name, description, coder=coder, ui=ui).workflow
