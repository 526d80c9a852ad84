# Shared start of the runtime tests: source it first (with the script's arguments in place).
# Sets BUILD (the build directory, $1 or build), makes a scratch directory $dir, changes to it,
# and removes it on exit, stopping the simulator if tests/lib/sim.sh started one.
set -u
BUILD=$(cd "${1:-build}" && pwd)
dir=$(mktemp -d)
simpid=
cleanup() { [[ -n $simpid ]] && kill -TERM "$simpid" 2>/dev/null && wait "$simpid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
cd "$dir"
