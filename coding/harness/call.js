// Function-call tests: load the solution, call the function named on stdin with the
// arguments given, print the JSON of the result on the last line. Runs in the sandbox.
const fs = require("fs");
const request = JSON.parse(fs.readFileSync(0, "utf8"));
const realLog = console.log;
console.log = console.error; // what the solution prints is not its answer
const main = require("/code/main.js");
const fn = main[request.function] ?? globalThis[request.function];
const result = fn(...(request.args ?? []));
process.stdout.write("\n" + JSON.stringify(result) + "\n");
