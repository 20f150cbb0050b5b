#!/usr/bin/env bash
# The documented install path, per engine: build the wheel once, then for each engine extra ALONE, in a
# fresh venv, `pip install 'durable_chaos-*.whl[<extra>]'` and run `durable-chaos init --help`,
# `durable-chaos validate` on an example scenario of that engine, and one example trial with
# `pytest --chaos`. Catches an optional library imported where its feature does not run (a crash
# without its extra), and files the wheel lacks. CI installs `.[dev]` (everything) for the test suite,
# which could never see either.
#
# Usage: ci/extras-check.sh [EXTRA ...]   (default: prefect dbos temporal restate; `adk` on request:
# adk-fluent and google-adk, the scenarios/adk example)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
extras=("$@")
[ ${#extras[@]} -gt 0 ] || extras=(prefect dbos temporal restate)

# extra -> "scenario file|one plan (pytest -k)": examples that need that engine only
declare -A trial=(
  [prefect]="scenarios/data_analyst/kill.yaml|kill-before-third-model-request"
  [dbos]="scenarios/data_analyst/dbos_kill.yaml|kill-before-third-model-request"
  [temporal]="scenarios/temporal/kill.yaml|kill-before-third-model-request"
  [restate]="scenarios/restate/kill.yaml|kill-before-model-request-1"
  [adk]="scenarios/adk/generated_flow_keyed.yaml|kill-before-writer"
)

work=$(mktemp -d /tmp/durable-chaos-extras.XXXXXX)
trap 'rm -rf "$work"' EXIT
started=$SECONDS

echo "+ [extras] building the wheel"
python3 -m venv "$work/build"
"$work/build/bin/pip" wheel -q --no-deps "$repo" -w "$work/dist"
wheel=$(ls "$work"/dist/durable_chaos-*.whl)

for extra in "${extras[@]}"; do
  spec=${trial[$extra]:?"no example trial for extra '$extra'"}
  scenario=${spec%%|*}
  plan=${spec#*|}
  t0=$SECONDS
  venv="$work/venv-$extra"
  echo "+ [extras] $extra: fresh venv, pip install '$(basename "$wheel")[$extra]'"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --no-compile "$wheel[$extra]"  # no byte-compiling: less CPU
  if [ "$extra" = restate ]; then
    "$venv/bin/python" -m durable_chaos.infra.engines.restate.install --quiet
  fi
  # Run on a copy of the examples outside the checkout: nothing of src/ can be imported by accident.
  mkdir "$work/run-$extra" && cp -r "$repo/scenarios" "$work/run-$extra/"
  (
    cd "$work/run-$extra"
    set -x
    "$venv/bin/durable-chaos" init --help >/dev/null
    "$venv/bin/durable-chaos" validate "$scenario"
    "$venv/bin/pytest" --chaos "$scenario" -k "$plan" -p no:cacheprovider -q
  ) || { echo "FAIL: extra '$extra' alone: see above"; exit 1; }
  echo "+ [extras] $extra ok in $((SECONDS - t0))s"
done
echo "+ [extras] all ok in $((SECONDS - started))s"
