"""The actions toolset: workflow runs, their jobs, and job logs."""

from __future__ import annotations

from mcpmesh import ToolError
from mcpmesh.guard.sanitize import sanitize_plain, sanitize_text
from mcpmesh_github import args as a
from mcpmesh_github import wire
from mcpmesh_github.api import READ_ACTIONS, GitHub
from mcpmesh_github.models import actions as m
from mcpmesh_github.models.common import fields_of
from mcpmesh_github.registry import github_tool


@github_tool("actions")
async def list_workflow_runs(gh: GitHub, args: a.ListRuns) -> m.WorkflowRunList:
    """GitHub Actions workflow runs of a repository, newest first."""
    repo, page = gh.repo, gh.page(args)
    query = {"branch": args.branch, "status": args.status, "event": args.event}
    response = await gh.get(
        repo.path("/actions/runs"), permissions=READ_ACTIONS, params=page.params | query
    )
    found = response.decoded(wire.WorkflowRuns)
    return m.WorkflowRunList(
        **page.of(response),
        total_count=found.total_count,
        items=[m.WorkflowRun.from_api(r) for r in found.workflow_runs],
    )


@github_tool("actions")
async def get_workflow_run(gh: GitHub, args: a.RunArgs) -> m.WorkflowRunDetail:
    """One workflow run with its jobs (use a job id with get_job_logs)."""
    repo = gh.repo
    run = await gh.get(repo.path(f"/actions/runs/{args.run_id}"), permissions=READ_ACTIONS)
    jobs = await gh.get(
        repo.path(f"/actions/runs/{args.run_id}/jobs"),
        permissions=READ_ACTIONS,
        params={"per_page": 100},
    )
    job_list = [
        m.Job(
            id=int(j.get("id") or 0),
            name=sanitize_text(j.get("name")),
            status=str(j.get("status") or ""),
            conclusion=j.get("conclusion"),
            started_at=j.get("started_at"),
            completed_at=j.get("completed_at"),
        )
        for j in jobs.decoded(wire.Jobs).jobs
    ]
    summary = m.WorkflowRun.from_api(run.decoded(wire.Item))
    return m.WorkflowRunDetail(**(fields_of(summary) | {"jobs": job_list}))


@github_tool("actions")
async def get_job_logs(gh: GitHub, args: a.JobLogArgs) -> m.JobLog:
    """The last lines of a job's log (bounded; earlier lines are left out and said so)."""
    repo = gh.repo
    response = await gh.get(
        repo.path(f"/actions/jobs/{args.job_id}/logs"),
        permissions=READ_ACTIONS,
        text=True,
        what=f"logs of job {args.job_id}",
    )
    location = response.headers.get("Location")
    if response.status != 302 or not location:
        raise ToolError(f"GitHub did not give a download link for job {args.job_id}'s logs.")
    tail, total = await gh.state.client.download_tail(location, max_bytes=gh.settings.max_log_bytes)
    lines = sanitize_plain(tail.decode("utf-8", errors="replace")).splitlines()
    if total > len(tail) and lines:
        lines = lines[1:]  # the first line of a cut-off tail is partial
    shown = lines[-min(args.tail_lines, gh.settings.max_log_lines) :]
    return m.JobLog(
        job_id=args.job_id,
        tail="\n".join(shown),
        lines=len(shown),
        truncated=len(shown) < len(lines) or total > len(tail),
        total_bytes=total,
    )
