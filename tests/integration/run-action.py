#!/usr/bin/env python3
"""Run a composite GitHub Action's `run:` steps in order, as the runner does, for tests.

  run-action.py [--input NAME=VALUE]... [--report FILE] ACTION.YML

Each step runs with `bash --noprofile --norc -eo pipefail` (GitHub's `shell: bash`), its
`env:` evaluated, and fresh GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, GITHUB_ENV and
GITHUB_PATH files whose contents reach the later steps as the runner passes them on.
Expressions are evaluated only in `env:` values and the action's output values, and only
these: ${{ inputs.NAME }}, ${{ github.action_path }}, ${{ steps.ID.outputs.NAME }}; a
`${{` in a `run:` script (script injection), an `if:`, a `uses:` step or any other
expression is refused (exit 2), so the action cannot use what this runner does not
emulate. The first step that fails stops the run, whose exit status is then that step's.

At the end the action's outputs are appended as NAME=VALUE to the caller's
$GITHUB_OUTPUT and the steps' summaries to $GITHUB_STEP_SUMMARY, when those are set;
--report FILE gets {"steps": [{"id", "rc"}], "failed": ID or null, "outputs": {...}}.
GITHUB_ACTION_PATH is the folder of ACTION.YML unless the environment sets it.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def die(msg):
    print(f"run-action: {msg}", file=sys.stderr)
    sys.exit(2)


def read_kv_file(path):
    """NAME=VALUE lines and NAME<<DELIM ... DELIM blocks, as the runner reads them."""
    out = {}
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except FileNotFoundError:
        return out
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            value = []
            while i < len(lines) and lines[i] != delim:
                value.append(lines[i])
                i += 1
            if i == len(lines):
                die(f"'{path}': no closing '{delim}' for '{name}'")
            i += 1
            out[name] = "\n".join(value)
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
        else:
            die(f"'{path}': line '{line}' is neither NAME=VALUE nor NAME<<DELIM")
    return out


class Context:
    def __init__(self, action, inputs, action_path):
        self.inputs = inputs
        self.action_path = action_path
        self.steps = {}

    def value(self, expr):
        m = re.fullmatch(r"inputs\.([A-Za-z0-9_-]+)", expr)
        if m:
            if m.group(1) not in self.inputs:
                die(f"expression '{expr}': no such input")
            return self.inputs[m.group(1)]
        if expr == "github.action_path":
            return self.action_path
        m = re.fullmatch(r"steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)", expr)
        if m:
            step, name = m.groups()
            # as GitHub: a step that did not run, or an output it did not set, is ''
            return self.steps.get(step, {}).get(name, "")
        die(f"expression '{expr}' is not one this runner evaluates")

    def evaluate(self, text):
        return EXPR.sub(lambda m: self.value(m.group(1)), str(text))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--report")
    ap.add_argument("action")
    args = ap.parse_args()

    with open(args.action, encoding="utf-8") as f:
        action = yaml.safe_load(f)
    runs = action.get("runs") or {}
    if runs.get("using") != "composite":
        die("not a composite action (runs.using is not 'composite')")
    declared = action.get("inputs") or {}
    inputs = {name: str((spec or {}).get("default", "")) for name, spec in declared.items()}
    for item in args.input:
        name, sep, value = item.partition("=")
        if not sep:
            die(f"--input '{item}' is not NAME=VALUE")
        if name not in declared:
            die(f"input '{name}' is not declared in {args.action}")
        inputs[name] = value
    for name, spec in declared.items():
        if (spec or {}).get("required") and not inputs[name]:
            die(f"input '{name}' is required")

    action_path = os.environ.get("GITHUB_ACTION_PATH") or os.path.dirname(
        os.path.abspath(args.action))
    ctx = Context(action, inputs, action_path)
    env = dict(os.environ)
    env["GITHUB_ACTION_PATH"] = action_path
    env.setdefault("GITHUB_ACTIONS", "true")
    work = tempfile.mkdtemp(prefix="run-action.")
    env.setdefault("RUNNER_TEMP", work)
    summaries, report, failed, status = [], [], None, 0

    for n, step in enumerate(runs.get("steps") or []):
        sid = step.get("id") or f"__{n}"
        for key in step:
            if key not in ("id", "name", "shell", "env", "run", "working-directory"):
                die(f"step '{sid}': '{key}' is not supported by this runner")
        if "run" not in step:
            die(f"step '{sid}' has no run:")
        if step.get("shell") != "bash":
            die(f"step '{sid}': shell is not bash")
        script = step["run"]
        if "${{" in script:
            die(f"step '{sid}': an expression in run: (pass it through env: instead)")
        files = {k: os.path.join(work, f"{sid}.{k}") for k in ("output", "summary", "env", "path")}
        for path in files.values():
            open(path, "w").close()
        step_env = dict(env)
        step_env.update({
            "GITHUB_OUTPUT": files["output"],
            "GITHUB_STEP_SUMMARY": files["summary"],
            "GITHUB_ENV": files["env"],
            "GITHUB_PATH": files["path"],
        })
        for name, value in (step.get("env") or {}).items():
            step_env[name] = ctx.evaluate(value)
        script_path = os.path.join(work, f"{sid}.sh")
        with open(script_path, "w", encoding="utf-8") as f:
            f.write(script)
        sys.stdout.flush()
        rc = subprocess.call(["bash", "--noprofile", "--norc", "-eo", "pipefail", script_path],
                             env=step_env, cwd=step.get("working-directory") or os.getcwd())
        ctx.steps[sid] = read_kv_file(files["output"])
        with open(files["summary"], encoding="utf-8") as f:
            summaries.append(f.read())
        env.update(read_kv_file(files["env"]))
        with open(files["path"], encoding="utf-8") as f:
            for line in f.read().splitlines():
                if line:
                    env["PATH"] = line + os.pathsep + env.get("PATH", "")
        report.append({"id": sid, "rc": rc})
        if rc != 0:
            print(f"run-action: step '{sid}' failed with exit {rc}", file=sys.stderr)
            failed, status = sid, rc
            break

    outputs = {name: ctx.evaluate((spec or {}).get("value", ""))
               for name, spec in (action.get("outputs") or {}).items()}
    if os.environ.get("GITHUB_OUTPUT"):
        with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as f:
            for name, value in outputs.items():
                f.write(f"{name}={value}\n")
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as f:
            f.write("".join(summaries))
    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            json.dump({"steps": report, "failed": failed, "outputs": outputs}, f, indent=2)
    subprocess.call(["rm", "-rf", work])
    return status


if __name__ == "__main__":
    sys.exit(main())
