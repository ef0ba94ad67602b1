"""``audience goals`` and ``audience funnels``: a site's page goals and funnels from a shell, as
the dashboards' Goals page manages them (``dashboards.goals``), audited the same way."""

from __future__ import annotations

import argparse
from typing import TextIO

from collector.storage.store import Store
from dashboards.audit import AuditLog, shell_actor
from dashboards.goals import MAX_STEPS, MIN_STEPS, WITHIN, Goals


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    goals = commands.add_parser("goals", help="manage a site's page goals")
    goal_commands = goals.add_subparsers(dest="goals_command", required=True)
    goal_commands.add_parser("list", help="list a site's goals").add_argument("site")
    add = goal_commands.add_parser("add", help="add a goal: the visitors who view its pages")
    add.add_argument("site")
    add.add_argument("pattern", help="the pages: /thanks, /docs/* (one segment), /blog/** (any)")
    add.add_argument("--name", default="", help="what the goal is called (default: its pattern)")
    remove = goal_commands.add_parser("remove", help="remove a goal")
    remove.add_argument("site")
    remove.add_argument("id")

    funnels = commands.add_parser("funnels", help="manage a site's funnels")
    funnel_commands = funnels.add_subparsers(dest="funnels_command", required=True)
    funnel_commands.add_parser("list", help="list a site's funnels").add_argument("site")
    add = funnel_commands.add_parser("add", help="add a funnel: pages visited in order")
    add.add_argument("site")
    add.add_argument("steps", nargs="+", metavar="STEP",
                     help=f"{MIN_STEPS} to {MAX_STEPS} page patterns, in order")  # fmt: skip
    add.add_argument("--name", default="")
    add.add_argument("--within", choices=WITHIN, default="visit",
                     help="the steps are reached within one visit or within 7 days")  # fmt: skip
    remove = funnel_commands.add_parser("remove", help="remove a funnel")
    remove.add_argument("site")
    remove.add_argument("id")


def run(arguments: argparse.Namespace, store: Store, out: TextIO) -> int:
    goals, audit, actor = Goals(store), AuditLog(store), shell_actor()
    site = arguments.site
    if arguments.command == "goals":
        if arguments.goals_command == "list":
            for goal in goals.goals_of(site):
                print(f"{goal.id}\t{goal.pattern}\t{goal.name}", file=out)
        elif arguments.goals_command == "add":
            goal = goals.add_goal(site, arguments.name, arguments.pattern, actor)
            audit.record(actor, "goal.add", site, f"goal {goal.id} {goal.pattern}")
            print(f"goal {goal.id} added to {site}: {goal.pattern}", file=out)
        else:
            goal = goals.remove_goal(site, arguments.id, actor)
            audit.record(actor, "goal.remove", site, f"goal {goal.id} {goal.pattern}")
            print(f"goal {goal.id} removed from {site}", file=out)
        return 0
    if arguments.funnels_command == "list":
        for funnel in goals.funnels_of(site):
            steps = " > ".join(funnel.steps)
            print(f"{funnel.id}\t{funnel.within}\t{steps}\t{funnel.name}", file=out)
    elif arguments.funnels_command == "add":
        funnel = goals.add_funnel(site, arguments.name, arguments.steps, arguments.within, actor)
        detail = f"funnel {funnel.id} within {funnel.within}: " + " > ".join(funnel.steps)
        audit.record(actor, "funnel.add", site, detail)
        print(f"funnel {funnel.id} added to {site}: {' > '.join(funnel.steps)}", file=out)
    else:
        funnel = goals.remove_funnel(site, arguments.id, actor)
        audit.record(actor, "funnel.remove", site, f"funnel {funnel.id} {funnel.name}")
        print(f"funnel {funnel.id} removed from {site}", file=out)
    return 0
