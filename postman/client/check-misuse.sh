#!/usr/bin/env bash
# Type-checks misuse.mts, which must not compile, and passes only when tsc
# fails with exactly the errors its marked lines name ("// error TS2322" at
# the end of a line): each expected error on its line, no other error. A
# plain "tsc failed" would also pass when the types are missing or broken.
set -euo pipefail
cd "$(dirname "$0")"

out="$(npx tsc -p tsconfig.misuse.json --noEmit --pretty false 2>&1)" && {
	echo "misuse.mts compiled, but its mistakes must be type errors"
	exit 1
}
expected="$(grep -n -o '// error TS[0-9]*$' misuse.mts | sed -E 's|^([0-9]+):// error (TS[0-9]+)$|misuse.mts:\1 \2|')"
# tsc prints "file(line,col): error TSnnnn: message"; continuation lines of a
# long message start with spaces and are no errors of their own.
actual="$(grep -v '^ ' <<<"$out" | sed -E 's|^([^(]+)\(([0-9]+),[0-9]+\): error (TS[0-9]+):.*$|\1:\2 \3|')"
if [[ "$actual" != "$expected" ]]; then
	echo "misuse.mts: tsc's errors are not the expected ones"
	diff <(echo "$expected") <(echo "$actual") | sed -e 's/^</  expected:/' -e 's/^>/  got:     /' | grep -E '^  (expected|got)' || true
	echo "tsc said:"
	echo "$out"
	exit 1
fi
echo "misuse.mts: tsc refused it with the $(wc -l <<<"$expected") expected errors:"
echo "$out"
