"""Function-call tests: import the solution, call the function named on stdin with the
arguments given, print the JSON of the result on the last line. Runs in the sandbox."""

import json
import sys

sys.path.insert(0, "/code")
request = json.load(sys.stdin)
real_stdout = sys.stdout
sys.stdout = sys.stderr  # what the solution prints is not its answer
import main  # noqa: E402

result = getattr(main, request["function"])(*request.get("args", []))
real_stdout.write("\n" + json.dumps(result, ensure_ascii=False) + "\n")
